//! How each deployed kind is read back for drift, one row per kind: the
//! read (the CLI direct engine's `DoRead`), the answer in the bundle's shape
//! (its `RemapState`), and the fields never compared: those the workspace
//! manages or never returns (`ignore_remote_changes`) and those it fills in
//! when the bundle leaves them out (`backend_defaults`), from the CLI's
//! `bundle/direct/dresources/resources.yml` and `resources.generated.yml`.
//! A kind with reads of its own (serving endpoints, secret scopes,
//! dashboards) keeps them in its own file.

use anyhow::Result;
use serde_json::{Map, Value};

use super::{remote_kinds, remote_postgres};
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

/// The resource with this id as the workspace has it (`None`: deleted there).
type Read = fn(&Client, &str) -> Result<Option<Value>>;

/// A field the workspace fills in: any value (`[]`), or only these
/// (JSON literals: `"MULTI_TASK"`, `false`).
pub(super) type Default = (&'static str, &'static [&'static str]);

#[derive(Clone, Copy)]
pub(super) struct ReadBack {
    pub kind: &'static str,
    /// `None`: a GET of the kind's `read` path in `remote_rest`.
    pub read: Option<Read>,
    /// The answer in the shape of the bundle's settings.
    pub remap: fn(Value) -> Value,
    /// Both sides before comparing: values that are aliases made the same.
    pub alias: fn(Value) -> Value,
    /// Compared in full (jobs: the answer is the settings); otherwise only
    /// the fields the bundle sets, since the answer carries what the
    /// workspace adds (owner, state, times).
    pub whole: bool,
    /// Never compared, with all below them (`[*]`: any element).
    pub ignore: &'static [&'static str],
    pub defaults: &'static [Default],
    /// Compared only when the workspace has a value.
    pub only_there: &'static [&'static str],
    /// Compared even when the bundle leaves them out.
    pub also: &'static [&'static str],
}

const fn row(kind: &'static str, ignore: &'static [&'static str]) -> ReadBack {
    ReadBack {
        kind,
        read: None,
        remap: same,
        alias: same,
        whole: false,
        ignore,
        defaults: &[],
        only_there: &[],
        also: &[],
    }
}

/// A Postgres kind: read by its name, seen only as the id and parent in
/// it, its `spec` fields never compared.
const fn postgres(kind: &'static str, spec: &'static [&'static str]) -> ReadBack {
    ReadBack {
        read: Some(remote_postgres::read),
        remap: remote_postgres::naming_fields,
        ..row(kind, spec)
    }
}

fn same(v: Value) -> Value {
    v
}

pub(super) const READ_BACK: &[ReadBack] = &[
    ReadBack {
        read: Some(job),
        whole: true,
        ignore: &[
            "tasks[*].new_cluster.aws_attributes",
            "tasks[*].new_cluster.azure_attributes",
            "tasks[*].new_cluster.gcp_attributes",
            "job_clusters[*].new_cluster.aws_attributes",
            "job_clusters[*].new_cluster.azure_attributes",
            "job_clusters[*].new_cluster.gcp_attributes",
        ],
        defaults: JOB_DEFAULTS,
        ..row("jobs", &[])
    },
    ReadBack {
        read: Some(experiment),
        alias: experiment_name,
        defaults: &[("artifact_location", &[])],
        // Tags are not updated by the CLI (as Terraform), so not compared.
        ..row("experiments", &["tags"])
    },
    ReadBack {
        read: Some(registered_model),
        defaults: &[
            ("storage_location", &[]),
            ("owner", &[]),
            ("full_name", &[]),
            ("metastore_id", &[]),
        ],
        ..row(
            "registered_models",
            &[
                "created_at",
                "created_by",
                "updated_at",
                "updated_by",
                "tags",
            ],
        )
    },
    ReadBack {
        remap: super::remote_serving::read_back,
        defaults: &[
            ("config.served_entities[*].name", &[]),
            ("config.served_entities[*].workload_type", &[]),
            ("config.auto_capture_config.enabled", &[]),
            ("route_optimized", &["false"]),
        ],
        ..row(
            "model_serving_endpoints",
            &["config.traffic_config", "budget_policy_id", "rate_limits"],
        )
    },
    row(
        "quality_monitors",
        &["warehouse_id", "skip_builtin_dashboard"],
    ),
    ReadBack {
        read: Some(super::remote_secret_scopes::read),
        defaults: &[("backend_type", &["\"DATABRICKS\""])],
        ..row("secret_scopes", &[])
    },
    ReadBack {
        read: Some(super::remote_dashboards::read),
        // `file_path` is the bundle's, its contents `serialized_dashboard`,
        // which the etag stands for.
        ..row(
            "dashboards",
            &[
                "serialized_dashboard",
                "dataset_catalog",
                "dataset_schema",
                "file_path",
            ],
        )
    },
    ReadBack {
        read: Some(alert),
        ..row(
            "alerts",
            &[
                "create_time",
                "effective_run_as",
                "evaluation.last_evaluated_at",
                // The bundle's: the settings were read from it.
                "file_path",
                "evaluation.state",
                "id",
                "lifecycle_state",
                "owner_user_name",
                "update_time",
            ],
        )
    },
    ReadBack {
        read: Some(app),
        remap: app_settings,
        defaults: &[("compute_size", &[]), ("lifecycle.started", &[])],
        // Before any deployment the workspace has no code folder (the
        // CLI's `OverrideChangeDesc`).
        only_there: &["source_code_path"],
        // What the active deployment ran with, whether the bundle says or
        // not (the CLI compares them with its deployment).
        also: &["config", "git_source"],
        // What no update call takes (`space`); what only the bundle knows.
        ..row("apps", &["space", "lifecycle.prevent_destroy"])
    },
    row(
        "database_catalogs",
        &["create_database_if_not_exists", "uid"],
    ),
    row(
        "synced_database_tables",
        &[
            "database_instance_name",
            "logical_database_name",
            "spec.create_database_objects_if_missing",
            "spec.existing_pipeline_id",
            "spec.new_pipeline_spec",
            "data_synchronization_status",
            "effective_database_instance_name",
            "effective_logical_database_name",
            "unity_catalog_provisioning_state",
        ],
    ),
    row("catalogs", &[]),
    row(
        "external_locations",
        &[
            "skip_validation",
            "effective_enable_file_events",
            "effective_file_event_queue",
        ],
    ),
    row(
        "database_instances",
        &[
            "custom_tags",
            "enable_pg_native_login",
            "enable_readable_secondaries",
            "node_count",
            "parent_instance_ref.lsn",
            "retention_window_in_days",
            "stopped",
            "usage_policy_id",
            "child_instance_refs",
            "creation_time",
            "creator",
            "parent_instance_ref.effective_lsn",
            "parent_instance_ref.uid",
            "pg_version",
            "read_only_dns",
            "read_write_dns",
            "state",
            "uid",
        ],
    ),
    ReadBack {
        read: Some(vector_search_endpoint),
        remap: vector_search_settings,
        // The UUID the workspace gave, kept for the permissions.
        ..row("vector_search_endpoints", &["endpoint_uuid"])
    },
    ReadBack {
        read: Some(workspace_model),
        // Tags are not updated by the CLI (its `skip` annotation, as
        // Terraform): not compared. The numeric id is the workspace's.
        ..row("models", &["tags", "model_id"])
    },
    row("schemas", &[]),
    // The read answers with a status, not the spec (`RemapState`): only
    // a deletion there is seen, every spec field being `input_only`.
    postgres("postgres_projects", remote_postgres::PROJECT_SPEC),
    postgres("postgres_branches", remote_postgres::BRANCH_SPEC),
    postgres("postgres_endpoints", remote_postgres::ENDPOINT_SPEC),
    ReadBack {
        defaults: &[("storage_location", &[])],
        ..row("volumes", &[])
    },
    ReadBack {
        remap: pipeline_spec,
        defaults: &[
            ("storage", &[]),
            ("clusters[*].node_type_id", &[]),
            ("clusters[*].driver_node_type_id", &[]),
            ("clusters[*].enable_local_disk_encryption", &[]),
            ("event_log.catalog", &[]),
            ("event_log.schema", &[]),
        ],
        ..row(
            "pipelines",
            &["id", "run_as", "ingestion_definition.source_type"],
        )
    },
    ReadBack {
        defaults: &[
            ("enable_elastic_disk", &[]),
            ("enable_local_disk_encryption", &[]),
            ("node_type_id", &[]),
            ("driver_node_type_id", &[]),
            ("driver_instance_pool_id", &[]),
            ("single_user_name", &[]),
        ],
        ..row(
            "clusters",
            &["aws_attributes", "azure_attributes", "gcp_attributes"],
        )
    },
    ReadBack {
        defaults: &[("enable_serverless_compute", &[])],
        ..row(
            "sql_warehouses",
            &[
                "channel",
                "tags",
                "warehouse_type",
                "min_num_clusters",
                "creator_name",
            ],
        )
    },
];

/// The jobs' `backend_defaults`.
const JOB_DEFAULTS: &[Default] = &[
    ("format", &["\"MULTI_TASK\"", "\"SINGLE_TASK\""]),
    ("run_as", &[]),
    ("tasks[*].run_if", &["\"ALL_SUCCESS\""]),
    ("tasks[*].for_each_task.task.run_if", &["\"ALL_SUCCESS\""]),
    ("tasks[*].notebook_task.source", &[]),
    ("tasks[*].for_each_task.task.notebook_task.source", &[]),
    ("tasks[*].spark_python_task.source", &[]),
    ("tasks[*].for_each_task.task.spark_python_task.source", &[]),
    ("tasks[*].sql_task.file.source", &[]),
    ("tasks[*].for_each_task.task.sql_task.file.source", &[]),
    ("tasks[*].dbt_task.source", &[]),
    ("tasks[*].for_each_task.task.dbt_task.source", &[]),
    ("tasks[*].new_cluster.enable_elastic_disk", &[]),
    ("tasks[*].new_cluster.enable_local_disk_encryption", &[]),
    ("tasks[*].new_cluster.node_type_id", &[]),
    ("tasks[*].new_cluster.driver_node_type_id", &[]),
    ("tasks[*].new_cluster.driver_instance_pool_id", &[]),
    ("tasks[*].new_cluster.data_security_mode", &[]),
    ("job_clusters[*].new_cluster.enable_elastic_disk", &[]),
    (
        "job_clusters[*].new_cluster.enable_local_disk_encryption",
        &[],
    ),
    ("job_clusters[*].new_cluster.node_type_id", &[]),
    ("job_clusters[*].new_cluster.driver_node_type_id", &[]),
    ("job_clusters[*].new_cluster.driver_instance_pool_id", &[]),
    ("job_clusters[*].new_cluster.data_security_mode", &[]),
];

pub(super) fn get(kind: &str) -> Option<&'static ReadBack> {
    READ_BACK.iter().find(|r| r.kind == kind)
}

/// The settings of `kind` with id `id` as the workspace has them: `None`
/// for a kind not read back, `Some(None)` once deleted there.
pub(super) fn read(client: &Client, kind: &str, id: &str) -> Result<Option<Option<Value>>> {
    let Some(row) = get(kind) else {
        return Ok(None);
    };
    let got = match row.read {
        Some(read) => read(client, id)?,
        None => match remote_kinds::get(kind) {
            Some(rest) => client.rest("GET", &remote_kinds::at(rest.read, id), None)?,
            None => return Ok(None),
        },
    };
    Ok(Some(got.map(row.remap)))
}

/// The resource with this id as the API answers (`None`: deleted there, or
/// a kind not read back): what a reference to a field only the workspace
/// knows is resolved from (a job's answer has its `settings`, a pipeline's
/// its `spec`, beside what the workspace adds).
pub(super) fn read_raw(client: &Client, kind: &str, id: &str) -> Result<Option<Value>> {
    if kind == "jobs" {
        return match id.parse::<i64>() {
            Ok(n) => client.job_get(n),
            Err(_) => Ok(None),
        };
    }
    match (get(kind).and_then(|row| row.read), remote_kinds::get(kind)) {
        (Some(read), _) => read(client, id),
        (None, Some(rest)) => client.rest("GET", &remote_kinds::at(rest.read, id), None),
        (None, None) => Ok(None),
    }
}

/// A pipeline's settings are its `spec`.
fn pipeline_spec(v: Value) -> Value {
    v["spec"].clone()
}

fn job(client: &Client, id: &str) -> Result<Option<Value>> {
    let Ok(n) = id.parse::<i64>() else {
        return Ok(None);
    };
    Ok(client.job_get(n)?.map(|j| j["settings"].clone()))
}

/// The experiment's settings (`ml.CreateExperiment`): its name, artifact
/// location and tags. One deleted there stays readable, `deleted`.
fn experiment(client: &Client, id: &str) -> Result<Option<Value>> {
    let Some(e) = client.experiment_get(id)? else {
        return Ok(None);
    };
    if e["lifecycle_stage"] == "deleted" {
        return Ok(None);
    }
    Ok(Some(pick(&e, &["name", "artifact_location", "tags"])))
}

/// The name without its `/Workspace` prefix, which the API leaves out of
/// its answer (the CLI's `stripWorkspacePrefix`).
fn experiment_name(mut v: Value) -> Value {
    if let Some(name) = v["name"].as_str()
        && let Some(rest) = name.strip_prefix("/Workspace/")
    {
        v["name"] = Value::String(format!("/{rest}"));
    }
    v
}

/// A Unity Catalog model (a dotted full name) or a workspace registry one.
fn registered_model(client: &Client, id: &str) -> Result<Option<Value>> {
    if id.contains('.') {
        return client.uc_model_get(id);
    }
    let m = client.model_get(id)?;
    Ok(m.map(|m| pick(&m, &["name", "description", "tags"])))
}

/// An alert moved to the trash is deleted, as the CLI's read has it.
fn alert(client: &Client, id: &str) -> Result<Option<Value>> {
    let a = client.rest("GET", &format!("/api/2.0/alerts/{}", escape(id)), None)?;
    Ok(a.filter(|a| a["lifecycle_state"] != "DELETED"))
}

fn vector_search_endpoint(client: &Client, name: &str) -> Result<Option<Value>> {
    let path = format!("/api/2.0/vector-search/endpoints/{}", escape(name));
    client.rest("GET", &path, None)
}

/// An endpoint's answer as its settings (the CLI's `RemapState`): the
/// minimum QPS is under `scaling_info`.
fn vector_search_settings(v: Value) -> Value {
    let mut out = pick(&v, &["name", "endpoint_type", "budget_policy_id"]);
    let qps = &v["scaling_info"]["requested_min_qps"];
    if let (Some(m), false) = (out.as_object_mut(), qps.is_null()) {
        m.insert("min_qps".into(), qps.clone());
    }
    out
}

/// A workspace registry model, as its settings (`name`, `description`).
fn workspace_model(client: &Client, name: &str) -> Result<Option<Value>> {
    let path = format!(
        "/api/2.0/mlflow/databricks/registered-models/get?name={}",
        escape(name)
    );
    let answer = client.rest("GET", &path, None)?;
    Ok(answer.map(|a| a["registered_model_databricks"].clone()))
}

fn app(client: &Client, name: &str) -> Result<Option<Value>> {
    client.rest("GET", &format!("/api/2.0/apps/{}", escape(name)), None)
}

/// An app's answer as its settings (the CLI's `RemapState`): `lifecycle.started`
/// from its compute status; the code folder, `config` and `git_source` from
/// its active deployment, if any.
fn app_settings(mut v: Value) -> Value {
    use super::remote_apps::{deployed_config, started};
    let on = started(&v);
    let active = v["active_deployment"].take();
    let code = v["default_source_code_path"].clone();
    let Some(m) = v.as_object_mut() else {
        return v;
    };
    m.insert("lifecycle".into(), serde_json::json!({ "started": on }));
    if !active.is_object() {
        return v;
    }
    if code.as_str().is_some_and(|c| !c.is_empty()) {
        m.insert("source_code_path".into(), code);
    }
    if active["git_source"].is_object() {
        m.insert("git_source".into(), active["git_source"].clone());
    }
    if let Some(config) = deployed_config(&active) {
        m.insert("config".into(), config);
    }
    v
}

/// The `fields` of `v` it has.
pub(super) fn pick(v: &Value, fields: &[&str]) -> Value {
    let picked = fields
        .iter()
        .filter_map(|f| Some((f.to_string(), v.get(*f)?.clone())));
    Value::Object(picked.collect::<Map<String, Value>>())
}
