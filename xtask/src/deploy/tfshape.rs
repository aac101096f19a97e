//! `terraform.tfstate` in the shape the Databricks CLI's Terraform engine
//! writes it, converted at the file's boundary: the deploy keeps each
//! resource's settings in the bundle's shape ([`TfState`] in memory), the
//! file holds what Terraform records for the same settings.
//!
//! What Terraform records (the CLI's `bundle/deploy/terraform/tfdyn` and
//! its recorded acceptance states): a struct field as a list of one
//! element, a map as a map, some keys renamed (`tasks` → `task`, ...), and
//! `permissions` / `grants` as resources of their own
//! (`databricks_permissions.job_<key>`, `databricks_grants.schema_<key>`).
//!
//! Reading is the inverse, and tolerant of the CLI's own file (attributes
//! the bundle does not know, at their null/[]/false defaults, are left
//! out) and of our older files in the bundle's shape (a struct held as an
//! object, `permissions` embedded, `tasks`: taken as they are).

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use super::resources::{PROVIDER, kind_of};
use super::state::{TfInstance, TfResource, TfState};
use crate::config::kinds;
use crate::config::schema::{self, Shape};

const PERMISSIONS: &str = "databricks_permissions";
const GRANTS: &str = "databricks_grants";

/// The file's bytes for the state `tf` (in the bundle's shape).
pub fn encode(tf: &TfState) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(&to_file(tf)).context("serialising terraform.tfstate")
}

/// The state a file holds, in the bundle's shape.
pub fn decode(bytes: &[u8]) -> serde_json::Result<TfState> {
    serde_json::from_slice(bytes).map(from_file)
}

/// `tf` as the Terraform engine records it.
pub fn to_file(tf: &TfState) -> TfState {
    let mut resources = Vec::new();
    for r in &tf.resources {
        let kind = kind_of(&r.kind);
        let Some(inst) = r.instances.first() else {
            resources.push(r.clone());
            continue;
        };
        let id = r.id().unwrap_or_default();
        let mut attrs = inst.attributes.clone();
        if let Some(naming) = permissions_naming(&kind)
            && let Some(p) = attrs.remove("permissions")
        {
            resources.push(permissions_resource(&kind, naming, &r.name, id, &p));
        }
        if let Some(naming) = grants_naming(&kind)
            && let Some(g) = attrs.remove("grants")
        {
            resources.push(grants_resource(naming, &r.name, id, &g));
        }
        let ty = schema::resource_type(&kind);
        let attributes = object_to_tf(&kind, ty, "", &attrs);
        let mut out = resource(&r.kind, &r.name, attributes);
        out.instances[0].resolved_references = inst.resolved_references.clone();
        resources.push(out);
    }
    resources.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    TfState {
        resources,
        ..tf.clone()
    }
}

/// A file's state (either shape) in the bundle's shape.
pub fn from_file(mut tf: TfState) -> TfState {
    let (access, owners): (Vec<_>, Vec<_>) = std::mem::take(&mut tf.resources)
        .into_iter()
        .partition(|r| r.kind == PERMISSIONS || r.kind == GRANTS);
    let mut resources: Vec<TfResource> = owners.into_iter().map(resource_from_tf).collect();
    for a in &access {
        fold_access(&mut resources, a);
    }
    tf.resources = resources;
    tf
}

fn resource(ty: &str, name: &str, attributes: Map<String, Value>) -> TfResource {
    TfResource {
        mode: "managed".into(),
        kind: ty.to_string(),
        name: name.to_string(),
        provider: PROVIDER.into(),
        instances: vec![TfInstance {
            schema_version: schema_version(ty),
            attributes,
            sensitive_attributes: Vec::new(),
            resolved_references: Map::new(),
        }],
    }
}

/// The provider's schema version of a resource type, as the recorded
/// states show it (the job's resource is at version 2, the others at 0).
fn schema_version(ty: &str) -> u32 {
    match ty {
        "databricks_job" => 2,
        _ => 0,
    }
}

fn resource_from_tf(mut r: TfResource) -> TfResource {
    let kind = kind_of(&r.kind);
    let ty = schema::resource_type(&kind);
    for inst in &mut r.instances {
        inst.attributes = object_from_tf(&kind, ty, "", &inst.attributes);
        inst.schema_version = 0;
    }
    r
}

/// The keys tfdyn renames for Terraform, by the bundle's path of the key
/// (keys joined by `.`, lists left out).
fn renames(kind: &str) -> &'static [(&'static str, &'static str)] {
    match kind {
        "jobs" => &[
            ("tasks", "task"),
            ("job_clusters", "job_cluster"),
            ("parameters", "parameter"),
            ("environments", "environment"),
            ("git_source.git_branch", "branch"),
            ("git_source.git_commit", "commit"),
            ("git_source.git_provider", "provider"),
            ("git_source.git_tag", "tag"),
            ("git_source.git_url", "url"),
            ("tasks.libraries", "library"),
            ("tasks.for_each_task.task.libraries", "library"),
        ],
        "pipelines" => &[
            ("libraries", "library"),
            ("clusters", "cluster"),
            ("notifications", "notification"),
        ],
        _ => &[],
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The Terraform key of the bundle's key at `path`.
fn tf_key<'a>(kind: &str, path: &str, key: &'a str) -> &'a str {
    let full = join(path, key);
    renames(kind)
        .iter()
        .find(|(from, _)| *from == full)
        .map_or(key, |(_, to)| to)
}

/// The bundle's key of a Terraform key under `path`.
fn bundle_key(kind: &str, path: &str, key: &str) -> String {
    renames(kind)
        .iter()
        .find(|(from, to)| *to == key && from.rsplit_once('.').map_or("", |(p, _)| p) == path)
        .map_or(key.to_string(), |(from, _)| {
            from.rsplit('.').next().unwrap_or(key).to_string()
        })
}

/// A struct the bundle's schema does not type: `deployment`, which the
/// CLI adds to jobs and pipelines.
const UNTYPED_STRUCT: usize = usize::MAX;

/// The type of field `key` of the struct of type `ty` at `path`.
fn field_type(ty: Option<usize>, path: &str, key: &str) -> Option<usize> {
    let typed = ty.and_then(|t| schema::field(t, key));
    let added = path.is_empty() && key == "deployment";
    typed.or(added.then_some(UNTYPED_STRUCT))
}

fn shape_of(ty: Option<usize>) -> Option<Shape> {
    match ty {
        Some(UNTYPED_STRUCT) => Some(Shape::Struct(UNTYPED_STRUCT)),
        other => other.map(schema::shape),
    }
}

fn struct_type(ty: Option<usize>) -> Option<usize> {
    match shape_of(ty) {
        Some(Shape::Struct(t)) => Some(t),
        _ => None,
    }
}

fn object_to_tf(
    kind: &str,
    ty: Option<usize>,
    path: &str,
    m: &Map<String, Value>,
) -> Map<String, Value> {
    m.iter()
        .map(|(k, v)| {
            let fty = field_type(ty, path, k);
            let value = field_to_tf(kind, fty, &join(path, k), v);
            (tf_key(kind, path, k).to_string(), value)
        })
        .collect()
}

/// A struct as a list of one element; the structs of a list as objects.
fn field_to_tf(kind: &str, fty: Option<usize>, path: &str, v: &Value) -> Value {
    match (shape_of(fty), v) {
        (Some(Shape::Struct(t)), Value::Object(m)) => {
            json!([Value::Object(object_to_tf(kind, Some(t), path, m))])
        }
        (Some(Shape::List(e)), Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(m) => {
                    Value::Object(object_to_tf(kind, struct_type(Some(e)), path, m))
                }
                other => other.clone(),
            })
            .collect(),
        _ => v.clone(),
    }
}

fn object_from_tf(
    kind: &str,
    ty: Option<usize>,
    path: &str,
    m: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        let key = bundle_key(kind, path, k);
        let fty = field_type(ty, path, &key);
        if let Some(v) = field_from_tf(kind, fty, &join(path, &key), v) {
            out.insert(key, v);
        }
    }
    out
}

/// The inverse of [`field_to_tf`]; `None` for what the bundle would not
/// hold: a null, an absent struct (`[]`), a field it does not know at its
/// default.
fn field_from_tf(kind: &str, fty: Option<usize>, path: &str, v: &Value) -> Option<Value> {
    match (shape_of(fty), v) {
        (_, Value::Null) => None,
        (Some(Shape::Struct(t)), Value::Array(items)) => match items.as_slice() {
            [] => None,
            [Value::Object(m)] => Some(Value::Object(object_from_tf(kind, Some(t), path, m))),
            _ => Some(v.clone()),
        },
        (Some(Shape::Struct(t)), Value::Object(m)) => {
            Some(Value::Object(object_from_tf(kind, Some(t), path, m)))
        }
        (Some(Shape::List(e)), Value::Array(items)) => Some(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(m) => {
                        Value::Object(object_from_tf(kind, struct_type(Some(e)), path, m))
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        (None, v) if is_default(v) => None,
        _ => Some(v.clone()),
    }
}

/// A value recorded for what was never set (Go's zero value): what Terraform
/// records, and what a drift check takes for "unset" on either side.
pub(super) fn is_default(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
    }
}

/// `v` without the fields at a default value, at every depth: what a plan
/// compares, so a field Terraform records at its default (`max_retries:
/// 0`, `no_alert_for_skipped_runs: false`) is the bundle leaving it unset.
pub(super) fn without_defaults(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), without_defaults(v)))
                .filter(|(_, v)| !is_default(v))
                .collect(),
        ),
        Value::Array(items) => items.iter().map(without_defaults).collect(),
        other => other.clone(),
    }
}

/// tfdyn's name prefix of a kind's `databricks_permissions` resource and
/// the attribute naming the object. `None` for a kind whose permissions
/// the Terraform engine keeps otherwise (secret scopes: ACL resources) or
/// does not deploy: those stay in the resource's attributes, where the
/// CLI's reading of the file (`id` and `name` only) passes them by.
fn permissions_naming(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "jobs" => ("job", "job_id"),
        "pipelines" => ("pipeline", "pipeline_id"),
        "experiments" => ("mlflow_experiment", "experiment_id"),
        "models" => ("mlflow_model", "registered_model_id"),
        "model_serving_endpoints" => ("model_serving", "serving_endpoint_id"),
        "clusters" => ("cluster", "cluster_id"),
        "dashboards" => ("dashboard", "dashboard_id"),
        "sql_warehouses" => ("sql_endpoint", "sql_endpoint_id"),
        "apps" => ("app", "app_name"),
        "alerts" => ("alert", "alert_v2_id"),
        "database_instances" => ("database_instance", "database_instance_name"),
        _ => return None,
    })
}

/// tfdyn's name prefix of a kind's `databricks_grants` resource and its
/// securable attribute (Unity Catalog models are `function`s); `None` as
/// for [`permissions_naming`].
fn grants_naming(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "registered_models" => ("registered_model", "function"),
        "schemas" => ("schema", "schema"),
        "volumes" => ("volume", "volume"),
        _ => return None,
    })
}

fn permissions_resource(
    kind: &str,
    (prefix, attr): (&str, &str),
    key: &str,
    id: &str,
    wanted: &Value,
) -> TfResource {
    let access_control: Vec<Value> = wanted
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut e = p.as_object().cloned().unwrap_or_default();
            if let Some(level) = e.remove("level") {
                e.insert("permission_level".into(), level);
            }
            Value::Object(e)
        })
        .collect();
    let object = kinds::get(kind).and_then(|k| k.permissions).unwrap_or(kind);
    let mut attributes = Map::new();
    attributes.insert("access_control".into(), Value::Array(access_control));
    attributes.insert("id".into(), json!(format!("/{object}/{id}")));
    attributes.insert(attr.into(), json!(id));
    resource(PERMISSIONS, &format!("{prefix}_{key}"), attributes)
}

fn grants_resource(
    (prefix, attr): (&str, &str),
    key: &str,
    id: &str,
    wanted: &Value,
) -> TfResource {
    let mut attributes = Map::new();
    attributes.insert("grant".into(), wanted.clone());
    attributes.insert("id".into(), json!(format!("{attr}/{id}")));
    attributes.insert(attr.into(), json!(id));
    resource(GRANTS, &format!("{prefix}_{key}"), attributes)
}

/// Puts a `databricks_permissions` / `databricks_grants` resource back into
/// the resource it is about, as its `permissions` / `grants`. One whose
/// resource is not in the state is left out (its object is gone).
fn fold_access(resources: &mut [TfResource], access: &TfResource) {
    let Some(attrs) = access.instances.first().map(|i| &i.attributes) else {
        return;
    };
    let owner = resources.iter_mut().find(|r| {
        let kind = kind_of(&r.kind);
        let naming = if access.kind == PERMISSIONS {
            permissions_naming(&kind)
        } else {
            grants_naming(&kind)
        };
        naming.is_some_and(|(prefix, _)| access.name == format!("{prefix}_{}", r.name))
    });
    let Some(inst) = owner.and_then(|o| o.instances.first_mut()) else {
        return;
    };
    if access.kind == PERMISSIONS {
        let list = attrs.get("access_control").and_then(Value::as_array);
        let wanted: Vec<Value> = list.into_iter().flatten().map(permission).collect();
        inst.attributes
            .insert("permissions".into(), Value::Array(wanted));
    } else {
        let list = attrs.get("grant").and_then(Value::as_array);
        let wanted: Vec<Value> = list.into_iter().flatten().map(grant).collect();
        inst.attributes
            .insert("grants".into(), Value::Array(wanted));
    }
}

/// One `access_control` entry as the bundle's `permissions` entry.
fn permission(e: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in e.as_object().into_iter().flatten() {
        let key = if k == "permission_level" { "level" } else { k };
        if !is_default(v) {
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

fn grant(e: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in e.as_object().into_iter().flatten() {
        if !v.is_null() {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
#[path = "tfshape_tests.rs"]
mod tests;
