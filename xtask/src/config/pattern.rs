//! Pattern walks over the located tree (the Databricks CLI's `dyn` patterns):
//! `resources.jobs.*.tasks[*].notebook_task.notebook_path` names every value
//! at that shape, so a rule is one pattern and one closure instead of a
//! nest of `if let` per level. The closure gets the concrete config path
//! (`resources.jobs.train.tasks[0].notebook_task.notebook_path`), the form
//! diagnostics and `Bundle::location` use.

use super::yaml::{Node, Value};

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    AnyKey,
    Index(usize),
    AnyIndex,
}

/// `a.*.b[*].c[0]` → [Key a, AnyKey, Key b, AnyIndex, Key c, Index 0].
fn parse(pattern: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in pattern.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
        match key {
            "" => {}
            "*" => segs.push(Seg::AnyKey),
            k => segs.push(Seg::Key(k.to_string())),
        }
        while let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').unwrap_or(r.len());
            match &r[..close] {
                "*" => segs.push(Seg::AnyIndex),
                i => match i.parse() {
                    Ok(i) => segs.push(Seg::Index(i)),
                    Err(_) => debug_assert!(false, "unsupported index in pattern {part:?}"),
                },
            }
            rest = r.get(close + 1..).unwrap_or("");
        }
        debug_assert!(rest.is_empty(), "unsupported pattern segment {part:?}");
    }
    segs
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Call `f(path, node)` for every node of `root` that matches `pattern`, in
/// source order.
pub fn visit(root: &Node, pattern: &str, f: &mut dyn FnMut(&str, &Node)) {
    fn go(node: &Node, segs: &[Seg], path: String, f: &mut dyn FnMut(&str, &Node)) {
        let Some((seg, rest)) = segs.split_first() else {
            return f(&path, node);
        };
        match (seg, &node.v) {
            (Seg::Key(k), Value::Map(m)) => {
                if let Some(n) = m.get(k) {
                    go(n, rest, join(&path, k), f);
                }
            }
            (Seg::AnyKey, Value::Map(m)) => {
                for e in m.iter() {
                    go(&e.node, rest, join(&path, &e.key), f);
                }
            }
            (Seg::Index(i), Value::Seq(items)) => {
                if let Some(n) = items.get(*i) {
                    go(n, rest, format!("{path}[{i}]"), f);
                }
            }
            (Seg::AnyIndex, Value::Seq(items)) => {
                for (i, n) in items.iter().enumerate() {
                    go(n, rest, format!("{path}[{i}]"), f);
                }
            }
            _ => {}
        }
    }
    go(root, &parse(pattern), String::new(), f);
}

/// As [`visit`], with each matching node open for change.
pub fn visit_mut(root: &mut Node, pattern: &str, f: &mut dyn FnMut(&str, &mut Node)) {
    fn go(node: &mut Node, segs: &[Seg], path: String, f: &mut dyn FnMut(&str, &mut Node)) {
        let Some((seg, rest)) = segs.split_first() else {
            return f(&path, node);
        };
        match (seg, &mut node.v) {
            (Seg::Key(k), Value::Map(m)) => {
                if let Some(n) = m.get_mut(k) {
                    go(n, rest, join(&path, k), f);
                }
            }
            (Seg::AnyKey, Value::Map(m)) => {
                for e in m.0.iter_mut() {
                    go(&mut e.node, rest, join(&path, &e.key), f);
                }
            }
            (Seg::Index(i), Value::Seq(items)) => {
                if let Some(n) = items.get_mut(*i) {
                    go(n, rest, format!("{path}[{i}]"), f);
                }
            }
            (Seg::AnyIndex, Value::Seq(items)) => {
                for (i, n) in items.iter_mut().enumerate() {
                    go(n, rest, format!("{path}[{i}]"), f);
                }
            }
            _ => {}
        }
    }
    go(root, &parse(pattern), String::new(), f);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Node {
        crate::config::yaml::parse(yaml, 0).expect("test YAML parses")
    }

    const JOBS: &str = "resources:\n  jobs:\n    a:\n      tasks:\n        - notebook_task: {notebook_path: x.py}\n        - spark_python_task: {python_file: y.py}\n        - notebook_task: {notebook_path: z.py}\n    b:\n      tasks: []\n    c: not-a-map\n";

    #[test]
    fn wildcards_name_every_match_with_its_concrete_path() {
        let root = tree(JOBS);
        let mut seen = Vec::new();
        visit(
            &root,
            "resources.jobs.*.tasks[*].notebook_task.notebook_path",
            &mut |p, n| {
                seen.push(format!("{p}={}", n.as_str().unwrap_or("?")));
            },
        );
        assert_eq!(
            seen,
            [
                "resources.jobs.a.tasks[0].notebook_task.notebook_path=x.py",
                "resources.jobs.a.tasks[2].notebook_task.notebook_path=z.py",
            ]
        );
    }

    #[test]
    fn shapes_that_do_not_match_are_skipped_and_matches_can_change() {
        let mut root = tree(JOBS);
        let mut keys = Vec::new();
        visit(&root, "resources.jobs.*", &mut |p, _| {
            keys.push(p.to_string())
        });
        assert_eq!(
            keys,
            ["resources.jobs.a", "resources.jobs.b", "resources.jobs.c"]
        );
        // `c` is a string: `[*]` under it matches nothing, and no panic.
        let mut n = 0;
        visit(&root, "resources.jobs.*.tasks[*]", &mut |_, _| n += 1);
        assert_eq!(n, 3);
        visit_mut(
            &mut root,
            "resources.jobs.*.tasks[*].*.python_file",
            &mut |_, node| {
                node.v = Value::Str("moved.py".into());
            },
        );
        let mut files = Vec::new();
        visit(
            &root,
            "resources.jobs.a.tasks[1].spark_python_task.python_file",
            &mut |_, n| files.push(n.as_str().unwrap_or("").to_string()),
        );
        assert_eq!(files, ["moved.py"]);
    }
}
