//! Database catalogs and synced database tables (Lakebase) on the remote
//! backend, beside the reference CLI (direct engine) on the same Databricks
//! CLI test server: the bodies each tool sends on create and update, the
//! `resources.json` entries each records, and `destroy`.

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{CliWorkspace, assert_same_bodies, root};
use e2e::cli_server::{Recorded, cli_binary};

pub const LAKEBASE_YML: &str = "\
resources:
  database_instances:
    db:
      name: features-db
      capacity: CU_1
  database_catalogs:
    dc:
      name: feat_cat
      database_instance_name: ${resources.database_instances.db.name}
      database_name: features
      create_database_if_not_exists: true
  synced_database_tables:
    st:
      name: feat_cat.public.scores_synced
      database_instance_name: ${resources.database_instances.db.name}
      logical_database_name: features
      spec:
        source_table_full_name: main.ml_s.scores
        primary_key_columns: [id]
        scheduling_policy: SNAPSHOT
";

fn compare(ours: &[Recorded], theirs: &[Recorded], prefixes: &[&str]) {
    assert_same_bodies(ours, theirs, prefixes, |v| v);
}

fn entries(state: &Value) -> Value {
    let all = state["state"].as_object().cloned().unwrap_or_default();
    let kept = all.into_iter().filter(|(k, _)| {
        k.starts_with("resources.database_catalogs.")
            || k.starts_with("resources.synced_database_tables.")
    });
    Value::Object(kept.collect())
}

#[test]
fn database_catalogs_and_synced_tables_deploy_as_the_cli() {
    let test = "database_catalogs_and_synced_tables_deploy_as_the_cli";
    let Some(r) = start(test, LAKEBASE_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    compare(
        &all[m1..m2],
        &all[m2..],
        &[
            "POST /api/2.0/database/catalogs",
            "POST /api/2.0/database/synced_tables",
        ],
    );
    let ours = r.server.state(&root("test"), "resources.json");
    let theirs = copy.path().join(".databricks/bundle/test/resources.json");
    let theirs: Value = serde_json::from_slice(&std::fs::read(theirs).unwrap()).unwrap();
    assert_eq!(entries(&ours), entries(&theirs));
    assert_eq!(
        entries(&ours).as_object().map(|m| m.len()),
        Some(2),
        "{ours}"
    );
    assert_eq!(
        r.id("test", "databricks_database_database_catalog", "dc")
            .unwrap(),
        "feat_cat"
    );
    let synced = r
        .server
        .get_json("/api/2.0/database/synced_tables/feat_cat.public.scores_synced");
    assert!(synced.is_some());

    // Nothing changed: nothing written.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");

    // Updates: the same PATCH (every field, `update_mask=*`) as the CLI's.
    let changed = LAKEBASE_YML.replace("SNAPSHOT", "TRIGGERED");
    r.repo.write("resources/kinds.yml", &changed);
    std::fs::write(copy.path().join("resources/kinds.yml"), &changed).unwrap();
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    compare(
        &all[m1..m2],
        &all[m2..],
        &["PATCH /api/2.0/database/synced_tables/"],
    );
    let w = writes(&r, m1);
    assert!(
        !w.iter().any(|l| l.starts_with("POST /api/2.0/database/")),
        "{w:?}"
    );

    r.ok(&["destroy", "--auto-approve"]);
    let dc = r.server.get_json("/api/2.0/database/catalogs/feat_cat");
    assert!(dc.is_none(), "{dc:?}");
    let st = r
        .server
        .get_json("/api/2.0/database/synced_tables/feat_cat.public.scores_synced");
    assert!(st.is_none(), "{st:?}");
}
