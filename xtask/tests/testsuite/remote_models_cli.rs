//! Workspace MLflow registry models (`resources.models`) on the remote
//! backend, beside the reference CLI (direct engine) on the same Databricks
//! CLI test server: the create both send, their permissions (under the
//! model's numeric id), the `resources.json` entries both record, an update
//! (the description only, as the CLI's), a rename (another model), destroy.

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{assert_same_bodies, cli_state, root, state_entries};
use e2e::cli_server::cli_binary;

const MODELS_YML: &str = "\
resources:
  models:
    m:
      name: legacy-ranker
      description: first
      tags:
        - key: team
          value: search
      permissions:
        - level: CAN_READ
          group_name: data-team
";

/// The entries for the model, its numeric id (each workspace's own) blanked.
fn entries(state: &Value) -> Value {
    let text = state_entries(state, "resources.models.").to_string();
    serde_json::from_str(&regex_lite_blank(&text)).unwrap()
}

/// `/registered-models/<digits>` → `/registered-models/<id>`.
fn regex_lite_blank(text: &str) -> String {
    let key = "/registered-models/";
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(key) {
        out.push_str(&rest[..i + key.len()]);
        let tail = &rest[i + key.len()..];
        let digits = tail.chars().take_while(char::is_ascii_digit).count();
        out.push_str(if digits > 0 { "<id>" } else { "" });
        rest = &tail[digits..];
    }
    out.push_str(rest);
    out
}

#[test]
fn workspace_registry_models_deploy_as_the_cli() {
    let test = "workspace_registry_models_deploy_as_the_cli";
    let Some(r) = start(test, MODELS_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    assert_same_bodies(
        &ours,
        &theirs,
        &[
            "POST /api/2.0/mlflow/registered-models/create",
            "PUT /api/2.0/permissions/registered-models/",
        ],
        |v| v,
    );
    let model = r
        .server
        .get_json("/api/2.0/mlflow/databricks/registered-models/get?name=legacy-ranker")
        .expect("the model");
    let id = model["registered_model_databricks"]["id"].as_str().unwrap();
    let put = format!("PUT /api/2.0/permissions/registered-models/{id}");
    assert!(ours.iter().any(|q| q.line() == put), "{put} not sent");
    let state = r.server.state(&root("test"), "resources.json");
    assert_eq!(entries(&state), entries(&cli_state(copy.path())));
    assert_eq!(
        entries(&state).as_object().map(|m| m.len()),
        Some(2),
        "{state}"
    );

    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");

    // A new description: the one PATCH, as the CLI's.
    let changed = MODELS_YML.replace("description: first", "description: second");
    r.write_both(copy.path(), "resources/kinds.yml", &changed);
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    assert_same_bodies(
        &ours,
        &theirs,
        &["PATCH /api/2.0/mlflow/registered-models/update"],
        |v| v,
    );

    // A new name is another model; destroy removes it.
    r.repo.write(
        "resources/kinds.yml",
        &changed.replace("legacy-ranker", "ranker-2"),
    );
    r.ok(&["deploy"]);
    let get = |n: &str| {
        r.server.get_json(&format!(
            "/api/2.0/mlflow/databricks/registered-models/get?name={n}"
        ))
    };
    assert!(get("legacy-ranker").is_none());
    assert!(get("ranker-2").is_some());
    r.ok(&["destroy", "--auto-approve"]);
    assert!(get("ranker-2").is_none());
}
