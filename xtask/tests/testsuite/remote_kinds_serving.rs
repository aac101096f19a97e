//! Model serving endpoints on the remote backend, against the Databricks
//! CLI's own test server: created with their permissions (kept under the
//! endpoint's id), each changed part updated by its own call, re-created on
//! a field the API cannot change, deleted when removed.

use serde_json::{Value, json};

use crate::remote_kinds::{start, uc, writes};
use crate::support::cli_remote::CliRemote;

pub const SERVING_YML: &str = "\
resources:
  model_serving_endpoints:
    e:
      name: scorer
      description: first
      config:
        served_entities:
          - entity_name: main.ml_s.model
            entity_version: \"1\"
            workload_size: Small
            scale_to_zero_enabled: true
      tags:
        - key: team
          value: ml
      permissions:
        - level: CAN_QUERY
          group_name: users
";

fn endpoint(r: &CliRemote) -> Option<Value> {
    r.server.get_json("/api/2.0/serving-endpoints/scorer")
}

#[test]
fn serving_endpoints_are_created_updated_and_recreated() {
    let Some(r) = start(
        "serving_endpoints_are_created_updated_and_recreated",
        SERVING_YML,
    ) else {
        return;
    };
    r.ok(&["deploy"]);
    assert_eq!(
        r.id("test", "databricks_model_serving", "e").unwrap(),
        "scorer"
    );
    let e = endpoint(&r).expect("the endpoint");
    let id = e["id"].as_str().unwrap().to_string();
    let acl = r
        .server
        .permissions(&format!("serving-endpoints/{id}"))
        .to_string();
    assert!(acl.contains("CAN_QUERY") && acl.contains("users"), "{acl}");

    // Tags and served version: each sent by its own call, the same endpoint.
    let changed = SERVING_YML
        .replace("value: ml", "value: ops")
        .replace("entity_version: \"1\"", "entity_version: \"2\"");
    r.repo.write("resources/kinds.yml", &changed);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(
        w.contains(&"PATCH /api/2.0/serving-endpoints/scorer/tags".into()),
        "{w:?}"
    );
    assert!(
        w.contains(&"PUT /api/2.0/serving-endpoints/scorer/config".into()),
        "{w:?}"
    );
    assert!(!w.iter().any(|x| x.contains("ai-gateway")), "{w:?}");
    let e = endpoint(&r).unwrap();
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["tags"], json!([{"key": "team", "value": "ops"}]));
    let served = &e["config"]["served_entities"][0];
    assert_eq!(served["entity_version"], "2");

    // The description cannot be changed: deleted, then created again.
    r.repo.write(
        "resources/kinds.yml",
        &changed.replace("description: first", "description: second"),
    );
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let pos = |p: &str| w.iter().position(|x| x == p).unwrap();
    assert!(
        pos("DELETE /api/2.0/serving-endpoints/scorer") < pos("POST /api/2.0/serving-endpoints"),
        "{w:?}"
    );
    assert_eq!(endpoint(&r).unwrap()["description"], "second");

    r.repo.write("resources/kinds.yml", "resources: {}\n");
    r.ok(&["deploy"]);
    assert!(endpoint(&r).is_none());
}

/// In development mode the schema gets the CLI's prefix, and the volume
/// naming it by reference lands in the prefixed schema; `destroy` removes
/// every kind, the volume before its schema.
#[test]
fn dev_mode_references_follow_the_prefix_and_destroy_removes_every_kind() {
    let test = "dev_mode_references_follow_the_prefix_and_destroy_removes_every_kind";
    let Some(r) = start(test, crate::remote_kinds::UC_YML) else {
        return;
    };
    let dev = "targets:\n  dev:\n    default: true\n    mode: development\n";
    let yml = crate::remote_kinds::DATABRICKS_YML;
    r.repo.write(
        "databricks.yml",
        &format!("{}{dev}", &yml[..yml.find("targets:").unwrap()]),
    );
    let more = SERVING_YML.trim_start_matches("resources:\n");
    r.repo.write(
        "resources/kinds.yml",
        &format!("{}{more}", crate::remote_kinds::UC_YML),
    );
    r.ok(&["deploy"]);
    let full = "main.dev_tester_ml_s";
    assert!(uc(&r, "schemas", full).is_some());
    assert!(uc(&r, "volumes", &format!("{full}.landing")).is_some());
    let endpoint = r.id("dev", "databricks_model_serving", "e").unwrap();
    assert_eq!(endpoint, "dev_tester_scorer");

    let mark = r.server.mark();
    r.ok(&["destroy", "--auto-approve"]);
    let w = writes(&r, mark);
    let pos = |p: &str| w.iter().position(|x| x.starts_with(p)).unwrap();
    assert!(
        pos("DELETE /api/2.1/unity-catalog/volumes") < pos("DELETE /api/2.1/unity-catalog/schemas")
    );
    assert!(uc(&r, "schemas", full).is_none());
    assert!(uc(&r, "volumes", &format!("{full}.landing")).is_none());
    let gone = r
        .server
        .get_json(&format!("/api/2.0/serving-endpoints/{endpoint}"));
    assert!(gone.is_none());
}
