//! Resources of the bundle (jobs, experiments, registered models, pipelines,
//! ...) against the resource state: what to create, update, delete, and the
//! new state. Locally nothing is called: a resource "exists" by its entry in
//! `terraform.tfstate`, with a stable id, so that tools reading the state
//! (and a later remote backend) see what the CLI would record.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::state::{TfInstance, TfResource, TfState};
use super::tfshape::without_defaults;
use crate::config::{Bundle, kinds};

pub(super) const PROVIDER: &str = "provider[\"registry.terraform.io/databricks/databricks\"]";

/// The Terraform resource type of a bundle resource kind (from the registry;
/// a kind it does not know keeps a type of its own so it can be named).
pub fn tf_type(kind: &str) -> String {
    match kinds::get(kind) {
        Some(k) => k.tf_type.to_string(),
        None => format!("databricks_{kind}"),
    }
}

pub(super) fn kind_of(tf_type: &str) -> String {
    match kinds::by_tf_type(tf_type) {
        Some(k) => k.key.to_string(),
        None => tf_type.trim_start_matches("databricks_").to_string(),
    }
}

/// What a deploy does to one resource (shown as `create`, `update`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Delete,
    Unchanged,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "unchanged",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so `{:<9}` aligns the plan's columns.
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// `jobs`, `experiments`, ...
    pub kind: String,
    pub key: String,
    pub action: Action,
    /// Known for existing resources; for new ones only once deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The fields changed in the workspace out of band (remote backend;
    /// see `remote_drift`), which the deploy puts back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
}

#[derive(Clone)]
pub struct ResourcePlan {
    /// Sorted by kind, key.
    pub changes: Vec<ResourceChange>,
    /// The resource list of the next state (new ids filled in when `assign_ids`).
    pub resources: Vec<TfResource>,
}

impl ResourcePlan {
    pub fn changed(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    /// `{kind: {key: {id, relative_path}}}` for metadata.json.
    pub fn metadata_ids(&self, bundle: &Bundle) -> Map<String, Value> {
        let mut out = Map::new();
        for r in &self.resources {
            let kind = kind_of(&r.kind);
            let rel = bundle
                .resource_files
                .get(&format!("{kind}.{}", r.name))
                .cloned()
                .unwrap_or_default();
            let entry = json!({"id": r.id().unwrap_or_default(), "relative_path": rel});
            out.entry(kind).or_insert_with(|| Value::Object(Map::new()))[&r.name] = entry;
        }
        out
    }
}

/// Compare the bundle's resources with the state. With `assign_ids`, new
/// resources get fresh ids (deploy); without, they stay unnamed (plan).
pub fn plan(bundle: &Bundle, prev: Option<&TfState>, assign_ids: bool) -> ResourcePlan {
    let prev_resources: &[TfResource] = prev.map_or(&[], |s| &s.resources);
    let mut changes = Vec::new();
    let mut resources = Vec::new();
    // Only kinds this tool deploys: the others are refused (remote) or left
    // out (local) by `kinds::check_deployable`, never recorded with an id
    // nobody gave them.
    let deployed = kinds::KINDS.iter().filter(|k| k.deployed);
    for kind in deployed.map(|k| k.key.to_string()) {
        let ty = tf_type(&kind);
        // Sent as resolved: the configuration already carries what the CLI
        // adds to every job (deployment, edit_mode, format, queue; see
        // `config::defaults`), so nothing is added here.
        for (key, settings) in bundle.resources(&kind) {
            let settings = prepared(bundle, &kind, key, settings);
            let old = prev_resources
                .iter()
                .find(|r| r.kind == ty && r.name == key && r.id().is_some());
            let (resource, change) = plan_one(&kind, key, settings, old, assign_ids);
            resources.push(resource);
            changes.push(change);
        }
    }
    for old in prev_resources {
        let kind = kind_of(&old.kind);
        let kept = kinds::get(&kind).is_some_and(|k| k.deployed);
        if !kept || bundle.resources(&kind).all(|(k, _)| k != old.name) {
            changes.push(ResourceChange {
                kind,
                key: old.name.clone(),
                action: Action::Delete,
                id: old.id().map(str::to_string),
                drift: Vec::new(),
            });
        }
    }
    changes.sort_by(|a, b| (&a.kind, &a.key).cmp(&(&b.kind, &b.key)));
    resources.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    ResourcePlan { changes, resources }
}

/// One resource of the bundle against what the state recorded for it
/// (`old`): its new state entry and the change that gets there.
fn plan_one(
    kind: &str,
    key: &str,
    settings: Value,
    old: Option<&TfResource>,
    assign_ids: bool,
) -> (TfResource, ResourceChange) {
    // What the workspace gave (an etag) is kept, and is no change.
    let observed = super::remote_custom::observed(kind);
    let recorded = old.and_then(|o| o.instances.first());
    let kept: Map<String, Value> = recorded
        .map(|i| i.attributes.iter())
        .into_iter()
        .flatten()
        .filter(|(k, _)| observed.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (action, id) = match old {
        Some(old) => {
            let same = recorded.is_some_and(|i| {
                let mut a = i.attributes.clone();
                a.remove("id");
                a.retain(|k, _| !observed.contains(&k.as_str()));
                without_defaults(&Value::Object(a)) == without_defaults(&settings)
            });
            let action = if same {
                Action::Unchanged
            } else {
                Action::Update
            };
            (action, old.id().map(str::to_string))
        }
        None => (Action::Create, assign_ids.then(|| new_id(kind, &settings))),
    };
    let mut attributes = settings.as_object().cloned().unwrap_or_default();
    attributes.extend(kept);
    attributes.insert("id".into(), json!(id.clone().unwrap_or_default()));
    let resource = TfResource {
        mode: "managed".into(),
        kind: tf_type(kind),
        name: key.to_string(),
        provider: PROVIDER.into(),
        instances: vec![TfInstance {
            schema_version: 0,
            attributes,
            sensitive_attributes: Vec::new(),
            // Until the deploy resolves them again: what they were.
            resolved_references: recorded
                .map(|i| i.resolved_references.clone())
                .unwrap_or_default(),
        }],
    };
    let change = ResourceChange {
        kind: kind.to_string(),
        key: key.to_string(),
        action,
        id,
        drift: Vec::new(),
    };
    (resource, change)
}

/// The settings of resource `kind.key` completed from the bundle's files,
/// for kinds that read them (see `remote_custom::Custom::prepare`).
fn prepared(bundle: &Bundle, kind: &str, key: &str, settings: &Value) -> Value {
    let mut s = settings.clone();
    let prepare = super::remote_custom::get(kind).and_then(|c| c.prepare);
    if let (Some(prepare), Some(m)) = (prepare, s.as_object_mut()) {
        let yml = bundle.resource_files.get(&format!("{kind}.{key}"));
        prepare(&bundle.root, yml.map(String::as_str), m);
    }
    s
}

/// The id a local env records for a new resource, shaped like the
/// workspace's (see `kinds::Ids`): a number for jobs and experiments, the
/// (full) name for models. The remote backend replaces it with the id the
/// workspace gives.
fn new_id(kind: &str, settings: &Value) -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    let name = settings["name"].as_str().unwrap_or_default();
    match kinds::get(kind).map(|k| k.ids) {
        Some(kinds::Ids::Name) => name.to_string(),
        Some(kinds::Ids::FullName) if kinds::is_uc_model(settings) => format!(
            "{}.{}.{name}",
            settings["catalog_name"].as_str().unwrap_or_default(),
            settings["schema_name"].as_str().unwrap_or_default()
        ),
        Some(kinds::Ids::FullName) => name.to_string(),
        _ => format!("{}", 100_000_000_000_000 + (n % 900_000_000_000_000) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn bundle(resources: Value) -> Bundle {
        Bundle {
            root: "/b".into(),
            name: "b".into(),
            target: "dev".into(),
            mode: None,
            config: json!({ "resources": resources }),
            resource_files: BTreeMap::new(),
            source: Default::default(),
        }
    }

    #[test]
    fn ids_are_stable_and_changes_classified() {
        let b1 = bundle(
            json!({"jobs": {"a": {"name": "A"}, "b": {"name": "B"}}, "experiments": {"e": {"name": "/e"}}}),
        );
        let p1 = plan(&b1, None, true);
        assert!(
            p1.changes
                .iter()
                .all(|c| c.action == Action::Create && c.id.is_some())
        );
        let state = TfState {
            version: 4,
            terraform_version: "1.5.5".into(),
            serial: 1,
            lineage: "l".into(),
            outputs: Map::new(),
            resources: p1.resources.clone(),
            other: Map::new(),
        };
        let b2 = bundle(
            json!({"jobs": {"a": {"name": "A2"}, "c": {"name": "C"}}, "experiments": {"e": {"name": "/e"}}}),
        );
        let p2 = plan(&b2, Some(&state), false);
        let action = |k: &str| {
            p2.changes
                .iter()
                .find(|c| c.key == k)
                .map(|c| c.action.as_str())
        };
        assert_eq!(action("a"), Some("update"));
        assert_eq!(action("b"), Some("delete"));
        assert_eq!(action("c"), Some("create"));
        assert_eq!(action("e"), Some("unchanged"));
        let id = |p: &ResourcePlan, k: &str| {
            p.changes
                .iter()
                .find(|c| c.key == k)
                .and_then(|c| c.id.clone())
        };
        assert_eq!(id(&p1, "a"), id(&p2, "a"));
        assert_eq!(id(&p2, "c"), None);
        assert!(!p2.resources.iter().any(|r| r.name == "b"));
    }
}
