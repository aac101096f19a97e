//! Lakebase Postgres projects, branches and endpoints, as the CLI's direct
//! engine deploys them (`dresources/postgres_{project,branch,endpoint}.go`).
//! Each is named by the workspace from its parent and the id the bundle
//! gives (`projects/p/branches/b/endpoints/e`, the resource's id); a create,
//! update or delete answers with a long-running operation, read until done
//! (as the SDK's `Wait` does: always at least once); an update sends the
//! whole spec with a mask of the fields that changed; a new id or parent is
//! another resource. An endpoint is then read until it has no pending state.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::resources::Action;
use crate::workspace::remote::api::{escape, escape_path};
use crate::workspace::remote::client::Client;

/// One of the three kinds: its collection under the parent (or the root),
/// and the setting that holds the id the bundle gives.
struct Pg {
    collection: &'static str,
    id_field: &'static str,
    has_parent: bool,
    /// Read until reconciled after a create or update (endpoints).
    reconciles: bool,
}

const PROJECT: Pg = Pg {
    collection: "projects",
    id_field: "project_id",
    has_parent: false,
    reconciles: false,
};
const BRANCH: Pg = Pg {
    collection: "branches",
    id_field: "branch_id",
    has_parent: true,
    reconciles: false,
};
const ENDPOINT: Pg = Pg {
    collection: "endpoints",
    id_field: "endpoint_id",
    has_parent: true,
    reconciles: true,
};

const fn custom(
    kind: &'static str,
    apply: super::remote_custom::Apply,
    permission_id: Option<&'static str>,
) -> Custom {
    Custom {
        kind,
        prepare: None,
        apply,
        permissions: None,
        observed: &[],
        observe: None,
        to_state: Map::clone,
        from_state: Map::clone,
        access_state: None,
        permission_id,
    }
}

// A project's permissions are under its bare id, not `projects/<id>`.
pub(super) const PROJECTS: Custom = custom(
    "postgres_projects",
    |c, a, o, s, b| apply(&PROJECT, c, a, o, s, b),
    Some("project_id"),
);
pub(super) const BRANCHES: Custom = custom(
    "postgres_branches",
    |c, a, o, s, b| apply(&BRANCH, c, a, o, s, b),
    None,
);
pub(super) const ENDPOINTS: Custom = custom(
    "postgres_endpoints",
    |c, a, o, s, b| apply(&ENDPOINT, c, a, o, s, b),
    None,
);

const API: &str = "/api/2.0/postgres";

/// Settings that name the resource rather than describe it: not in the spec.
fn naming(pg: &Pg) -> [&'static str; 2] {
    [pg.id_field, "parent"]
}

/// The spec the API takes: the settings without what names the resource.
fn spec(pg: &Pg, settings: &Value) -> Map<String, Value> {
    let mut m = settings.as_object().cloned().unwrap_or_default();
    for k in naming(pg) {
        m.remove(k);
    }
    m
}

/// The workspace's name of the resource `settings` describe.
fn name_of(pg: &Pg, settings: &Value) -> Result<String> {
    let id = settings[pg.id_field]
        .as_str()
        .with_context(|| format!("{} is required", pg.id_field))?;
    Ok(match settings["parent"].as_str() {
        Some(parent) if pg.has_parent => format!("{parent}/{}/{id}", pg.collection),
        _ => format!("{}/{id}", pg.collection),
    })
}

fn apply(
    pg: &Pg,
    client: &Client,
    action: Action,
    old: Option<String>,
    settings: &Value,
    before: Option<&Value>,
) -> Result<Option<String>> {
    if action == Action::Delete {
        if let Some(id) = old {
            delete(client, &id)?;
        }
        return Ok(None);
    }
    let name = name_of(pg, settings)?;
    let path = at(old.as_deref().unwrap_or_default());
    let existing = super::remote_custom::still_there(client, old, &path)?;
    match existing {
        Some(id) if id == name => {
            update(pg, client, &id, settings, before)?;
            return Ok(Some(id));
        }
        // Another id or parent: another resource.
        Some(id) => delete(client, &id)?,
        None => {}
    }
    create(pg, client, settings)?;
    Ok(Some(name))
}

/// The spec fields of each kind, which the read does not return (the
/// CLI's `ignore_remote_changes`, all `spec:input_only`).
pub(super) const PROJECT_SPEC: &[&str] = &[
    "budget_policy_id",
    "custom_tags",
    "default_branch",
    "default_endpoint_settings",
    "display_name",
    "enable_pg_native_login",
    "history_retention_duration",
    "pg_version",
];
pub(super) const BRANCH_SPEC: &[&str] = &[
    "expire_time",
    "is_protected",
    "no_expiry",
    "source_branch",
    "source_branch_lsn",
    "source_branch_time",
    "ttl",
];
pub(super) const ENDPOINT_SPEC: &[&str] = &[
    "autoscaling_limit_max_cu",
    "autoscaling_limit_min_cu",
    "disabled",
    "endpoint_type",
    "group",
    "no_suspension",
    "settings",
    "suspend_timeout_duration",
];

/// The resource named `id` (`projects/p/branches/b`) as the workspace has
/// it; `None` once deleted there.
pub(super) fn read(client: &Client, id: &str) -> Result<Option<Value>> {
    client.rest("GET", &at(id), None)
}

/// What the read tells of the settings: the id and parent in its name.
pub(super) fn naming_fields(answer: Value) -> Value {
    let name = answer["name"].as_str().unwrap_or_default();
    Value::Object(parse_name(name).unwrap_or_default())
}

/// `projects/p/branches/b` as `{branch_id: b, parent: projects/p}`.
fn parse_name(name: &str) -> Option<Map<String, Value>> {
    let (rest, id) = name.rsplit_once('/')?;
    let (parent, collection) = rest.rsplit_once('/').unwrap_or(("", rest));
    let pg = [PROJECT, BRANCH, ENDPOINT]
        .into_iter()
        .find(|pg| pg.collection == collection)?;
    let mut out = Map::new();
    out.insert(pg.id_field.into(), Value::String(id.into()));
    if pg.has_parent {
        out.insert("parent".into(), Value::String(parent.into()));
    }
    Some(out)
}

fn at(name: &str) -> String {
    format!("{API}/{}", escape_path(name))
}

fn create(pg: &Pg, client: &Client, settings: &Value) -> Result<()> {
    let id = settings[pg.id_field].as_str().unwrap_or_default();
    let under = match settings["parent"].as_str() {
        Some(parent) if pg.has_parent => at(parent),
        _ => API.to_string(),
    };
    let path = format!("{under}/{}?{}={}", pg.collection, pg.id_field, escape(id));
    let body = json!({ "spec": spec(pg, settings) });
    let op = client.rest("POST", &path, Some(&body))?;
    let done = wait_operation(client, op)?;
    if pg.reconciles {
        let name = done["name"].as_str().unwrap_or_default();
        reconciled(client, name)?;
    }
    Ok(())
}

/// The whole spec, masked to the fields that changed (none: no call).
fn update(pg: &Pg, client: &Client, id: &str, now: &Value, before: Option<&Value>) -> Result<()> {
    let now_spec = Value::Object(spec(pg, now));
    let was = before.map(|b| Value::Object(spec(pg, b)));
    let mut paths = BTreeSet::new();
    changed_paths(was.as_ref(), &now_spec, "spec", &mut paths);
    if paths.is_empty() {
        return Ok(());
    }
    let mask = paths.into_iter().collect::<Vec<_>>().join(",");
    let path = format!("{}?update_mask={}", at(id), escape(&mask));
    let op = client.rest("PATCH", &path, Some(&json!({ "spec": now_spec })))?;
    wait_operation(client, op)?;
    if pg.reconciles {
        reconciled(client, id)?;
    }
    Ok(())
}

/// The leaf fields under `prefix` that differ between `was` and `now`.
fn changed_paths(was: Option<&Value>, now: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let (Some(w), Value::Object(n)) = (was, now) else {
        if was != Some(now) {
            out.insert(prefix.to_string());
        }
        return;
    };
    let Value::Object(w) = w else {
        out.insert(prefix.to_string());
        return;
    };
    let keys: BTreeSet<&String> = w.keys().chain(n.keys()).collect();
    for k in keys {
        let path = format!("{prefix}.{k}");
        match (w.get(k), n.get(k)) {
            (a, Some(b)) => changed_paths(a, b, &path, out),
            (Some(_), None) => {
                out.insert(path);
            }
            (None, None) => {}
        }
    }
}

fn delete(client: &Client, id: &str) -> Result<()> {
    // Already gone: nothing to wait for.
    if let Some(op) = client.rest("DELETE", &at(id), None)? {
        wait_operation(client, Some(op))?;
    }
    Ok(())
}

/// Reads the operation an answer names until it is done; its response.
fn wait_operation(client: &Client, answer: Option<Value>) -> Result<Value> {
    let op = answer.context("no operation in the answer")?;
    let name = op["name"]
        .as_str()
        .context("an operation without a name")?
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    let mut pause = Duration::from_millis(100);
    loop {
        let op = client
            .rest("GET", &at(&name), None)?
            .with_context(|| format!("operation {name}: not found"))?;
        if op["done"] == true {
            if let Some(err) = op.get("error").filter(|e| !e.is_null()) {
                bail!(
                    "operation failed: [{}] {}",
                    err["error_code"],
                    err["message"]
                );
            }
            return Ok(op["response"].clone());
        }
        if Instant::now() > deadline {
            bail!("operation {name} not done after 20 minutes");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

/// Reads endpoint `name` until it has no pending state (every 2 s, as the CLI).
fn reconciled(client: &Client, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    loop {
        let endpoint = client
            .rest("GET", &at(name), None)?
            .with_context(|| format!("endpoint {name}: not found"))?;
        let pending = endpoint["status"]["pending_state"].as_str().unwrap_or("");
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("endpoint {name}: still {pending} after 20 minutes");
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_parent_and_the_id_given() {
        let b = json!({"parent": "projects/p", "branch_id": "main", "no_expiry": true});
        assert_eq!(name_of(&BRANCH, &b).unwrap(), "projects/p/branches/main");
        let p = json!({"project_id": "p", "display_name": "P"});
        assert_eq!(name_of(&PROJECT, &p).unwrap(), "projects/p");
        assert_eq!(Value::Object(spec(&BRANCH, &b)), json!({"no_expiry": true}));
        assert!(name_of(&ENDPOINT, &json!({})).is_err());
    }

    #[test]
    fn a_name_read_back_gives_the_id_and_parent_it_was_made_from() {
        for (pg, settings) in [
            (&PROJECT, json!({"project_id": "p"})),
            (
                &BRANCH,
                json!({"parent": "projects/p", "branch_id": "main"}),
            ),
            (
                &ENDPOINT,
                json!({"parent": "projects/p/branches/main", "endpoint_id": "rw"}),
            ),
        ] {
            let name = name_of(pg, &settings).unwrap();
            assert_eq!(naming_fields(json!({ "name": name })), settings);
        }
        assert_eq!(naming_fields(json!({"name": "p"})), json!({}));
        assert_eq!(naming_fields(json!({"name": "other/x"})), json!({}));
    }

    #[test]
    fn the_update_mask_names_each_changed_leaf() {
        let was = json!({"a": 1, "s": {"min": 0.5, "max": 4}, "gone": true});
        let now = json!({"a": 1, "s": {"min": 0.5, "max": 8}, "new": "x"});
        let mut out = BTreeSet::new();
        changed_paths(Some(&was), &now, "spec", &mut out);
        let out: Vec<_> = out.into_iter().collect();
        assert_eq!(out, ["spec.gone", "spec.new", "spec.s.max"]);
        let mut all = BTreeSet::new();
        changed_paths(None, &json!({"a": 1}), "spec", &mut all);
        assert_eq!(all.into_iter().collect::<Vec<_>>(), ["spec"]);
    }
}
