//! The state file's Terraform shape: our own round trip, and the shape
//! against the states the CLI's Terraform engine recorded.

use std::path::PathBuf;

use super::*;
use crate::deploy::resources::tf_type;

fn res(kind: &str, key: &str, attrs: Value) -> TfResource {
    let mut r = resource(&tf_type(kind), key, attrs.as_object().cloned().unwrap());
    r.instances[0].schema_version = 0;
    r
}

fn state(resources: Vec<TfResource>) -> TfState {
    TfState {
        version: 4,
        terraform_version: "1.5.5".into(),
        serial: 3,
        lineage: "L".into(),
        outputs: Map::new(),
        resources,
        other: Map::new(),
    }
}

fn job() -> Value {
    json!({
        "name": "Test Migration Job",
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/W/nb", "source": "WORKSPACE"},
                   "libraries": [{"whl": "/W/a.whl"}], "job_cluster_key": "c", "max_retries": 0}],
        "job_clusters": [{"job_cluster_key": "c", "new_cluster": {"spark_version": "13.3.x-scala2.12",
                          "num_workers": 1, "spark_conf": {"a.b": "1"}, "custom_tags": {"t": "v"}}}],
        "parameters": [{"name": "p", "default": "d"}],
        "email_notifications": {"on_failure": ["a@b.c"], "no_alert_for_skipped_runs": false},
        "git_source": {"git_url": "https://x/y", "git_branch": "main", "git_provider": "gitHub"},
        "deployment": {"kind": "BUNDLE", "metadata_file_path": "/W/state/metadata.json"},
        "edit_mode": "UI_LOCKED", "format": "MULTI_TASK", "queue": {"enabled": true},
        "max_concurrent_runs": 1, "tags": {"team": "ml"},
        "trigger": {"pause_status": "UNPAUSED", "periodic": {"interval": 1, "unit": "DAYS"}},
        "permissions": [{"level": "CAN_VIEW", "user_name": "viewer@databricks.com"}],
        "id": "101"
    })
}

fn pipeline() -> Value {
    json!({
        "name": "Test Migration Pipeline",
        "libraries": [{"notebook": {"path": "/W/pipeline"}}],
        "clusters": [{"label": "default", "num_workers": 1}],
        "notifications": [{"alerts": ["on-update-failure"], "email_recipients": ["a@b.c"]}],
        "deployment": {"kind": "BUNDLE", "metadata_file_path": "/W/state/metadata.json"},
        "channel": "CURRENT", "edition": "ADVANCED", "development": false,
        "permissions": [{"level": "CAN_MANAGE", "user_name": "manager@databricks.com"}],
        "id": "6bd4c2c9-0000-0000-0000-000000000000"
    })
}

/// One resource of every kind this tool deploys, with `permissions` or
/// `grants` wherever the kind takes them.
fn every_kind() -> TfState {
    let mut resources = vec![
        res("jobs", "test_job", job()),
        res("pipelines", "p", pipeline()),
    ];
    for k in kinds::KINDS.iter().filter(|k| k.deployed) {
        if ["jobs", "pipelines"].contains(&k.key) {
            continue;
        }
        let mut attrs = json!({"name": format!("{}_x", k.key), "comment": "c", "id": "7"});
        if k.permissions.is_some() {
            attrs["permissions"] = json!([{"level": "CAN_MANAGE", "group_name": "g"}]);
        } else {
            attrs["grants"] = json!([{"principal": "p@x.com", "privileges": ["SELECT"]}]);
        }
        resources.push(res(k.key, "x", attrs));
    }
    let mut serving = json!({"name": "ep", "id": "ep",
        "config": {"served_entities": [{"entity_name": "m", "entity_version": "1"}]}});
    serving["permissions"] = json!([{"level": "CAN_QUERY", "service_principal_name": "sp"}]);
    resources.push(res("model_serving_endpoints", "ep", serving));
    state(resources)
}

fn through_file(tf: &TfState) -> TfState {
    decode(&encode(tf).unwrap()).unwrap()
}

#[test]
fn every_deployed_kind_comes_back_as_it_was_written() {
    let tf = every_kind();
    let back = through_file(&tf);
    assert_eq!(back.lineage, "L");
    assert_eq!(back.serial, 3);
    let sorted = |t: &TfState| {
        let mut r = t.resources.clone();
        r.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
        r
    };
    assert_eq!(sorted(&back), sorted(&tf));
}

#[test]
fn the_file_holds_permissions_and_grants_as_resources_of_their_own() {
    let file: Value = serde_json::from_slice(&encode(&every_kind()).unwrap()).unwrap();
    let find = |ty: &str, name: &str| {
        file["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == ty && r["name"] == name)
            .unwrap_or_else(|| panic!("no {ty}.{name} in {file:#}"))
            .clone()
    };
    let acl = find("databricks_permissions", "job_test_job");
    let attrs = &acl["instances"][0]["attributes"];
    assert_eq!(attrs["id"], "/jobs/101");
    assert_eq!(attrs["job_id"], "101");
    assert_eq!(
        attrs["access_control"],
        json!([{"user_name": "viewer@databricks.com", "permission_level": "CAN_VIEW"}])
    );
    let grants = find("databricks_grants", "registered_model_x");
    assert_eq!(grants["instances"][0]["attributes"]["function"], "7");
    assert_eq!(grants["instances"][0]["attributes"]["id"], "function/7");
    find("databricks_grants", "schema_x");
    find("databricks_permissions", "mlflow_experiment_x");
    let job = find("databricks_job", "test_job");
    assert_eq!(job["instances"][0]["schema_version"], 2);
    let attrs = &job["instances"][0]["attributes"];
    assert!(attrs.get("permissions").is_none() && attrs.get("tasks").is_none());
    assert_eq!(
        attrs["task"][0]["notebook_task"][0]["notebook_path"],
        "/W/nb"
    );
    assert_eq!(attrs["task"][0]["library"][0]["whl"], "/W/a.whl");
    assert_eq!(attrs["git_source"][0]["url"], "https://x/y");
    assert_eq!(attrs["tags"], json!({"team": "ml"}), "a map stays a map");
}

/// The CLI's recorded Terraform states (its acceptance cases).
fn recorded(case: &str) -> Option<Value> {
    let cache = std::process::Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))?;
    let path = cache
        .join("github.com/databricks/cli@v0.298.0/acceptance/bundle")
        .join(case);
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var_os("XTASK_REQUIRE_CLI").is_none(),
            "{} is missing",
            path.display()
        );
        eprintln!("skipped: {} is missing", path.display());
        return None;
    };
    // The recording replaced numbers by placeholders, some unquoted.
    let text = text.replace("[UNIX_TIME_MILLIS]", "0");
    Some(serde_json::from_str(&text).expect("a recorded state"))
}

/// Every key of `ours` is in `theirs`, with a value of the same JSON type,
/// down through objects and the first element of lists.
fn within(ours: &Value, theirs: &Value, path: &str) {
    let same_type = std::mem::discriminant(ours) == std::mem::discriminant(theirs)
        || theirs.is_null()
        || (ours.is_object() && theirs.is_null());
    assert!(same_type, "{path}: ours {ours}, recorded {theirs}");
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let t = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{path}.{k}: not in the recorded state"));
                within(v, t, &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if !a.is_empty() && !b.is_empty() => {
            within(&a[0], &b[0], &format!("{path}[0]"))
        }
        _ => {}
    }
}

#[test]
fn a_job_and_a_pipeline_are_written_in_the_recorded_shape() {
    let Some(theirs) = recorded("migrate/permissions/out.original_state.json") else {
        return;
    };
    let tf = state(vec![
        res("jobs", "test_job", job()),
        res("pipelines", "test_pipeline", pipeline()),
    ]);
    let ours: Value = serde_json::from_slice(&encode(&tf).unwrap()).unwrap();
    let mut seen = Vec::new();
    for r in ours["resources"].as_array().unwrap() {
        let (ty, name) = (&r["type"], &r["name"]);
        let t = theirs["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| &t["type"] == ty && &t["name"] == name)
            .unwrap_or_else(|| panic!("{ty}.{name}: not in the recorded state"));
        let path = format!("{ty}.{name}");
        assert_eq!(
            r["instances"][0]["schema_version"], t["instances"][0]["schema_version"],
            "{path}"
        );
        let attrs = &t["instances"][0]["attributes"];
        within(&r["instances"][0]["attributes"], attrs, &path);
        seen.push(path);
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    // And the job's update case: its job cluster, trigger, queue.
    let Some(update) = recorded("resources/jobs/update/out.state.terraform.json") else {
        return;
    };
    let theirs = &update["resources"][0]["instances"][0]["attributes"];
    let r = ours["resources"].as_array().unwrap();
    let job = r.iter().find(|r| r["type"] == "databricks_job").unwrap();
    let mut attrs = job["instances"][0]["attributes"].clone();
    for k in ["task", "parameter", "git_source", "tags"] {
        attrs.as_object_mut().unwrap().remove(k);
    }
    within(&attrs, theirs, "databricks_job.foo");
}

#[test]
fn the_state_the_cli_recorded_is_read_with_its_ids_and_settings() {
    let Some(theirs) = recorded("migrate/permissions/out.original_state.json") else {
        return;
    };
    let tf = from_file(serde_json::from_value(theirs).unwrap());
    assert_eq!(
        tf.resources.len(),
        2,
        "permissions folded into their resource"
    );
    let job = tf
        .resources
        .iter()
        .find(|r| r.kind == "databricks_job")
        .unwrap();
    let a = &job.instances[0].attributes;
    assert_eq!(job.id(), Some("[NUMID]"));
    assert_eq!(a["tasks"][0]["task_key"], "main");
    assert_eq!(a["deployment"]["kind"], "BUNDLE");
    assert!(
        a.get("always_running").is_none(),
        "a default the bundle does not know"
    );
    assert!(a.get("task").is_none() && a.get("continuous").is_none());
    assert_eq!(
        a["permissions"][0],
        json!({"level": "CAN_VIEW", "user_name": "viewer@databricks.com"})
    );
    let p = tf
        .resources
        .iter()
        .find(|r| r.kind == "databricks_pipeline")
        .unwrap();
    let a = &p.instances[0].attributes;
    assert_eq!(
        a["libraries"][0]["notebook"]["path"]
            .as_str()
            .map(|s| s.ends_with("files/pipeline")),
        Some(true)
    );
    assert_eq!(a["permissions"][0]["level"], "CAN_MANAGE");
}

#[test]
fn a_state_in_the_bundles_shape_is_still_read() {
    let old = state(vec![res("jobs", "test_job", job())]);
    let bytes = serde_json::to_vec(&old).unwrap();
    let back = decode(&bytes).unwrap();
    assert_eq!(back.resources, old.resources);
}
