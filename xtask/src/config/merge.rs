//! Merging trees: included files into the root, a target over the root, and
//! the keyed merges of job tasks and clusters that follow (reference §4).

use crate::config::ctx::Ctx;
use crate::config::pattern::visit_mut;
use crate::config::yaml::{Node, Value};

/// The CLI's deep merge: maps merge with `over` winning, sequences are
/// concatenated, anything else is replaced. A null `over` keeps `base`.
pub fn deep_merge(base: &mut Node, over: Node) {
    match (&mut base.v, over.v) {
        (_, Value::Null) => {}
        (Value::Map(b), Value::Map(o)) => {
            for e in o.0 {
                match b.get_mut(&e.key) {
                    Some(existing) => deep_merge(existing, e.node),
                    None => b.0.push(e),
                }
            }
        }
        (Value::Seq(b), Value::Seq(o)) => b.extend(o),
        (_, v) => {
            base.v = v;
            base.loc = over.loc;
        }
    }
}

/// [`deep_merge`] for a target's settings, refusing what the CLI's
/// `merge.Merge` refuses: a map or a sequence merged with a value of another
/// kind (`tasks: ${var.tasks}` in the root, a list in the target), named as
/// the CLI names it (`cannot merge string with sequence`). Nothing is merged
/// when it fails.
pub fn checked_merge(base: &mut Node, over: Node) -> Result<(), String> {
    mergeable(base, &over)?;
    deep_merge(base, over);
    Ok(())
}

fn mergeable(base: &Node, over: &Node) -> Result<(), String> {
    match (&base.v, &over.v) {
        (Value::Null, _) | (_, Value::Null) => Ok(()),
        (Value::Map(b), Value::Map(o)) => o.iter().try_for_each(|e| match b.get(&e.key) {
            Some(existing) => mergeable(existing, &e.node),
            None => Ok(()),
        }),
        (Value::Seq(_), Value::Seq(_)) => Ok(()),
        (Value::Map(_), _) | (Value::Seq(_), _) | (_, Value::Map(_)) | (_, Value::Seq(_)) => {
            Err(format!(
                "cannot merge {} with {}",
                go_kind(&base.v),
                go_kind(&over.v)
            ))
        }
        _ => Ok(()),
    }
}

/// A value's kind as the CLI's `dyn.Kind` prints it.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "map",
        Value::Seq(_) => "sequence",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Null => "nil",
    }
}

/// Merge an included file's top level into the root. A resource key defined
/// in two files is an error, as in the CLI.
pub fn merge_file(ctx: &mut Ctx, root: &mut Node, file: Node) {
    if let (Some(have), Some(new)) = (root.get("resources"), file.get("resources"))
        && let (Some(have), Some(new)) = (have.as_map(), new.as_map())
    {
        for kind in new.iter() {
            let (Some(h), Some(n)) = (
                have.get(&kind.key).and_then(Node::as_map),
                kind.node.as_map(),
            ) else {
                continue;
            };
            for e in n.iter() {
                if let Some(prev) = h.entry(&e.key) {
                    let d = crate::diag::Diagnostic::error(format!(
                        "multiple resources have been defined with the same key: {}",
                        e.key
                    ))
                    .at(ctx.location(prev.key_loc));
                    ctx.push(
                        d,
                        Some(e.key_loc),
                        &format!("resources.{}.{}", kind.key, e.key),
                    );
                }
            }
        }
    }
    deep_merge(root, file);
}

/// After the target merge: job `tasks` by `task_key`, `job_clusters` by
/// `job_cluster_key`, `parameters` by `name`, pipeline `clusters` by `label`,
/// as the CLI's `ElementsByKey`: elements with one key merge into the first,
/// elements without a key share the key "" (a pipeline cluster's is
/// `default`; labels compare lowercased), and each element's key field is
/// then set to its key. Tasks come out sorted by key (`MergeJobTasks` uses
/// `ElementsBySortedKey`); the other lists keep their order.
pub fn keyed_merges(root: &mut Node) {
    keyed(root, false);
}

/// [`keyed_merges`] before interpolation: elements whose merge would put a
/// `${...}` string over a map (or a map over one) are left apart, for the
/// merge after interpolation (the CLI merges only then: a target's
/// `new_cluster: ${var.cluster}` merges into the root's cluster fields).
pub fn keyed_merges_before_references(root: &mut Node) {
    keyed(root, true);
}

fn keyed(root: &mut Node, defer: bool) {
    for (field, key) in [
        ("tasks", "task_key"),
        ("job_clusters", "job_cluster_key"),
        ("parameters", "name"),
    ] {
        visit_mut(root, &format!("resources.jobs.*.{field}"), &mut |_, seq| {
            let text = |n: &Node| n.get(key).and_then(Node::as_str).unwrap_or("").to_string();
            merge_by_key(seq, key, text, (field == "tasks", defer));
        });
    }
    visit_mut(root, "resources.pipelines.*.clusters", &mut |_, seq| {
        let label = |n: &Node| {
            n.get("label")
                .and_then(Node::as_str)
                .unwrap_or("default")
                .to_lowercase()
        };
        merge_by_key(seq, "label", label, (false, defer));
    });
}

fn merge_by_key(
    seq: &mut Node,
    field: &str,
    key: impl Fn(&Node) -> String,
    (sort, defer): (bool, bool),
) {
    let Value::Seq(items) = &mut seq.v else {
        return;
    };
    let mut out: Vec<(String, Node)> = Vec::with_capacity(items.len());
    for item in std::mem::take(items) {
        let k = key(&item);
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some((_, existing)) if !(defer && reference_meets_map(existing, &item)) => {
                deep_merge(existing, item)
            }
            _ => out.push((k, item)),
        }
    }
    if sort {
        out.sort_by(|a, b| a.0.cmp(&b.0));
    }
    *items = out
        .into_iter()
        .map(|(k, mut n)| {
            if let Some(m) = n.as_map_mut() {
                let loc = m.get(field).map_or(Default::default(), |v| v.loc);
                match m.get_mut(field) {
                    Some(v) => v.v = Value::Str(k),
                    // The CLI merges once, after interpolation: a missing
                    // key appears only then (a configuration that stops at
                    // its variables shows none: acceptance/bundle/variables/
                    // resolve-nonstrings).
                    None if defer => {}
                    None => m.insert(field, loc, Node::str(k, loc)),
                }
            }
            n
        })
        .collect();
}

/// Whether merging `over` into `base` would meet a `${...}` string and a
/// map at one place.
fn reference_meets_map(base: &Node, over: &Node) -> bool {
    let is_ref = |n: &Node| n.as_str().is_some_and(|s| s.contains("${"));
    match (&base.v, &over.v) {
        (Value::Map(b), Value::Map(o)) => o.iter().any(|e| {
            b.get(&e.key)
                .is_some_and(|bn| reference_meets_map(bn, &e.node))
        }),
        (Value::Map(_), _) => is_ref(over),
        (_, Value::Map(_)) => is_ref(base),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    #[test]
    fn tasks_merge_by_key_after_concatenation() {
        let mut root = parse(
            "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: a\n          x: 1\n        - task_key: b\n",
            0,
        )
        .unwrap();
        let over = parse("resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: a\n          x: 2\n          y: 3\n", 1)
            .unwrap();
        deep_merge(&mut root, over);
        keyed_merges(&mut root);
        let json = root.to_json();
        assert_eq!(
            json["resources"]["jobs"]["j"]["tasks"],
            serde_json::json!([{"task_key": "a", "x": 2, "y": 3}, {"task_key": "b"}])
        );
    }

    #[test]
    fn a_reference_over_a_map_waits_for_the_merge_after_interpolation() {
        let mut root = parse(
            "resources:\n  jobs:\n    j:\n      job_clusters:\n        - new_cluster:\n            node_type_id: random\n            spark_version: '13.3'\n        - new_cluster: ${var.cluster}\n",
            0,
        )
        .unwrap();
        keyed_merges_before_references(&mut root);
        let clusters = |r: &Node| r.to_json()["resources"]["jobs"]["j"]["job_clusters"].clone();
        assert_eq!(clusters(&root).as_array().unwrap().len(), 2, "kept apart");
        // As interpolation leaves it: the reference replaced by its value.
        let resolved = parse("node_type_id: DS3\nnum_workers: 2\n", 0).unwrap();
        crate::config::pattern::visit_mut(
            &mut root,
            "resources.jobs.j.job_clusters[1]",
            &mut |_, n| {
                if let Some(m) = n.as_map_mut() {
                    m.insert("new_cluster", Default::default(), resolved.clone());
                }
            },
        );
        keyed_merges(&mut root);
        assert_eq!(
            clusters(&root),
            serde_json::json!([{"job_cluster_key": "", "new_cluster": {"node_type_id": "DS3", "spark_version": "13.3", "num_workers": 2}}])
        );
    }
}
