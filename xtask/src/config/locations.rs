//! `__locations` of `validate --json --include-locations`, as the CLI builds
//! it (`libs/dyn/dynloc`): for each top-level key, resource kind, resource,
//! job `tasks` list and task, every place it was written, in merge order (a
//! resource defined in an include and overridden by a target has two), as
//! `[file index, line, column]` into a sorted list of files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::config::yaml::{Loc, Node};

/// `tree`: the resolved configuration; `sources`: the trees merged into it,
/// in order; `files`: what `Loc::file` indexes; `printed`: the configuration
/// as printed (a top-level key it leaves out has no location).
pub fn build(tree: &Node, sources: &[Node], files: &[PathBuf], printed: &Value) -> Value {
    let mut by_path: Vec<(String, Vec<Loc>)> = Vec::new();
    let Some(top) = tree.as_map() else {
        return json!({"version": 1, "files": [], "locations": {}});
    };
    for e in top.iter().filter(|e| printed.get(&e.key).is_some()) {
        by_path.push((e.key.clone(), locs(sources, &[e.key.as_str()])));
    }
    for kind in tree
        .get("resources")
        .and_then(Node::as_map)
        .into_iter()
        .flat_map(|m| m.iter())
    {
        let k = kind.key.as_str();
        by_path.push((format!("resources.{k}"), locs(sources, &["resources", k])));
        for r in kind.node.as_map().into_iter().flat_map(|m| m.iter()) {
            let key = r.key.as_str();
            let base = format!("resources.{k}.{key}");
            by_path.push((base.clone(), locs(sources, &["resources", k, key])));
            if k != "jobs" {
                continue;
            }
            let Some(tasks) = r.node.get("tasks").and_then(Node::as_seq) else {
                continue;
            };
            by_path.push((
                format!("{base}.tasks"),
                locs(sources, &["resources", k, key, "tasks"]),
            ));
            for (i, t) in tasks.iter().enumerate() {
                let task_key = t.get("task_key").and_then(Node::as_str).unwrap_or("");
                let found = sources
                    .iter()
                    .filter_map(|s| s.at(&["resources", k, key, "tasks"]).and_then(Node::as_seq))
                    .flatten()
                    .filter(|st| {
                        st.get("task_key").and_then(Node::as_str).unwrap_or("") == task_key
                    })
                    .map(|st| st.loc)
                    .collect();
                by_path.push((format!("{base}.tasks[{i}]"), found));
            }
        }
    }
    let used: std::collections::BTreeSet<u32> = by_path
        .iter()
        .flat_map(|(_, l)| l.iter().filter(|l| l.line > 0).map(|l| l.file))
        .collect();
    let mut names: Vec<(String, u32)> = used
        .iter()
        .filter_map(|i| files.get(*i as usize).map(|f| (slash(f), *i)))
        .collect();
    names.sort();
    names.dedup_by(|a, b| a.0 == b.0);
    let index = |file: u32| {
        let name = files
            .get(file as usize)
            .map(|f| slash(f))
            .unwrap_or_default();
        names.iter().position(|(n, _)| *n == name)
    };
    let mut out = BTreeMap::new();
    for (path, ls) in by_path {
        let entries: Vec<Value> = ls
            .iter()
            .filter(|l| l.line > 0)
            .filter_map(|l| index(l.file).map(|i| json!([i, l.line, l.col])))
            .collect();
        if !entries.is_empty() {
            out.insert(path, Value::Array(entries));
        }
    }
    json!({
        "files": names.into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "locations": out,
        "version": 1,
    })
}

fn locs(sources: &[Node], path: &[&str]) -> Vec<Loc> {
    sources
        .iter()
        .filter_map(|s| s.at(path))
        .filter(|n| !n.is_null())
        .map(|n| n.loc)
        .collect()
}

fn slash(p: &Path) -> String {
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}
