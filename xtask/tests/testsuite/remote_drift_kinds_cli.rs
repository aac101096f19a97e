//! Resource drift of each kind besides jobs, schemas, volumes, pipelines,
//! clusters and warehouses (`remote_drift_cli`), and of permissions and
//! grants, on the Databricks CLI's test server: one out-of-band change per
//! test, shown by `plan` and `status`, put back by `deploy` with the CLI's
//! request bodies (see `support::drift_case`).

use serde_json::{Value, json};

use crate::support::cli_remote::CliRemote;
use crate::support::drift_case::{Case, call_ok, get, planned, run};

/// Named with the `/Workspace` prefix the API leaves out of its answers:
/// no drift for that alone.
const EXPERIMENT_YML: &str = "\
resources:
  experiments:
    e:
      name: /Workspace/Shared/drift-exp
";

#[test]
fn an_experiment_renamed_in_the_workspace_is_named_back() {
    run(
        "an_experiment_renamed_in_the_workspace_is_named_back",
        &Case {
            yml: EXPERIMENT_YML,
            files: &[],
            kind: "experiments",
            key: "e",
            edit: |r, token, id| {
                let body = json!({"experiment_id": id, "new_name": "/Shared/renamed-in-ui"});
                call_ok(
                    r,
                    token,
                    "POST",
                    "/api/2.0/mlflow/experiments/update",
                    &body,
                );
            },
            fields: &["name"],
            back: Some(|r, id| {
                let e = get(
                    r,
                    &format!("/api/2.0/mlflow/experiments/get?experiment_id={id}"),
                );
                let name = e["experiment"]["name"].as_str().unwrap_or_default();
                name.trim_start_matches("/Workspace") == "/Shared/drift-exp"
            }),
            same: &["POST /api/2.0/mlflow/experiments/update"],
        },
    );
}

const MODEL_YML: &str = "\
resources:
  registered_models:
    m:
      name: scorer
      catalog_name: main
      schema_name: ml_s
      comment: first
      grants:
        - principal: account users
          privileges: [EXECUTE]
";

const MODEL: &str = "/api/2.1/unity-catalog/models/main.ml_s.scorer";
const MODEL_GRANTS: &str = "/api/2.1/unity-catalog/permissions/function/main.ml_s.scorer";

#[test]
fn a_model_commented_in_the_workspace_gets_its_comment_back() {
    run(
        "a_model_commented_in_the_workspace_gets_its_comment_back",
        &Case {
            yml: MODEL_YML,
            files: &[],
            kind: "registered_models",
            key: "m",
            edit: |r, token, _| {
                call_ok(
                    r,
                    token,
                    "PATCH",
                    MODEL,
                    &json!({"comment": "set in the UI"}),
                );
            },
            fields: &["comment"],
            back: Some(|r, _| get(r, MODEL)["comment"] == "first"),
            same: &["PATCH /api/2.1/unity-catalog/models/"],
        },
    );
}

/// The privileges of each principal, sorted.
fn grants(r: &CliRemote, at: &str) -> Value {
    let mut all: Vec<Value> = get(r, at)["privilege_assignments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.sort_by_key(|g| g["principal"].to_string());
    Value::Array(all)
}

#[test]
fn a_model_granted_to_another_principal_in_the_workspace_gets_its_grants_back() {
    run(
        "a_model_granted_to_another_principal_in_the_workspace_gets_its_grants_back",
        &Case {
            yml: MODEL_YML,
            files: &[],
            kind: "registered_models",
            key: "m",
            edit: |r, token, _| {
                let change =
                    json!({"changes": [{"principal": "data scientists", "add": ["EXECUTE"]}]});
                call_ok(r, token, "PATCH", MODEL_GRANTS, &change);
            },
            fields: &["grants"],
            back: Some(|r, _| {
                let wanted = json!([{"principal": "account users", "privileges": ["EXECUTE"]}]);
                grants(r, MODEL_GRANTS) == wanted
            }),
            same: &["PATCH /api/2.1/unity-catalog/permissions/"],
        },
    );
}

const SERVING: &str = "/api/2.0/serving-endpoints/scorer";

#[test]
fn a_serving_endpoint_reconfigured_in_the_workspace_gets_its_config_back() {
    run(
        "a_serving_endpoint_reconfigured_in_the_workspace_gets_its_config_back",
        &Case {
            yml: crate::remote_kinds_serving::SERVING_YML,
            files: &[],
            kind: "model_serving_endpoints",
            key: "e",
            edit: |r, token, _| {
                let config = json!({"served_entities": [{
                    "entity_name": "main.ml_s.model", "entity_version": "2",
                    "workload_size": "Small", "scale_to_zero_enabled": true
                }]});
                call_ok(r, token, "PUT", &format!("{SERVING}/config"), &config);
            },
            fields: &["config.served_entities[0].entity_version"],
            back: Some(|r, _| {
                let e = get(r, SERVING);
                e["config"]["served_entities"][0]["entity_version"] == "1"
            }),
            same: &["PUT /api/2.0/serving-endpoints/"],
        },
    );
}

/// The permissions of the endpoint named `scorer` in the workspace of `token`.
fn endpoint_acl_at(r: &CliRemote, token: &str) -> String {
    let e = call_ok(r, token, "GET", SERVING, &Value::Null);
    let id = e["id"].as_str().expect("the endpoint's id");
    format!("/api/2.0/permissions/serving-endpoints/{id}")
}

#[test]
fn a_serving_endpoint_shared_in_the_workspace_gets_its_permissions_back() {
    run(
        "a_serving_endpoint_shared_in_the_workspace_gets_its_permissions_back",
        &Case {
            yml: crate::remote_kinds_serving::SERVING_YML,
            files: &[],
            kind: "model_serving_endpoints",
            key: "e",
            edit: |r, token, _| {
                let acl = json!({"access_control_list": [
                    {"group_name": "users", "permission_level": "CAN_MANAGE"}
                ]});
                call_ok(r, token, "PUT", &endpoint_acl_at(r, token), &acl);
            },
            fields: &["permissions"],
            back: Some(|r, _| {
                let acl = get(r, &endpoint_acl_at(r, r.server.token()));
                let all = acl["access_control_list"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let users = all.iter().find(|e| e["group_name"] == "users");
                users.is_some_and(|u| u["all_permissions"][0]["permission_level"] == "CAN_QUERY")
            }),
            same: &["PUT /api/2.0/permissions/serving-endpoints/"],
        },
    );
}

const MONITOR: &str = "/api/2.1/unity-catalog/tables/main.ml_s.scores/monitor";

#[test]
fn a_quality_monitor_rescheduled_in_the_workspace_gets_its_schedule_back() {
    run(
        "a_quality_monitor_rescheduled_in_the_workspace_gets_its_schedule_back",
        &Case {
            yml: crate::remote_kinds_cli::MONITOR_YML,
            files: &[],
            kind: "quality_monitors",
            key: "m",
            edit: |r, token, _| {
                let mut m = call_ok(r, token, "GET", MONITOR, &Value::Null);
                m["schedule"]["quartz_cron_expression"] = json!("0 0 6 * * ?");
                call_ok(r, token, "PUT", MONITOR, &m);
            },
            fields: &["schedule.quartz_cron_expression"],
            back: Some(|r, _| {
                get(r, MONITOR)["schedule"]["quartz_cron_expression"] == "0 0 5 * * ?"
            }),
            same: &["PUT /api/2.1/unity-catalog/tables/"],
        },
    );
}

const SCOPE_YML: &str = "\
resources:
  secret_scopes:
    sc:
      name: ml-secrets
      permissions:
        - group_name: users
          level: READ
";

fn scope_acls(r: &CliRemote) -> Value {
    let mut items = get(r, "/api/2.0/secrets/acls/list?scope=ml-secrets")["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    items.sort_by_key(|a| a["principal"].to_string());
    Value::Array(items)
}

#[test]
fn a_secret_scope_shared_in_the_workspace_gets_its_acls_back() {
    run(
        "a_secret_scope_shared_in_the_workspace_gets_its_acls_back",
        &Case {
            yml: SCOPE_YML,
            files: &[],
            kind: "secret_scopes",
            key: "sc",
            edit: |r, token, _| {
                let body =
                    json!({"scope": "ml-secrets", "principal": "users", "permission": "MANAGE"});
                call_ok(r, token, "POST", "/api/2.0/secrets/acls/put", &body);
            },
            fields: &["permissions"],
            back: Some(|r, _| {
                let acls = scope_acls(r);
                let all = acls.as_array().unwrap();
                all.iter()
                    .any(|a| a["principal"] == "users" && a["permission"] == "READ")
            }),
            same: &["POST /api/2.0/secrets/acls/put"],
        },
    );
}

const DASHBOARD_YML: &str = "\
resources:
  dashboards:
    d:
      display_name: scores
      warehouse_id: abc123
      file_path: d.lvdash.json
";

const DASHBOARD: &str = "{\"pages\":[{\"name\":\"p1\",\"displayName\":\"first\"}]}\n";

#[test]
fn a_dashboard_renamed_in_the_workspace_is_named_back() {
    run(
        "a_dashboard_renamed_in_the_workspace_is_named_back",
        &Case {
            yml: DASHBOARD_YML,
            files: &[("resources/d.lvdash.json", DASHBOARD)],
            kind: "dashboards",
            key: "d",
            edit: |r, token, id| {
                // The test server's update replaces the fields it is sent.
                let at = format!("/api/2.0/lakeview/dashboards/{id}");
                let body = json!({"display_name": "renamed", "warehouse_id": "abc123"});
                call_ok(r, token, "PATCH", &at, &body);
            },
            fields: &["display_name", "etag"],
            back: Some(|r, id| {
                get(r, &format!("/api/2.0/lakeview/dashboards/{id}"))["display_name"] == "scores"
            }),
            same: &["PATCH /api/2.0/lakeview/dashboards/"],
        },
    );
}

const ALERT_YML: &str = "\
resources:
  alerts:
    a:
      display_name: rows seen
      custom_summary: first
      query_text: select count(*) as c from main.ml_s.scores
      warehouse_id: abc123
      evaluation:
        comparison_operator: GREATER_THAN
        source:
          name: c
        threshold:
          value:
            double_value: 10
      schedule:
        quartz_cron_schedule: 0 0 5 * * ?
        timezone_id: UTC
";

#[test]
fn an_alert_edited_in_the_workspace_is_put_back() {
    run(
        "an_alert_edited_in_the_workspace_is_put_back",
        &Case {
            yml: ALERT_YML,
            files: &[],
            kind: "alerts",
            key: "a",
            edit: |r, token, id| {
                let at = format!("/api/2.0/alerts/{id}");
                let mut a = call_ok(r, token, "GET", &at, &Value::Null);
                a["custom_summary"] = json!("set in the UI");
                call_ok(r, token, "PATCH", &format!("{at}?update_mask=*"), &a);
            },
            fields: &["custom_summary"],
            back: Some(|r, id| {
                get(r, &format!("/api/2.0/alerts/{id}"))["custom_summary"] == "first"
            }),
            same: &["PATCH /api/2.0/alerts/"],
        },
    );
}

const APP_YML: &str = "\
resources:
  apps:
    app:
      name: scorer-app
      description: first app
      source_code_path: ./app
";

#[test]
fn an_app_described_in_the_workspace_gets_its_description_back() {
    run(
        "an_app_described_in_the_workspace_gets_its_description_back",
        &Case {
            yml: APP_YML,
            files: &[("resources/app/app.py", "print('serving')\n")],
            kind: "apps",
            key: "app",
            edit: |r, token, _| {
                let body = json!({"name": "scorer-app", "description": "set in the UI"});
                call_ok(r, token, "PATCH", "/api/2.0/apps/scorer-app", &body);
            },
            fields: &["description"],
            back: Some(|r, _| get(r, "/api/2.0/apps/scorer-app")["description"] == "first app"),
            same: &["POST /api/2.0/apps/scorer-app/update"],
        },
    );
}

const CATALOG_YML: &str = "\
resources:
  catalogs:
    c:
      name: ml_cat
      comment: first
      grants:
        - principal: account users
          privileges: [USE_CATALOG]
  external_locations:
    l:
      name: landing
      url: s3://bucket/landing
      credential_name: cred
      comment: raw files
";

const CATALOG: &str = "/api/2.1/unity-catalog/catalogs/ml_cat";
const LOCATION: &str = "/api/2.1/unity-catalog/external-locations/landing";

#[test]
fn a_catalog_commented_in_the_workspace_gets_its_comment_back() {
    run(
        "a_catalog_commented_in_the_workspace_gets_its_comment_back",
        &Case {
            yml: CATALOG_YML,
            files: &[],
            kind: "catalogs",
            key: "c",
            edit: |r, token, _| {
                call_ok(
                    r,
                    token,
                    "PATCH",
                    CATALOG,
                    &json!({"comment": "set in the UI"}),
                );
            },
            fields: &["comment"],
            back: Some(|r, _| get(r, CATALOG)["comment"] == "first"),
            same: &["PATCH /api/2.1/unity-catalog/catalogs/"],
        },
    );
}

#[test]
fn a_catalog_granted_in_the_workspace_gets_its_grants_back() {
    const GRANTS: &str = "/api/2.1/unity-catalog/permissions/catalog/ml_cat";
    run(
        "a_catalog_granted_in_the_workspace_gets_its_grants_back",
        &Case {
            yml: CATALOG_YML,
            files: &[],
            kind: "catalogs",
            key: "c",
            edit: |r, token, _| {
                let change =
                    json!({"changes": [{"principal": "account users", "remove": ["USE_CATALOG"]}]});
                call_ok(r, token, "PATCH", GRANTS, &change);
            },
            fields: &["grants"],
            back: Some(|r, _| {
                let wanted = json!([{"principal": "account users", "privileges": ["USE_CATALOG"]}]);
                grants(r, GRANTS) == wanted
            }),
            same: &["PATCH /api/2.1/unity-catalog/permissions/"],
        },
    );
}

#[test]
fn an_external_location_commented_in_the_workspace_gets_its_comment_back() {
    run(
        "an_external_location_commented_in_the_workspace_gets_its_comment_back",
        &Case {
            yml: CATALOG_YML,
            files: &[],
            kind: "external_locations",
            key: "l",
            edit: |r, token, _| {
                call_ok(
                    r,
                    token,
                    "PATCH",
                    LOCATION,
                    &json!({"comment": "set in the UI"}),
                );
            },
            fields: &["comment"],
            back: Some(|r, _| get(r, LOCATION)["comment"] == "raw files"),
            same: &["PATCH /api/2.1/unity-catalog/external-locations/"],
        },
    );
}

const LAKEBASE: &str = "/api/2.0/database";

/// The resource at `LAKEBASE/<at>` in the workspace of `token`, changed by
/// `edit` and sent back under `key`, as the test server's update reads it
/// (`{"database_catalog": {...}}`); it misreads the body the CLI sends (the
/// resource itself), so putting it back cannot be checked there.
fn lakebase_edit(r: &CliRemote, token: &str, at: &str, key: &str, edit: fn(&mut Value)) {
    let at = format!("{LAKEBASE}/{at}");
    let mut got = call_ok(r, token, "GET", &at, &Value::Null);
    edit(&mut got);
    let body = json!({ key: got });
    call_ok(r, token, "PATCH", &format!("{at}?update_mask=*"), &body);
}

#[test]
fn a_database_catalog_changed_in_the_workspace_is_shown_and_updated() {
    run(
        "a_database_catalog_changed_in_the_workspace_is_shown_and_updated",
        &Case {
            yml: crate::remote_database_catalogs_cli::LAKEBASE_YML,
            files: &[],
            kind: "database_catalogs",
            key: "dc",
            edit: |r, token, id| {
                let at = format!("catalogs/{id}");
                lakebase_edit(r, token, &at, "database_catalog", |c| {
                    c["database_name"] = json!("other")
                });
            },
            fields: &["database_name"],
            back: None,
            same: &["PATCH /api/2.0/database/catalogs/"],
        },
    );
}

#[test]
fn a_synced_table_changed_in_the_workspace_is_shown_and_updated() {
    run(
        "a_synced_table_changed_in_the_workspace_is_shown_and_updated",
        &Case {
            yml: crate::remote_database_catalogs_cli::LAKEBASE_YML,
            files: &[],
            kind: "synced_database_tables",
            key: "st",
            edit: |r, token, id| {
                let at = format!("synced_tables/{id}");
                lakebase_edit(r, token, &at, "synced_table", |t| {
                    t["spec"]["scheduling_policy"] = json!("TRIGGERED")
                });
            },
            fields: &["spec.scheduling_policy"],
            back: None,
            same: &["PATCH /api/2.0/database/synced_tables/"],
        },
    );
}

#[test]
fn a_database_instance_resized_in_the_workspace_is_shown_and_updated() {
    run(
        "a_database_instance_resized_in_the_workspace_is_shown_and_updated",
        &Case {
            yml: crate::remote_database_catalogs_cli::LAKEBASE_YML,
            files: &[],
            kind: "database_instances",
            key: "db",
            edit: |r, token, id| {
                let at = format!("instances/{id}");
                lakebase_edit(r, token, &at, "database_instance", |i| {
                    i["capacity"] = json!("CU_2")
                });
            },
            fields: &["capacity"],
            back: None,
            same: &["PATCH /api/2.0/database/instances/"],
        },
    );
}

const JOB_YML: &str = "\
resources:
  jobs:
    j:
      name: nightly
      tasks:
        - task_key: t
          notebook_task:
            notebook_path: /Shared/t
      permissions:
        - group_name: users
          level: CAN_VIEW
";

#[test]
fn a_job_shared_in_the_workspace_gets_its_permissions_back() {
    run(
        "a_job_shared_in_the_workspace_gets_its_permissions_back",
        &Case {
            yml: JOB_YML,
            files: &[],
            kind: "jobs",
            key: "j",
            edit: |r, token, id| {
                let acl = json!({"access_control_list": [
                    {"user_name": e2e::cli_server::USER, "permission_level": "IS_OWNER"},
                    {"group_name": "users", "permission_level": "CAN_MANAGE_RUN"}
                ]});
                call_ok(
                    r,
                    token,
                    "PUT",
                    &format!("/api/2.0/permissions/jobs/{id}"),
                    &acl,
                );
            },
            fields: &["permissions"],
            back: Some(|r, id| {
                let acl = get(r, &format!("/api/2.0/permissions/jobs/{id}"));
                let all = acl["access_control_list"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let users = all.iter().find(|e| e["group_name"] == "users");
                users.is_some_and(|u| u["all_permissions"][0]["permission_level"] == "CAN_VIEW")
            }),
            same: &["PUT /api/2.0/permissions/jobs/"],
        },
    );
}

/// A kind besides jobs deleted there is created again, as the CLI plans it.
#[test]
fn an_experiment_deleted_in_the_workspace_is_created_again() {
    deleted_then_created(
        "an_experiment_deleted_in_the_workspace_is_created_again",
        EXPERIMENT_YML,
        "experiments.e",
        |r, id| {
            let body = json!({ "experiment_id": id });
            let at = "/api/2.0/mlflow/experiments/delete";
            call_ok(r, r.server.token(), "POST", at, &body);
        },
    );
}

/// `what` (`kind.key`) of `yml`, deployed then removed by `delete` (given
/// its id), is planned as a create, shown by `status`, and made again.
fn deleted_then_created(test: &str, yml: &str, what: &str, delete: fn(&CliRemote, &str)) {
    let Some(r) = crate::remote_kinds::start(test, yml) else {
        return;
    };
    let key = what.rsplit('.').next().unwrap();
    r.ok(&["deploy"]);
    let id = planned(&r, key)["id"].as_str().unwrap().to_string();
    delete(&r, &id);
    let p = planned(&r, key);
    assert_eq!(p["action"], "create", "{p}");
    let status = crate::support::deploy::text(&r.run(&["status"]));
    let line = format!("resource {what} deleted in the workspace");
    assert!(status.contains(&line), "{status}");
    r.ok(&["deploy"]);
    let again = planned(&r, key);
    assert_eq!(again["action"], "unchanged", "{again}");
}

/// A model of the workspace registry (no `catalog_name`); it has no
/// setting but its name to drift (`description` is not one of the
/// bundle's), so only its deletion there is seen.
const WORKSPACE_MODEL_YML: &str = "\
resources:
  registered_models:
    m:
      name: scorer
";

#[test]
fn a_workspace_registry_model_deleted_there_is_created_again() {
    deleted_then_created(
        "a_workspace_registry_model_deleted_there_is_created_again",
        WORKSPACE_MODEL_YML,
        "registered_models.m",
        |r, _| {
            let at = "/api/2.0/mlflow/registered-models/delete?name=scorer";
            call_ok(r, r.server.token(), "DELETE", at, &Value::Null);
        },
    );
}

const SHARED_EXPERIMENT_YML: &str = "\
resources:
  experiments:
    e:
      name: /Shared/drift-exp
      permissions:
        - group_name: users
          level: CAN_READ
";

#[test]
fn an_experiment_shared_in_the_workspace_gets_its_permissions_back() {
    run(
        "an_experiment_shared_in_the_workspace_gets_its_permissions_back",
        &Case {
            yml: SHARED_EXPERIMENT_YML,
            files: &[],
            kind: "experiments",
            key: "e",
            edit: |r, token, id| {
                let acl = json!({"access_control_list": [
                    {"user_name": e2e::cli_server::USER, "permission_level": "CAN_MANAGE"},
                    {"group_name": "users", "permission_level": "CAN_EDIT"}
                ]});
                let at = format!("/api/2.0/permissions/experiments/{id}");
                call_ok(r, token, "PUT", &at, &acl);
            },
            fields: &["permissions"],
            back: Some(|r, id| {
                let acl = get(r, &format!("/api/2.0/permissions/experiments/{id}"));
                let all = acl["access_control_list"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let users = all.iter().find(|e| e["group_name"] == "users");
                users.is_some_and(|u| u["all_permissions"][0]["permission_level"] == "CAN_READ")
            }),
            same: &["PUT /api/2.0/permissions/experiments/"],
        },
    );
}
