//! Resources changed in the workspace out of band (in its UI, by another
//! tool): each recorded job (schema, volume, pipeline, cluster, SQL
//! warehouse) is read back and compared with the
//! settings the state recorded, as the CLI's direct engine compares its
//! remote state with its saved state. A resource so changed is planned as
//! an update (the deploy puts the bundle's settings back), one deleted
//! there as a create; one whose settings in the workspace already are the
//! bundle's is left alone (no request), as the CLI does.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::remote_kinds::{self, api_settings, recorded};
use super::remote_refs;
use super::resources::{Action, ResourcePlan, tf_type};
use super::state::TfResource;
use crate::workspace::remote::client::Client;

/// One recorded resource as found in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drifted {
    pub kind: String,
    pub key: String,
    /// The fields changed there (`tags.new_tag`, `tasks[task_key='t'].timeout_seconds`).
    pub fields: Vec<String>,
    /// Deleted there.
    pub gone: bool,
}

/// The kinds of the REST table read back besides jobs. Not yet: serving
/// endpoints and quality monitors (what their GET returns is not the shape
/// of their settings), alerts, and database instances (the CLI's test
/// server answers their `update_mask=*` update by emptying the name, so
/// converging cannot be tested there).
const READ_BACK: [&str; 5] = [
    "schemas",
    "volumes",
    "pipelines",
    "clusters",
    "sql_warehouses",
];

/// The settings of the resource `kind` with id `id` as the workspace has
/// them: `None` for a kind not read back, `Some(None)` once deleted there.
fn read(client: &Client, kind: &str, id: &str) -> Result<Option<Option<Value>>> {
    if kind == "jobs" {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        return Ok(Some(client.job_get(n)?.map(|j| j["settings"].clone())));
    }
    let Some(rest) = remote_kinds::get(kind).filter(|r| READ_BACK.contains(&r.kind)) else {
        return Ok(None);
    };
    let got = client.rest("GET", &remote_kinds::at(rest.read, id), None)?;
    // A pipeline's settings are its `spec`.
    Ok(Some(got.map(|v| match kind {
        "pipelines" => v["spec"].clone(),
        _ => v,
    })))
}

/// `remote` against `recorded` for `kind`: a job's settings are all its
/// own; other kinds' answers carry what the workspace adds (owner, state,
/// times), so only the fields the bundle sets are compared there.
fn compare(kind: &str, recorded: &Value, remote: &Value) -> Vec<String> {
    if kind == "jobs" {
        return differences(recorded, remote);
    }
    let declared = recorded.as_object().map(|m| {
        let kept = m
            .keys()
            .filter_map(|k| Some((k.clone(), remote.get(k)?.clone())));
        Value::Object(kept.collect())
    });
    differences(recorded, &declared.unwrap_or_default())
}

/// Each recorded resource of a kind read back, compared with its record.
pub fn detect(client: &Client, prev: &[TfResource]) -> Result<Vec<Drifted>> {
    let mut out = Vec::new();
    for r in prev {
        let kind = super::resources::kind_of(&r.kind);
        let Some(id) = r.id().filter(|i| !i.is_empty()) else {
            continue;
        };
        let Some(remote) =
            read(client, &kind, id).with_context(|| format!("reading {kind}.{} back", r.name))?
        else {
            continue;
        };
        let fields = match (&remote, recorded(prev, &r.kind, &r.name)) {
            (Some(remote), Some(before)) => compare(&kind, &before, remote),
            _ => Vec::new(),
        };
        if remote.is_none() || !fields.is_empty() {
            out.push(Drifted {
                kind,
                key: r.name.clone(),
                fields,
                gone: remote.is_none(),
            });
        }
    }
    Ok(out)
}

/// `plan` with the workspace's side: a resource changed there is updated,
/// one deleted there created; a planned update whose settings the workspace
/// already has is no change (unless its permissions change).
pub fn amend(client: &Client, plan: &mut ResourcePlan, prev: &[TfResource]) -> Result<()> {
    for change in plan.changes.iter_mut() {
        if !matches!(change.action, Action::Unchanged | Action::Update) {
            continue;
        }
        let Some(id) = change.id.clone().filter(|i| !i.is_empty()) else {
            continue;
        };
        let what = format!("{}.{}", change.kind, change.key);
        let Some(remote) =
            read(client, &change.kind, &id).with_context(|| format!("reading {what} back"))?
        else {
            continue;
        };
        let Some(remote) = remote else {
            change.action = Action::Create;
            change.drift = vec!["(deleted in the workspace)".into()];
            continue;
        };
        let ty = tf_type(&change.kind);
        if change.action == Action::Unchanged {
            if let Some(before) = recorded(prev, &ty, &change.key) {
                change.drift = compare(&change.kind, &before, &remote);
            }
            if !change.drift.is_empty() {
                change.action = Action::Update;
            }
        } else if let Some(planned) = plan_settings(&plan.resources, &ty, &change.key)
            && same_access(&planned, plan_settings(prev, &ty, &change.key).as_ref())
            && let Some(wanted) = wanted(planned, prev)
            && compare(&change.kind, &wanted, &remote).is_empty()
        {
            change.action = Action::Unchanged;
        }
    }
    Ok(())
}

fn plan_settings(resources: &[TfResource], ty: &str, key: &str) -> Option<Value> {
    let r = resources.iter().find(|r| r.kind == ty && r.name == key)?;
    Some(Value::Object(r.instances.first()?.attributes.clone()))
}

/// True if `planned` sets the permissions and grants `before` recorded.
fn same_access(planned: &Value, before: Option<&Value>) -> bool {
    let before = before.unwrap_or(&Value::Null);
    ["permissions", "grants"]
        .iter()
        .all(|k| planned.get(*k) == before.get(*k))
}

/// The settings a deploy would send, references resolved against the
/// recorded resources (an update's references are to existing ones); `None`
/// where one cannot be resolved yet.
fn wanted(settings: Value, prev: &[TfResource]) -> Option<Value> {
    let api = api_settings(&settings);
    remote_refs::resolve(&api, &|x| remote_refs::lookup(prev, x, 0)).ok()
}

/// The fields where `remote` differs from `recorded`. A field the
/// workspace adds empty (`{}`, `0`, `""`) or at its default is none, as the
/// CLI skips those ("empty", "backend_default").
pub fn differences(recorded: &Value, remote: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(recorded, remote, "", &mut out);
    out
}

fn diff(rec: &Value, rem: &Value, path: &str, out: &mut Vec<String>) {
    match (rec, rem) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(path, k);
                match b.get(k) {
                    Some(vb) => diff(va, vb, &p, out),
                    None if empty(va) => {}
                    None => out.push(p),
                }
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                let p = join(path, k);
                if !empty(vb) && !backend_default(&p, vb) {
                    out.push(p);
                }
            }
        }
        _ if managed(path) => {}
        (Value::Array(a), Value::Array(b)) => match keyed(a).zip(keyed(b)) {
            Some((ka, kb)) => {
                let key = ka.first().map_or("", |x| x.0);
                let keys_a: Vec<&str> = ka.iter().map(|x| x.1).collect();
                let keys_b: Vec<&str> = kb.iter().map(|x| x.1).collect();
                let mut sorted_a = keys_a.clone();
                let mut sorted_b = keys_b.clone();
                sorted_a.sort();
                sorted_b.sort();
                if sorted_a != sorted_b {
                    out.push(path.to_string());
                    return;
                }
                for (i, k) in keys_a.iter().enumerate() {
                    let j = keys_b.iter().position(|x| x == k).unwrap_or(i);
                    diff(&a[i], &b[j], &format!("{path}[{key}='{k}']"), out);
                }
            }
            _ if a.len() != b.len() => out.push(path.to_string()),
            _ => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    diff(x, y, &format!("{path}[{i}]"), out);
                }
            }
        },
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if rec == rem => {}
        _ if empty(rec) && empty(rem) => {}
        _ => out.push(path.to_string()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Keys naming the elements of a list of settings (tasks, job clusters,
/// environments), by which the API's order is not compared.
const ELEMENT_KEYS: [&str; 3] = ["task_key", "job_cluster_key", "environment_key"];

/// `(key, value)` of each element if every element has the same naming key.
fn keyed(items: &[Value]) -> Option<Vec<(&'static str, &str)>> {
    let key = ELEMENT_KEYS
        .iter()
        .find(|k| items.first().is_some_and(|i| i.get(**k).is_some()))?;
    items
        .iter()
        .map(|i| i.get(*key).and_then(Value::as_str).map(|v| (*key, v)))
        .collect()
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// Fields the workspace fills in when the settings leave them out (any
/// value, or only these values), from the CLI's `backend_defaults` of jobs
/// in `bundle/direct/dresources/resources.yml`; `[*]` is any element.
const BACKEND_DEFAULTS: &[(&str, &[&str])] = &[
    ("format", &["MULTI_TASK", "SINGLE_TASK"]),
    ("run_as", &[]),
    ("tasks[*].run_if", &["ALL_SUCCESS"]),
    ("tasks[*].for_each_task.task.run_if", &["ALL_SUCCESS"]),
    ("tasks[*].notebook_task.source", &[]),
    ("tasks[*].for_each_task.task.notebook_task.source", &[]),
    ("tasks[*].spark_python_task.source", &[]),
    ("tasks[*].for_each_task.task.spark_python_task.source", &[]),
    ("tasks[*].sql_task.file.source", &[]),
    ("tasks[*].for_each_task.task.sql_task.file.source", &[]),
    ("tasks[*].dbt_task.source", &[]),
    ("tasks[*].for_each_task.task.dbt_task.source", &[]),
    ("tasks[*].new_cluster.enable_elastic_disk", &[]),
    ("tasks[*].new_cluster.enable_local_disk_encryption", &[]),
    ("tasks[*].new_cluster.node_type_id", &[]),
    ("tasks[*].new_cluster.driver_node_type_id", &[]),
    ("tasks[*].new_cluster.driver_instance_pool_id", &[]),
    ("tasks[*].new_cluster.data_security_mode", &[]),
    ("job_clusters[*].new_cluster.enable_elastic_disk", &[]),
    (
        "job_clusters[*].new_cluster.enable_local_disk_encryption",
        &[],
    ),
    ("job_clusters[*].new_cluster.node_type_id", &[]),
    ("job_clusters[*].new_cluster.driver_node_type_id", &[]),
    ("job_clusters[*].new_cluster.driver_instance_pool_id", &[]),
    ("job_clusters[*].new_cluster.data_security_mode", &[]),
];

/// Fields the workspace manages (the CLI's `ignore_remote_changes`):
/// never compared.
const MANAGED: &[&str] = &[
    "aws_attributes",
    "azure_attributes",
    "gcp_attributes",
    "tasks[*].new_cluster.aws_attributes",
    "tasks[*].new_cluster.azure_attributes",
    "tasks[*].new_cluster.gcp_attributes",
    "job_clusters[*].new_cluster.aws_attributes",
    "job_clusters[*].new_cluster.azure_attributes",
    "job_clusters[*].new_cluster.gcp_attributes",
];

/// `path` with each element selector (`[task_key='a']`, `[0]`) as `[*]`.
fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut inside = false;
    for c in path.chars() {
        match c {
            '[' => {
                inside = true;
                out.push_str("[*]");
            }
            ']' => inside = false,
            _ if inside => {}
            _ => out.push(c),
        }
    }
    out
}

fn backend_default(path: &str, v: &Value) -> bool {
    let p = pattern(path);
    BACKEND_DEFAULTS.iter().any(|(field, values)| {
        *field == p && (values.is_empty() || v.as_str().is_some_and(|s| values.contains(&s)))
    })
}

fn managed(path: &str) -> bool {
    MANAGED.contains(&pattern(path).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_the_workspace_adds_empty_or_by_default_is_no_drift() {
        let rec = json!({"name": "j", "tasks": [{"task_key": "b"}, {"task_key": "a", "x": 1}]});
        let rem = json!({
            "name": "j", "timeout_seconds": 0, "email_notifications": {},
            "tasks": [{"task_key": "a", "x": 1.0, "run_if": "ALL_SUCCESS"}, {"task_key": "b"}]
        });
        assert!(differences(&rec, &rem).is_empty());
    }

    #[test]
    fn fields_changed_added_or_removed_there_are_named() {
        let rec = json!({"name": "j", "tags": {"a": "1"}, "tasks": [{"task_key": "t", "timeout_seconds": 5}]});
        let rem = json!({"name": "k", "tags": {"a": "1", "b": "2"}, "tasks": [{"task_key": "t"}], "schedule": {"quartz_cron_expression": "x"}});
        assert_eq!(
            differences(&rec, &rem),
            [
                "name",
                "tags.b",
                "tasks[task_key='t'].timeout_seconds",
                "schedule"
            ]
        );
        let other_task = json!({"name": "j", "tags": {"a": "1"}, "tasks": [{"task_key": "u"}]});
        assert_eq!(differences(&rec, &other_task), ["tasks"]);
    }
}
