//! Resources on the remote backend: the planned creates, updates and deletes
//! carried out through each kind's REST API (jobs, experiments and models
//! here; schemas, volumes, pipelines and clusters in `remote_kinds`), in the
//! order of their references (`remote_refs`), with the ids the workspace
//! gives kept in the state, so that a redeploy updates the same resource.

use std::cell::RefCell;
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::remote_acl::{apply_grants, permissions};
use super::remote_kinds::{self, api_settings};
use super::resources::{Action, ResourceChange, ResourcePlan, tf_type};
use super::state::TfResource;
use super::{remote_custom, remote_dashboards, remote_drift, remote_drift_kinds, remote_refs};
use crate::config::kinds;
use crate::workspace::remote::client::Client;

/// Carry out `plan` in the workspace; fills in real ids. Returns warnings
/// for kinds this backend does not deploy. After each create or delete,
/// `record` gets the resources as they now are (done so far as planned, the
/// rest as in `prev`), written into the state before the next request, so
/// a deploy failing halfway knows what it created and the next converges.
pub fn apply(
    client: &Client,
    user: &str,
    plan: &mut ResourcePlan,
    prev: &[TfResource],
    record: &mut dyn FnMut(Vec<TfResource>) -> Result<()>,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    remote_refs::prepare(plan, prev)?;
    remote_dashboards::make_folders(client, &plan.resources)?;
    // Resources read back for a field only the workspace knows, by `kind.key`.
    let reads = RefCell::new(BTreeMap::new());
    for i in 0..plan.changes.len() {
        let change = plan.changes[i].clone();
        // Read back moments ago by the plan (`remote_drift::amend`), which
        // makes one deleted there a create: one still as recorded needs no
        // request, not even a look (the CLI sends none either).
        if change.action == Action::Unchanged && remote_drift::reads_back(&change.kind) {
            continue;
        }
        let what = format!("{}.{}", change.kind, change.key);
        let ty = tf_type(&change.kind);
        let slot = plan
            .resources
            .iter()
            .position(|r| r.kind == ty && r.name == change.key);
        let written = slot
            .and_then(|s| plan.resources[s].instances.first())
            .map(|inst| Value::Object(inst.attributes.clone()))
            .unwrap_or(Value::Null);
        let resources = &plan.resources;
        let used = RefCell::new(Map::new());
        let remote = |r: &remote_refs::Ref| read_back_field(client, resources, &reads, &used, r);
        let lookup = |r: &remote_refs::Ref| remote_refs::lookup_with(resources, &remote, r, 0);
        let settings = remote_refs::resolve_for(&change.kind, &written, &lookup)
            .with_context(|| format!("{what}: its references"))?;
        let used = used.into_inner();
        if let Some(inst) = slot.and_then(|s| plan.resources[s].instances.first_mut()) {
            inst.resolved_references = used;
        }
        // A planned create carries a locally made-up id: the workspace gives the real one.
        let old_id = change
            .id
            .clone()
            .filter(|id| !id.is_empty() && change.action != Action::Create);
        let mut body = change.clone();
        if access_alone(&change, &settings, prev) {
            body.action = Action::Unchanged;
        }
        let id =
            call(client, &body, old_id, &settings, prev, &mut warnings).with_context(|| {
                let api = kinds::get(&change.kind).map_or("", |k| k.api);
                format!("{} of {what} ({api})", change.action)
            })?;
        let moved = id != change.id || change.action == Action::Delete;
        plan.changes[i].id = id.clone();
        if let (Some(s), Some(id)) = (slot, id)
            && let Some(inst) = plan.resources[s].instances.first_mut()
        {
            inst.attributes.insert("id".into(), json!(id));
            let observe = remote_custom::get(&change.kind).and_then(|c| c.observe);
            if let Some(observe) = observe.filter(|_| change.action != Action::Unchanged) {
                let seen =
                    observe(client, &id).with_context(|| format!("{what}: reading it back"))?;
                inst.attributes.extend(seen);
            }
        }
        if moved {
            record(so_far(plan, prev, i))?;
        }
        let permission_id = permission_id(plan, slot, &change.kind, i);
        if let (Err(e), Some(s)) = (
            permissions(client, user, &change, &settings, permission_id.as_deref()),
            slot,
        ) {
            // Recorded without its permissions, so the next deploy sees a
            // difference and sets them again.
            if let Some(inst) = plan.resources[s].instances.first_mut() {
                inst.attributes.remove("permissions");
            }
            record(so_far(plan, prev, i))?;
            return Err(e.context(format!("permissions of {what}")));
        }
    }
    Ok(warnings)
}

/// The field reference `r` names as the workspace has it (`None`: the
/// resource is not there), noted in `used`. Each resource is read back at
/// most once a deploy, when a change first needs it: the changes run in
/// the order of their references, so after its own create or update, as
/// the CLI's direct engine reads it back then. Only a reference to a field
/// the bundle does not set gets here, so no other deploy sends a read.
fn read_back_field(
    client: &Client,
    resources: &[TfResource],
    reads: &RefCell<BTreeMap<String, Option<Value>>>,
    used: &RefCell<Map<String, Value>>,
    r: &remote_refs::Ref,
) -> Result<Option<Value>> {
    let name = format!("{}.{}", r.kind, r.key);
    if !reads.borrow().contains_key(&name) {
        let ty = tf_type(&r.kind);
        let id = resources
            .iter()
            .find(|x| x.kind == ty && x.name == r.key)
            .and_then(TfResource::id)
            .filter(|id| !id.is_empty());
        let raw = match id {
            Some(id) => remote_drift_kinds::read_raw(client, &r.kind, id)
                .with_context(|| format!("reading {name} back for ${{{}}}", r.text()))?,
            None => None,
        };
        reads.borrow_mut().insert(name.clone(), raw);
    }
    let Some(raw) = reads.borrow().get(&name).cloned().flatten() else {
        return Ok(None);
    };
    let v = remote_refs::remote_value(r, &raw)?;
    used.borrow_mut().insert(r.text(), v.clone());
    Ok(Some(v))
}

/// What change `i`'s permissions are kept under: its id, or for some kinds
/// a field the workspace gave (see `remote_custom::Custom::permission_id`).
fn permission_id(plan: &ResourcePlan, slot: Option<usize>, kind: &str, i: usize) -> Option<String> {
    let Some(field) = remote_custom::permission_id(kind) else {
        return plan.changes[i].id.clone();
    };
    let inst = plan.resources[slot?].instances.first()?;
    inst.attributes.get(field)?.as_str().map(str::to_string)
}

/// True if only the resource's permissions or grants change (in the
/// workspace, or in the bundle while its settings are those recorded): the
/// CLI keeps those as resources of their own, so the resource itself gets
/// no request; they are set after it (`remote_acl`, a kind's grants).
fn access_alone(change: &ResourceChange, settings: &Value, prev: &[TfResource]) -> bool {
    if remote_drift::access_only(&change.drift) {
        return true;
    }
    let before = remote_kinds::recorded(prev, &tf_type(&change.kind), &change.key);
    change.action == Action::Update
        && change.drift.is_empty()
        && before.is_some_and(|b| b == api_settings(settings))
}

/// The REST calls of one change, by kind; its id afterwards.
fn call(
    client: &Client,
    change: &ResourceChange,
    old_id: Option<String>,
    settings: &Value,
    prev: &[TfResource],
    warnings: &mut Vec<String>,
) -> Result<Option<String>> {
    let api = api_settings(settings);
    let what = format!("{}.{}", change.kind, change.key);
    let ty = tf_type(&change.kind);
    match change.kind.as_str() {
        "jobs" => job(client, change.action, old_id, &sorted_tasks(api)),
        "experiments" => experiment(client, change.action, old_id, &api),
        "registered_models" if kinds::is_uc_model(settings) || change.action == Action::Delete => {
            uc_model(client, change.action, old_id, settings)
        }
        "registered_models" => model(client, change.action, old_id, &api),
        kind if let Some(custom) = remote_custom::get(kind) => {
            let before = remote_kinds::recorded(prev, &ty, &change.key);
            let before = remote_drift::before_drift(before, &change.drift);
            (custom.apply)(client, change.action, old_id, &api, before.as_ref())
        }
        kind if remote_kinds::get(kind).is_some() => {
            let before = remote_kinds::recorded(prev, &ty, &change.key);
            let before = remote_drift::before_drift(before, &change.drift);
            remote_kinds::deploy(client, change, old_id, settings, before.as_ref())
        }
        // A kind this tool never deployed (recorded by an older version
        // with an id of its own making): dropped from the state, since
        // there is nothing in the workspace to delete.
        _ if change.action == Action::Delete => {
            warnings.push(format!(
                "{what}: dropped from the state ({} are not deployed by this tool, so its \
                 recorded id was never the workspace's)",
                change.kind
            ));
            Ok(None)
        }
        other => anyhow::bail!(
            "{other} are not deployed by this tool yet (it deploys {})",
            kinds::deployed_keys()
        ),
    }
}

/// The resources that exist once changes `0..=done` are carried out: those
/// as planned (with the ids they got), the others as `prev` recorded them.
fn so_far(plan: &ResourcePlan, prev: &[TfResource], done: usize) -> Vec<TfResource> {
    let mut out = Vec::new();
    for (j, c) in plan.changes.iter().enumerate() {
        let ty = tf_type(&c.kind);
        let from = if j <= done {
            if c.action == Action::Delete || c.id.is_none() {
                continue;
            }
            plan.resources
                .iter()
                .find(|r| r.kind == ty && r.name == c.key)
        } else {
            prev.iter().find(|r| r.kind == ty && r.name == c.key)
        };
        out.extend(from.cloned());
    }
    out
}

/// The job's tasks in `task_key` order, as the CLI sends them (its
/// configuration keeps them so); the API gives the order no meaning.
fn sorted_tasks(mut settings: Value) -> Value {
    if let Some(tasks) = settings.get_mut("tasks").and_then(Value::as_array_mut) {
        tasks.sort_by(|a, b| {
            let key = |t: &Value| t["task_key"].as_str().unwrap_or_default().to_string();
            key(a).cmp(&key(b))
        });
    }
    settings
}

fn parse_job_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

fn job(
    client: &Client,
    action: Action,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let existing = id.as_deref().and_then(parse_job_id);
    match (action, existing) {
        (Action::Delete, Some(n)) => {
            client.job_delete(n)?;
            Ok(None)
        }
        (Action::Delete, None) => Ok(None),
        // Recorded, but deleted out of band (or never really created): create it again.
        (_, Some(n)) if client.job_get(n)?.is_some() => {
            if action == Action::Update {
                client.job_reset(n, settings)?;
            }
            Ok(Some(n.to_string()))
        }
        _ => Ok(Some(client.job_create(settings)?.to_string())),
    }
}

fn experiment(
    client: &Client,
    action: Action,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let name = settings["name"].as_str().unwrap_or_default();
    match (action, id) {
        (Action::Delete, Some(id)) => {
            client.experiment_delete(&id)?;
            Ok(None)
        }
        (Action::Delete, None) => Ok(None),
        (_, Some(id)) if client.experiment_get(&id)?.is_some() => {
            if action == Action::Update {
                client.experiment_update(&id, name)?;
            }
            Ok(Some(id))
        }
        _ => Ok(Some(client.experiment_create(settings)?)),
    }
}

fn model(
    client: &Client,
    action: Action,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let name = settings["name"].as_str().unwrap_or_default();
    let description = settings["description"].as_str();
    match (action, id) {
        (Action::Delete, Some(id)) => {
            client.model_delete(&id)?;
            Ok(None)
        }
        (Action::Delete, None) => Ok(None),
        // A model's id is its name: a renamed model is another model.
        (_, Some(id)) if id == name && client.model_get(&id)?.is_some() => {
            if action == Action::Update {
                client.model_update(&id, description.unwrap_or_default())?;
            }
            Ok(Some(id))
        }
        (_, old) => {
            if let Some(old) = old.filter(|o| o != name) {
                client.model_delete(&old)?;
            }
            if client.model_get(name)?.is_none() {
                client.model_create(name, description)?;
            }
            Ok(Some(name.to_string()))
        }
    }
}

/// The full name a Unity Catalog model of these settings has.
fn full_name(settings: &Value) -> String {
    let part = |k: &str| settings[k].as_str().unwrap_or_default().to_string();
    format!(
        "{}.{}.{}",
        part("catalog_name"),
        part("schema_name"),
        part("name")
    )
}

/// A registered model in Unity Catalog (`/api/2.1/unity-catalog/models`),
/// its id the full name `catalog.schema.name`; its `grants` applied through
/// the permissions API, where models are `function` securables.
fn uc_model(
    client: &Client,
    action: Action,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    if action == Action::Delete {
        if let Some(id) = id {
            // A legacy model's id has no dots; it lives in the workspace registry.
            if id.contains('.') {
                client.uc_model_delete(&id)?;
            } else {
                client.model_delete(&id)?;
            }
        }
        return Ok(None);
    }
    let full = full_name(settings);
    let api = api_settings(settings);
    let exists = client.uc_model_get(&full)?.is_some();
    // Another catalog, schema or name is another model: the old one goes
    // (after the new one exists, so a failed create loses nothing).
    let stale = id.filter(|old| *old != full);
    if !exists {
        client.uc_model_create(&api)?;
    } else if action == Action::Update {
        // The fields the CLI's update sends (`UpdateRegisteredModelRequest`).
        let fields = [
            "aliases",
            "catalog_name",
            "comment",
            "name",
            "schema_name",
            "storage_location",
        ];
        let body = fields
            .iter()
            .filter_map(|f| Some((f.to_string(), api.get(*f)?.clone())));
        client.uc_model_update(&full, &Value::Object(body.collect()))?;
    }
    if let Some(old) = stale {
        if old.contains('.') {
            client.uc_model_delete(&old)?;
        } else {
            client.model_delete(&old)?;
        }
    }
    apply_grants(client, "function", &full, &settings["grants"], !exists)?;
    Ok(Some(full))
}
