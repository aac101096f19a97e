//! Secret scopes, as the CLI's direct engine deploys them
//! (`dresources/secret_scope.go`, `secret_scope_acls.go`): created by name
//! (the name is the id), never updated (every field makes another scope),
//! read back from the list of scopes (there is no get), and their
//! `permissions:` set as secret ACLs, one `acls/put` or `acls/delete` per
//! principal that differs, with the deploying user kept at `MANAGE`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::remote_drift_kinds::pick;
use super::resources::Action;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

pub(super) const KIND: Custom = Custom {
    kind: "secret_scopes",
    prepare: None,
    apply,
    permissions: Some(permissions),
    observed: &[],
    observe: None,
    to_state,
    from_state,
    access_state: Some(access_state),
    permission_id: None,
};

const SCOPES: &str = "/api/2.0/secrets/scopes";
const ACLS: &str = "/api/2.0/secrets/acls";

/// Bundle field → field of the create request (and of the CLI's state).
const FIELDS: [(&str, &str); 3] = [
    ("name", "scope"),
    ("backend_type", "scope_backend_type"),
    ("keyvault_metadata", "backend_azure_keyvault"),
];

fn to_state(settings: &Map<String, Value>) -> Map<String, Value> {
    let pick = FIELDS
        .iter()
        .filter_map(|(b, a)| Some((a.to_string(), settings.get(*b)?.clone())));
    pick.collect()
}

fn from_state(state: &Map<String, Value>) -> Map<String, Value> {
    let pick = FIELDS
        .iter()
        .filter_map(|(b, a)| Some((b.to_string(), state.get(*a)?.clone())));
    pick.collect()
}

fn apply(
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
    let body = Value::Object(to_state(settings.as_object().unwrap_or(&Map::new())));
    let name = body["scope"]
        .as_str()
        .context("a secret scope needs a name")?;
    let existing = match old {
        Some(id) if exists(client, &id)? => Some(id),
        _ => None,
    };
    if let Some(id) = existing {
        let was = before.and_then(Value::as_object).map(to_state);
        // No update call: any change makes another scope.
        if was.is_none_or(|w| Value::Object(w) == body) {
            return Ok(Some(id));
        }
        delete(client, &id)?;
    }
    client
        .rest("POST", &format!("{SCOPES}/create"), Some(&body))?
        .with_context(|| format!("{SCOPES}/create: not found"))?;
    Ok(Some(name.to_string()))
}

/// A scope in the bundle's shape (`name`, `backend_type`,
/// `keyvault_metadata`), found in the list of scopes.
pub(super) fn read(client: &Client, name: &str) -> Result<Option<Value>> {
    let list = client.rest("GET", &format!("{SCOPES}/list"), None)?;
    let list = list.unwrap_or_default();
    let mut scopes = list["scopes"].as_array().into_iter().flatten();
    let found = scopes.find(|s| s["name"] == name);
    Ok(found.map(|s| pick(s, &["name", "backend_type", "keyvault_metadata"])))
}

fn exists(client: &Client, name: &str) -> Result<bool> {
    let list = client.rest("GET", &format!("{SCOPES}/list"), None)?;
    let scopes = list.unwrap_or_default();
    let mut names = scopes["scopes"].as_array().into_iter().flatten();
    Ok(names.any(|s| s["name"] == name))
}

fn delete(client: &Client, name: &str) -> Result<()> {
    let body = json!({ "scope": name });
    client.rest("POST", &format!("{SCOPES}/delete"), Some(&body))?;
    Ok(())
}

/// The ACLs the scope must have: `permissions:` with the deploying user at
/// `MANAGE` (the scope's creator has it anyway; without it every deploy
/// would see a difference), each principal once at its highest level, in
/// the order the CLI's `SecretScopeFixups` leaves them.
fn wanted(settings: &Map<String, Value>, user: &str) -> Result<Vec<(String, String)>> {
    let mut perms: Vec<Value> = settings
        .get("permissions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mine = |p: &Value| p["user_name"] == user || p["service_principal_name"] == user;
    if !perms.iter().any(|p| mine(p) && p["level"] == "MANAGE") {
        let who = if is_uuid(user) {
            "service_principal_name"
        } else {
            "user_name"
        };
        perms.push(json!({ who: user, "level": "MANAGE" }));
    }
    let rank = |l: &str| ["READ", "WRITE", "MANAGE"].iter().position(|x| *x == l);
    let mut best: BTreeMap<String, (String, String)> = BTreeMap::new();
    for p in &perms {
        let level = p["level"].as_str().unwrap_or_default();
        let Some(r) = rank(level) else {
            bail!("unknown permission level {level:?} for a secret scope (READ, WRITE or MANAGE)");
        };
        let (tag, who) = [
            ("user", "user_name"),
            ("group", "group_name"),
            ("sp", "service_principal_name"),
        ]
        .into_iter()
        .find_map(|(t, k)| Some((t, p[k].as_str().filter(|s| !s.is_empty())?)))
        .context("a secret scope permission names no user, group or service principal")?;
        let key = format!("{tag}:{who}");
        if best.get(&key).is_none_or(|(l, _)| rank(l) < Some(r)) {
            best.insert(key, (level.to_string(), who.to_string()));
        }
    }
    Ok(best.into_values().collect())
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Puts the ACLs that differ from those the scope has, then deletes those
/// of principals no longer named (one at a time: the service answers
/// inconsistently to concurrent calls).
fn permissions(client: &Client, user: &str, id: &str, settings: &Value) -> Result<()> {
    let want = wanted(settings.as_object().unwrap_or(&Map::new()), user)?;
    let list = client.rest("GET", &format!("{ACLS}/list?scope={}", escape(id)), None)?;
    let list = list.unwrap_or_default();
    let have: BTreeMap<&str, &str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some((a["principal"].as_str()?, a["permission"].as_str()?)))
        .collect();
    let desired: BTreeMap<&str, &str> =
        want.iter().map(|(l, w)| (w.as_str(), l.as_str())).collect();
    for (who, level) in &desired {
        if have.get(who) != Some(level) {
            let body = json!({ "scope": id, "principal": who, "permission": level });
            client
                .rest("POST", &format!("{ACLS}/put"), Some(&body))
                .with_context(|| format!("ACL of {who}"))?;
        }
    }
    for who in have.keys().filter(|w| !desired.contains_key(*w)) {
        let body = json!({ "scope": id, "principal": who });
        client
            .rest("POST", &format!("{ACLS}/delete"), Some(&body))
            .with_context(|| format!("ACL of {who}"))?;
    }
    Ok(())
}

/// `{scope_name, acls}` as the CLI records a scope's `.permissions`.
fn access_state(id: &str, settings: &Map<String, Value>, user: &str) -> Option<Value> {
    let acls: Vec<Value> = wanted(settings, user)
        .ok()?
        .into_iter()
        .map(|(level, who)| json!({ "permission": level, "principal": who }))
        .collect();
    Some(json!({ "scope_name": id, "acls": acls }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_keep_the_user_at_manage_and_each_principal_at_its_highest_level() {
        let s = json!({"name": "s", "permissions": [
            {"user_name": "d@x.com", "level": "WRITE"},
            {"user_name": "d@x.com", "level": "READ"},
            {"group_name": "users", "level": "READ"},
            {"service_principal_name": "me@x.com", "level": "READ"},
        ]});
        let got = wanted(s.as_object().unwrap(), "me@x.com").unwrap();
        let pairs: Vec<(&str, &str)> = got.iter().map(|(l, w)| (l.as_str(), w.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("READ", "users"),
                ("READ", "me@x.com"),
                ("WRITE", "d@x.com"),
                ("MANAGE", "me@x.com")
            ]
        );
        let bad = json!({"permissions": [{"group_name": "g", "level": "CAN_VIEW"}]});
        assert!(wanted(bad.as_object().unwrap(), "me").is_err());
        let st = to_state(
            json!({"name": "s", "backend_type": "DATABRICKS"})
                .as_object()
                .unwrap(),
        );
        assert_eq!(
            Value::Object(st.clone()),
            json!({"scope": "s", "scope_backend_type": "DATABRICKS"})
        );
        assert_eq!(
            Value::Object(from_state(&st)),
            json!({"name": "s", "backend_type": "DATABRICKS"})
        );
    }
}
