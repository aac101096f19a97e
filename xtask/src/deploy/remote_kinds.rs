//! The resource kinds whose REST calls differ only in paths and bodies:
//! Unity Catalog schemas and volumes, pipelines and clusters, each created,
//! updated, re-created and deleted with the calls and bodies of the CLI's
//! direct engine (`bundle/direct/dresources/<kind>.go`), its fields that
//! force a re-create (`resources.yml`), and the grants of UC kinds.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::remote_acl::apply_grants;
pub(super) use super::remote_rest::{RESTS, Rest};
use super::resources::{Action, ResourceChange};
use super::state::TfResource;
use super::{remote_refs, remote_serving};
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

/// The settings `prev` recorded for `ty.key`, as the API saw them: its
/// references resolved against `prev` too (the values they had then, those
/// to fields only the workspace knows as recorded), or left as written
/// where that fails.
pub(super) fn recorded(prev: &[TfResource], ty: &str, key: &str) -> Option<Value> {
    recorded_with(prev, ty, key, api_settings)
}

/// [`recorded`] with the resource's `permissions` and `grants`, for the
/// check of those against the workspace.
pub(super) fn recorded_whole(prev: &[TfResource], ty: &str, key: &str) -> Option<Value> {
    recorded_with(prev, ty, key, Value::clone)
}

fn recorded_with(
    prev: &[TfResource],
    ty: &str,
    key: &str,
    part: fn(&Value) -> Value,
) -> Option<Value> {
    let r = prev.iter().find(|r| r.kind == ty && r.name == key)?;
    let inst = r.instances.first()?;
    let attrs = part(&Value::Object(inst.attributes.clone()));
    let kind = super::resources::kind_of(ty);
    let known = |x: &remote_refs::Ref| Ok(inst.resolved_references.get(&x.text()).cloned());
    let lookup = |x: &remote_refs::Ref| remote_refs::lookup_with(prev, &known, x, 0);
    let then = remote_refs::resolve_for(&kind, &attrs, &lookup);
    Some(then.unwrap_or(attrs))
}

/// A kind of `remote_kinds` (schemas, volumes, pipelines, clusters): the
/// resource, then its grants. `before`: what it was recorded with.
pub(super) fn deploy(
    client: &Client,
    change: &ResourceChange,
    old: Option<String>,
    settings: &Value,
    before: Option<&Value>,
) -> Result<Option<String>> {
    let Some(rest) = get(&change.kind) else {
        return Ok(None);
    };
    let api = api_settings_of(rest.kind, settings);
    let recreate = recreates(rest, &api, before);
    let id = apply(client, rest, change.action, old.clone(), &api, before)?;
    if let Some(id) = &id {
        let created = old.as_ref() != Some(id) || recreate;
        if created {
            super::remote_wait::until_ready(client, rest.kind, id)?;
        }
        grants(client, rest, id, &settings["grants"], created)?;
    }
    Ok(id)
}

/// Keys of a bundle resource that are not part of the API's settings.
const BUNDLE_ONLY: [&str; 3] = ["permissions", "grants", "id"];

/// Keys of one kind that only the bundle knows: an alert's `file_path`
/// names the `.dbalert.json` its settings were read from (neither the
/// CLI's request nor its state has it).
const BUNDLE_ONLY_OF: &[(&str, &str)] = &[("alerts", "file_path")];

/// The resource's settings without the keys that only the bundle knows.
pub(super) fn api_settings(settings: &Value) -> Value {
    let mut a = settings.as_object().cloned().unwrap_or_default();
    for k in BUNDLE_ONLY {
        a.remove(k);
    }
    Value::Object(a)
}

/// [`api_settings`] of a resource of `kind`, without its own bundle-only keys.
pub(super) fn api_settings_of(kind: &str, settings: &Value) -> Value {
    let mut a = api_settings(settings);
    if let Some(m) = a.as_object_mut() {
        for (_, k) in BUNDLE_ONLY_OF.iter().filter(|(of, _)| *of == kind) {
            m.remove(*k);
        }
    }
    a
}

pub(super) fn get(kind: &str) -> Option<&'static Rest> {
    RESTS.iter().find(|r| r.kind == kind)
}

pub(super) fn at(path: &str, id: &str) -> String {
    path.replace("{id}", &escape(id))
}

/// True if `now` differs from `before` (the recorded settings) in a field
/// that makes another resource.
pub(super) fn recreates(rest: &Rest, now: &Value, before: Option<&Value>) -> bool {
    let Some(before) = before else { return false };
    let at = |v: &Value, f: &str| v.pointer(&format!("/{}", f.replace('.', "/"))).cloned();
    rest.recreate.iter().any(|f| at(before, f) != at(now, f))
}

/// Carries out `action` on one resource of kind `rest`: `old` its recorded
/// id, `settings` its API settings (references resolved), `before` what it
/// was recorded with (which may make it anew). Returns its id afterwards (`None` once deleted).
pub(super) fn apply(
    client: &Client,
    rest: &Rest,
    action: Action,
    old: Option<String>,
    settings: &Value,
    before: Option<&Value>,
) -> Result<Option<String>> {
    if action == Action::Delete {
        if let Some(id) = old {
            delete(client, rest, &id)?;
        }
        return Ok(None);
    }
    let path = at(rest.read, old.as_deref().unwrap_or_default());
    let existing = super::remote_custom::still_there(client, old, &path)?;
    let Some(id) = existing else {
        return create(client, rest, settings).map(Some);
    };
    if recreates(rest, settings, before) {
        delete(client, rest, &id)?;
        return create(client, rest, settings).map(Some);
    }
    if action == Action::Update {
        if rest.kind == "model_serving_endpoints" {
            remote_serving::update(client, &id, settings, before)?;
            super::remote_wait::until_ready(client, rest.kind, &id)?;
            return Ok(Some(id));
        }
        return update(client, rest, &id, settings).map(Some);
    }
    Ok(Some(id))
}

fn create(client: &Client, rest: &Rest, settings: &Value) -> Result<String> {
    // The CLI's defaults (a cluster's `autotermination_minutes`, ...) are
    // in `settings` already: the configuration adds them (config/defaults.rs).
    let mut body = settings.clone();
    let mut path = rest.create.to_string();
    if let (Some(key), Some(m)) = (rest.path_key, body.as_object_mut()) {
        let value = m.remove(key).unwrap_or_default();
        path = path.replace("{key}", &escape(value.as_str().unwrap_or_default()));
    }
    let answer = client.rest("POST", &path, Some(&body))?;
    let answer = answer.unwrap_or_default();
    let id = answer.get(rest.id_field).and_then(Value::as_str);
    let id = id
        .map(str::to_string)
        .with_context(|| format!("{path}: no {} in the answer", rest.id_field))?;
    Ok(id)
}

/// The update as the CLI sends it; a volume, catalog or external location
/// renamed gets `new_name` (and another id), as its `DoUpdateWithID`.
fn update(client: &Client, rest: &Rest, id: &str, settings: &Value) -> Result<String> {
    let mut body = match rest.update_fields {
        Some(fields) => {
            let picked = fields.iter().filter_map(|f| Some((*f, settings.get(*f)?)));
            picked.map(|(f, v)| (f.to_string(), v.clone())).collect()
        }
        None => settings.as_object().cloned().unwrap_or_default(),
    };
    if let Some(key) = rest.id_key {
        body.insert(key.into(), json!(id));
    }
    let last = id.rsplit('.').next().unwrap_or(id);
    let renames = ["volumes", "catalogs", "external_locations"].contains(&rest.kind);
    let renamed = renames && settings["name"].as_str().is_some_and(|n| n != last);
    if renamed {
        body.insert("new_name".into(), settings["name"].clone());
    }
    let (method, path) = rest.update;
    let answer = client
        .rest(method, &at(path, id), Some(&Value::Object(body)))?
        .with_context(|| format!("{} {id}: not found", rest.kind))?;
    // A volume's id is its full name; a catalog's or location's, its name.
    let full = answer.get("full_name").and_then(Value::as_str);
    match (renamed, rest.kind, full) {
        (true, "volumes", Some(full)) => Ok(full.to_string()),
        (true, _, _) => Ok(settings["name"].as_str().unwrap_or(id).to_string()),
        _ => Ok(id.to_string()),
    }
}

fn delete(client: &Client, rest: &Rest, id: &str) -> Result<()> {
    let (method, path) = rest.delete;
    let body = rest.id_key.filter(|_| method == "POST").map(|k| {
        let mut m = Map::new();
        m.insert(k.into(), json!(id));
        Value::Object(m)
    });
    client.rest(method, &at(path, id), body.as_ref())?;
    Ok(())
}

/// Grants of a UC resource after its create or update (`created`: it has
/// none yet to read).
pub(super) fn grants(
    client: &Client,
    rest: &Rest,
    id: &str,
    wanted: &Value,
    created: bool,
) -> Result<()> {
    match rest.grants {
        Some(securable) if !wanted.is_null() || !created => {
            apply_grants(client, securable, id, wanted, created)
        }
        _ => Ok(()),
    }
}
