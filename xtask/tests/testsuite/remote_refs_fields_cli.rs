//! A `${resources...}` reference to a field neither the referenced kind's
//! settings nor the workspace know: the CLI's
//! `acceptance/bundle/resource_deps/non_existent_field`, beside the
//! reference CLI on its test server. Both refuse at `plan` and `deploy`
//! with the same message; ours names the reference's file, line and column
//! and sends nothing (the CLI uploads the bundle's files first). And the
//! table of the CLI's types the check reads is what its Go types give.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::remote_kinds::start;
use crate::support::cli_remote::{CliWorkspace, with_json};
use crate::support::deploy::text;
use e2e::cli_server::{Recorded, cli_binary};

const NON_EXISTENT_YML: &str = "\
resources:
  volumes:
    bar:
      catalog_name: mycatalog
      schema_name: myschema
      name: barname
    foo:
      catalog_name: ${resources.volumes.bar.non_existent}
      schema_name: ${resources.volumes.bar.schema_name}
      name: myname
";

const MESSAGE: &str = "cannot plan resources.volumes.foo: cannot resolve \
    \"${resources.volumes.bar.non_existent}\": schema mismatch: non_existent: field \
    \"non_existent\" not found in catalog.CreateVolumeRequestContent; non_existent: field \
    \"non_existent\" not found in catalog.VolumeInfo";

/// Requests about resources (Unity Catalog) or writing anything.
fn sent(reqs: &[Recorded]) -> Vec<String> {
    let writes = reqs.iter().filter(|q| q.method != "GET");
    let uc = reqs.iter().filter(|q| q.path.contains("unity-catalog"));
    writes.chain(uc).map(Recorded::line).collect()
}

#[test]
fn a_reference_to_a_field_neither_knows_is_refused_before_any_request() {
    let test = "a_reference_to_a_field_neither_knows_is_refused_before_any_request";
    let Some(r) = start(test, NON_EXISTENT_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    let copy = r.bundle_copy();
    for cmd in ["plan", "deploy"] {
        let mark = r.server.mark();
        let out = r.run(&[cmd]);
        let said = text(&out);
        assert!(!out.status.success(), "{cmd}: {said}");
        assert!(
            said.contains(&format!("Error: {MESSAGE}\n")),
            "{cmd}: {said}"
        );
        assert!(said.contains("resources/kinds.yml:8:21"), "{cmd}: {said}");
        let ours = sent(&r.server.requests()[mark..]);
        assert!(ours.is_empty(), "{cmd}: {ours:?}");

        let mark = r.server.mark();
        let args = ["bundle", cmd];
        let out = r.databricks_output(&cli, copy.path(), &args, CliWorkspace::Own);
        let said = text(&out);
        assert!(!out.status.success(), "databricks {cmd}: {said}");
        assert!(
            said.contains(&format!("Error: {MESSAGE}\n")),
            "{cmd}: {said}"
        );
        let uc = r.server.requests_matching("unity-catalog");
        assert!(uc.is_empty(), "{:?}", &r.server.requests()[mark..]);
    }
    // With --json, the failure is a document too, naming the reference.
    let out = r.run(&with_json(&["plan"]));
    assert!(!out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    let d = &doc["diagnostics"][0];
    assert_eq!(d["summary"], MESSAGE, "{doc}");
    assert_eq!(d["path"], "resources.volumes.foo.catalog_name", "{doc}");
    assert_eq!(d["locations"][0]["line"], 8, "{doc}");
}

/// `remote_fields.generated.txt` is what `tests/cliref/remotefields`
/// writes from the pinned CLI's Go types (skipped without Go, failing then
/// with `XTASK_REQUIRE_CLI=1`, as the other tests beside the CLI).
#[test]
fn the_table_of_the_cli_types_is_generated_from_them() {
    let root = e2e::workspace_root();
    let run = Command::new("go")
        .args(["run", "./remotefields"])
        .current_dir(root.join("tests/cliref"))
        .output();
    let Ok(out) = run else {
        let required = std::env::var_os("XTASK_REQUIRE_CLI").is_some_and(|v| v == "1");
        assert!(!required, "Go not found and XTASK_REQUIRE_CLI=1");
        eprintln!("skipped the_table_of_the_cli_types_is_generated_from_them: it needs Go");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "go run ./remotefields: {err}");
    let committed = Path::new("src/deploy/remote_fields.generated.txt");
    let committed = std::fs::read_to_string(root.join("xtask").join(committed)).unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "xtask/src/deploy/remote_fields.generated.txt is out of date: regenerate it with \
         `cd tests/cliref && go run ./remotefields > ../../xtask/src/deploy/remote_fields.generated.txt`"
    );
}
