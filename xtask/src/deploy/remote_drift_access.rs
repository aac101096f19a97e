//! Permissions and grants changed in the workspace out of band, read back
//! as the CLI's direct engine reads its `.permissions` and `.grants`
//! resources (`dresources/permissions.go`, `grants.go`,
//! `secret_scope_acls.go`): the permissions API's access control list
//! (inherited entries left out), a secret scope's ACLs, the Unity Catalog
//! grants of the securable. Only what the bundle declares is compared: a
//! resource without `permissions:` (or `grants:`) has none to drift.

use std::collections::BTreeSet;

use anyhow::Result;
use serde_json::{Map, Value};

use super::remote_acl::{acl_entries, grant_sets};
use super::{remote_custom, remote_kinds, remote_serving};
use crate::config::kinds;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

/// The drift fields this module reports.
pub(super) const FIELDS: [&str; 2] = ["permissions", "grants"];

/// Which of `permissions` and `grants` of the resource `kind` with id
/// `id`, recorded with `settings` (the bundle's, with both), differ in the
/// workspace; `user` is the deploying user, whose own entry the deploy adds.
pub(super) fn changed(
    client: &Client,
    user: &str,
    kind: &str,
    id: &str,
    settings: &Value,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if settings["permissions"].is_array() && !permissions_same(client, user, kind, id, settings)? {
        out.push("permissions".to_string());
    }
    if let Some(securable) = securable(kind, id)
        && let Some(wanted) = settings["grants"].as_array()
    {
        let have = client.uc_grants_get(securable, id)?;
        if grant_sets(wanted.iter()) != grant_sets(have.iter()) {
            out.push("grants".to_string());
        }
    }
    Ok(out)
}

/// The Unity Catalog securable type of the grants of `kind` (a registered
/// model in Unity Catalog, named by a dotted full name, is a `function`).
fn securable(kind: &str, id: &str) -> Option<&'static str> {
    match kind {
        "registered_models" if id.contains('.') => Some("function"),
        _ => remote_kinds::get(kind).and_then(|r| r.grants),
    }
}

fn permissions_same(
    client: &Client,
    user: &str,
    kind: &str,
    id: &str,
    settings: &Value,
) -> Result<bool> {
    let Some(ty) = kinds::get(kind).and_then(|k| k.permissions) else {
        return Ok(true);
    };
    let custom = remote_custom::get(kind).and_then(|c| c.access_state);
    if let Some(access_state) = custom {
        let none = Map::new();
        let state = access_state(id, settings.as_object().unwrap_or(&none), user);
        let wanted = acl_pairs(&state.unwrap_or_default()["acls"]);
        let at = format!("/api/2.0/secrets/acls/list?scope={}", escape(id));
        let have = client.rest("GET", &at, None)?.unwrap_or_default();
        return Ok(wanted == acl_pairs(&have["items"]));
    }
    let wanted = settings["permissions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let wanted = entries(&acl_entries(&wanted, user, kind));
    // An endpoint's permissions are kept under its own id, not its name;
    // some kinds' under a field the workspace gave, which the state keeps.
    let object = match (kind, remote_custom::permission_id(kind)) {
        ("model_serving_endpoints", _) => remote_serving::endpoint_id(client, id)?,
        (_, Some(field)) => settings[field].as_str().unwrap_or(id).to_string(),
        _ => id.to_string(),
    };
    let at = format!("/api/2.0/permissions/{ty}/{}", escape(&object));
    let have = client.rest("GET", &at, None)?.unwrap_or_default();
    Ok(wanted == read_entries(&have["access_control_list"]))
}

/// `(principal, permission)` of a secret scope's ACLs.
fn acl_pairs(items: &Value) -> BTreeSet<(String, String)> {
    let all = items.as_array().into_iter().flatten();
    all.filter_map(|a| {
        let who = a["principal"].as_str()?.to_string();
        Some((who, a["permission"].as_str()?.to_string()))
    })
    .collect()
}

/// Who has which level, as `(kind of principal, principal, level)`.
type Entries = BTreeSet<(&'static str, String, String)>;

const WHO: [&str; 3] = ["user_name", "group_name", "service_principal_name"];

fn principal(e: &Value) -> Option<(&'static str, String)> {
    WHO.iter()
        .find_map(|k| Some((*k, e.get(*k)?.as_str()?.to_string())))
}

/// The entries an ACL sets (`[{<who>, permission_level}]`).
fn entries(acl: &[Value]) -> Entries {
    let each = acl.iter().filter_map(|e| {
        let (k, who) = principal(e)?;
        Some((k, who, e["permission_level"].as_str()?.to_string()))
    });
    each.collect()
}

/// The entries an ACL read back has, each of its levels not inherited
/// (from the workspace or a folder), as the CLI's read keeps them.
fn read_entries(acl: &Value) -> Entries {
    let mut out = Entries::new();
    for e in acl.as_array().into_iter().flatten() {
        let Some((k, who)) = principal(e) else {
            continue;
        };
        let levels = e["all_permissions"].as_array().into_iter().flatten();
        for p in levels.filter(|p| p["inherited"] != true) {
            if let Some(level) = p["permission_level"].as_str() {
                out.insert((k, who.clone(), level.to_string()));
            }
        }
    }
    out
}
