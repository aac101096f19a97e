//! YAML files into a located value tree: every node knows the file, line and
//! column it came from, so that problems found after includes, target merges
//! and interpolation still point at the text the user wrote.
//!
//! Parsing goes through serde-saphyr (anchors, aliases, `<<` merge keys,
//! duplicate-key errors, alias-expansion limits) with `Spanned` wrappers.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// The largest configuration file we read. Real bundle files are a few KB;
/// anything this big is a mistake (a data file named `*.yml`), not a config.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// A position in one of the loaded files (`file` indexes `Sources::files`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loc {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub v: Value,
    pub loc: Loc,
}

/// A mapping in source order; keys are unique (the parser refuses duplicates).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map(pub Vec<Entry>);

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_loc: Loc,
    pub node: Node,
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.0.iter().find(|e| e.key == key).map(|e| &e.node)
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.node)
    }
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.0.iter().find(|e| e.key == key)
    }
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let i = self.0.iter().position(|e| e.key == key)?;
        Some(self.0.remove(i))
    }
    /// Set `key`, keeping its position when it already exists.
    pub fn insert(&mut self, key: &str, key_loc: Loc, node: Node) {
        match self.0.iter_mut().find(|e| e.key == key) {
            Some(e) => e.node = node,
            None => self.0.push(Entry {
                key: key.to_string(),
                key_loc,
                node,
            }),
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.0.iter()
    }
}

impl Node {
    pub fn new(v: Value, loc: Loc) -> Node {
        Node { v, loc }
    }
    pub fn str(s: impl Into<String>, loc: Loc) -> Node {
        Node {
            v: Value::Str(s.into()),
            loc,
        }
    }
    pub fn map(loc: Loc) -> Node {
        Node {
            v: Value::Map(Map::default()),
            loc,
        }
    }
    pub fn as_map(&self) -> Option<&Map> {
        match &self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.v {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.v {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The string under `key`, or `""` when missing or not a string.
    pub fn text(&self, key: &str) -> &str {
        self.get(key).and_then(Node::as_str).unwrap_or("")
    }
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map().and_then(|m| m.get(key))
    }
    /// Follow a dotted path of map keys.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, k| n.get(k))
    }
    pub fn is_null(&self) -> bool {
        matches!(self.v, Value::Null)
    }
    /// The YAML type name, for "expected a map, found a string" messages.
    pub fn kind(&self) -> &'static str {
        match self.v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "map",
        }
    }
    /// Move every location of this tree to `file` (a fresh parse is tagged here).
    fn set_file(&mut self, file: u32) {
        self.loc.file = file;
        match &mut self.v {
            Value::Seq(s) => s.iter_mut().for_each(|n| n.set_file(file)),
            Value::Map(m) => m.0.iter_mut().for_each(|e| {
                e.key_loc.file = file;
                e.node.set_file(file)
            }),
            _ => {}
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            // A whole number as Go's encoder writes a float64 (`8`, not
            // `8.0`): what the CLI sends and prints for such a field.
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                J::from(*f as i64)
            }
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(
                m.0.iter()
                    .map(|e| (e.key.clone(), e.node.to_json()))
                    .collect(),
            ),
        }
    }

    pub fn from_json(v: &serde_json::Value, loc: Loc) -> Node {
        use serde_json::Value as J;
        let v = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(|x| Node::from_json(x, loc)).collect()),
            J::Object(o) => Value::Map(Map(o
                .iter()
                .map(|(k, x)| Entry {
                    key: k.clone(),
                    key_loc: loc,
                    node: Node::from_json(x, loc),
                })
                .collect())),
        };
        Node { v, loc }
    }
}

/// A parse failure with the position the parser reported.
#[derive(Debug)]
pub struct ParseError {
    pub message: String,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

thread_local! {
    /// Keys written twice in one mapping during the current [`parse`].
    static DUPLICATES: std::cell::RefCell<Vec<(Loc, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A key written twice in one mapping: the last value is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    pub key: String,
    pub loc: Loc,
}

/// Parse YAML text (JSON is YAML too). `file` tags every location.
#[cfg(test)]
pub fn parse(text: &str, file: u32) -> Result<Node, ParseError> {
    parse_noting_duplicates(text, file).map(|(node, _)| node)
}

/// [`parse`], with the keys written twice (the Databricks CLI keeps the
/// last value of a repeated key; we do too, and say so).
pub fn parse_noting_duplicates(
    text: &str,
    file: u32,
) -> Result<(Node, Vec<Duplicate>), ParseError> {
    DUPLICATES.with(|d| d.borrow_mut().clear());
    let parsed = parse_raw(text, file);
    let dups = DUPLICATES.with(|d| std::mem::take(&mut *d.borrow_mut()));
    let dups = dups
        .into_iter()
        .map(|(mut loc, key)| {
            loc.file = file;
            Duplicate { key, loc }
        })
        .collect();
    parsed.map(|node| (node, dups))
}

fn parse_raw(text: &str, file: u32) -> Result<Node, ParseError> {
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    // Alias bombs: a config has a handful of anchors; refusing a
    // billion-laughs document early keeps validate fast and bounded.
    alias_limits.max_total_replayed_events = 20_000;
    alias_limits.max_replay_stack_depth = 32;
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_events: 200_000,
            max_nodes: 200_000,
            max_depth: 64,
        },
        alias_limits: alias_limits,
        // Repeats reach `visit_map`, which keeps the last (as the CLI does)
        // and records each for a warning.
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    };
    let parsed: Result<Spanned<Raw>, _> = serde_saphyr::from_str_with_options(text, options);
    match parsed {
        Ok(sp) => {
            let mut node = sp.value.0;
            node.loc = loc_of(&sp.defined);
            node.set_file(file);
            place_empty_values(&mut node, &text.lines().collect::<Vec<_>>());
            Ok(node)
        }
        Err(e) => {
            let (line, col) = e
                .location()
                .map(|l| (l.line() as u32, l.column() as u32))
                .unwrap_or((1, 1));
            let message = e.without_snippet().to_string();
            let mut message = clean_message(&message);
            if let Some(e) = tab_error(text, line, &message) {
                return Err(e);
            }
            if message.starts_with("multiple YAML documents") {
                message = "a configuration file must hold a single YAML document; a second one starts here".into();
            }
            if message.contains("alias replay limit") || message.contains("budget") {
                message =
                    format!("refusing to expand YAML aliases further (an alias bomb?): {message}");
            }
            Err(ParseError {
                message,
                line: line.max(1),
                col: col.max(1),
            })
        }
    }
}

/// A tab where the parser wanted indentation: point at the tab itself (the
/// parser reports the character after it) and say what to do.
fn tab_error(text: &str, line: u32, message: &str) -> Option<ParseError> {
    if !message.contains("tab") {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let upto = (line as usize).min(lines.len());
    (upto.saturating_sub(3)..upto).rev().find_map(|i| {
        let l = lines[i];
        let indent = &l[..l.len() - l.trim_start_matches([' ', '\t']).len()];
        indent.find('\t').map(|col| ParseError {
            message: format!("found a tab character where indentation is expected; YAML allows only spaces ({message})"),
            line: i as u32 + 1,
            col: col as u32 + 1,
        })
    })
}

/// serde-saphyr appends " at line X column Y" to some messages; the location is
/// shown separately, so keep only the message.
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let cut = first
        .find(" at line ")
        .map(|i| &first[..i])
        .unwrap_or(first);
    // Advice aimed at the library's caller, not at the user.
    let cut = cut.split(", set DuplicateKeyPolicy").next().unwrap_or(cut);
    cut.trim_end_matches(':').to_string()
}

/// We keep `defined` locations, as the CLI does: a value merged from an
/// anchor is located where the anchor wrote it, not at the `*alias`.
fn loc_of(l: &serde_saphyr::Location) -> Loc {
    Loc {
        file: 0,
        line: l.line() as u32,
        col: l.column() as u32,
    }
}

/// An empty value (`host:` with nothing after it) is located just after
/// the colon, where the CLI's YAML parser places it, not on the colon.
fn place_empty_values(n: &mut Node, lines: &[&str]) {
    match &mut n.v {
        Value::Map(m) => {
            m.0.iter_mut()
                .for_each(|e| place_empty_values(&mut e.node, lines))
        }
        Value::Seq(v) => v.iter_mut().for_each(|c| place_empty_values(c, lines)),
        Value::Null => {
            let at = lines
                .get((n.loc.line as usize).wrapping_sub(1))
                .and_then(|l| l.chars().nth((n.loc.col as usize).wrapping_sub(1)));
            if at == Some(':') {
                n.loc.col += 1;
            }
        }
        _ => {}
    }
}

/// The serde view of a node; locations come from the `Spanned` around it.
struct Raw(Node);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

fn leaf(v: Value) -> Raw {
    Raw(Node {
        v,
        loc: Loc::default(),
    })
}

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(leaf(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(leaf(Value::Int(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(leaf(match i64::try_from(v) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(v as f64),
        }))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(leaf(Value::Float(v as f64)))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(leaf(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(leaf(Value::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(leaf(Value::Str(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(leaf(Value::Str(v)))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw, E> {
        Ok(leaf(Value::Str(String::from_utf8_lossy(v).into_owned())))
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(leaf(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(leaf(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(sp) = seq.next_element::<Spanned<Raw>>()? {
            let loc = loc_of(&sp.defined);
            let mut n = sp.value.0;
            n.loc = loc;
            items.push(n);
        }
        Ok(leaf(Value::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries: Vec<Entry> = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Key>>()? {
            let sp = map.next_value::<Spanned<Raw>>()?;
            let (loc, key_loc) = (loc_of(&sp.defined), loc_of(&k.defined));
            let mut node = sp.value.0;
            node.loc = loc;
            let key = k.value.0;
            // Merge keys (`<<`) are expanded by the parser; an explicit key
            // after a merged one overrides it, as YAML says.
            match entries.iter_mut().find(|e| e.key == key) {
                Some(e) => {
                    // The parser already folded merged entries that an
                    // explicit key overrides: a repeat here was written twice.
                    DUPLICATES.with(|d| d.borrow_mut().push((key_loc, key.clone())));
                    e.node = node;
                    e.key_loc = key_loc;
                }
                None => entries.push(Entry { key, key_loc, node }),
            }
        }
        Ok(leaf(Value::Map(Map(entries))))
    }
}

/// A mapping key: scalars only, shown as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar mapping key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key, E> {
                Ok(Key(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
                Err(E::custom("a mapping key must not be null"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_anchors_and_merge_keys() {
        let text = "a: &x\n  k: 1\n  j: two\nb:\n  <<: *x\n  j: three\nc: [1, true, ~]\n";
        let n = parse(text, 3).unwrap();
        let a = n.get("a").unwrap();
        assert_eq!((a.loc.line, a.loc.file), (2, 3));
        let b = n.get("b").unwrap();
        assert_eq!(b.get("k").unwrap().v, Value::Int(1));
        assert_eq!(b.get("j").unwrap().v, Value::Str("three".into()));
        let c = n.get("c").unwrap().as_seq().unwrap();
        assert_eq!(c[1].v, Value::Bool(true));
        assert_eq!(c[2].v, Value::Null);
        assert_eq!(n.as_map().unwrap().entry("c").unwrap().key_loc.line, 7);
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_are_noted() {
        let (n, dups) =
            parse_noting_duplicates("a: 1\nb: 2\na: 3\nm:\n  k: x\n  k: y\n", 4).unwrap();
        assert_eq!(n.get("a").unwrap().v, Value::Int(3));
        assert_eq!(
            n.get("m").unwrap().get("k").unwrap().v,
            Value::Str("y".into())
        );
        let at: Vec<(String, u32, u32, u32)> = dups
            .iter()
            .map(|d| (d.key.clone(), d.loc.file, d.loc.line, d.loc.col))
            .collect();
        assert_eq!(at, [("a".into(), 4, 3, 1), ("k".into(), 4, 6, 3)]);
        // A key merged from an anchor and then written is an override, not a repeat.
        let (n, dups) = parse_noting_duplicates("x: &x {k: 1}\ny:\n  <<: *x\n  k: 2\n", 0).unwrap();
        assert_eq!(n.get("y").unwrap().get("k").unwrap().v, Value::Int(2));
        assert!(dups.is_empty(), "{dups:?}");
    }

    #[test]
    fn tabs_are_errors() {
        let e = parse("a:\n\tb: 1\n", 0).unwrap_err();
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("tab"), "{e}");
        // A tab inside a block scalar's text is content, not indentation.
        let ok = parse("a: |\n  x\n  \ty\n", 0).unwrap();
        assert_eq!(ok.get("a").unwrap().v, Value::Str("x\n\ty\n".into()));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let t = std::time::Instant::now();
        assert!(parse(&text, 0).is_err());
        assert!(t.elapsed().as_secs() < 5);
    }
}
