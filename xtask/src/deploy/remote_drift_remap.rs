//! The reads and answers of `remote_drift_kinds` that need more than one
//! GET or another shape: serving endpoints (their config's output shape
//! mapped to the input shape, as the CLI's `configOutputToInput`), secret
//! scopes (listed, with no GET of one) and dashboards (with their published
//! version, as the CLI's `DoRead`).

use anyhow::Result;
use serde_json::{Map, Value};

use super::remote_drift_kinds::pick;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

/// An endpoint's answer as its create request (`serving.CreateServingEndpoint`).
pub(super) fn serving(v: Value) -> Value {
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

/// A scope in the bundle's shape (`name`, `backend_type`,
/// `keyvault_metadata`), found in the list of scopes.
pub(super) fn secret_scope(client: &Client, name: &str) -> Result<Option<Value>> {
    let list = client.rest("GET", "/api/2.0/secrets/scopes/list", None)?;
    let list = list.unwrap_or_default();
    let mut scopes = list["scopes"].as_array().into_iter().flatten();
    let found = scopes.find(|s| s["name"] == name);
    Ok(found.map(|s| pick(s, &["name", "backend_type", "keyvault_metadata"])))
}

const DASHBOARDS: &str = "/api/2.0/lakeview/dashboards";

/// A dashboard (not in the trash) with its etag, and what its published
/// version embeds (`embed_credentials`), as the CLI's read.
pub(super) fn dashboard(client: &Client, id: &str) -> Result<Option<Value>> {
    let at = format!("{DASHBOARDS}/{}", escape(id));
    let got = client.rest("GET", &at, None)?;
    let Some(d) = got.filter(|d| d["lifecycle_state"] != "TRASHED") else {
        return Ok(None);
    };
    let fields = [
        "display_name",
        "etag",
        "parent_path",
        "warehouse_id",
        "serialized_dashboard",
    ];
    let mut out = pick(&d, &fields);
    // The API answers without the `/Workspace` prefix it was given.
    if let Some(parent) = d["parent_path"].as_str()
        && !(parent == "/Workspace" || parent.starts_with("/Workspace/"))
    {
        out["parent_path"] = Value::String(format!("/Workspace{parent}"));
    }
    // Unpublished, it embeds nothing (the CLI reads past that error too).
    let published = client.rest("GET", &format!("{at}/published"), None);
    if let Ok(Some(p)) = published {
        out["embed_credentials"] = p["embed_credentials"].clone();
    }
    Ok(Some(out))
}
