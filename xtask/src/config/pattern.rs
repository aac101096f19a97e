//! Pattern walks over the located tree (the Databricks CLI's `dyn` patterns):
//! `resources.jobs.*.tasks[*].notebook_task.notebook_path` names every value
//! at that shape, so a rule is one pattern and one closure instead of a
//! nest of `if let` per level. The closure gets the concrete config path
//! (`resources.jobs.train.tasks[0].notebook_task.notebook_path`), the form
//! diagnostics and `Bundle::location` use.

use super::yaml::{Node, Value};

/// One step of a pattern. Patterns are read a step at a time during the
/// walk: a `validate` walks some 400 of them (one per required field and enum
/// of the schema), most of which stop matching after two steps, so reading
/// one must cost no allocation.
#[derive(Debug, Clone, PartialEq)]
enum Seg<'p> {
    Key(&'p str),
    AnyKey,
    Index(usize),
    AnyIndex,
}

/// The first step of `pattern` and the rest: `a.*.b[*]` → `Key a`, `.*.b[*]`.
fn next(pattern: &str) -> Option<(Seg<'_>, &str)> {
    let p = pattern.trim_start_matches('.');
    if p.is_empty() {
        return None;
    }
    if let Some(r) = p.strip_prefix('[') {
        let close = r.find(']').unwrap_or(r.len());
        let seg = match &r[..close] {
            "*" => Seg::AnyIndex,
            i => Seg::Index(i.parse().unwrap_or_else(|_| {
                debug_assert!(false, "unsupported index in pattern {pattern:?}");
                usize::MAX
            })),
        };
        return Some((seg, r.get(close + 1..).unwrap_or("")));
    }
    let end = p.find(['.', '[']).unwrap_or(p.len());
    let seg = match &p[..end] {
        "*" => Seg::AnyKey,
        k => Seg::Key(k),
    };
    Some((seg, &p[end..]))
}

/// Extend `path` by one step, run `f`, and take the step back: one buffer for
/// the whole walk, where a fresh string per node was most of its cost.
fn step(path: &mut String, push: impl FnOnce(&mut String), f: impl FnOnce(&mut String)) {
    let len = path.len();
    push(path);
    f(path);
    path.truncate(len);
}

fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

fn push_index(path: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(path, "[{i}]");
}

/// Call `f(path, node)` for every node of `root` that matches `pattern`, in
/// source order.
pub fn visit(root: &Node, pattern: &str, f: &mut dyn FnMut(&str, &Node)) {
    fn go(node: &Node, pattern: &str, path: &mut String, f: &mut dyn FnMut(&str, &Node)) {
        let Some((seg, rest)) = next(pattern) else {
            return f(path, node);
        };
        match (&seg, &node.v) {
            (Seg::Key(k), Value::Map(m)) => {
                if let Some(n) = m.get(k) {
                    step(path, |p| push_key(p, k), |p| go(n, rest, p, f));
                }
            }
            (Seg::AnyKey, Value::Map(m)) => {
                for e in m.iter() {
                    step(path, |p| push_key(p, &e.key), |p| go(&e.node, rest, p, f));
                }
            }
            (Seg::Index(i), Value::Seq(items)) => {
                if let Some(n) = items.get(*i) {
                    step(path, |p| push_index(p, *i), |p| go(n, rest, p, f));
                }
            }
            (Seg::AnyIndex, Value::Seq(items)) => {
                for (i, n) in items.iter().enumerate() {
                    step(path, |p| push_index(p, i), |p| go(n, rest, p, f));
                }
            }
            _ => {}
        }
    }
    go(root, pattern, &mut String::new(), f);
}

/// As [`visit`], with each matching node open for change.
pub fn visit_mut(root: &mut Node, pattern: &str, f: &mut dyn FnMut(&str, &mut Node)) {
    fn go(node: &mut Node, pattern: &str, path: &mut String, f: &mut dyn FnMut(&str, &mut Node)) {
        let Some((seg, rest)) = next(pattern) else {
            return f(path, node);
        };
        match (&seg, &mut node.v) {
            (Seg::Key(k), Value::Map(m)) => {
                if let Some(n) = m.get_mut(k) {
                    step(path, |p| push_key(p, k), |p| go(n, rest, p, f));
                }
            }
            (Seg::AnyKey, Value::Map(m)) => {
                for e in m.0.iter_mut() {
                    let key = &e.key;
                    let node = &mut e.node;
                    step(path, |p| push_key(p, key), |p| go(node, rest, p, f));
                }
            }
            (Seg::Index(i), Value::Seq(items)) => {
                if let Some(n) = items.get_mut(*i) {
                    step(path, |p| push_index(p, *i), |p| go(n, rest, p, f));
                }
            }
            (Seg::AnyIndex, Value::Seq(items)) => {
                for (i, n) in items.iter_mut().enumerate() {
                    step(path, |p| push_index(p, i), |p| go(n, rest, p, f));
                }
            }
            _ => {}
        }
    }
    go(root, pattern, &mut String::new(), f);
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

    #[test]
    fn a_pattern_is_read_one_step_at_a_time() {
        let mut steps = Vec::new();
        let mut rest = "a.*.b[*].c[0][12].d";
        while let Some((seg, r)) = next(rest) {
            steps.push(seg);
            rest = r;
        }
        use Seg::*;
        assert_eq!(
            steps,
            [
                Key("a"),
                AnyKey,
                Key("b"),
                AnyIndex,
                Key("c"),
                Index(0),
                Index(12),
                Key("d")
            ]
        );
        assert_eq!(next(""), None);
    }
}
