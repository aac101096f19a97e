//! The table of kinds whose REST calls differ only in paths and bodies,
//! from the CLI's direct engine (`bundle/direct/dresources/<kind>.go`) and
//! its fields that force a re-create (`resources.yml`); carried out by
//! `remote_kinds`.

/// How one kind is deployed. `{id}` in a path is the escaped id.
pub struct Rest {
    pub kind: &'static str,
    /// `POST` here creates; the answer's `id_field` is the id.
    pub create: &'static str,
    /// A setting in the create path (`{key}`), not in the bodies.
    pub path_key: Option<&'static str>,
    pub id_field: &'static str,
    pub read: &'static str,
    /// Method and path of an update.
    pub update: (&'static str, &'static str),
    /// The fields an update sends (`None`: all settings, plus `id_key`).
    pub update_fields: Option<&'static [&'static str]>,
    /// The key naming the id in an update or delete body.
    pub id_key: Option<&'static str>,
    /// Method and path of a delete (a POST sends `{id_key: id}`).
    pub delete: (&'static str, &'static str),
    /// Changed, these make another resource: deleted, then created.
    pub recreate: &'static [&'static str],
    /// The Unity Catalog securable type of its `grants`.
    pub grants: Option<&'static str>,
}

pub(super) const RESTS: &[Rest] = &[
    Rest {
        kind: "schemas",
        create: "/api/2.1/unity-catalog/schemas",
        path_key: None,
        id_field: "full_name",
        read: "/api/2.1/unity-catalog/schemas/{id}",
        update: ("PATCH", "/api/2.1/unity-catalog/schemas/{id}"),
        update_fields: Some(&["comment", "properties"]),
        id_key: None,
        delete: ("DELETE", "/api/2.1/unity-catalog/schemas/{id}?force=true"),
        recreate: &["name", "catalog_name", "storage_root"],
        grants: Some("schema"),
    },
    Rest {
        kind: "volumes",
        create: "/api/2.1/unity-catalog/volumes",
        path_key: None,
        id_field: "full_name",
        read: "/api/2.1/unity-catalog/volumes/{id}",
        update: ("PATCH", "/api/2.1/unity-catalog/volumes/{id}"),
        update_fields: Some(&["comment"]),
        id_key: None,
        delete: ("DELETE", "/api/2.1/unity-catalog/volumes/{id}"),
        recreate: &[
            "catalog_name",
            "schema_name",
            "storage_location",
            "volume_type",
        ],
        grants: Some("volume"),
    },
    Rest {
        kind: "pipelines",
        create: "/api/2.0/pipelines",
        path_key: None,
        id_field: "pipeline_id",
        read: "/api/2.0/pipelines/{id}",
        update: ("PUT", "/api/2.0/pipelines/{id}"),
        update_fields: None,
        // The id goes in the path only.
        id_key: None,
        delete: ("DELETE", "/api/2.0/pipelines/{id}"),
        recreate: &["storage"],
        grants: None,
    },
    Rest {
        kind: "clusters",
        create: "/api/2.1/clusters/create",
        path_key: None,
        id_field: "cluster_id",
        read: "/api/2.1/clusters/get?cluster_id={id}",
        update: ("POST", "/api/2.1/clusters/edit"),
        update_fields: None,
        id_key: Some("cluster_id"),
        delete: ("POST", "/api/2.1/clusters/permanent-delete"),
        recreate: &[],
        grants: None,
    },
    Rest {
        kind: "quality_monitors",
        create: "/api/2.1/unity-catalog/tables/{key}/monitor",
        path_key: Some("table_name"),
        id_field: "table_name",
        read: "/api/2.1/unity-catalog/tables/{id}/monitor",
        update: ("PUT", "/api/2.1/unity-catalog/tables/{id}/monitor"),
        update_fields: Some(&[
            "baseline_table_name",
            "custom_metrics",
            "data_classification_config",
            "inference_log",
            "notifications",
            "output_schema_name",
            "schedule",
            "slicing_exprs",
            "snapshot",
            "time_series",
        ]),
        id_key: None,
        delete: ("DELETE", "/api/2.1/unity-catalog/tables/{id}/monitor"),
        recreate: &["assets_dir", "table_name"],
        grants: None,
    },
    Rest {
        kind: "model_serving_endpoints",
        create: "/api/2.0/serving-endpoints",
        path_key: None,
        id_field: "name",
        read: "/api/2.0/serving-endpoints/{id}",
        // One call per changed part: see `remote_serving`.
        update: ("PUT", "/api/2.0/serving-endpoints/{id}/config"),
        update_fields: None,
        id_key: None,
        delete: ("DELETE", "/api/2.0/serving-endpoints/{id}"),
        recreate: &[
            "name",
            "description",
            "config.auto_capture_config.catalog_name",
            "config.auto_capture_config.schema_name",
            "config.auto_capture_config.table_name_prefix",
            "route_optimized",
        ],
        grants: None,
    },
    Rest {
        kind: "sql_warehouses",
        create: "/api/2.0/sql/warehouses",
        path_key: None,
        id_field: "id",
        read: "/api/2.0/sql/warehouses/{id}",
        // The id goes in the path only.
        update: ("POST", "/api/2.0/sql/warehouses/{id}/edit"),
        update_fields: None,
        id_key: None,
        delete: ("DELETE", "/api/2.0/sql/warehouses/{id}"),
        recreate: &[],
        grants: None,
    },
    Rest {
        kind: "database_instances",
        create: "/api/2.0/database/instances",
        path_key: None,
        id_field: "name",
        read: "/api/2.0/database/instances/{id}",
        // Every field replaced (`update_mask=*`), the name as `uid` too.
        update: ("PATCH", "/api/2.0/database/instances/{id}?update_mask=*"),
        update_fields: None,
        id_key: Some("uid"),
        delete: ("DELETE", "/api/2.0/database/instances/{id}?purge=true"),
        recreate: &["name"],
        grants: None,
    },
    Rest {
        kind: "alerts",
        create: "/api/2.0/alerts",
        path_key: None,
        id_field: "id",
        read: "/api/2.0/alerts/{id}",
        // Every field replaced; the id in the path only.
        update: ("PATCH", "/api/2.0/alerts/{id}?update_mask=*"),
        update_fields: None,
        id_key: None,
        delete: ("DELETE", "/api/2.0/alerts/{id}?purge=true"),
        recreate: &[],
        grants: None,
    },
];
