//! Who may use what the remote backend deploys: the `permissions:` of jobs
//! and experiments (`/api/2.0/permissions`, a full replace) and the
//! `grants:` of Unity Catalog models, in the bodies the CLI's direct engine
//! sends.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::resources::{Action, ResourceChange};
use crate::config::kinds;
use crate::workspace::remote::client::Client;

/// Sets the resource's `permissions:` (a full replace, `PUT
/// /api/2.0/permissions/<type>/<id>`) after a create or an update, for the
/// kinds that have a permission object type. The deploying user gets
/// `IS_OWNER` or `CAN_MANAGE` added, as the CLI's `FixPermissions` does.
pub(super) fn permissions(
    client: &Client,
    user: &str,
    change: &ResourceChange,
    settings: &Value,
    id: Option<&str>,
) -> Result<()> {
    let (Some(id), Some(ty)) = (id, kinds::get(&change.kind).and_then(|k| k.permissions)) else {
        return Ok(());
    };
    if !matches!(change.action, Action::Create | Action::Update) {
        return Ok(());
    }
    // ACLs of their own, set even when none are written (the user's own).
    let custom = super::remote_custom::get(&change.kind);
    if let Some(set) = custom.and_then(|c| c.permissions) {
        return set(client, user, id, settings);
    }
    let Some(wanted) = settings["permissions"].as_array() else {
        return Ok(());
    };
    let acl = acl_entries(wanted, user, &change.kind);
    // An endpoint's permissions are kept under its own id, not its name.
    if change.kind == "model_serving_endpoints" {
        let id = super::remote_serving::endpoint_id(client, id)?;
        return client.permissions_set(ty, &id, &acl);
    }
    client.permissions_set(ty, id, &acl)
}

/// The access control list a resource's `permissions:` (`[{level, <who>}]`)
/// set, with the deploying user's own entry (see [`with_manager`]).
pub(super) fn acl_entries(wanted: &[Value], user: &str, kind: &str) -> Vec<Value> {
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
    with_manager(acl, user, kind)
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

/// Makes the grants on `full_name` those of `wanted` (`[{principal,
/// privileges}]`) in one PATCH shaped as the CLI's direct engine sends it:
/// each wanted principal gets its privileges added and `ALL_PRIVILEGES`
/// removed (which clears what it had before, unless that is what it gets);
/// a principal no longer wanted gets `ALL_PRIVILEGES` removed. Nothing is
/// sent when the grants already are the wanted ones.
pub(super) fn apply_grants(
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
pub(super) fn grant_sets<'a>(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(who: &str, key: &str, level: &str) -> Value {
        json!({ key: who, "permission_level": level })
    }

    #[test]
    fn the_deploying_user_is_owner_or_manager_as_the_cli_makes_them() {
        let me = "me@x.com";
        let users = entry("users", "group_name", "CAN_VIEW");
        // A job with no owner: the user becomes it.
        let acl = with_manager(vec![users.clone()], me, "jobs");
        assert_eq!(acl, [users.clone(), entry(me, "user_name", "IS_OWNER")]);
        // The user's CAN_MANAGE is upgraded rather than doubled.
        let acl = with_manager(vec![entry(me, "user_name", "CAN_MANAGE")], me, "jobs");
        assert_eq!(acl, [entry(me, "user_name", "IS_OWNER")]);
        // Someone else owns the job: the user manages it.
        let other = entry("o@x.com", "user_name", "IS_OWNER");
        let acl = with_manager(vec![other.clone()], me, "jobs");
        assert_eq!(acl, [other, entry(me, "user_name", "CAN_MANAGE")]);
        // Experiments have no owner level; an owner entry is left alone.
        let acl = with_manager(vec![users.clone()], me, "experiments");
        assert_eq!(acl, [users, entry(me, "user_name", "CAN_MANAGE")]);
        let mine = entry(me, "user_name", "IS_OWNER");
        assert_eq!(with_manager(vec![mine.clone()], me, "jobs"), [mine]);
        // A service principal is named by its application id.
        let sp = "0a1b2c3d-0000-4000-8000-00000000000f";
        let acl = with_manager(Vec::new(), sp, "experiments");
        assert_eq!(acl, [entry(sp, "service_principal_name", "CAN_MANAGE")]);
    }
}
