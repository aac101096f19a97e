//! Resources on the remote backend: the planned creates, updates and deletes
//! carried out through the REST API of each kind (see `config::kinds`: jobs
//! 2.2, MLflow experiments, Unity Catalog models), with the ids the
//! workspace gives kept in `terraform.tfstate`, so that a redeploy resets
//! the same job instead of creating another, as the CLI's Terraform does.
//!
//! Locally a resource exists only as its state entry (`resources.rs`); the
//! plan is the same, only the ids of created resources change here.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::resources::{Action, ResourcePlan, tf_type};
use super::state::TfResource;
use crate::config::kinds;
use crate::workspace::remote::client::Client;

/// Keys of a bundle resource that are not part of the API's settings.
const BUNDLE_ONLY: [&str; 3] = ["permissions", "grants", "id"];

/// Carry out `plan` in the workspace; fills in real ids. Returns warnings
/// for kinds this backend does not deploy.
///
/// After each create or delete, `record` gets the resources as they now are
/// in the workspace (those done so far as planned, the rest as in `prev`),
/// to write into the state before the next request: a deploy that fails
/// halfway then knows what it created, and the next one converges instead
/// of creating them twice.
pub fn apply(
    client: &Client,
    user: &str,
    plan: &mut ResourcePlan,
    prev: &[TfResource],
    record: &mut dyn FnMut(Vec<TfResource>) -> Result<()>,
) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for i in 0..plan.changes.len() {
        let change = plan.changes[i].clone();
        let what = format!("{}.{}", change.kind, change.key);
        let ty = tf_type(&change.kind);
        let slot = plan
            .resources
            .iter()
            .position(|r| r.kind == ty && r.name == change.key);
        let settings = slot
            .and_then(|s| plan.resources[s].instances.first())
            .map(|inst| Value::Object(inst.attributes.clone()))
            .unwrap_or(Value::Null);
        // A planned create carries a locally made-up id: the workspace gives the real one.
        let old_id = change
            .id
            .clone()
            .filter(|id| !id.is_empty() && change.action != Action::Create);
        let api = api_settings(&settings);
        let id = match change.kind.as_str() {
            "jobs" => job(client, change.action, old_id, &sorted_tasks(api)),
            "experiments" => experiment(client, change.action, old_id, &api),
            "registered_models"
                if kinds::is_uc_model(&settings) || change.action == Action::Delete =>
            {
                uc_model(client, change.action, old_id, &settings)
            }
            "registered_models" => model(client, change.action, old_id, &api),
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
        .with_context(|| {
            let api = kinds::get(&change.kind).map_or("", |k| k.api);
            format!("{} of {what} ({api})", change.action)
        })?;
        let moved = id != change.id || change.action == Action::Delete;
        plan.changes[i].id = id.clone();
        if let (Some(s), Some(id)) = (slot, id)
            && let Some(inst) = plan.resources[s].instances.first_mut()
        {
            inst.attributes.insert("id".into(), json!(id));
        }
        if moved {
            record(so_far(plan, prev, i))?;
        }
        if let (Err(e), Some(s)) = (
            permissions(client, user, &change, &settings, id_of(plan, i)),
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

fn id_of(plan: &ResourcePlan, i: usize) -> Option<&str> {
    plan.changes[i].id.as_deref()
}

/// Sets the resource's `permissions:` (a full replace, `PUT
/// /api/2.0/permissions/<type>/<id>`) after a create or an update, for the
/// kinds that have a permission object type. The deploying user gets
/// `IS_OWNER` or `CAN_MANAGE` added, as the CLI's `FixPermissions` does.
fn permissions(
    client: &Client,
    user: &str,
    change: &super::resources::ResourceChange,
    settings: &Value,
    id: Option<&str>,
) -> Result<()> {
    let (Some(id), Some(ty)) = (id, kinds::get(&change.kind).and_then(|k| k.permissions)) else {
        return Ok(());
    };
    let Some(wanted) = settings["permissions"].as_array() else {
        return Ok(());
    };
    if !matches!(change.action, Action::Create | Action::Update) {
        return Ok(());
    }
    let acl: Vec<Value> = wanted
        .iter()
        .map(|p| {
            let mut entry = serde_json::Map::new();
            for who in ["user_name", "group_name", "service_principal_name"] {
                if let Some(v) = p.get(who) {
                    entry.insert(who.into(), v.clone());
                }
            }
            entry.insert("permission_level".into(), p["level"].clone());
            Value::Object(entry)
        })
        .collect();
    let acl = with_manager(acl, user, &change.kind);
    client.permissions_set(ty, id, &acl)
}

/// Kinds whose permissions have an `IS_OWNER` level (the CLI's `hasIsOwner`).
const HAS_OWNER: [&str; 3] = ["jobs", "pipelines", "sql_warehouses"];

/// The CLI's rule for the deploying user's own entry: kept if already the
/// owner; otherwise made the owner (its `CAN_MANAGE` upgraded, or a new
/// entry) where the kind has owners and none is named; else `CAN_MANAGE`.
/// Without it the workspace refuses a job's ACL ("exactly one owner") and
/// the user could lock themselves out of what they deployed.
fn with_manager(mut acl: Vec<Value>, user: &str, kind: &str) -> Vec<Value> {
    let who = |e: &Value| {
        e["user_name"]
            .as_str()
            .or(e["service_principal_name"].as_str())
            .map(str::to_string)
    };
    let level = |e: &Value| {
        e["permission_level"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let mine = |e: &Value| who(e).as_deref() == Some(user);
    if acl.iter().any(|e| mine(e) && level(e) == "IS_OWNER") {
        return acl;
    }
    let owner_free = HAS_OWNER.contains(&kind) && !acl.iter().any(|e| level(e) == "IS_OWNER");
    let managing = acl.iter().position(|e| mine(e) && level(e) == "CAN_MANAGE");
    let wanted = match (owner_free, managing) {
        (true, Some(i)) => {
            acl[i]["permission_level"] = json!("IS_OWNER");
            return acl;
        }
        (true, None) => "IS_OWNER",
        (false, Some(_)) => return acl,
        (false, None) => "CAN_MANAGE",
    };
    // A service principal's user name is its application id, a UUID.
    let key = if is_uuid(user) {
        "service_principal_name"
    } else {
        "user_name"
    };
    acl.push(json!({ key: user, "permission_level": wanted }));
    acl
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
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

/// The resource's settings without the keys that only the bundle knows.
fn api_settings(settings: &Value) -> Value {
    let mut a = settings.as_object().cloned().unwrap_or_default();
    for k in BUNDLE_ONLY {
        a.remove(k);
    }
    Value::Object(a)
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
        let comment = api["comment"].as_str().unwrap_or_default();
        client.uc_model_update(&full, &json!({ "comment": comment }))?;
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

/// Makes the grants on `full_name` those of `wanted` (`[{principal,
/// privileges}]`) in one PATCH shaped as the CLI's direct engine sends it:
/// each wanted principal gets its privileges added and `ALL_PRIVILEGES`
/// removed (which clears what it had before, unless that is what it gets);
/// a principal no longer wanted gets `ALL_PRIVILEGES` removed. Nothing is
/// sent when the grants already are the wanted ones.
fn apply_grants(
    client: &Client,
    securable: &str,
    full_name: &str,
    wanted: &Value,
    created: bool,
) -> Result<()> {
    let want = grant_sets(wanted.as_array().into_iter().flatten());
    // A model just created has no grants to read.
    let have = match created {
        true => BTreeMap::new(),
        false => grant_sets(client.uc_grants_get(securable, full_name)?.iter()),
    };
    if want == have {
        return Ok(());
    }
    const ALL: &str = "ALL_PRIVILEGES";
    let mut changes: Vec<Value> = want
        .iter()
        .map(|(p, privileges)| match privileges.contains(ALL) {
            true => json!({ "principal": p, "add": privileges }),
            false => json!({ "principal": p, "add": privileges, "remove": [ALL] }),
        })
        .collect();
    for gone in have.keys().filter(|p| !want.contains_key(*p)) {
        changes.push(json!({ "principal": gone, "remove": [ALL] }));
    }
    client
        .uc_grants_update(securable, full_name, &Value::Array(changes))
        .with_context(|| format!("grants on {full_name}"))
}

/// `[{principal, privileges}]` as principal → privileges (upper case).
fn grant_sets<'a>(
    assignments: impl Iterator<Item = &'a Value>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in assignments {
        if let Some(p) = g["principal"].as_str() {
            let privileges = g["privileges"].as_array().into_iter().flatten();
            out.entry(p.to_string())
                .or_default()
                .extend(privileges.filter_map(|x| x.as_str().map(str::to_uppercase)));
        }
    }
    out
}
