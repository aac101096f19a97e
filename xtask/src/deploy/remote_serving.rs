//! Updates of a model serving endpoint, as the CLI's direct engine makes
//! them (`dresources/model_serving_endpoint.go`): one call per part that
//! changed (tags, AI gateway, served config, notifications), since the API
//! has no call that replaces an endpoint's settings; and an endpoint read
//! back for drift in the shape of its settings.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::remote_drift_kinds::pick;
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

/// An endpoint's answer as its create request (`serving.CreateServingEndpoint`).
pub(super) fn read_back(v: Value) -> Value {
    let mut out = pick(
        &v,
        &[
            "ai_gateway",
            "budget_policy_id",
            "description",
            "email_notifications",
            "name",
            "route_optimized",
            "tags",
        ],
    );
    if let Some(config) = v.get("config").filter(|c| c.is_object()) {
        out["config"] = serving_config(config);
    }
    out
}

/// The fields of a served entity's input (`serving.ServedEntityInput`).
const ENTITY: [&str; 15] = [
    "entity_name",
    "entity_version",
    "environment_vars",
    "external_model",
    "instance_profile_arn",
    "max_provisioned_concurrency",
    "max_provisioned_throughput",
    "min_provisioned_concurrency",
    "min_provisioned_throughput",
    "name",
    "provisioned_model_units",
    "scale_to_zero_enabled",
    "workload_size",
    "workload_type",
    "burst_scaling_enabled",
];

fn serving_config(config: &Value) -> Value {
    let mut out = Map::new();
    if let Some(capture) = config.get("auto_capture_config") {
        let fields = [
            "catalog_name",
            "schema_name",
            "table_name_prefix",
            "enabled",
        ];
        out.insert("auto_capture_config".into(), pick(capture, &fields));
    }
    // Served models (the older form) are compared as written, as entities.
    for list in ["served_entities", "served_models"] {
        if let Some(items) = config.get(list).and_then(Value::as_array) {
            let items = items.iter().map(|e| pick(e, &ENTITY)).collect();
            out.insert(list.into(), Value::Array(items));
        }
    }
    if let Some(traffic) = config.get("traffic_config") {
        out.insert("traffic_config".into(), traffic.clone());
    }
    Value::Object(out)
}
