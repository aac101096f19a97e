//! Shape checks on the raw tree: known keys (unknown ones are warnings, as
//! the CLI warns) and the types the loader relies on (errors).
//!
//! Only the sections this tool models are checked key by key; resource
//! settings are the Databricks APIs' business and pass through untouched.

use crate::config::ctx::Ctx;
use crate::config::yaml::{Node, Value};

const TOP: &[&str] = &[
    "artifacts",
    "bundle",
    "definitions",
    "environments",
    "experimental",
    "include",
    "permissions",
    "presets",
    "python",
    "resources",
    "run_as",
    "scripts",
    "sync",
    "targets",
    "variables",
    "workspace",
];
const TARGET: &[&str] = &[
    "artifacts",
    "bundle",
    "cluster_id",
    "compute_id",
    "default",
    "git",
    "mode",
    "permissions",
    "presets",
    "resources",
    "run_as",
    "sync",
    "variables",
    "workspace",
];
const BUNDLE: &[&str] = &[
    "name",
    "engine",
    "git",
    "cluster_id",
    "compute_id",
    "databricks_cli_version",
    "deployment",
    "uuid",
    "target",
    "mode",
    "environment",
];
const GIT: &[&str] = &[
    "branch",
    "origin_url",
    "commit",
    "actual_branch",
    "bundle_root_path",
];
const DEPLOYMENT: &[&str] = &["fail_on_active_runs", "lock"];
const LOCK: &[&str] = &["enabled", "force"];
const WORKSPACE: &[&str] = &[
    "host",
    "profile",
    "auth_type",
    "root_path",
    "file_path",
    "artifact_path",
    "state_path",
    "resource_path",
    "current_user",
    "client_id",
    "account_id",
    "azure_client_id",
    "azure_environment",
    "azure_login_app_id",
    "azure_tenant_id",
    "azure_use_msi",
    "azure_workspace_resource_id",
    "google_service_account",
    "metadata_service_url",
    "experimental_is_unified_host",
    "workspace_id",
];
const SYNC: &[&str] = &["paths", "include", "exclude"];
const PRESETS: &[&str] = &[
    "name_prefix",
    "pipelines_development",
    "trigger_pause_status",
    "jobs_max_concurrent_runs",
    "tags",
    "source_linked_deployment",
    "artifacts_dynamic_version",
];
// `value` is the CLI's resolved value; written, it is the value (set_variables.go).
const VARIABLE: &[&str] = &["default", "description", "type", "lookup", "value"];

/// Drop top-level keys the configuration model does not have (after
/// `check_root` warned about them): anchor holders must not be interpolated
/// or reported twice.
pub fn drop_unknown(root: &mut Node) {
    if let Some(m) = root.as_map_mut() {
        m.0.retain(|e| TOP.contains(&e.key.as_str()));
    }
}

/// Check the merged (pre-target) tree, including every target's overrides.
pub fn check_root(ctx: &mut Ctx, root: &Node) {
    let Some(m) = root.as_map() else { return };
    for e in m.iter() {
        let p = e.key.as_str();
        if !TOP.contains(&p) {
            continue;
        }
        check_section(ctx, p, &e.node, p);
    }
    for key in ["targets", "environments"] {
        let Some(t) = root.get(key) else { continue };
        let Some(targets) = expect_map(ctx, t, key) else {
            continue;
        };
        for te in targets.iter() {
            let tp = format!("{key}.{}", te.key);
            if te.node.is_null() {
                continue;
            }
            let Some(tm) = expect_map(ctx, &te.node, &tp) else {
                continue;
            };
            for e in tm.iter() {
                let p = format!("{tp}.{}", e.key);
                if !TARGET.contains(&e.key.as_str()) {
                    continue;
                }
                match e.key.as_str() {
                    "git" => check_keys(ctx, &e.node, GIT, &p),
                    "mode" | "cluster_id" | "compute_id" => expect_scalar_str(ctx, &e.node, &p),
                    "default" => {
                        if !matches!(e.node.v, Value::Bool(_)) {
                            ctx.error(
                                format!("expected a bool, found a {}", e.node.kind()),
                                Some(e.node.loc),
                                &p,
                            );
                        }
                    }
                    "variables" => {
                        expect_map(ctx, &e.node, &p);
                    }
                    k => check_section(ctx, k, &e.node, &p),
                }
            }
        }
    }
}

fn check_section(ctx: &mut Ctx, section: &str, node: &Node, path: &str) {
    if node.is_null() {
        return;
    }
    match section {
        "bundle" => check_bundle(ctx, node, path),
        "workspace" => check_workspace(ctx, node, path),
        "sync" => check_sync(ctx, node, path),
        "presets" => check_keys(ctx, node, PRESETS, path),
        "variables" => check_variables(ctx, node, path),
        "resources" => check_resources(ctx, node, path),
        "artifacts" | "permissions" | "run_as" | "experimental" | "python" | "scripts" => {}
        _ => {}
    }
}

/// `bundle`: its keys, a string name, and the keys of `git` and `deployment`.
fn check_bundle(ctx: &mut Ctx, node: &Node, path: &str) {
    check_keys(ctx, node, BUNDLE, path);
    if let Some(n) = node.get("name")
        && n.as_str().is_none()
    {
        ctx.error(
            format!("expected a string, found a {}", n.kind()),
            Some(n.loc),
            &format!("{path}.name"),
        );
    }
    if let Some(g) = node.get("git") {
        check_keys(ctx, g, GIT, &format!("{path}.git"));
    }
    if let Some(d) = node.get("deployment") {
        check_keys(ctx, d, DEPLOYMENT, &format!("{path}.deployment"));
        if let Some(l) = d.get("lock") {
            check_keys(ctx, l, LOCK, &format!("{path}.deployment.lock"));
        }
    }
}

/// `workspace`: its keys, and the paths, host and profile as strings.
fn check_workspace(ctx: &mut Ctx, node: &Node, path: &str) {
    check_keys(ctx, node, WORKSPACE, path);
    if let Some(m) = node.as_map() {
        for e in m
            .iter()
            .filter(|e| e.key.ends_with("_path") || e.key == "host" || e.key == "profile")
        {
            expect_scalar_str(ctx, &e.node, &format!("{path}.{}", e.key));
        }
    }
}

/// `sync`: its keys, each a list of strings.
fn check_sync(ctx: &mut Ctx, node: &Node, path: &str) {
    check_keys(ctx, node, SYNC, path);
    if let Some(m) = node.as_map() {
        for e in m.iter() {
            expect_string_seq(ctx, &e.node, &format!("{path}.{}", e.key));
        }
    }
}

/// `variables`: a map; the keys of each declaration.
fn check_variables(ctx: &mut Ctx, node: &Node, path: &str) {
    let Some(m) = expect_map(ctx, node, path) else {
        return;
    };
    for e in m.iter() {
        // `name: value` shorthand is accepted; a map is a declaration.
        if let Some(vm) = e.node.as_map()
            && (vm.get("default").is_some()
                || vm.get("description").is_some()
                || vm.get("lookup").is_some()
                || vm.get("type").is_some()
                || vm.get("value").is_some()
                || vm.0.is_empty())
        {
            check_keys(ctx, &e.node, VARIABLE, &format!("{path}.{}", e.key));
        }
    }
}

/// `resources`: maps of known kinds holding maps, and each job's tasks.
fn check_resources(ctx: &mut Ctx, node: &Node, path: &str) {
    let Some(m) = expect_map(ctx, node, path) else {
        return;
    };
    for kind in m.iter() {
        let kp = format!("{path}.{}", kind.key);
        if crate::config::kinds::get(&kind.key).is_none() {
            continue;
        }
        if kind.node.is_null() {
            continue;
        }
        let Some(rs) = expect_map(ctx, &kind.node, &kp) else {
            continue;
        };
        for r in rs.iter() {
            let rp = format!("{kp}.{}", r.key);
            let Some(rm) = expect_map(ctx, &r.node, &rp) else {
                continue;
            };
            if kind.key == "jobs" {
                check_job(ctx, rm, &rp);
            }
        }
    }
}

fn check_job(ctx: &mut Ctx, job: &crate::config::yaml::Map, path: &str) {
    let Some(tasks) = job.get("tasks") else {
        return;
    };
    let tp = format!("{path}.tasks");
    match &tasks.v {
        Value::Null => {}
        Value::Seq(items) => {
            for (i, t) in items.iter().enumerate() {
                let p = format!("{tp}[{i}]");
                let Some(tm) = expect_map(ctx, t, &p) else {
                    continue;
                };
                match tm.get("task_key") {
                    Some(k) if k.as_str().is_some() => {}
                    Some(k) => ctx.error(
                        format!("expected a string, found a {}", k.kind()),
                        Some(k.loc),
                        &format!("{p}.task_key"),
                    ),
                    None => {}
                }
            }
        }
        v if crate::config::schema::is_pure_ref(v) => {}
        _ => ctx.error(
            format!("expected a sequence, found a {}", tasks.kind()),
            Some(tasks.loc),
            &tp,
        ),
    }
}

fn check_keys(ctx: &mut Ctx, node: &Node, known: &[&str], path: &str) {
    let Some(m) = expect_map(ctx, node, path) else {
        return;
    };
    // Unknown keys were reported (and left out) by `schema::normalize_file`.
    let _ = (m, known);
}

pub fn expect_map<'a>(
    ctx: &mut Ctx,
    node: &'a Node,
    path: &str,
) -> Option<&'a crate::config::yaml::Map> {
    match &node.v {
        Value::Map(m) => Some(m),
        Value::Null => None,
        // A whole value from a reference (`my_cluster: ${var.cluster}`) is
        // checked once resolved, as the CLI's conversion does.
        v if crate::config::schema::is_pure_ref(v) => None,
        _ => {
            // The CLI warns and leaves the value out (libs/dyn/convert/
            // normalize.go: `typeMismatch` is a warning, the value invalid).
            ctx.warning(
                format!("expected map, found {}", node.kind()),
                Some(node.loc),
                path,
            );
            ctx.mistyped.push(path.to_string());
            None
        }
    }
}

/// Leave out what `check_root` found mistyped (a string where a map is
/// expected), as the CLI does, so later stages see only the right shapes.
/// Later paths first: a sequence loses its higher indices before its lower.
pub fn drop_mistyped(ctx: &mut Ctx, root: &mut Node) {
    for path in std::mem::take(&mut ctx.mistyped).iter().rev() {
        remove_at(root, path);
    }
}

/// Remove the value at a config path (`a.b[2].c`); nothing when it is gone.
fn remove_at(root: &mut Node, path: &str) {
    let mut steps: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for seg in path.split('.') {
        let (key, mut rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
        let mut idx = Vec::new();
        while let Some(r) = rest.strip_prefix('[') {
            let Some(close) = r.find(']') else { return };
            let Ok(i) = r[..close].parse() else { return };
            idx.push(i);
            rest = &r[close + 1..];
        }
        steps.push(((!key.is_empty()).then_some(key), idx));
    }
    // Flatten to a list of map keys and sequence indices.
    enum Step<'a> {
        Key(&'a str),
        Index(usize),
    }
    let flat: Vec<Step> = steps
        .into_iter()
        .flat_map(|(k, idx)| {
            k.map(Step::Key)
                .into_iter()
                .chain(idx.into_iter().map(Step::Index))
        })
        .collect();
    let Some((last, parents)) = flat.split_last() else {
        return;
    };
    let mut node = root;
    for s in parents {
        let next = match (s, &mut node.v) {
            (Step::Key(k), Value::Map(m)) => m.get_mut(k),
            (Step::Index(i), Value::Seq(v)) => v.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return,
        }
    }
    match (last, &mut node.v) {
        (Step::Key(k), Value::Map(m)) => {
            m.remove(k);
        }
        (Step::Index(i), Value::Seq(v)) if *i < v.len() => {
            v.remove(*i);
        }
        _ => {}
    }
}

fn expect_scalar_str(ctx: &mut Ctx, node: &Node, path: &str) {
    if !matches!(node.v, Value::Str(_) | Value::Null) {
        ctx.error(
            format!("expected a string, found a {}", node.kind()),
            Some(node.loc),
            path,
        );
    }
}

fn expect_string_seq(ctx: &mut Ctx, node: &Node, path: &str) {
    match &node.v {
        Value::Null => {}
        Value::Seq(items) => {
            for (i, it) in items.iter().enumerate() {
                expect_scalar_str(ctx, it, &format!("{path}[{i}]"));
            }
        }
        _ => ctx.error(
            format!("expected a sequence, found a {}", node.kind()),
            Some(node.loc),
            path,
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_resource_or_task_list_written_as_one_reference_is_taken_from_it() {
        // A complex value holding another variable's map (the CLI's
        // acceptance case variables/complex-transitive).
        let (config, diags) = crate::config::load_files(&[(
            "databricks.yml",
            "bundle:\n  name: t\nvariables:\n  catalog:\n    default: hive\n  conf:\n    default:\n      k: ${var.catalog}\n  cluster:\n    type: complex\n    default:\n      spark_version: '14.3'\n      spark_conf: ${var.conf}\n  tasks:\n    type: complex\n    default:\n      - task_key: a\nresources:\n  clusters:\n    c: ${var.cluster}\n  jobs:\n    j:\n      tasks: ${var.tasks}\n",
        )]);
        assert!(diags.is_empty(), "{diags:?}");
        let c = &config["resources"]["clusters"]["c"];
        assert_eq!(c["spark_conf"]["k"], "hive");
        assert_eq!(
            config["resources"]["jobs"]["j"]["tasks"][0]["task_key"],
            "a"
        );
    }
}
