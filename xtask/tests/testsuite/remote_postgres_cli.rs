//! Lakebase Postgres projects, branches and endpoints on the remote
//! backend, beside the reference CLI (direct engine) on the same Databricks
//! CLI test server: the requests each tool sends to create and update them
//! (the id in the query, the spec in the body, a mask of what changed), the
//! operations each reads until done, the `resources.json` entries each
//! records, a new id making another resource, and `destroy`.

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{
    CliWorkspace, assert_same_bodies, cli_state, root, state_entries,
};
use crate::support::drift_case::call_ok;
use e2e::cli_server::{Recorded, cli_binary};

const PG_YML: &str = "\
resources:
  postgres_projects:
    p:
      project_id: feature-store
      display_name: Feature store
      pg_version: 16
      history_retention_duration: 604800s
      permissions:
        - level: CAN_USE
          group_name: data-team
  postgres_branches:
    main:
      parent: ${resources.postgres_projects.p.id}
      branch_id: main
      no_expiry: true
  postgres_endpoints:
    rw:
      parent: ${resources.postgres_branches.main.id}
      endpoint_id: rw
      endpoint_type: ENDPOINT_TYPE_READ_ONLY
      autoscaling_limit_min_cu: 0.5
      autoscaling_limit_max_cu: 8
";

const PROJECT: &str = "/api/2.0/postgres/projects/feature-store";

fn entries(state: &Value) -> Value {
    state_entries(state, "resources.postgres_")
}

/// `METHOD path?query` of the requests to the Postgres API, operations
/// reduced to their kind (their ids differ between workspaces).
fn postgres(reqs: &[Recorded]) -> Vec<String> {
    let pg = reqs
        .iter()
        .filter(|q| q.path.starts_with("/api/2.0/postgres/"));
    pg.map(|q| match q.path.find("/operations/") {
        Some(i) => format!("{} {}/operations/*", q.method, &q.path[..i]),
        None if q.query.is_empty() => q.line(),
        None => format!("{}?{}", q.line(), q.query),
    })
    .collect()
}

#[test]
fn postgres_kinds_deploy_as_the_cli() {
    let test = "postgres_kinds_deploy_as_the_cli";
    let Some(r) = start(test, PG_YML) else {
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
            "POST /api/2.0/postgres/projects",
            "POST /api/2.0/postgres/projects/feature-store/branches",
            "POST /api/2.0/postgres/projects/feature-store/branches/main/endpoints",
            "PUT /api/2.0/permissions/database-projects/feature-store",
        ],
        |v| v,
    );
    let writes_of = |reqs: &[Recorded]| -> Vec<String> {
        let mut w: Vec<String> = postgres(reqs)
            .into_iter()
            .filter(|l| !l.starts_with("GET "))
            .collect();
        w.sort();
        w
    };
    assert_eq!(writes_of(&ours), writes_of(&theirs));
    // Each create's operation read until done, as the SDK's `Wait`.
    let ops = |reqs: &[Recorded]| {
        postgres(reqs)
            .iter()
            .filter(|l| l.contains("/operations/"))
            .count()
    };
    assert_eq!(ops(&ours), 3, "{:?}", postgres(&ours));
    assert_eq!(ops(&ours), ops(&theirs));

    let state = r.server.state(&root("test"), "resources.json");
    assert_eq!(entries(&state), entries(&cli_state(copy.path())));
    assert_eq!(
        entries(&state).as_object().map(|m| m.len()),
        Some(4),
        "{state}"
    );
    assert_eq!(
        r.id("test", "databricks_postgres_endpoint", "rw").unwrap(),
        "projects/feature-store/branches/main/endpoints/rw"
    );

    // Nothing changed: nothing written.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");

    // One field changed: the whole spec, masked to it, as the CLI's PATCH.
    let changed = PG_YML.replace("autoscaling_limit_max_cu: 8", "autoscaling_limit_max_cu: 4");
    r.write_both(copy.path(), "resources/kinds.yml", &changed);
    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    assert_eq!(writes_of(&ours), writes_of(&theirs));
    assert_eq!(
        writes_of(&ours),
        [
            "PATCH /api/2.0/postgres/projects/feature-store/branches/main/endpoints/rw?update_mask=spec.autoscaling_limit_max_cu"
        ]
    );
    assert_same_bodies(
        &ours,
        &theirs,
        &["PATCH /api/2.0/postgres/projects/feature-store/branches/main/endpoints/rw"],
        |v| v,
    );

    // Another endpoint id is another endpoint: the old one deleted.
    let renamed = changed.replace("endpoint_id: rw", "endpoint_id: ro");
    r.repo.write("resources/kinds.yml", &renamed);
    r.ok(&["deploy"]);
    let gone = r
        .server
        .get_json(&format!("{PROJECT}/branches/main/endpoints/rw"));
    assert!(gone.is_none(), "{gone:?}");
    assert!(
        r.server
            .get_json(&format!("{PROJECT}/branches/main/endpoints/ro"))
            .is_some()
    );

    r.ok(&["destroy", "--auto-approve"]);
    assert!(r.server.get_json(PROJECT).is_none());
}

/// `key: action` of each Postgres resource in our `plan`, sorted.
fn actions(r: &crate::support::cli_remote::CliRemote) -> Vec<String> {
    let plan = r.ok(&["plan"]);
    let all = plan["resources"].as_array().cloned().unwrap_or_default();
    let pg = all.iter().filter(|c| {
        c["kind"]
            .as_str()
            .is_some_and(|k| k.starts_with("postgres_"))
    });
    let line = |c: &Value| {
        format!(
            "{}: {}",
            c["key"].as_str().unwrap(),
            c["action"].as_str().unwrap()
        )
    };
    let mut out: Vec<String> = pg.map(line).collect();
    out.sort();
    out
}

/// The read of a Postgres resource answers its status, not its spec: as
/// for the CLI, only a deletion there is drift. An endpoint deleted in
/// the workspace is planned as a create by both tools and made again with
/// the CLI's body; the project and branch stay unchanged.
#[test]
fn a_postgres_endpoint_deleted_in_the_workspace_is_created_again_as_the_cli_plans() {
    let test = "a_postgres_endpoint_deleted_in_the_workspace_is_created_again_as_the_cli_plans";
    let Some(r) = start(test, PG_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    r.deploy_beside(&cli, copy.path());
    let unchanged = ["main: unchanged", "p: unchanged", "rw: unchanged"];
    assert_eq!(actions(&r), unchanged);

    let endpoint = format!("{PROJECT}/branches/main/endpoints/rw");
    let cli_token = format!("{}-cli", r.server.token());
    for token in [r.server.token(), cli_token.as_str()] {
        call_ok(&r, token, "DELETE", &endpoint, &Value::Null);
    }
    assert_eq!(
        actions(&r),
        ["main: unchanged", "p: unchanged", "rw: create"]
    );
    let plan = ["bundle", "plan"];
    let theirs = r.databricks(&cli, copy.path(), &plan, CliWorkspace::Own);
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    assert!(theirs.contains("create postgres_endpoints.rw"), "{theirs}");
    assert!(theirs.contains("1 to add, 0 to change"), "{theirs}");
    let status = crate::support::deploy::text(&r.run(&["status"]));
    let line = "resource postgres_endpoints.rw deleted in the workspace";
    assert!(status.contains(line), "{status}");

    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    let create = "POST /api/2.0/postgres/projects/feature-store/branches/main/endpoints";
    assert_same_bodies(&ours, &theirs, &[create], |v| v);
    assert!(r.server.get_json(&endpoint).is_some());
    assert_eq!(actions(&r), unchanged);
}
