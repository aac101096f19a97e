//! What differs between two runs for no fault of either tool: the temp
//! folders, the server's port, the token. Replaced by placeholders, as the
//! CLI's acceptance suite does ([TMPDIR], [HOST], ...).

use std::path::Path;

use serde_json::Value;

pub struct Normaliser {
    /// Longest first, so a path inside another is replaced whole.
    pairs: Vec<(String, String)>,
}

impl Normaliser {
    pub fn new(dir: &Path, home: &Path, url: &str, token: &str) -> Normaliser {
        let mut pairs = vec![
            (url.to_string(), "[HOST]".to_string()),
            (token.to_string(), "[TOKEN]".to_string()),
        ];
        for (path, name) in [(dir, "[BUNDLE]"), (home, "[HOME]")] {
            pairs.push((path.display().to_string(), name.to_string()));
            if let Ok(real) = path.canonicalize() {
                pairs.push((real.display().to_string(), name.to_string()));
            }
        }
        pairs.retain(|(from, _)| !from.is_empty());
        pairs.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Normaliser { pairs }
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (from, to) in &self.pairs {
            if out.contains(from.as_str()) {
                out = out.replace(from.as_str(), to);
            }
        }
        out
    }

    /// Every string of `value`, object keys included.
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}
