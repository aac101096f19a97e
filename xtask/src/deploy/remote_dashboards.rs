//! AI/BI (Lakeview) dashboards, as the CLI's direct engine deploys them
//! (`dresources/dashboard.go`): the `file_path` read into
//! `serialized_dashboard` (as its `ConfigureDashboardSerializedDashboard`),
//! created (its parent folder made when the API answers 404) or updated,
//! then published; deleted by trashing; read back for drift with its
//! published version.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::remote_drift_kinds::pick;
use super::resources::{Action, tf_type};
use super::state::TfResource;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

pub(super) const KIND: Custom = Custom {
    kind: "dashboards",
    prepare: Some(prepare),
    apply,
    // The permissions API, as for most kinds.
    permissions: None,
    // The CLI refuses to deploy over a dashboard whose etag is not the
    // one it recorded ("modified remotely").
    observed: &["etag"],
    observe: Some(observe),
    to_state,
    from_state,
    access_state: None,
    permission_id: None,
};

const BASE: &str = "/api/2.0/lakeview/dashboards";

/// The fields of the create and update bodies.
const BODY: [&str; 4] = [
    "display_name",
    "parent_path",
    "serialized_dashboard",
    "warehouse_id",
];

/// `serialized_dashboard` from `file_path` (relative to the bundle root, as
/// the configuration rebases it, or else to the file that declares the
/// dashboard, `yml`); left out when unreadable, which `apply` reports.
fn prepare(root: &Path, yml: Option<&str>, settings: &mut Map<String, Value>) {
    let Some(rel) = settings.get("file_path").and_then(Value::as_str) else {
        return;
    };
    let dir = yml
        .and_then(|y| Path::new(y).parent())
        .unwrap_or(Path::new(""));
    let found = [root.join(rel), root.join(dir).join(rel)]
        .into_iter()
        .find_map(|p| std::fs::read_to_string(p).ok());
    if let Some(text) = found {
        settings.insert("serialized_dashboard".into(), json!(text));
    }
}

fn body(settings: &Value) -> Result<Value> {
    if let Some(file) = settings.get("file_path").and_then(Value::as_str)
        && settings.get("serialized_dashboard").is_none()
    {
        bail!("file_path {file}: cannot be read");
    }
    let mut out = Map::new();
    for f in BODY {
        let Some(v) = settings.get(f) else { continue };
        // A dashboard written as YAML goes as its JSON text.
        let v = match (f, v) {
            ("serialized_dashboard", Value::Object(_) | Value::Array(_)) => json!(v.to_string()),
            _ => v.clone(),
        };
        out.insert(f.into(), v);
    }
    Ok(Value::Object(out))
}

fn apply(
    client: &Client,
    action: Action,
    old: Option<String>,
    settings: &Value,
    _before: Option<&Value>,
) -> Result<Option<String>> {
    if action == Action::Delete {
        if let Some(id) = old {
            client.rest("DELETE", &format!("{BASE}/{}", escape(&id)), None)?;
        }
        return Ok(None);
    }
    let body = body(settings)?;
    let existing = match old {
        Some(id) => client
            .rest("GET", &format!("{BASE}/{}", escape(&id)), None)?
            .filter(|d| d["lifecycle_state"] != "TRASHED")
            .map(|_| id),
        None => None,
    };
    let id = match existing {
        Some(id) if action == Action::Update => {
            let path = format!("{BASE}/{}", escape(&id));
            client
                .rest("PATCH", &path, Some(&body))?
                .with_context(|| format!("dashboard {id}: not found"))?;
            id
        }
        Some(id) => return Ok(Some(id)),
        None => create(client, &body)?,
    };
    let publish = json!({
        "embed_credentials": settings.get("embed_credentials").cloned().unwrap_or(json!(false)),
        "warehouse_id": settings.get("warehouse_id").cloned().unwrap_or(Value::Null),
    });
    let path = format!("{BASE}/{}/published", escape(&id));
    client
        .rest("POST", &path, Some(&publish))?
        .with_context(|| format!("publishing dashboard {id}: not found"))?;
    Ok(Some(id))
}

/// The folders dashboards and alerts go in (their `parent_path`, by
/// default `workspace.resource_path`), made before any is deployed, as the
/// CLI's `ResourcePathMkdir` makes that folder on every deploy that has one.
pub(super) fn make_folders(client: &Client, resources: &[TfResource]) -> Result<()> {
    let kinds = [tf_type("dashboards"), tf_type("alerts")];
    let folders: BTreeSet<&str> = resources
        .iter()
        .filter(|r| kinds.contains(&r.kind))
        .filter_map(|r| r.instances.first()?.attributes.get("parent_path")?.as_str())
        .collect();
    for path in folders {
        let body = json!({ "path": path });
        client
            .rest("POST", "/api/2.0/workspace/mkdirs", Some(&body))
            .with_context(|| format!("making the folder {path}"))?;
    }
    Ok(())
}

/// Created; a missing parent folder (the API's 404) made, then created again.
fn create(client: &Client, body: &Value) -> Result<String> {
    let mut answer = client.rest("POST", BASE, Some(body))?;
    if answer.is_none() {
        let mkdirs = json!({ "path": body["parent_path"] });
        client.rest("POST", "/api/2.0/workspace/mkdirs", Some(&mkdirs))?;
        answer = client.rest("POST", BASE, Some(body))?;
    }
    let answer = answer.with_context(|| format!("{BASE}: not found"))?;
    answer["dashboard_id"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("{BASE}: no dashboard_id in the answer"))
}

/// The CLI's state: the settings without `file_path`, published.
fn to_state(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut s = settings.clone();
    s.remove("file_path");
    s.insert("published".into(), json!(true));
    s
}

fn from_state(state: &Map<String, Value>) -> Map<String, Value> {
    let mut s = state.clone();
    s.remove("published");
    s
}

/// A dashboard (not in the trash) with its etag, and what its published
/// version embeds (`embed_credentials`), as the CLI's read.
pub(super) fn read(client: &Client, id: &str) -> Result<Option<Value>> {
    let at = format!("{BASE}/{}", escape(id));
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

/// The dashboard's etag now.
fn observe(client: &Client, id: &str) -> Result<Map<String, Value>> {
    let d = client.rest("GET", &format!("{BASE}/{}", escape(id)), None)?;
    let d = d.with_context(|| format!("dashboard {id}: not found"))?;
    let etag = d.get("etag").cloned().unwrap_or(Value::Null);
    Ok([("etag".to_string(), etag)].into_iter().collect())
}
