//! Vector search endpoints, as the CLI's direct engine deploys them
//! (`dresources/vector_search_endpoint.go`): created, then waited for until
//! `ONLINE` (`remote_wait`); updated one call per changed field (the budget policy, the
//! minimum QPS), since the API replaces neither as a whole; made again when
//! the name or the endpoint type changes (both immutable). The id is the
//! name, but permissions are kept under the endpoint's UUID, which only the
//! workspace knows: read back after each create or update and recorded.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::resources::Action;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

pub(super) const KIND: Custom = Custom {
    kind: "vector_search_endpoints",
    prepare: None,
    apply,
    permissions: None,
    observed: &[UUID],
    observe: Some(observe),
    to_state,
    from_state: Map::clone,
    access_state: None,
    permission_id: Some(UUID),
};

const BASE: &str = "/api/2.0/vector-search/endpoints";

/// The field the state keeps the endpoint's UUID in, as the CLI's remote
/// state names it.
const UUID: &str = "endpoint_uuid";

fn at(name: &str) -> String {
    format!("{BASE}/{}", escape(name))
}

/// The create request: the settings without what the workspace gave.
fn to_state(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut m = settings.clone();
    m.remove(UUID);
    m
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
            client.rest("DELETE", &at(&id), None)?;
        }
        return Ok(None);
    }
    let body = Value::Object(to_state(settings.as_object().unwrap_or(&Map::new())));
    let name = body["name"]
        .as_str()
        .context("a vector search endpoint needs a name")?
        .to_string();
    // Gone from the workspace since: made again.
    let path = at(old.as_deref().unwrap_or_default());
    let existing = super::remote_custom::still_there(client, old, &path)?;
    if let Some(id) = existing {
        let same_type = before.is_none_or(|b| b["endpoint_type"] == body["endpoint_type"]);
        if id == name && same_type {
            update(client, &id, &body, before)?;
            return Ok(Some(id));
        }
        client.rest("DELETE", &at(&id), None)?;
    }
    client
        .rest("POST", BASE, Some(&body))?
        .with_context(|| format!("{BASE}: not found"))?;
    super::remote_wait::until_ready(client, KIND.kind, &name)?;
    Ok(Some(name))
}

/// The fields that changed, each by its own call (as the CLI's `DoUpdate`).
fn update(client: &Client, name: &str, now: &Value, before: Option<&Value>) -> Result<()> {
    let changed = |k: &str| before.is_none_or(|b| b.get(k) != now.get(k));
    if changed("budget_policy_id") {
        let body = sent(now, "budget_policy_id");
        let path = format!("{}/budget-policy", at(name));
        client
            .rest("PATCH", &path, Some(&body))
            .context("budget policy")?;
    }
    if changed("min_qps") {
        let body = sent(now, "min_qps");
        client
            .rest("PATCH", &at(name), Some(&body))
            .context("minimum QPS")?;
    }
    Ok(())
}

/// `{field: value}`, or `{}` for an unset or zero value (which the SDK
/// leaves out of the request).
fn sent(settings: &Value, field: &str) -> Value {
    match &settings[field] {
        Value::Null => json!({}),
        Value::String(s) if s.is_empty() => json!({}),
        Value::Number(n) if n.as_f64() == Some(0.0) => json!({}),
        v => json!({ field: v }),
    }
}

/// The endpoint's UUID, under which its permissions are kept.
fn observe(client: &Client, id: &str) -> Result<Map<String, Value>> {
    let endpoint = client
        .rest("GET", &at(id), None)?
        .with_context(|| format!("vector search endpoint {id}: not found"))?;
    let uuid = endpoint["id"]
        .as_str()
        .with_context(|| format!("vector search endpoint {id}: no id in the answer"))?;
    Ok(Map::from_iter([(UUID.to_string(), json!(uuid))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_and_zero_fields_are_left_out_as_the_sdk_leaves_them() {
        let s = json!({"min_qps": 0, "budget_policy_id": "", "x": 5});
        assert_eq!(sent(&s, "min_qps"), json!({}));
        assert_eq!(sent(&s, "budget_policy_id"), json!({}));
        assert_eq!(sent(&s, "absent"), json!({}));
        assert_eq!(sent(&s, "x"), json!({"x": 5}));
    }

    #[test]
    fn the_state_is_the_create_request_without_the_uuid() {
        let s = json!({"name": "vs", "endpoint_type": "STANDARD", "endpoint_uuid": "u"});
        let m = to_state(s.as_object().unwrap());
        assert_eq!(
            Value::Object(m),
            json!({"name": "vs", "endpoint_type": "STANDARD"})
        );
    }
}
