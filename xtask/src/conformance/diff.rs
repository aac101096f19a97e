//! The structural diff of two JSON documents: the reference (the Databricks
//! CLI's) against ours, each difference named by its path. Object keys are
//! unordered; list order matters (the CLI keeps the order the user wrote, and
//! so must we).

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// In the reference, not in ours.
    Missing,
    /// In ours, not in the reference.
    Extra,
    /// Both present, of different JSON types.
    Type,
    /// Both scalars of one type, different values.
    Value,
    /// Both lists, of different lengths (the common prefix is compared too).
    Length,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub path: String,
    pub kind: Kind,
    /// What each side holds, short: `reference ≠ ours`.
    pub detail: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{:?} {path}: {}", self.kind, self.detail)
    }
}

/// Every difference between `reference` and `ours`, in document order.
pub fn diff(reference: &Value, ours: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", reference, ours, &mut out);
    out
}

fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Difference>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (key, va) in x {
                let p = join(path, key);
                match y.get(key) {
                    Some(vb) => walk(&p, va, vb, out),
                    None => out.push(diff_of(
                        p,
                        Kind::Missing,
                        format!("{} ≠ (absent)", short(va)),
                    )),
                }
            }
            for (key, vb) in y {
                if !x.contains_key(key) {
                    let p = join(path, key);
                    out.push(diff_of(p, Kind::Extra, format!("(absent) ≠ {}", short(vb))));
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                let detail = format!("{} items ≠ {} items", x.len(), y.len());
                out.push(diff_of(path.to_string(), Kind::Length, detail));
            }
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                walk(&format!("{path}[{i}]"), va, vb, out);
            }
        }
        _ if type_name(a) != type_name(b) => {
            let detail = format!(
                "{} {} ≠ {} {}",
                type_name(a),
                short(a),
                type_name(b),
                short(b)
            );
            out.push(diff_of(path.to_string(), Kind::Type, detail));
        }
        _ if a != b => {
            let detail = format!("{} ≠ {}", short(a), short(b));
            out.push(diff_of(path.to_string(), Kind::Value, detail));
        }
        _ => {}
    }
}

fn diff_of(path: String, kind: Kind, detail: String) -> Difference {
    Difference { path, kind, detail }
}

/// `a.b`, or `a["odd key"]` for a key that would read as path syntax.
fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '$' | '{' | '}'));
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::from(key)),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// A value in at most 60 characters, so a diff of a big subtree stays a line.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lines(a: Value, b: Value) -> Vec<String> {
        diff(&a, &b).iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn identical_documents_have_no_difference() {
        let doc = json!({"bundle": {"name": "x"}, "resources": {"jobs": {"j": {"tasks": [{"task_key": "a"}]}}}});
        assert_eq!(lines(doc.clone(), doc), Vec::<String>::new());
        // Key order is no difference.
        assert!(diff(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})).is_empty());
    }

    #[test]
    fn a_missing_field_is_named_by_its_path() {
        let cli = json!({"bundle": {"name": "x", "target": "dev"}});
        let ours = json!({"bundle": {"name": "x"}});
        assert_eq!(
            lines(cli.clone(), ours.clone()),
            ["Missing bundle.target: \"dev\" ≠ (absent)"]
        );
        assert_eq!(
            lines(ours, cli),
            ["Extra bundle.target: (absent) ≠ \"dev\""]
        );
    }

    #[test]
    fn a_reordered_list_differs_at_each_moved_item() {
        let cli = json!({"tasks": [{"task_key": "a"}, {"task_key": "b"}]});
        let ours = json!({"tasks": [{"task_key": "b"}, {"task_key": "a"}]});
        assert_eq!(
            lines(cli, ours),
            [
                "Value tasks[0].task_key: \"a\" ≠ \"b\"",
                "Value tasks[1].task_key: \"b\" ≠ \"a\""
            ]
        );
    }

    #[test]
    fn lengths_types_and_odd_keys() {
        assert_eq!(
            lines(json!({"l": [1, 2]}), json!({"l": [1]})),
            ["Length l: 2 items ≠ 1 items"]
        );
        assert_eq!(
            lines(json!({"n": 1}), json!({"n": "1"})),
            ["Type n: number 1 ≠ string \"1\""]
        );
        assert_eq!(
            lines(json!({"tags": {"a.b": 1}}), json!({"tags": {"a.b": 2}})),
            ["Value tags[\"a.b\"]: 1 ≠ 2"]
        );
        assert_eq!(lines(json!(1), json!(2)), ["Value (root): 1 ≠ 2"]);
    }
}
