//! Databricks Apps, as the CLI's direct engine deploys them
//! (`dresources/app.go`) when `lifecycle` is not set: created without
//! compute (`no_compute=true`), updated through an asynchronous update of
//! the app's own fields (waited for), re-created under another name,
//! deleted. The deploy-only fields (`source_code_path`, `config`,
//! `git_source`) are recorded, not sent, as the CLI records them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::resources::Action;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

pub(super) const KIND: Custom = Custom {
    kind: "apps",
    prepare: None,
    apply,
    permissions: None,
    observed: &[],
    observe: None,
    to_state: Map::clone,
    from_state: Map::clone,
    access_state: None,
    permission_id: None,
};

const BASE: &str = "/api/2.0/apps";

/// Fields set through app deployments, not the app API.
const DEPLOY_ONLY: [&str; 4] = ["source_code_path", "config", "git_source", "lifecycle"];

/// The fields an update replaces (the CLI's `UpdateMaskFields`).
const UPDATE_MASK: &str = "description,budget_policy_id,usage_policy_id,resources,user_api_scopes,\
                           compute_size,git_repository,telemetry_export_destinations";

fn app_fields(settings: &Value) -> Value {
    let mut m = settings.as_object().cloned().unwrap_or_default();
    for k in DEPLOY_ONLY {
        m.remove(k);
    }
    Value::Object(m)
}

fn apply(
    client: &Client,
    action: Action,
    old: Option<String>,
    settings: &Value,
    before: Option<&Value>,
) -> Result<Option<String>> {
    let at = |name: &str| format!("{BASE}/{}", escape(name));
    if action == Action::Delete {
        if let Some(id) = old {
            client.rest("DELETE", &at(&id), None)?;
        }
        return Ok(None);
    }
    let app = app_fields(settings);
    let name = app["name"]
        .as_str()
        .context("an app needs a name")?
        .to_string();
    let path = at(old.as_deref().unwrap_or_default());
    let existing = super::remote_custom::still_there(client, old, &path)?;
    match existing {
        // The name is the id: another name is another app.
        Some(id) if id != name => client.rest("DELETE", &at(&id), None).map(drop)?,
        Some(id) => {
            let changed = before.is_none_or(|b| app_fields(b) != app);
            if action == Action::Update && changed {
                update(client, &id, &app)?;
            }
            return Ok(Some(id));
        }
        None => {}
    }
    client
        .rest("POST", &format!("{BASE}?no_compute=true"), Some(&app))?
        .with_context(|| format!("{BASE}: not found"))?;
    Ok(Some(name))
}

/// The app's own fields replaced, then the update waited for.
fn update(client: &Client, name: &str, app: &Value) -> Result<()> {
    let path = format!("{BASE}/{}/update", escape(name));
    let body = json!({ "app": app, "update_mask": UPDATE_MASK });
    let mut answer = client.rest("POST", &path, Some(&body))?;
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    loop {
        let status = answer
            .as_ref()
            .map(|a| a["status"].clone())
            .unwrap_or_default();
        match status["state"].as_str() {
            Some("SUCCEEDED") => return Ok(()),
            Some("FAILED") | Some("CANCELED") => {
                bail!(
                    "app {name}: update {}: {}",
                    status["state"],
                    status["message"]
                )
            }
            _ if Instant::now() > deadline => bail!("app {name}: update not done after 20 minutes"),
            _ => std::thread::sleep(poll()),
        }
        answer = client.rest("GET", &path, None)?;
    }
}

/// Between polls of an update (`XTASK_POLL_MS` overrides, for tests).
fn poll() -> Duration {
    let ms = std::env::var("XTASK_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(2000))
}
