//! The values the Databricks CLI adds to resources while it resolves a
//! bundle, so `validate --json` (and what deploy sends) carries them too.
//!
//! Two steps, at the CLI's places in the pipeline:
//! - [`apply`] after the presets (`ApplyPresets` runs first, so a preset
//!   wins over a default): the CLI's `applyInitializeMutators` in
//!   `bundle/config/mutator/resourcemutator/resource_mutator.go` (its
//!   `defaults` table, set only where the parent exists and the key does not,
//!   as `bundle.SetDefault` does), then `default_queueing.go`.
//! - [`annotate`] after path translation: `bundle/deploy/metadata/
//!   annotate_jobs.go` and `annotate_pipelines.go`, which overwrite.
//!
//! Confirmed against the CLI's recorded output
//! `acceptance/bundle/validate/empty_resources/empty_dict/output.txt`
//! (an empty job gets `deployment`, `edit_mode`, `format`,
//! `max_concurrent_runs: 1`, `name: Untitled`, `queue`; an empty pipeline
//! `channel`, `deployment`, `edition`).

use crate::config::pattern::visit_mut;
use crate::config::yaml::{Loc, Map, Node, Value};

/// `(parent pattern, key, value)`: the CLI's defaults table, for the kinds it
/// lists (the dbt `schema` rows name a `task` key that does not exist, so
/// they never apply and are left out).
fn table(resource_path: &str) -> Vec<(&'static str, &'static str, Value)> {
    let s = |v: &str| Value::Str(v.to_string());
    vec![
        ("resources.dashboards.*", "parent_path", s(resource_path)),
        (
            "resources.dashboards.*",
            "embed_credentials",
            Value::Bool(false),
        ),
        ("resources.volumes.*", "volume_type", s("MANAGED")),
        ("resources.jobs.*", "name", s("Untitled")),
        ("resources.jobs.*", "max_concurrent_runs", Value::Int(1)),
        ("resources.jobs.*.schedule", "pause_status", s("UNPAUSED")),
        ("resources.jobs.*.trigger", "pause_status", s("UNPAUSED")),
        ("resources.jobs.*.continuous", "pause_status", s("UNPAUSED")),
        (
            "resources.jobs.*.job_clusters[*].new_cluster",
            "num_workers",
            Value::Int(0),
        ),
        (
            "resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients",
            "notebooks",
            Value::Bool(true),
        ),
        (
            "resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients",
            "jobs",
            Value::Bool(true),
        ),
        ("resources.pipelines.*", "edition", s("ADVANCED")),
        ("resources.pipelines.*", "channel", s("CURRENT")),
        (
            "resources.sql_warehouses.*",
            "auto_stop_mins",
            Value::Int(120),
        ),
        (
            "resources.sql_warehouses.*",
            "enable_photon",
            Value::Bool(true),
        ),
        (
            "resources.sql_warehouses.*",
            "max_num_clusters",
            Value::Int(1),
        ),
        (
            "resources.sql_warehouses.*",
            "spot_instance_policy",
            s("COST_OPTIMIZED"),
        ),
    ]
}

/// The CLI's resource defaults and default queueing.
pub fn apply(root: &mut Node) {
    let resource_path = root
        .at(&["workspace", "resource_path"])
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    for (parent, key, value) in table(&resource_path) {
        visit_mut(root, parent, &mut |_, n| {
            // A resource written as `name:` with nothing under it is an empty map to the CLI.
            if n.is_null() {
                n.v = Value::Map(Map::default());
            }
            if let Some(m) = n.as_map_mut()
                && m.get(key).is_none()
            {
                insert_sorted(m, key, Node::new(value.clone(), Loc::default()));
            }
        });
    }
    // Queueing is on unless the job says anything about it (`queue` present).
    visit_mut(root, "resources.jobs.*", &mut |_, job| {
        if let Some(m) = job.as_map_mut()
            && m.get("queue").is_none()
        {
            let mut q = Map::default();
            q.insert(
                "enabled",
                Loc::default(),
                Node::new(Value::Bool(true), Loc::default()),
            );
            insert_sorted(m, "queue", Node::new(Value::Map(q), Loc::default()));
        }
    });
}

/// What the CLI writes on every job and pipeline so the workspace knows a
/// bundle owns it; a value written by the user is overwritten, as the CLI does.
pub fn annotate(root: &mut Node) {
    let Some(state) = root
        .at(&["workspace", "state_path"])
        .and_then(Node::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let metadata = format!("{}/metadata.json", state.trim_end_matches('/'));
    let deployment = || {
        let mut d = Map::default();
        d.insert("kind", Loc::default(), Node::str("BUNDLE", Loc::default()));
        d.insert(
            "metadata_file_path",
            Loc::default(),
            Node::str(&metadata, Loc::default()),
        );
        Node::new(Value::Map(d), Loc::default())
    };
    visit_mut(root, "resources.jobs.*", &mut |_, job| {
        if let Some(m) = job.as_map_mut() {
            set_sorted(m, "deployment", deployment());
            set_sorted(m, "edit_mode", Node::str("UI_LOCKED", Loc::default()));
            set_sorted(m, "format", Node::str("MULTI_TASK", Loc::default()));
        }
    });
    visit_mut(root, "resources.pipelines.*", &mut |_, p| {
        if let Some(m) = p.as_map_mut() {
            set_sorted(m, "deployment", deployment());
        }
    });
}

/// Overwrite in place, or add in key order.
fn set_sorted(m: &mut Map, key: &str, node: Node) {
    match m.get_mut(key) {
        Some(n) => *n = Node::new(node.v, n.loc),
        None => insert_sorted(m, key, node),
    }
}

/// The CLI prints resource settings in the field order of its typed structs,
/// which is alphabetical: a new key goes before the first key that sorts
/// after it, so a bundle written in that order prints as the CLI prints it.
fn insert_sorted(m: &mut Map, key: &str, node: Node) {
    let at =
        m.0.iter()
            .position(|e| e.key.as_str() > key)
            .unwrap_or(m.0.len());
    m.insert(key, Loc::default(), node);
    let last = m.0.pop().expect("just inserted");
    m.0.insert(at, last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    fn run(text: &str) -> serde_json::Value {
        let mut root = parse(text, 0).unwrap();
        apply(&mut root);
        annotate(&mut root);
        root.to_json()["resources"].clone()
    }

    const WS: &str = "workspace:\n  state_path: /Workspace/Users/u/.bundle/b/dev/state\n  resource_path: /Workspace/r\n";

    #[test]
    fn an_empty_job_and_pipeline_get_what_the_cli_records() {
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j: {{}}\n  pipelines:\n    p:\n"
        ));
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"jobs":{"j":{"deployment":{"kind":"BUNDLE","metadata_file_path":"/Workspace/Users/u/.bundle/b/dev/state/metadata.json"},"#,
                r#""edit_mode":"UI_LOCKED","format":"MULTI_TASK","max_concurrent_runs":1,"name":"Untitled","queue":{"enabled":true}}},"#,
                r#""pipelines":{"p":{"channel":"CURRENT","deployment":{"kind":"BUNDLE","metadata_file_path":"/Workspace/Users/u/.bundle/b/dev/state/metadata.json"},"edition":"ADVANCED"}}}"#
            )
        );
    }

    #[test]
    fn written_values_win_except_the_annotations() {
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j:\n      name: n\n      max_concurrent_runs: 3\n      queue:\n        enabled: false\n      edit_mode: EDITABLE\n      schedule:\n        quartz_cron_expression: x\n      job_clusters:\n        - job_cluster_key: c\n          new_cluster:\n            spark_version: s\n"
        ));
        let j = &r["jobs"]["j"];
        assert_eq!(j["name"], "n");
        assert_eq!(j["max_concurrent_runs"], 3);
        assert_eq!(j["queue"]["enabled"], false);
        assert_eq!(j["edit_mode"], "UI_LOCKED");
        assert_eq!(j["schedule"]["pause_status"], "UNPAUSED");
        assert_eq!(j["job_clusters"][0]["new_cluster"]["num_workers"], 0);
        // No `trigger` or `continuous` written: none created.
        assert!(j.get("trigger").is_none() && j.get("continuous").is_none());
        assert!(
            j["job_clusters"][0]["new_cluster"]
                .get("workload_type")
                .is_none()
        );
    }

    #[test]
    fn other_kinds_get_the_cli_defaults() {
        let r = run(&format!(
            "{WS}resources:\n  volumes:\n    v:\n      name: v\n  dashboards:\n    d:\n      display_name: d\n  experiments:\n    e:\n      name: /x\n"
        ));
        assert_eq!(r["volumes"]["v"]["volume_type"], "MANAGED");
        assert_eq!(r["dashboards"]["d"]["parent_path"], "/Workspace/r");
        assert_eq!(r["dashboards"]["d"]["embed_credentials"], false);
        assert_eq!(r["experiments"]["e"], serde_json::json!({"name": "/x"}));
    }
}
