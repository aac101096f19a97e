//! Resource drift of the kinds deployed last (vector search endpoints,
//! workspace registry models) on the Databricks CLI's test server, with the
//! harness of `remote_drift_kinds_cli`: shown by `plan` and `status`, put
//! back by `deploy` with the CLI's request bodies.

use serde_json::json;

use crate::support::drift_case::{Case, call_ok, get, run};

const VS_YML: &str = "\
resources:
  vector_search_endpoints:
    vs:
      name: docs-index
      endpoint_type: STANDARD
      min_qps: 5
";

const VS: &str = "/api/2.0/vector-search/endpoints/docs-index";

#[test]
fn a_vector_search_endpoint_rescaled_in_the_workspace_gets_its_min_qps_back() {
    run(
        "a_vector_search_endpoint_rescaled_in_the_workspace_gets_its_min_qps_back",
        &Case {
            yml: VS_YML,
            files: &[],
            kind: "vector_search_endpoints",
            key: "vs",
            edit: |r, token, _| {
                call_ok(r, token, "PATCH", VS, &json!({"min_qps": 9}));
            },
            fields: &["min_qps"],
            back: Some(|r, _| get(r, VS)["scaling_info"]["requested_min_qps"] == 5),
            same: &["PATCH /api/2.0/vector-search/endpoints/docs-index"],
        },
    );
}

const MODEL_YML: &str = "\
resources:
  models:
    m:
      name: legacy-ranker
      description: first
";

const MODEL: &str = "/api/2.0/mlflow/databricks/registered-models/get?name=legacy-ranker";

#[test]
fn a_workspace_registry_model_described_in_the_workspace_gets_its_description_back() {
    run(
        "a_workspace_registry_model_described_in_the_workspace_gets_its_description_back",
        &Case {
            yml: MODEL_YML,
            files: &[],
            kind: "models",
            key: "m",
            edit: |r, token, _| {
                let body = json!({"name": "legacy-ranker", "description": "set in the UI"});
                call_ok(
                    r,
                    token,
                    "PATCH",
                    "/api/2.0/mlflow/registered-models/update",
                    &body,
                );
            },
            fields: &["description"],
            back: Some(|r, _| {
                get(r, MODEL)["registered_model_databricks"]["description"] == "first"
            }),
            same: &["PATCH /api/2.0/mlflow/registered-models/update"],
        },
    );
}

/// A no-change deploy reads each resource back once (the plan's drift
/// check) and sends it nothing more: no second look before "unchanged".
#[test]
fn a_no_change_deploy_reads_each_resource_once() {
    let Some(r) =
        crate::support::cli_remote::CliRemote::start("a_no_change_deploy_reads_each_resource_once")
    else {
        return;
    };
    r.ok(&["deploy"]);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let all = r.server.requests();
    let reads: Vec<String> = all[mark..]
        .iter()
        .filter(|q| q.method == "GET" && !q.path.contains("/workspace"))
        .filter(|q| !q.path.contains("/scim/") && !q.path.contains("/permissions/"))
        .map(|q| format!("{}?{}", q.path, q.query))
        .collect();
    let jobs = reads
        .iter()
        .filter(|l| l.starts_with("/api/2.2/jobs/get"))
        .count();
    assert!(jobs >= 1, "{reads:?}");
    let mut seen = std::collections::BTreeSet::new();
    let twice: Vec<&String> = reads.iter().filter(|l| !seen.insert(*l)).collect();
    assert!(twice.is_empty(), "read twice: {twice:?}");
}

/// What a no-change deploy sends to the workspace's files, by kind: each
/// state file read once, with no `get-status` before it (an absent file is
/// a 404); only the files whose bytes change written (not
/// `terraform.tfstate`, whose resources are the same); the lock created,
/// checked before the commit and released. The CLI's no-change deploy of
/// this repository's bundle spends 9 requests on its state (README).
#[test]
fn a_no_change_deploy_sends_each_state_request_once() {
    let Some(r) = crate::support::cli_remote::CliRemote::start(
        "a_no_change_deploy_sends_each_state_request_once",
    ) else {
        return;
    };
    r.ok(&["deploy"]);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let files: Vec<e2e::cli_server::Recorded> = r.server.requests()[mark..]
        .iter()
        .filter(|q| q.path.starts_with("/api/2.0/workspace"))
        .cloned()
        .collect();
    let lines: Vec<String> = files.iter().map(|q| q.line()).collect();
    let count = |method: &str, kind: &str, name: &str| {
        files
            .iter()
            .filter(|q| q.method == method && q.path.starts_with(kind) && q.path.ends_with(name))
            .count()
    };
    let read = |name: &str| count("GET", "/api/2.0/workspace-files/", name);
    let written = |name: &str| count("POST", "/api/2.0/workspace-files/import-file/", name);
    assert_eq!(
        count("GET", "/api/2.0/workspace/get-status", ""),
        0,
        "{lines:#?}"
    );
    for name in [
        "state/terraform.tfstate",
        "state/resources.json",
        "state/history.json",
        "state/metadata.json",
        "state/deployment.json",
        "artifacts/manifest.json",
    ] {
        assert_eq!(read(name), 1, "{name}: {lines:#?}");
    }
    // Before the commit (a deploy displaced by --force-lock stops), and
    // before the release (only our own lock is deleted).
    assert_eq!(read("state/deploy.lock"), 2, "{lines:#?}");
    assert_eq!(written("state/deploy.lock"), 1, "{lines:#?}");
    assert_eq!(
        count("POST", "/api/2.0/workspace/delete", ""),
        1,
        "{lines:#?}"
    );
    for name in [
        "state/deployment.json",
        "state/history.json",
        "state/metadata.json",
        "state/resources.json",
    ] {
        assert_eq!(written(name), 1, "{name}: {lines:#?}");
    }
    assert_eq!(written("state/terraform.tfstate"), 0, "{lines:#?}");
    assert_eq!(files.len(), 6 + 2 + 1 + 1 + 4, "{lines:#?}");
}

const LOCATION_YML: &str = "\
resources:
  external_locations:
    l:
      name: landing
      url: s3://bucket/landing
      credential_name: cred
";

/// A setting the read does not tell (`skip_validation`, one of the CLI's
/// `ignore_remote_changes`) changed in the bundle is updated: the
/// workspace's answer, which lacks it, is no proof it is set. As the CLI,
/// which skips such a field only when its old and new values are equal.
#[test]
fn a_setting_the_read_does_not_tell_changed_in_the_bundle_is_updated_as_the_cli_does() {
    let test = "a_setting_the_read_does_not_tell_changed_in_the_bundle_is_updated_as_the_cli_does";
    let Some(r) = crate::remote_kinds::start(test, LOCATION_YML) else {
        return;
    };
    let Some(cli) = e2e::cli_server::cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    r.deploy_beside(&cli, copy.path());
    let changed = format!("{LOCATION_YML}      skip_validation: true\n");
    r.write_both(copy.path(), "resources/kinds.yml", &changed);
    let l = crate::support::drift_case::planned(&r, "l");
    assert_eq!(l["action"], "update", "{l}");
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    let patch = "PATCH /api/2.1/unity-catalog/external-locations/landing";
    let sent = ours.iter().filter(|q| q.line().starts_with(patch)).count();
    assert_eq!(
        sent,
        1,
        "{:?}",
        ours.iter().map(|q| q.line()).collect::<Vec<_>>()
    );
    crate::support::cli_remote::assert_same_bodies(&ours, &theirs, &[patch], |v| v);
}
