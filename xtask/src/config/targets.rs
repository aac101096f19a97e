//! Target selection and the merge of `targets.<name>` over the root, with the
//! CLI's default-target rules and error texts (reference §4).

use crate::config::ctx::Ctx;
use crate::config::merge::{checked_merge, deep_merge};
use crate::config::yaml::{Entry, Loc, Map, Node, Value};

/// Map the legacy `environments` to `targets`; both at once is an error.
pub fn legacy_alias(ctx: &mut Ctx, root: &mut Node) {
    let Some(m) = root.as_map_mut() else { return };
    let Some(env) = m.remove("environments") else {
        return;
    };
    if m.get("targets").is_some() {
        ctx.error(
            "both 'environments' and 'targets' are specified; only 'targets' should be used",
            Some(env.key_loc),
            "environments",
        );
        return;
    }
    m.0.push(Entry {
        key: "targets".into(),
        key_loc: env.key_loc,
        node: env.node,
    });
}

/// The name of the target to use, or `None` after reporting why there is none.
pub fn select(ctx: &mut Ctx, root: &Node, requested: Option<&str>) -> Option<String> {
    let targets: Vec<&Entry> = root
        .get("targets")
        .and_then(Node::as_map)
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let names: Vec<&str> = targets.iter().map(|e| e.key.as_str()).collect();
    if let Some(name) = requested {
        if names.contains(&name) || (names.is_empty() && name == "default") {
            return Some(name.to_string());
        }
        let loc = root
            .as_map()
            .and_then(|m| m.entry("targets"))
            .map(|e| e.key_loc);
        ctx.error(
            format!(
                "{name}: no such target. Available targets: {}",
                if names.is_empty() {
                    "default".to_string()
                } else {
                    names.join(", ")
                }
            ),
            loc,
            "",
        );
        return None;
    }
    match names.as_slice() {
        [] => return Some("default".into()),
        [one] => return Some(one.to_string()),
        _ => {}
    }
    let defaults: Vec<&Entry> = targets
        .iter()
        .copied()
        .filter(|e| matches!(e.node.get("default").map(|d| &d.v), Some(Value::Bool(true))))
        .collect();
    match defaults.as_slice() {
        [one] => Some(one.key.clone()),
        [] => {
            // The CLI's words; the names are ours, below them.
            let d = crate::diag::Diagnostic::error("please specify target")
                .detail(format!("Available targets: {}", names.join(", ")));
            ctx.push(d, None, "");
            None
        }
        many => {
            let list: Vec<&str> = many.iter().map(|e| e.key.as_str()).collect();
            let mut d = crate::diag::Diagnostic::error(format!(
                "multiple targets are marked as default ({})",
                list.join(", ")
            ));
            for e in many {
                d = d.at(ctx.location(e.key_loc));
            }
            ctx.diags.push(d);
            None
        }
    }
}

/// Merge `targets.<name>` over the root and drop `targets`. Sets `bundle.target`.
pub fn apply(ctx: &mut Ctx, root: &mut Node, name: &str) {
    let Some(m) = root.as_map_mut() else { return };
    let target = m
        .remove("targets")
        .and_then(|e| e.node.as_map().and_then(|t| t.get(name).cloned()));
    let bundle_loc = m.entry("bundle").map(|e| e.node.loc).unwrap_or_default();
    ensure_map(m, "bundle", bundle_loc);
    // Where the target's settings were written, for `--include-locations`:
    // each file's part of it, in file order; only the sections merged into
    // the top level (variables only set values).
    let parts: Vec<Node> = ctx
        .sources
        .iter()
        .filter_map(|f| {
            f.at(&["targets", name])
                .or_else(|| f.at(&["environments", name]))
        })
        .filter_map(|t| {
            let mut merged = t.as_map()?.clone();
            merged.0.retain(|e| {
                matches!(
                    e.key.as_str(),
                    "bundle"
                        | "workspace"
                        | "artifacts"
                        | "resources"
                        | "sync"
                        | "permissions"
                        | "presets"
                )
            });
            Some(Node::new(Value::Map(merged), t.loc))
        })
        .collect();
    ctx.sources.extend(parts);
    if let Some(Value::Map(t)) = target.map(|t| t.v) {
        for e in t.0 {
            match e.key.as_str() {
                "default" => {}
                "mode" => set(m, &["bundle", "mode"], e),
                "cluster_id" | "compute_id" => set(m, &["bundle", "cluster_id"], e),
                "run_as" => m.insert("run_as", e.key_loc, e.node),
                "git" => {
                    let bundle = m.get_mut("bundle").and_then(Node::as_map_mut);
                    if let Some(b) = bundle {
                        match b.get_mut("git") {
                            Some(g) => deep_merge(g, e.node),
                            None => b.0.push(Entry {
                                key: "git".into(),
                                key_loc: e.key_loc,
                                node: e.node,
                            }),
                        }
                    }
                }
                "variables" => merge_variables(ctx, m, e.node, name),
                "bundle" | "workspace" | "artifacts" | "resources" | "sync" | "permissions"
                | "presets" => merge_field(ctx, m, e, name),
                // Unknown keys were reported by `check`.
                _ => {}
            }
        }
    }
    if let Some(b) = m.get_mut("bundle").and_then(Node::as_map_mut) {
        b.insert("target", bundle_loc, Node::str(name, bundle_loc));
    }
}

/// One of the sections a target merges over the root's, as the CLI's
/// `mergeField`: refused, with its text and no file place (it has none),
/// when the kinds cannot merge.
fn merge_field(ctx: &mut Ctx, m: &mut Map, e: Entry, name: &str) {
    match m.get_mut(&e.key) {
        Some(existing) if !existing.is_null() => {
            let field = e.key.clone();
            if let Err(why) = checked_merge(existing, e.node) {
                ctx.error(
                    format!("failed to perform target override for target={name}: failed to merge target={name} field={field}: {why}"),
                    None,
                    &format!("targets.{name}.{field}"),
                );
            }
        }
        _ => m.insert(&e.key, e.key_loc, e.node),
    }
}

fn ensure_map(m: &mut Map, key: &str, loc: Loc) {
    match m.get_mut(key) {
        Some(n) if n.as_map().is_some() => {}
        Some(n) if n.is_null() => n.v = Value::Map(Map::default()),
        Some(_) => {}
        None => m.0.push(Entry {
            key: key.into(),
            key_loc: loc,
            node: Node::map(loc),
        }),
    }
}

/// Replace `path` (two keys) with the entry's value.
fn set(m: &mut Map, path: &[&str; 2], e: Entry) {
    if let Some(b) = m.get_mut(path[0]).and_then(Node::as_map_mut) {
        b.insert(path[1], e.key_loc, e.node);
    }
}

/// Target variable overrides: only existing variables; the shorthand value
/// means `default`; `default` drops a root `lookup` and vice versa.
fn merge_variables(ctx: &mut Ctx, root: &mut Map, over: Node, target: &str) {
    let Value::Map(over) = over.v else { return };
    let Some(vars) = root.get_mut("variables").and_then(Node::as_map_mut) else {
        for e in over.0 {
            ctx.error(
                format!("failed to perform target override for target={target}: variable {} is not defined but is assigned a value", e.key),
                Some(e.key_loc),
                &format!("targets.{target}.variables"),
            );
        }
        return;
    };
    for e in over.0 {
        let Some(decl) = vars.get_mut(&e.key) else {
            ctx.error(
                format!("failed to perform target override for target={target}: variable {} is not defined but is assigned a value", e.key),
                Some(e.key_loc),
                &format!("targets.{target}.variables.{}", e.key),
            );
            continue;
        };
        if decl.as_map().is_none() {
            // A root shorthand declaration: normalize it first.
            let loc = decl.loc;
            let old = std::mem::replace(decl, Node::map(loc));
            if let Some(dm) = decl.as_map_mut() {
                dm.insert("default", loc, old);
            }
        }
        let complex = decl.get("type").and_then(Node::as_str) == Some("complex");
        let is_decl = |n: &Node| {
            n.as_map().is_some_and(|m| {
                ["default", "lookup", "description", "type"]
                    .iter()
                    .any(|k| m.get(k).is_some())
            })
        };
        // A complex value is itself a map: only `{default: ...}` is the long form.
        let long_form = if complex {
            e.node.get("default").is_some()
        } else {
            is_decl(&e.node)
        };
        let override_node = if long_form {
            e.node
        } else {
            let loc = e.node.loc;
            let mut n = Node::map(loc);
            if let Some(m) = n.as_map_mut() {
                m.insert("default", e.key_loc, e.node);
            }
            n
        };
        let Some(dm) = decl.as_map_mut() else {
            continue;
        };
        if override_node.get("default").is_some() {
            dm.remove("lookup");
            // Complex defaults are replaced whole, not deep-merged.
            dm.remove("default");
        }
        if override_node.get("lookup").is_some() {
            dm.remove("default");
            dm.remove("lookup");
        }
        deep_merge(decl, override_node);
    }
}
