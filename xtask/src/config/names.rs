//! Names that become folder names: `bundle.name` and the target name make
//! `.bundle/<name>/<target>/` (and the remote root), a job key makes the
//! runner's `runs/<job>/` folder. Each must be one plain path part, or a
//! `name: ../../elsewhere` writes (and prunes) outside the state root.

use crate::config::ctx::Ctx;
use crate::config::yaml::{Loc, Node};

/// What is wrong with `name` as one path part, if anything.
pub fn path_part_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains('\0') {
        Some("holds a NUL character")
    } else if name.contains('/') || name.contains('\\') {
        Some("holds a path separator (it must be a single folder name)")
    } else if name == "." || name == ".." {
        Some("is `.` or `..`")
    } else {
        None
    }
}

/// Check every such name of the merged tree (all targets, not only the
/// selected one: `validate` reports them all).
pub fn check(ctx: &mut Ctx, root: &Node) {
    if let Some(n) = root.at(&["bundle", "name"])
        && let Some(name) = n.as_str()
        && !name.contains("${")
    {
        one(ctx, name, n.loc, "bundle.name", "bundle.name");
    }
    jobs(ctx, root, "resources");
    for key in ["targets", "environments"] {
        let Some(targets) = root.get(key).and_then(Node::as_map) else {
            continue;
        };
        for t in targets.iter() {
            let path = format!("{key}.{}", t.key);
            one(ctx, &t.key, t.key_loc, "target name", &path);
            if let Some(n) = t.node.at(&["bundle", "name"])
                && let Some(name) = n.as_str()
            {
                one(
                    ctx,
                    name,
                    n.loc,
                    "bundle.name",
                    &format!("{path}.bundle.name"),
                );
            }
            jobs(ctx, &t.node, &format!("{path}.resources"));
        }
    }
}

fn jobs(ctx: &mut Ctx, node: &Node, path: &str) {
    let Some(jobs) = node.at(&["resources", "jobs"]).and_then(Node::as_map) else {
        return;
    };
    for j in jobs.iter() {
        one(
            ctx,
            &j.key,
            j.key_loc,
            "job key",
            &format!("{path}.jobs.{}", j.key),
        );
    }
}

fn one(ctx: &mut Ctx, name: &str, loc: Loc, what: &str, path: &str) {
    if let Some(problem) = path_part_problem(name) {
        ctx.error(
            format!("{what} {name:?} {problem}: it names a folder of the deployment state"),
            Some(loc),
            path,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_paths_do_not() {
        for ok in ["my_bundle", "dev", "prod-eu", "a.b", "..a", "job 1"] {
            assert_eq!(path_part_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../escaped",
            "/tmp/y",
            "a/b",
            "a\\b",
            "a\0b",
        ] {
            assert!(path_part_problem(bad).is_some(), "{bad:?}");
        }
    }
}
