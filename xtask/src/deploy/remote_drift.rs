//! Resources changed in the workspace out of band (in its UI, by another
//! tool): each recorded resource of a kind read back (`remote_drift_kinds`:
//! jobs, experiments, models, serving endpoints, quality monitors, UC and
//! Lakebase and Postgres kinds, pipelines, clusters, warehouses, dashboards, alerts,
//! apps, secret scopes), with its permissions and grants
//! (`remote_drift_access`), is compared with the settings the state
//! recorded, as the CLI's direct engine compares its remote state with its
//! saved state. A resource so changed is planned as an update (the deploy
//! puts the bundle's settings back), one deleted there as a create; one
//! whose settings in the workspace already are the bundle's is left alone
//! (no request), as the CLI does. The reads run at once, bounded and rate
//! limited as the client's other parallel work.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::remote_drift_access as access;
use super::remote_drift_kinds::{self as rows, ReadBack};
use super::remote_kinds::{api_settings, recorded, recorded_whole};
use super::remote_refs;
use super::resources::{Action, ResourcePlan, tf_type};
use super::state::TfResource;
use super::tfshape::is_default;
use crate::workspace::Api;
use crate::workspace::remote::client::Client;

/// One recorded resource as found in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drifted {
    pub kind: String,
    pub key: String,
    /// The fields changed there (`tags.new_tag`, `tasks[task_key='t'].timeout_seconds`,
    /// `permissions`, `grants`).
    pub fields: Vec<String>,
    /// Deleted there.
    pub gone: bool,
}

/// One resource read back: `None` for a kind not read back, `Some(None)`
/// once deleted there; and its permissions or grants if changed there.
struct Seen {
    remote: Option<Option<Value>>,
    access: Vec<String>,
}

/// Reads back the resource `kind.key` with id `id` (`prev` its record).
fn look(
    client: &Client,
    user: &str,
    kind: &str,
    key: &str,
    id: &str,
    prev: &[TfResource],
) -> Result<Seen> {
    let remote =
        rows::read(client, kind, id).with_context(|| format!("reading {kind}.{key} back"))?;
    let access = match (&remote, recorded_whole(prev, &tf_type(kind), key)) {
        (Some(Some(_)), Some(settings)) => access::changed(client, user, kind, id, &settings)
            .with_context(|| format!("reading the access to {kind}.{key} back"))?,
        _ => Vec::new(),
    };
    Ok(Seen { remote, access })
}

/// `(kind, key, id)` of each of `items` read back at once, bounded as the
/// client's other parallel work; in the order of `items`.
fn look_all(
    api: &Api,
    items: Vec<(String, String, String)>,
    prev: &[TfResource],
) -> Result<Vec<Seen>> {
    api.client.run_parallel(items, |c, (kind, key, id)| {
        look(c, api.user, &kind, &key, &id, prev)
    })
}

/// `remote` against `recorded` for `kind`, skipping what the CLI skips
/// (see [`ReadBack`]).
fn compare(kind: &str, recorded: &Value, remote: &Value) -> Vec<String> {
    let Some(row) = rows::get(kind) else {
        return Vec::new();
    };
    let (recorded, remote) = (&(row.alias)(recorded.clone()), &(row.alias)(remote.clone()));
    if row.whole {
        return differences(row, recorded, remote);
    }
    let declared = recorded.as_object().map(|m| {
        let keys = m.keys().map(String::as_str).chain(row.also.iter().copied());
        let kept = keys.filter_map(|k| Some((k.to_string(), remote.get(k)?.clone())));
        Value::Object(kept.collect())
    });
    differences(row, recorded, &declared.unwrap_or_default())
}

/// True if `kind` is read back before a deploy (a row of `remote_drift_kinds`):
/// then one planned unchanged is known to be there as recorded.
pub(super) fn reads_back(kind: &str) -> bool {
    rows::get(kind).is_some()
}

/// Each recorded resource of a kind read back, compared with its record.
pub fn detect(api: &Api, prev: &[TfResource]) -> Result<Vec<Drifted>> {
    let items: Vec<(String, String, String)> = prev
        .iter()
        .filter_map(|r| {
            let id = r.id().filter(|i| !i.is_empty())?;
            Some((
                super::resources::kind_of(&r.kind),
                r.name.clone(),
                id.to_string(),
            ))
        })
        .collect();
    let seen = look_all(api, items.clone(), prev)?;
    let mut out = Vec::new();
    for ((kind, key, _), seen) in items.into_iter().zip(seen) {
        let Some(remote) = seen.remote else {
            continue;
        };
        let mut fields = match (&remote, recorded(prev, &tf_type(&kind), &key)) {
            (Some(remote), Some(before)) => compare(&kind, &before, remote),
            _ => Vec::new(),
        };
        fields.extend(seen.access);
        if remote.is_none() || !fields.is_empty() {
            out.push(Drifted {
                kind,
                key,
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
pub fn amend(api: &Api, plan: &mut ResourcePlan, prev: &[TfResource]) -> Result<()> {
    let at: Vec<usize> = (0..plan.changes.len())
        .filter(|i| {
            let c = &plan.changes[*i];
            matches!(c.action, Action::Unchanged | Action::Update)
                && c.id.as_ref().is_some_and(|id| !id.is_empty())
        })
        .collect();
    let items = at.iter().map(|i| {
        let c = &plan.changes[*i];
        (
            c.kind.clone(),
            c.key.clone(),
            c.id.clone().unwrap_or_default(),
        )
    });
    let seen = look_all(api, items.collect(), prev)?;
    for (i, seen) in at.into_iter().zip(seen) {
        settle(plan, i, seen, prev);
    }
    Ok(())
}

/// Change `i` of `plan` with what the workspace has (`seen`).
fn settle(plan: &mut ResourcePlan, i: usize, seen: Seen, prev: &[TfResource]) {
    let Some(remote) = seen.remote else {
        return;
    };
    let planned = plan_settings(
        &plan.resources,
        &tf_type(&plan.changes[i].kind),
        &plan.changes[i].key,
    );
    let change = &mut plan.changes[i];
    let Some(remote) = remote else {
        change.action = Action::Create;
        change.drift = vec!["(deleted in the workspace)".into()];
        return;
    };
    let ty = tf_type(&change.kind);
    if change.action == Action::Unchanged {
        if let Some(before) = recorded(prev, &ty, &change.key) {
            change.drift = compare(&change.kind, &before, &remote);
        }
        change.drift.extend(seen.access);
        if !change.drift.is_empty() {
            change.action = Action::Update;
        }
    } else if let Some(planned) = planned
        && same_access(&planned, plan_settings(prev, &ty, &change.key).as_ref())
        && seen.access.is_empty()
        && let Some(wanted) = wanted(&change.kind, planned, prev, &change.key)
        && compare(&change.kind, &wanted, &remote).is_empty()
        && !changes_unread(&change.kind, &wanted, recorded(prev, &ty, &change.key))
    {
        change.action = Action::Unchanged;
    }
}

/// True if the bundle changed, since `before` was recorded, a field the
/// read does not tell (`ignore_remote_changes`): the workspace's answer is
/// no proof it is set, so the update stands, as the CLI skips such a field
/// only when its old and new values are equal.
fn changes_unread(kind: &str, wanted: &Value, before: Option<Value>) -> bool {
    let (Some(row), Some(before)) = (rows::get(kind), before) else {
        return false;
    };
    let every = ReadBack {
        ignore: &[],
        defaults: &[],
        ..*row
    };
    let changed = differences(&every, &before, wanted);
    changed.iter().any(|path| ignored(row, path))
}

/// True if the fields changed there are only permissions or grants: the
/// resource itself needs no request, only its access.
pub fn access_only(drift: &[String]) -> bool {
    !drift.is_empty() && drift.iter().all(|f| access::FIELDS.contains(&f.as_str()))
}

/// What `before` (the recorded settings) is taken to be when putting back
/// the fields `drift` names: without those, so that a kind updating only
/// what changed (serving endpoints, apps) sends them again.
pub fn before_drift(before: Option<Value>, drift: &[String]) -> Option<Value> {
    let mut before = before?;
    if let Some(m) = before.as_object_mut() {
        for field in drift {
            let top = field.split(['.', '[']).next().unwrap_or_default();
            m.remove(top);
        }
    }
    Some(before)
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
/// recorded resources (an update's references are to existing ones; those
/// to fields only the workspace knows as `key` recorded them); `None`
/// where one cannot be resolved yet.
fn wanted(kind: &str, settings: Value, prev: &[TfResource], key: &str) -> Option<Value> {
    let api = api_settings(&settings);
    let ty = tf_type(kind);
    let inst = prev
        .iter()
        .find(|r| r.kind == ty && r.name == key)
        .and_then(|r| r.instances.first());
    let known =
        |x: &remote_refs::Ref| Ok(inst.and_then(|i| i.resolved_references.get(&x.text()).cloned()));
    let lookup = |x: &remote_refs::Ref| remote_refs::lookup_with(prev, &known, x, 0);
    remote_refs::resolve_for(kind, &api, &lookup).ok()
}

/// The fields where `remote` differs from `recorded` for the kind of
/// `row`. A field the workspace adds empty (`{}`, `0`, `""`) or at its
/// default is none, nor one it manages, as the CLI skips those ("empty",
/// "backend_default", `ignore_remote_changes`).
pub(super) fn differences(row: &ReadBack, recorded: &Value, remote: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff(row, recorded, remote, "", &mut out);
    out
}

fn diff(row: &ReadBack, rec: &Value, rem: &Value, path: &str, out: &mut Vec<String>) {
    if ignored(row, path) {
        return;
    }
    match (rec, rem) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = join(path, k);
                match b.get(k) {
                    Some(vb) => diff(row, va, vb, &p, out),
                    None if is_default(va) || ignored(row, &p) => {}
                    None if row.only_there.contains(&p.as_str()) => {}
                    None => out.push(p),
                }
            }
            for (k, vb) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                let p = join(path, k);
                if !is_default(vb) && !backend_default(row, &p, vb) && !ignored(row, &p) {
                    out.push(p);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => diff_lists(row, a, b, path, out),
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => {}
        _ if rec == rem => {}
        _ if is_default(rec) && is_default(rem) => {}
        _ => out.push(path.to_string()),
    }
}

/// Lists whose elements are named (tasks by `task_key`, ...) compared by
/// name, others by position.
fn diff_lists(row: &ReadBack, a: &[Value], b: &[Value], path: &str, out: &mut Vec<String>) {
    match keyed(a).zip(keyed(b)) {
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
                diff(row, &a[i], &b[j], &format!("{path}[{key}='{k}']"), out);
            }
        }
        _ if a.len() != b.len() => out.push(path.to_string()),
        _ => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(row, x, y, &format!("{path}[{i}]"), out);
            }
        }
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

/// True if `field` is `path`'s pattern or one above it (the CLI's `HasPatternPrefix`).
fn under(path: &str, field: &str) -> bool {
    let p = pattern(path);
    p == field
        || p.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// A value the workspace filled in: any, or one of the listed JSON literals.
fn backend_default(row: &ReadBack, path: &str, v: &Value) -> bool {
    row.defaults.iter().any(|(field, values)| {
        under(path, field) && (values.is_empty() || values.contains(&v.to_string().as_str()))
    })
}

fn ignored(row: &ReadBack, path: &str) -> bool {
    !path.is_empty() && row.ignore.iter().any(|f| under(path, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jobs() -> &'static ReadBack {
        rows::get("jobs").unwrap()
    }

    #[test]
    fn what_the_workspace_adds_empty_or_by_default_is_no_drift() {
        let rec = json!({"name": "j", "tasks": [{"task_key": "b"}, {"task_key": "a", "x": 1}]});
        let rem = json!({
            "name": "j", "timeout_seconds": 0, "email_notifications": {},
            "tasks": [{"task_key": "a", "x": 1.0, "run_if": "ALL_SUCCESS"}, {"task_key": "b"}]
        });
        assert!(differences(jobs(), &rec, &rem).is_empty());
    }

    #[test]
    fn fields_changed_added_or_removed_there_are_named() {
        let rec = json!({"name": "j", "tags": {"a": "1"}, "tasks": [{"task_key": "t", "timeout_seconds": 5}]});
        let rem = json!({"name": "k", "tags": {"a": "1", "b": "2"}, "tasks": [{"task_key": "t"}], "schedule": {"quartz_cron_expression": "x"}});
        assert_eq!(
            differences(jobs(), &rec, &rem),
            [
                "name",
                "tags.b",
                "tasks[task_key='t'].timeout_seconds",
                "schedule"
            ]
        );
        let other_task = json!({"name": "j", "tags": {"a": "1"}, "tasks": [{"task_key": "u"}]});
        assert_eq!(differences(jobs(), &rec, &other_task), ["tasks"]);
    }

    #[test]
    fn fields_the_cli_skips_are_skipped_with_all_below_them() {
        let serving = rows::get("model_serving_endpoints").unwrap();
        let rec = json!({"config": {"served_entities": [{"entity_name": "m"}]}, "tags": []});
        // Traffic is the workspace's (ignored); an entity's name and
        // workload type it fills in (backend defaults); `route_optimized`
        // only when false.
        let rem = json!({
            "config": {
                "served_entities": [{"entity_name": "m", "name": "m-1", "workload_type": "CPU"}],
                "traffic_config": {"routes": [{"served_model_name": "m-1", "traffic_percentage": 100}]}
            },
            "route_optimized": false
        });
        assert!(differences(serving, &rec, &rem).is_empty());
        let optimized = json!({"config": rec["config"].clone(), "route_optimized": true});
        assert_eq!(differences(serving, &rec, &optimized), ["route_optimized"]);
        // A prefix is a field's path, not a longer name.
        assert!(under("tags.a", "tags") && under("tasks[x].y", "tasks"));
        assert!(!under("tagsx", "tags"));
    }

    #[test]
    fn drift_of_access_alone_touches_no_setting_and_drifted_fields_are_sent_again() {
        assert!(access_only(&["permissions".into(), "grants".into()]));
        assert!(!access_only(&["permissions".into(), "comment".into()]));
        assert!(!access_only(&[]));
        let before = json!({"tags": [1], "config": {"a": 1}, "name": "e"});
        let drift = [
            "config.served_entities[0].x".to_string(),
            "tags[0]".to_string(),
        ];
        assert_eq!(
            before_drift(Some(before), &drift),
            Some(json!({"name": "e"}))
        );
    }

    /// Twelve jobs read back with four requests in flight at most, the
    /// client's bound, and more than one at once.
    #[test]
    fn resources_are_read_back_at_once_within_the_clients_bound() {
        use crate::workspace::remote::auth::{Credentials, Secret};
        use crate::workspace::remote::client::ClientOptions;
        use crate::workspace::remote::fake_workspace::FakeWorkspace;
        use std::time::Duration;

        let fake = FakeWorkspace::start();
        let creds = Credentials {
            host: fake.url().to_string(),
            token: Secret::new(fake.token()),
        };
        let opts = ClientOptions {
            parallelism: 4,
            ..ClientOptions::default()
        };
        let client = Client::new(&creds, opts).unwrap();
        let settings = json!({"name": "j", "tasks": [{"task_key": "t"}]});
        let prev: Vec<TfResource> = (0..12)
            .map(|i| {
                let id = client.job_create(&settings).unwrap();
                let mut attributes = settings.as_object().cloned().unwrap();
                attributes.insert("id".into(), json!(id.to_string()));
                TfResource {
                    mode: "managed".into(),
                    kind: "databricks_job".into(),
                    name: format!("j{i}"),
                    provider: String::new(),
                    instances: vec![super::super::state::TfInstance {
                        schema_version: 0,
                        attributes,
                        sensitive_attributes: Vec::new(),
                        resolved_references: serde_json::Map::new(),
                    }],
                }
            })
            .collect();
        fake.clear_log();
        fake.delay("jobs/get", Duration::from_millis(100), 12);
        let user = fake.user();
        let api = Api {
            client: &client,
            user: &user,
        };
        assert_eq!(detect(&api, &prev).unwrap(), []);
        assert_eq!(fake.requests_matching("jobs/get").len(), 12);
        let max = fake.max_in_flight();
        assert!((2..=4).contains(&max), "{max} in flight");
    }
}
