//! Vector search endpoints on the remote backend, beside the reference CLI
//! (direct engine) on the same Databricks CLI test server: the bodies each
//! tool sends to create, update and re-create one, its permissions (kept
//! under the endpoint's UUID, not its name), the `resources.json` entries
//! each records, and `destroy`. And the wait after a create that both
//! endpoints and database instances get, as the CLI's.

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{CliRemote, assert_same_bodies, cli_state, root, state_entries};
use e2e::cli_server::{Recorded, cli_binary};

const VS_YML: &str = "\
resources:
  vector_search_endpoints:
    vs:
      name: docs-index
      endpoint_type: STANDARD
      permissions:
        - level: CAN_USE
          user_name: viewer@example.com
        - level: CAN_MANAGE
          group_name: data-team
";

/// The UUIDs the two workspaces gave, blanked.
fn no_uuid(v: Value) -> Value {
    let text = v.to_string();
    let re = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("/vector-search-endpoints/") {
            let start = i + "/vector-search-endpoints/".len();
            out.push_str(&rest[..start]);
            out.push_str("<uuid>");
            let tail = &rest[start..];
            let end = tail.find('"').unwrap_or(tail.len());
            rest = &tail[end..];
        }
        out.push_str(rest);
        out
    };
    serde_json::from_str(&re(&text)).unwrap()
}

/// The `resources.json` entries for the endpoint, UUIDs blanked.
fn entries(state: &Value) -> Value {
    no_uuid(state_entries(state, "resources.vector_search_endpoints."))
}

fn edit(r: &CliRemote, copy: &std::path::Path, from: &str, to: &str) {
    r.write_both(copy, "resources/kinds.yml", &VS_YML.replace(from, to));
}

#[test]
fn vector_search_endpoints_deploy_as_the_cli() {
    let test = "vector_search_endpoints_deploy_as_the_cli";
    let Some(r) = start(test, VS_YML) else {
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
            "POST /api/2.0/vector-search/endpoints",
            "PUT /api/2.0/permissions/vector-search-endpoints/",
        ],
        no_uuid,
    );
    // The permissions went to the endpoint's UUID, which the workspace gave.
    let endpoint = r
        .server
        .get_json("/api/2.0/vector-search/endpoints/docs-index")
        .expect("the endpoint");
    let uuid = endpoint["id"].as_str().unwrap();
    assert!(
        ours.iter()
            .any(|q| q.line() == format!("PUT /api/2.0/permissions/vector-search-endpoints/{uuid}")),
        "{:?}",
        ours.iter().map(|q| q.line()).collect::<Vec<_>>()
    );
    let state = r.server.state(&root("test"), "resources.json");
    assert_eq!(entries(&state), entries(&cli_state(copy.path())));
    assert_eq!(
        entries(&state).as_object().map(|m| m.len()),
        Some(2),
        "{state}"
    );

    // Nothing changed: nothing written.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");

    // A new minimum QPS: the one PATCH the CLI sends, no re-create.
    edit(
        &r,
        copy.path(),
        "endpoint_type: STANDARD",
        "endpoint_type: STANDARD\n      min_qps: 5",
    );
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    assert_same_bodies(
        &ours,
        &theirs,
        &["PATCH /api/2.0/vector-search/endpoints/docs-index"],
        no_uuid,
    );
    let created = |reqs: &[Recorded]| {
        reqs.iter()
            .filter(|q| q.line() == "POST /api/2.0/vector-search/endpoints")
            .count()
    };
    assert_eq!(created(&ours), 0);

    // Another endpoint type is another endpoint: deleted, then created.
    edit(&r, copy.path(), "STANDARD", "STORAGE_OPTIMIZED");
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    for reqs in [&ours, &theirs] {
        let lines: Vec<String> = reqs.iter().map(|q| q.line()).collect();
        assert!(
            lines.contains(&"DELETE /api/2.0/vector-search/endpoints/docs-index".to_string()),
            "{lines:?}"
        );
        assert_eq!(created(reqs), 1, "{lines:?}");
    }
    let endpoint = r
        .server
        .get_json("/api/2.0/vector-search/endpoints/docs-index")
        .expect("the endpoint again");
    assert_eq!(endpoint["endpoint_type"], "STORAGE_OPTIMIZED");

    r.ok(&["destroy", "--auto-approve"]);
    let gone = r
        .server
        .get_json("/api/2.0/vector-search/endpoints/docs-index");
    assert!(gone.is_none(), "{gone:?}");
}

const DB_YML: &str = "\
resources:
  database_instances:
    db:
      name: features-db
      capacity: CU_1
";

/// After creating an instance, each tool reads it until it is AVAILABLE
/// (the SDK's waiter the CLI calls); the instance on the test server is
/// available at once. (The CLI sends other requests meanwhile, so the read
/// need not come right after the create.)
#[test]
fn a_new_database_instance_is_read_until_available_as_the_cli_reads_it() {
    let test = "a_new_database_instance_is_read_until_available_as_the_cli_reads_it";
    let Some(r) = start(test, DB_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    let reads_after_create = |reqs: &[Recorded]| -> usize {
        let lines: Vec<String> = reqs.iter().map(|q| q.line()).collect();
        let at = lines
            .iter()
            .position(|l| l == "POST /api/2.0/database/instances")
            .unwrap_or_else(|| panic!("no create in {lines:?}"));
        let read = "GET /api/2.0/database/instances/features-db";
        lines[at + 1..].iter().filter(|l| *l == read).count()
    };
    assert!(reads_after_create(&theirs) >= 1);
    assert_eq!(reads_after_create(&ours), 1);
}
