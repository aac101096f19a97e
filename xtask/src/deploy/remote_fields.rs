//! The CLI's check of a `${resources.<kind>.<key>.<field path>}` reference
//! at plan time (`bundle/direct/bundle_plan.go`, `LookupReferencePreDeploy`):
//! the path must lead somewhere in the kind's state type (what its settings
//! become) or in its remote type (what reading it back gives), walked as
//! `structaccess.ValidatePath` walks a Go type (a struct field by its json
//! name, any key of a map, an index of a slice). A path neither knows is
//! refused before any request, with the CLI's message.
//!
//! The types come from `remote_fields.generated.txt`, written from the
//! CLI's own Go types by `tests/cliref/remotefields` (the test
//! `remote_fields_table` regenerates it and compares).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use super::remote_refs::{Node, Ref, nodes, refs_in_str};
use crate::config::Bundle;
use crate::diag::Diagnostic;

const TABLE: &str = include_str!("remote_fields.generated.txt");

/// A Go struct type: its fields by json key (each a type expression, see
/// the table's header) and the slice an index walks into, if any.
#[derive(Default)]
struct Struct {
    embed: Option<&'static str>,
    fields: HashMap<&'static str, &'static str>,
}

/// The table: each kind's (state type, remote type), and struct types by name.
#[derive(Default)]
struct Types {
    kinds: HashMap<&'static str, (&'static str, &'static str)>,
    structs: HashMap<&'static str, Struct>,
}

fn types() -> &'static Types {
    static TYPES: OnceLock<Types> = OnceLock::new();
    TYPES.get_or_init(|| parse(TABLE))
}

/// The table's lines (a malformed line is skipped: the table is generated,
/// and its test compares it with the generator's output).
fn parse(text: &'static str) -> Types {
    let mut out = Types::default();
    let mut current: Option<&'static str> = None;
    for line in text.lines() {
        let words: Vec<&'static str> = line.split_whitespace().collect();
        // A field line is indented (its key may be `type` or `kind`).
        if let (true, [key, ty]) = (line.starts_with("  "), words.as_slice()) {
            if let Some(s) = current.and_then(|n| out.structs.get_mut(n)) {
                s.fields.insert(key, ty);
            }
            continue;
        }
        match words.as_slice() {
            ["kind", kind, state, remote] => {
                out.kinds.insert(kind, (state, remote));
            }
            ["type", name, rest @ ..] => {
                let embed = match rest {
                    ["embed", ty] => Some(*ty),
                    _ => None,
                };
                let fields = HashMap::new();
                out.structs.insert(name, Struct { embed, fields });
                current = Some(name);
            }
            _ => {}
        }
    }
    out
}

/// The steps up to and including `nodes[i]` as the CLI prints a path.
fn shown(nodes: &[Node], i: usize) -> String {
    let mut out = String::new();
    for (n, node) in nodes[..=i].iter().enumerate() {
        match node {
            Node::Key(k) if n == 0 => out.push_str(k),
            Node::Key(k) => out.push_str(&format!(".{k}")),
            Node::Index(x) => out.push_str(&format!("[{x}]")),
        }
    }
    out
}

/// What kind of Go type expression `ty` is, as `reflect.Kind` names it.
fn kind_of(ty: &str) -> &str {
    if ty.starts_with("[]") {
        "slice"
    } else if ty.starts_with("map[") {
        "map"
    } else {
        ty.strip_prefix('=').unwrap_or("struct")
    }
}

/// `Ok` if `path` leads somewhere in type `ty`, else the CLI's message.
fn validate(ty: &'static str, path: &[Node]) -> Result<(), String> {
    let t = types();
    let mut cur = ty;
    for (i, node) in path.iter().enumerate() {
        let at = shown(path, i);
        cur = match node {
            Node::Index(_) => index_step(t, cur).ok_or_else(|| {
                let kind = kind_of(cur);
                format!("{at}: cannot index {kind}")
            })?,
            Node::Key(key) => key_step(t, cur, key, &at)?,
        };
    }
    Ok(())
}

/// The element type an index of `cur` gives (a struct's embedded slice's).
fn index_step(t: &Types, cur: &'static str) -> Option<&'static str> {
    let cur = match t.structs.get(cur).and_then(|s| s.embed) {
        Some(embed) => embed,
        None => cur,
    };
    cur.strip_prefix("[]")
}

/// The type key `key` of `cur` gives: a struct's field, a map's value.
fn key_step(t: &Types, cur: &'static str, key: &str, at: &str) -> Result<&'static str, String> {
    if let Some(s) = t.structs.get(cur) {
        return s
            .fields
            .get(key)
            .copied()
            .ok_or_else(|| format!("{at}: field {key:?} not found in {cur}"));
    }
    if let Some(map) = cur.strip_prefix("map[") {
        let (key_kind, value) = map.split_once(']').unwrap_or((map, ""));
        if key_kind != "string" {
            return Err(format!("{at}: map key must be string, got {key_kind}"));
        }
        return Ok(value);
    }
    let kind = kind_of(cur);
    Err(format!("{at}: cannot access key {key:?} on {kind}"))
}

/// The CLI's `schema mismatch` message for reference `r`, `None` when its
/// field is known (or not checked: an `id`, a kind the CLI does not
/// deploy). A path under `permissions` or `grants` is checked against that
/// sub-resource's types, as the CLI splits it.
pub(super) fn mismatch(r: &Ref) -> Option<String> {
    if r.field == "id" {
        return None;
    }
    let mut path = nodes(&r.field);
    let mut kind = r.kind.clone();
    if let [Node::Key(sub @ ("permissions" | "grants")), _, ..] = path.as_slice() {
        kind = format!("{kind}.{sub}");
        path.remove(0);
    }
    let (state, remote) = types().kinds.get(kind.as_str())?;
    let state = validate(state, &path).err()?;
    let remote = validate(remote, &path).err()?;
    Some(format!("schema mismatch: {state}; {remote}"))
}

/// Every `${resources...}` reference in the bundle's resources whose
/// field neither the referenced kind's settings nor the workspace know,
/// as errors with the CLI's text and the reference's location.
pub fn check(bundle: &Bundle) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(resources) = bundle.config["resources"].as_object() else {
        return out;
    };
    for (kind, items) in resources {
        for (key, item) in items.as_object().into_iter().flatten() {
            let at = format!("resources.{kind}.{key}");
            walk(item, &at, &mut |path, s| {
                out.extend(check_str(bundle, &at, path, s))
            });
        }
    }
    out
}

/// Calls `f` with each string under `v` and its configuration path.
fn walk(v: &Value, path: &str, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(x, &format!("{path}[{i}]"), f);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                walk(x, &format!("{path}.{k}"), f);
            }
        }
        _ => {}
    }
}

/// The errors of the references in string `s` at `path` of resource `at`.
fn check_str(bundle: &Bundle, at: &str, path: &str, s: &str) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (_, _, r) in refs_in_str(s) {
        let target = &bundle.config["resources"][&r.kind][&r.key];
        let Some(why) = mismatch(&r).filter(|_| target.is_object()) else {
            continue;
        };
        let owner = planned_as(at, path);
        let text = r.text();
        let mut d = Diagnostic::error(format!(
            "cannot plan {owner}: cannot resolve \"${{{text}}}\": {why}"
        ));
        d.path = Some(path.to_string());
        d.locations.extend(bundle.location(path));
        out.push(d);
    }
    out
}

/// The CLI's name for what a setting at `path` of resource `at` belongs
/// to: the resource, or its permissions or grants (planned apart).
fn planned_as(at: &str, path: &str) -> String {
    let rest = path.strip_prefix(at).unwrap_or_default();
    for sub in [".permissions", ".grants"] {
        let under = rest.strip_prefix(sub);
        if under.is_some_and(|u| u.is_empty() || u.starts_with(['[', '.'])) {
            return format!("{at}{sub}");
        }
    }
    at.to_string()
}

#[cfg(test)]
#[path = "remote_fields_tests.rs"]
mod tests;
