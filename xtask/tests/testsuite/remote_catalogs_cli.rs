//! Unity Catalog catalogs and external locations on the remote backend,
//! beside the reference CLI (direct engine) on the same Databricks CLI test
//! server: the bodies each tool sends on create and update, the
//! `resources.json` entries each records, a rename kept as one resource,
//! either tool redeploying what the other deployed, and `destroy`.

use std::path::Path;

use serde_json::Value;

use crate::remote_kinds::{start, uc, writes};
use crate::support::cli_remote::{CliRemote, CliWorkspace, assert_same_bodies, root};
use e2e::cli_server::{Recorded, cli_binary};

const CATALOGS_YML: &str = "\
resources:
  catalogs:
    c:
      name: ml_cat
      comment: first
      properties:
        team: ml
      grants:
        - principal: account users
          privileges: [USE_CATALOG]
  external_locations:
    l:
      name: landing
      url: s3://bucket/landing
      credential_name: cred
      comment: raw files
      grants:
        - principal: account users
          privileges: [READ_FILES]
  schemas:
    s:
      name: ml_s
      catalog_name: ${resources.catalogs.c.name}
      comment: in the new catalog
";

fn compare(ours: &[Recorded], theirs: &[Recorded], prefixes: &[&str]) {
    assert_same_bodies(ours, theirs, prefixes, |v| v);
}

fn write_both(r: &CliRemote, copy: &Path, yml: &str) {
    r.repo.write("resources/kinds.yml", yml);
    std::fs::write(copy.join("resources/kinds.yml"), yml).unwrap();
}

/// The `resources.json` entries of catalogs and external locations.
fn entries(state: &Value) -> Value {
    let all = state["state"].as_object().cloned().unwrap_or_default();
    let kept = all.into_iter().filter(|(k, _)| {
        k.starts_with("resources.catalogs.") || k.starts_with("resources.external_locations.")
    });
    Value::Object(kept.collect())
}

#[test]
fn catalogs_and_external_locations_deploy_as_the_cli() {
    let test = "catalogs_and_external_locations_deploy_as_the_cli";
    let Some(r) = start(test, CATALOGS_YML) else {
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
            "POST /api/2.1/unity-catalog/catalogs",
            "POST /api/2.1/unity-catalog/external-locations",
            "POST /api/2.1/unity-catalog/schemas",
            "PATCH /api/2.1/unity-catalog/permissions/catalog/",
            "PATCH /api/2.1/unity-catalog/permissions/external_location/",
        ],
    );
    assert_eq!(uc(&r, "catalogs", "ml_cat").unwrap()["comment"], "first");
    assert_eq!(
        uc(&r, "schemas", "ml_cat.ml_s").unwrap()["catalog_name"],
        "ml_cat"
    );
    assert_eq!(r.id("test", "databricks_catalog", "c").unwrap(), "ml_cat");
    let ours = r.server.state(&root("test"), "resources.json");
    let theirs = copy.path().join(".databricks/bundle/test/resources.json");
    let theirs: Value = serde_json::from_slice(&std::fs::read(theirs).unwrap()).unwrap();
    assert_eq!(entries(&ours), entries(&theirs));
    // Each with its grants entry.
    assert!(
        entries(&ours).as_object().is_some_and(|m| m.len() == 4),
        "{ours}"
    );

    // Updates: the same PATCH bodies; nothing made anew.
    let changed = CATALOGS_YML
        .replace("comment: first", "comment: second")
        .replace("comment: raw files", "comment: landed files")
        .replace("team: ml", "team: ops");
    write_both(&r, copy.path(), &changed);
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    compare(
        &all[m1..m2],
        &all[m2..],
        &[
            "PATCH /api/2.1/unity-catalog/catalogs/ml_cat",
            "PATCH /api/2.1/unity-catalog/external-locations/landing",
        ],
    );
    let w = writes(&r, m1);
    assert!(
        !w.iter()
            .any(|l| l.starts_with("POST /api/2.1/unity-catalog/")),
        "{w:?}"
    );
    // (The test server applies a catalog update's comment, not its properties.)
    assert_eq!(uc(&r, "catalogs", "ml_cat").unwrap()["comment"], "second");

    // A new name: one PATCH with `new_name`, the id follows, as the CLI.
    let renamed = changed.replace("name: landing", "name: landing2");
    write_both(&r, copy.path(), &renamed);
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    compare(
        &all[m1..m2],
        &all[m2..],
        &["PATCH /api/2.1/unity-catalog/external-locations/landing"],
    );
    assert_eq!(
        r.id("test", "databricks_external_location", "l").unwrap(),
        "landing2"
    );
    assert!(uc(&r, "external-locations", "landing2").is_some());
    assert!(uc(&r, "external-locations", "landing").is_none());
}

/// The CLI deploys, we redeploy (nothing created), then `destroy` removes
/// the catalog and the location.
#[test]
fn catalogs_interop_with_the_cli_and_destroy() {
    let test = "catalogs_interop_with_the_cli_and_destroy";
    let Some(r) = start(test, CATALOGS_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let bundle = r.repo.bundle();
    r.databricks(&cli, &bundle, &["bundle", "deploy"], CliWorkspace::Ours);
    std::fs::remove_dir_all(bundle.join(".databricks")).ok();
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(
        !w.iter()
            .any(|l| l.starts_with("POST /api/2.1/unity-catalog/")),
        "{w:?}"
    );
    r.ok(&["destroy", "--auto-approve"]);
    assert!(uc(&r, "catalogs", "ml_cat").is_none());
    assert!(uc(&r, "external-locations", "landing").is_none());
}
