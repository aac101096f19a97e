//! Models of the workspace MLflow registry (`resources.models`), as the
//! CLI's direct engine deploys them (`dresources/model.go`): created with
//! their name, description and tags; an update sends the description only,
//! as the CLI's; the name is the id, so a new name is another model. The
//! permissions API wants the model's numeric id, which the workspace gives:
//! read back after each create or update and kept in the state.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::resources::Action;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

pub(super) const KIND: Custom = Custom {
    kind: "models",
    prepare: None,
    apply,
    permissions: None,
    observed: &[MODEL_ID],
    observe: Some(observe),
    to_state,
    from_state: Map::clone,
    access_state: None,
    permission_id: Some(MODEL_ID),
};

/// Where the state keeps the numeric id, as the CLI's remote state names it.
const MODEL_ID: &str = "model_id";

const API: &str = "/api/2.0/mlflow";

/// The create request: the settings without what the workspace gave.
fn to_state(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut m = settings.clone();
    m.remove(MODEL_ID);
    m
}

fn read_path(name: &str) -> String {
    format!(
        "{API}/databricks/registered-models/get?name={}",
        escape(name)
    )
}

fn read(client: &Client, name: &str) -> Result<Option<Value>> {
    client.rest("GET", &read_path(name), None)
}

fn delete(client: &Client, name: &str) -> Result<()> {
    let path = format!("{API}/registered-models/delete?name={}", escape(name));
    client.rest("DELETE", &path, None).map(drop)
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
            delete(client, &id)?;
        }
        return Ok(None);
    }
    let body = Value::Object(to_state(settings.as_object().unwrap_or(&Map::new())));
    let name = body["name"]
        .as_str()
        .context("a model needs a name")?
        .to_string();
    let path = read_path(old.as_deref().unwrap_or_default());
    let existing = super::remote_custom::still_there(client, old, &path)?;
    match existing {
        Some(id) if id == name => {
            if action == Action::Update {
                let update = json!({ "name": id, "description": body["description"] });
                let path = format!("{API}/registered-models/update");
                client.rest("PATCH", &path, Some(&update))?;
            }
            return Ok(Some(id));
        }
        Some(id) => delete(client, &id)?,
        None => {}
    }
    let path = format!("{API}/registered-models/create");
    client.rest("POST", &path, Some(&body))?;
    Ok(Some(name))
}

/// The model's numeric id, under which its permissions are kept.
fn observe(client: &Client, id: &str) -> Result<Map<String, Value>> {
    let answer = read(client, id)?.with_context(|| format!("model {id}: not found"))?;
    let model_id = answer["registered_model_databricks"]["id"]
        .as_str()
        .with_context(|| format!("model {id}: no id in the answer"))?;
    Ok(Map::from_iter([(MODEL_ID.to_string(), json!(model_id))]))
}
