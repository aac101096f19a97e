//! Updates of a model serving endpoint, as the CLI's direct engine makes
//! them (`dresources/model_serving_endpoint.go`): one call per part that
//! changed (tags, AI gateway, served config, notifications), since the API
//! has no call that replaces an endpoint's settings.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

const BASE: &str = "/api/2.0/serving-endpoints";

/// Sends the parts of `now` that differ from `before` (all of them when
/// nothing was recorded).
pub(super) fn update(
    client: &Client,
    name: &str,
    now: &Value,
    before: Option<&Value>,
) -> Result<()> {
    let changed = |k: &str| before.is_none_or(|b| b.get(k) != now.get(k));
    let at = |tail: &str| format!("{BASE}/{}/{tail}", escape(name));
    if changed("tags") {
        tags(client, name, now)?;
    }
    if changed("ai_gateway") {
        let body = now.get("ai_gateway").cloned().unwrap_or(json!({}));
        client
            .rest("PUT", &at("ai-gateway"), Some(&body))
            .context("AI gateway")?;
    }
    if changed("config") {
        // The name goes in the path only.
        let body = now.get("config").cloned().unwrap_or(json!({}));
        client
            .rest("PUT", &at("config"), Some(&body))
            .context("served config")?;
    }
    if changed("email_notifications") {
        let body = json!({ "email_notifications": now["email_notifications"] });
        client
            .rest("PATCH", &at("notifications"), Some(&body))
            .context("notifications")?;
    }
    Ok(())
}

/// Tags as the CLI sets them: those the endpoint has read back, against
/// those wanted; added or changed ones sent, others deleted by key.
fn tags(client: &Client, name: &str, now: &Value) -> Result<()> {
    let pairs = |v: &Value| -> BTreeMap<String, Value> {
        let all = v.as_array().into_iter().flatten();
        all.filter_map(|t| Some((t["key"].as_str()?.to_string(), t["value"].clone())))
            .collect()
    };
    let endpoint = client.rest("GET", &format!("{BASE}/{}", escape(name)), None)?;
    let have = pairs(&endpoint.unwrap_or_default()["tags"]);
    let want = pairs(&now["tags"]);
    let add: Vec<Value> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect();
    let delete: Vec<&String> = have.keys().filter(|k| !want.contains_key(*k)).collect();
    // Empty lists left out, as the CLI's SDK leaves them.
    let mut body = serde_json::Map::new();
    if !add.is_empty() {
        body.insert("add_tags".into(), json!(add));
    }
    if !delete.is_empty() {
        body.insert("delete_tags".into(), json!(delete));
    }
    let body = Value::Object(body);
    client
        .rest(
            "PATCH",
            &format!("{BASE}/{}/tags", escape(name)),
            Some(&body),
        )
        .context("tags")?;
    Ok(())
}

/// The endpoint's own id, which its permissions are kept under (not its name).
pub(super) fn endpoint_id(client: &Client, name: &str) -> Result<String> {
    let endpoint = client.rest("GET", &format!("{BASE}/{}", escape(name)), None)?;
    let endpoint = endpoint.with_context(|| format!("serving endpoint {name}: not found"))?;
    endpoint["id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("serving endpoint {name}: no id in the answer"))
}
