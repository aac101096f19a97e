//! The registry of resource kinds: for each key of `resources:`, how the
//! Databricks CLI names it in its states, which REST API holds it, what its
//! id is, which permission object type it has, how development mode renames
//! it, and whether this tool deploys it yet. Validate, plan, deploy,
//! destroy, status and summary all read this one table, so adding a kind
//! touches one place (plus its REST calls, if it is deployed).

use serde_json::Value;

use crate::config::Bundle;
use crate::diag::Diagnostic;

/// What the workspace uses as a resource's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ids {
    /// A number the workspace assigns (jobs, experiments).
    Number,
    /// The name in the workspace model registry.
    Name,
    /// `catalog.schema.name` in Unity Catalog.
    FullName,
    /// Some other id the workspace assigns.
    Assigned,
}

/// How `presets.name_prefix` (development mode: `[dev <short_name>] `) renames a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Not renamed.
    None,
    /// The prefix as is, before the name (`[dev jane] train`).
    Raw,
    /// The prefix as is, before the last segment of a path (`/Users/x/[dev jane] exp`).
    PathLast,
    /// Made of letters, digits and `_` (`dev_jane_model`): Unity Catalog
    /// and serving names allow nothing else.
    Normalized,
}

/// One kind of resource.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// The key under `resources:`; also the direct engine's state group
    /// (`resources.<key>.<name>` in `resources.json`).
    pub key: &'static str,
    /// The Terraform resource type the CLI's Terraform engine records.
    pub tf_type: &'static str,
    /// The field that holds the name (renamed by the dev prefix).
    pub name_field: &'static str,
    pub prefix: Prefix,
    pub ids: Ids,
    /// The object type of `/api/2.0/permissions/<type>/<id>`, if the kind
    /// takes `permissions:`; `None` for Unity Catalog kinds (grants instead).
    /// Secret scopes take `permissions:` as ACLs of the secrets API
    /// (`secrets/acls`, set by `deploy::remote_secret_scopes`).
    pub permissions: Option<&'static str>,
    /// The REST API the resource lives in.
    pub api: &'static str,
    /// The page of a resource in the workspace UI, `{id}` replaced.
    pub url: &'static str,
    /// Deployed by this tool (created, updated and deleted through `api`).
    pub deployed: bool,
}

// A positional constructor keeps the table one row per kind.
#[allow(clippy::too_many_arguments)]
const fn kind(
    key: &'static str,
    tf_type: &'static str,
    name_field: &'static str,
    prefix: Prefix,
    ids: Ids,
    permissions: Option<&'static str>,
    api: &'static str,
    url: &'static str,
    deployed: bool,
) -> Kind {
    Kind {
        key,
        tf_type,
        name_field,
        prefix,
        ids,
        permissions,
        api,
        url,
        deployed,
    }
}

use Ids::{Assigned, FullName, Name, Number};
use Prefix::{Normalized, PathLast, Raw};

/// Every kind the CLI (v1.13) knows, in the order the CLI lists them.
pub const KINDS: &[Kind] = &[
    kind(
        "jobs",
        "databricks_job",
        "name",
        Raw,
        Number,
        Some("jobs"),
        "/api/2.2/jobs",
        "jobs/{id}",
        true,
    ),
    kind(
        "pipelines",
        "databricks_pipeline",
        "name",
        Raw,
        Assigned,
        Some("pipelines"),
        "/api/2.0/pipelines",
        "pipelines/{id}",
        true,
    ),
    kind(
        "models",
        "databricks_mlflow_model",
        "name",
        Raw,
        Name,
        Some("registered-models"),
        "/api/2.0/mlflow/registered-models",
        "ml/models/{id}",
        true,
    ),
    kind(
        "experiments",
        "databricks_mlflow_experiment",
        "name",
        PathLast,
        Number,
        Some("experiments"),
        "/api/2.0/mlflow/experiments",
        "ml/experiments/{id}",
        true,
    ),
    kind(
        "model_serving_endpoints",
        "databricks_model_serving",
        "name",
        Normalized,
        Name,
        Some("serving-endpoints"),
        "/api/2.0/serving-endpoints",
        "ml/endpoints/{id}",
        true,
    ),
    kind(
        "registered_models",
        "databricks_registered_model",
        "name",
        Normalized,
        FullName,
        None,
        "/api/2.1/unity-catalog/models",
        "explore/data/models/{path}",
        true,
    ),
    kind(
        "quality_monitors",
        "databricks_quality_monitor",
        "table_name",
        Prefix::None,
        FullName,
        None,
        "/api/2.1/unity-catalog/tables",
        "explore/data/{path}",
        true,
    ),
    kind(
        "schemas",
        "databricks_schema",
        "name",
        Normalized,
        FullName,
        None,
        "/api/2.1/unity-catalog/schemas",
        "explore/data/{path}",
        true,
    ),
    kind(
        "volumes",
        "databricks_volume",
        "name",
        Prefix::None,
        FullName,
        None,
        "/api/2.1/unity-catalog/volumes",
        "explore/data/volumes/{path}",
        true,
    ),
    kind(
        "clusters",
        "databricks_cluster",
        "cluster_name",
        Raw,
        Assigned,
        Some("clusters"),
        "/api/2.1/clusters",
        "compute/clusters/{id}",
        true,
    ),
    kind(
        "dashboards",
        "databricks_dashboard",
        "display_name",
        Raw,
        Assigned,
        Some("dashboards"),
        "/api/2.0/lakeview/dashboards",
        "dashboardsv3/{id}/published",
        true,
    ),
    kind(
        "apps",
        "databricks_app",
        "name",
        Prefix::None,
        Name,
        Some("apps"),
        "/api/2.0/apps",
        "apps/{id}",
        true,
    ),
    kind(
        "secret_scopes",
        "databricks_secret_scope",
        "name",
        Prefix::None,
        Name,
        Some("secrets/acls"),
        "/api/2.0/secrets/scopes",
        "secrets/scopes/{id}",
        true,
    ),
    kind(
        "alerts",
        "databricks_alert_v2",
        "display_name",
        Raw,
        Assigned,
        Some("alertsv2"),
        "/api/2.0/alerts",
        "sql/alerts-v2/{id}",
        true,
    ),
    kind(
        "sql_warehouses",
        "databricks_sql_endpoint",
        "name",
        Raw,
        Assigned,
        Some("sql/warehouses"),
        "/api/2.0/sql/warehouses",
        "sql/warehouses/{id}",
        true,
    ),
    kind(
        "database_instances",
        "databricks_database_instance",
        "name",
        Prefix::None,
        Name,
        Some("database-instances"),
        "/api/2.0/database/instances",
        "compute/database-instances/{id}",
        true,
    ),
    kind(
        "database_catalogs",
        "databricks_database_database_catalog",
        "name",
        Prefix::None,
        Name,
        None,
        "/api/2.0/database/catalogs",
        "explore/data/{id}",
        true,
    ),
    kind(
        "synced_database_tables",
        "databricks_database_synced_database_table",
        "name",
        Prefix::None,
        FullName,
        None,
        "/api/2.0/database/synced_tables",
        "explore/data/{path}",
        true,
    ),
    kind(
        "catalogs",
        "databricks_catalog",
        "name",
        Prefix::None,
        Name,
        None,
        "/api/2.1/unity-catalog/catalogs",
        "explore/data/{id}",
        true,
    ),
    kind(
        "external_locations",
        "databricks_external_location",
        "name",
        Prefix::None,
        Name,
        None,
        "/api/2.1/unity-catalog/external-locations",
        "explore/locations/{id}",
        true,
    ),
    kind(
        "postgres_projects",
        "databricks_postgres_project",
        "name",
        Prefix::None,
        Assigned,
        Some("database-projects"),
        "/api/2.0/postgres/projects",
        "compute/postgres/{id}",
        true,
    ),
    kind(
        "postgres_branches",
        "databricks_postgres_branch",
        "name",
        Prefix::None,
        Assigned,
        None,
        "/api/2.0/postgres/branches",
        "compute/postgres/{id}",
        true,
    ),
    kind(
        "postgres_endpoints",
        "databricks_postgres_endpoint",
        "name",
        Prefix::None,
        Assigned,
        None,
        "/api/2.0/postgres/endpoints",
        "compute/postgres/{id}",
        true,
    ),
    // Its permissions are kept under the endpoint's UUID, not its name (the
    // id): see `deploy::remote_vector_search`.
    kind(
        "vector_search_endpoints",
        "databricks_vector_search_endpoint",
        "name",
        Normalized,
        Name,
        Some("vector-search-endpoints"),
        "/api/2.0/vector-search/endpoints",
        "compute/vector-search/{id}",
        true,
    ),
];

/// The kind under `resources.<key>`.
pub fn get(key: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.key == key)
}

/// The kind recorded as Terraform type `tf_type`.
pub fn by_tf_type(tf_type: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.tf_type == tf_type)
}

/// The keys this tool deploys, for messages.
pub fn deployed_keys() -> String {
    let keys: Vec<&str> = KINDS.iter().filter(|k| k.deployed).map(|k| k.key).collect();
    keys.join(", ")
}

impl Kind {
    /// The workspace UI page of a resource with `id` (its full name for
    /// Unity Catalog kinds, whose pages take it as a path).
    pub fn url(&self, host: &str, id: &str) -> String {
        let page = self
            .url
            .replace("{id}", id)
            .replace("{path}", &id.replace('.', "/"));
        format!("{}/{page}", host.trim_end_matches('/'))
    }

    /// `name` renamed by the development prefix `prefix` as the CLI does.
    pub fn prefixed(&self, prefix: &str, name: &str) -> String {
        match self.prefix {
            Prefix::None => name.to_string(),
            Prefix::Raw => format!("{prefix}{name}"),
            Prefix::PathLast => match name.rsplit_once('/') {
                Some((dir, base)) => format!("{dir}/{prefix}{base}"),
                None => format!("{prefix}{name}"),
            },
            Prefix::Normalized => format!("{}{name}", normalize_prefix(prefix)),
        }
    }
}

/// `[dev jane] ` → `dev_jane_`: letters and digits kept (lower-cased), the
/// rest `_`, as Unity Catalog and serving endpoint names need.
pub fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.replace(['[', ']'], "");
    let trimmed = trimmed.trim();
    let mut out: String = trimmed
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect();
    if prefix.trim_end().ends_with(']') && !out.is_empty() {
        out.push('_');
    }
    out
}

/// The resources of kinds this tool does not deploy yet, each with its
/// location. On the remote backend they are errors: deploying the rest would
/// leave the bundle half deployed and the state lying about it. Locally,
/// where resources are only recorded, they are warnings: the local env
/// records none of them, and the rest of the bundle still runs and tests.
pub fn check_deployable(bundle: &Bundle, remote: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(resources) = bundle.config["resources"].as_object() else {
        return out;
    };
    for (key, items) in resources {
        let Some(kind) = get(key) else { continue };
        if kind.deployed {
            out.extend(permissions_not_applied(bundle, kind, items));
            continue;
        }
        for name in items.as_object().into_iter().flat_map(|m| m.keys()) {
            let path = format!("resources.{key}.{name}");
            let summary = if remote {
                format!(
                    "{path}: {} are not deployed by this tool yet (it deploys {}); remove it \
                     from this target or deploy it with the Databricks CLI",
                    kind.key,
                    deployed_keys()
                )
            } else {
                format!(
                    "{path}: {} are not deployed by this tool yet (it deploys {}); the local \
                     env does not record it, and a --remote deploy refuses it",
                    kind.key,
                    deployed_keys()
                )
            };
            let mut d = if remote {
                Diagnostic::error(summary)
            } else {
                Diagnostic::warning(summary)
            };
            d.path = Some(path.clone());
            if let Some(loc) = bundle.location(&path) {
                d.locations.push(loc);
            }
            out.push(d);
        }
    }
    out
}

/// Apps that set `lifecycle.started`, on a target the CLI deploys with its
/// Terraform engine: an error each, at the field, as the CLI's plan and
/// deploy give (`ValidateLifecycleStarted`): only its direct engine starts
/// an app and deploys its code.
pub fn started_needs_direct(bundle: &Bundle) -> Vec<Diagnostic> {
    let apps = bundle.config["resources"]["apps"].as_object();
    let set = apps.into_iter().flatten();
    let set = set.filter(|(_, app)| !app["lifecycle"]["started"].is_null());
    set.map(|(name, _)| {
        let path = format!("resources.apps.{name}.lifecycle.started");
        let mut d =
            Diagnostic::error("lifecycle.started is only supported in direct deployment mode");
        d.locations.extend(bundle.location(&path));
        d
    })
    .collect()
}

/// `permissions:` on resources of a deployed kind that has none (Unity
/// Catalog kinds take `grants`): ignored, which the user must hear.
fn permissions_not_applied(bundle: &Bundle, kind: &Kind, items: &Value) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if kind.permissions.is_some() {
        return out;
    }
    for (name, item) in items.as_object().into_iter().flatten() {
        if item.get("permissions").is_none() {
            continue;
        }
        let path = format!("resources.{}.{name}.permissions", kind.key);
        let mut d = Diagnostic::warning(format!(
            "{path}: {} take `grants`, not `permissions`; these are not applied",
            kind.key
        ));
        d.path = Some(path.clone());
        if let Some(loc) = bundle.location(&path) {
            d.locations.push(loc);
        }
        out.push(d);
    }
    out
}

/// True if `settings` of a `registered_models` resource name a Unity Catalog model.
pub fn is_uc_model(settings: &Value) -> bool {
    settings["catalog_name"].is_string() && settings["schema_name"].is_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_follow_the_cli() {
        let p = "[dev jane_doe] ";
        assert_eq!(
            get("jobs").unwrap().prefixed(p, "train"),
            "[dev jane_doe] train"
        );
        assert_eq!(
            get("experiments").unwrap().prefixed(p, "/Users/j/exp"),
            "/Users/j/[dev jane_doe] exp"
        );
        assert_eq!(
            get("registered_models").unwrap().prefixed(p, "model"),
            "dev_jane_doe_model"
        );
        assert_eq!(get("volumes").unwrap().prefixed(p, "v"), "v");
        assert_eq!(normalize_prefix("custom-"), "custom_");
    }

    #[test]
    fn the_table_is_consistent() {
        for k in KINDS {
            assert_eq!(get(k.key).unwrap().tf_type, k.tf_type);
            assert_eq!(by_tf_type(k.tf_type).unwrap().key, k.key);
        }
        assert_eq!(
            get("jobs").unwrap().url("https://h/", "12"),
            "https://h/jobs/12"
        );
        assert_eq!(
            get("registered_models").unwrap().url("https://h", "c.s.m"),
            "https://h/explore/data/models/c/s/m"
        );
    }
}
