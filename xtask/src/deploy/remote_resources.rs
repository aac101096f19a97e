//! Resources on the remote backend: the planned creates, updates and deletes
//! carried out through the REST API (jobs 2.2, MLflow), with the ids the
//! workspace gives kept in `terraform.tfstate`, so that a redeploy resets
//! the same job instead of creating another, as the CLI's Terraform does.
//!
//! Locally a resource exists only as its state entry (`resources.rs`); the
//! plan is the same, only the ids of created resources change here.

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::resources::{ResourcePlan, tf_type};
use crate::workspace::remote::client::Client;

/// Keys of a bundle resource that are not part of the API's settings.
const BUNDLE_ONLY: [&str; 2] = ["permissions", "id"];

/// Carry out `plan` in the workspace; fills in real ids. Returns warnings
/// for kinds this backend does not deploy.
pub fn apply(client: &Client, plan: &mut ResourcePlan) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for i in 0..plan.changes.len() {
        let change = plan.changes[i].clone();
        let what = format!("{}.{}", change.kind, change.key);
        let ty = tf_type(&change.kind);
        let slot = plan
            .resources
            .iter()
            .position(|r| r.kind == ty && r.name == change.key);
        let settings = slot
            .and_then(|s| plan.resources[s].instances.first())
            .map(|inst| {
                let mut a = inst.attributes.clone();
                for k in BUNDLE_ONLY {
                    a.remove(k);
                }
                Value::Object(a)
            })
            .unwrap_or(Value::Null);
        // A planned create carries a locally made-up id: the workspace gives the real one.
        let old_id = change
            .id
            .clone()
            .filter(|id| !id.is_empty() && change.action != "create");
        let id = match change.kind.as_str() {
            "jobs" => job(client, &change.action, old_id, &settings),
            "experiments" => experiment(client, &change.action, old_id, &settings),
            "registered_models" => model(client, &change.action, old_id, &settings),
            _ => {
                if change.action != "unchanged" {
                    warnings.push(format!(
                        "{what}: {} is not carried out by the remote backend (jobs, experiments \
                         and registered models are); it is recorded in the state only",
                        change.action
                    ));
                }
                Ok(old_id)
            }
        }
        .with_context(|| format!("{} of {what}", change.action))?;
        plan.changes[i].id = id.clone();
        if let (Some(s), Some(id)) = (slot, id)
            && let Some(inst) = plan.resources[s].instances.first_mut()
        {
            inst.attributes.insert("id".into(), json!(id));
        }
    }
    Ok(warnings)
}

fn parse_job_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

fn job(
    client: &Client,
    action: &str,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let existing = id.as_deref().and_then(parse_job_id);
    match (action, existing) {
        ("delete", Some(n)) => {
            client.job_delete(n)?;
            Ok(None)
        }
        ("delete", None) => Ok(None),
        // Recorded, but deleted out of band (or never really created): create it again.
        (_, Some(n)) if client.job_get(n)?.is_some() => {
            if action == "update" {
                client.job_reset(n, settings)?;
            }
            Ok(Some(n.to_string()))
        }
        _ => Ok(Some(client.job_create(settings)?.to_string())),
    }
}

fn experiment(
    client: &Client,
    action: &str,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let name = settings["name"].as_str().unwrap_or_default();
    match (action, id) {
        ("delete", Some(id)) => {
            client.experiment_delete(&id)?;
            Ok(None)
        }
        ("delete", None) => Ok(None),
        (_, Some(id)) if client.experiment_get(&id)?.is_some() => {
            if action == "update" {
                client.experiment_update(&id, name)?;
            }
            Ok(Some(id))
        }
        _ => Ok(Some(client.experiment_create(name)?)),
    }
}

fn model(
    client: &Client,
    action: &str,
    id: Option<String>,
    settings: &Value,
) -> Result<Option<String>> {
    let name = settings["name"].as_str().unwrap_or_default();
    let description = settings["description"].as_str();
    match (action, id) {
        ("delete", Some(id)) => {
            client.model_delete(&id)?;
            Ok(None)
        }
        ("delete", None) => Ok(None),
        // A model's id is its name: a renamed model is another model.
        (_, Some(id)) if id == name && client.model_get(&id)?.is_some() => {
            if action == "update" {
                client.model_update(&id, description.unwrap_or_default())?;
            }
            Ok(Some(id))
        }
        (_, old) => {
            if let Some(old) = old.filter(|o| o != name) {
                client.model_delete(&old)?;
            }
            if client.model_get(name)?.is_none() {
                client.model_create(name, description)?;
            }
            Ok(Some(name.to_string()))
        }
    }
}
