//! Resource drift of each kind besides jobs, schemas, volumes, pipelines,
//! clusters and warehouses (`remote_drift_cli`), and of permissions and
//! grants, on the Databricks CLI's test server: one out-of-band change per
//! test, shown by `plan` and `status`, put back by `deploy` with the CLI's
//! request bodies (see `support::drift_case`).

use serde_json::{Value, json};

use crate::support::cli_remote::CliRemote;
use crate::support::drift_case::{Case, call_ok, get, run};

const EXPERIMENT_YML: &str = "\
resources:
  experiments:
    e:
      name: /Shared/drift-exp
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
                e["experiment"]["name"] == "/Shared/drift-exp"
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
