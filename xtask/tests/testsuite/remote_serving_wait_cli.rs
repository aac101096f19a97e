//! A model serving endpoint is waited for as the CLI waits for it: after
//! its create and after its update, a read of the endpoint (until its
//! configuration is no longer updating) comes before its permissions and
//! before the deploy goes on. The CLI's test server answers `NOT_UPDATING`
//! at once, so one read each; the polling itself (growing pauses, failed
//! or canceled updates, the timeout) is tested in `remote_serving`.

use crate::remote_kinds::start;
use crate::remote_kinds_serving::SERVING_YML;
use crate::support::cli_remote::CliWorkspace;
use e2e::cli_server::{Recorded, cli_binary};

/// The serving-endpoint requests of `reqs` (ids blanked) from the create or
/// the config update on, up to the permissions: what is between them.
fn after(reqs: &[Recorded], first: &str) -> Vec<String> {
    let lines: Vec<String> = reqs
        .iter()
        .map(Recorded::line)
        .filter(|l| l.contains("serving-endpoints"))
        .map(|l| match l.find("/permissions/serving-endpoints/") {
            Some(i) => format!("{}/permissions/serving-endpoints/<id>", &l[..i]),
            None => l,
        })
        .collect();
    let from = lines
        .iter()
        .position(|l| l == first)
        .unwrap_or_else(|| panic!("no {first} in {lines:?}"));
    let to = lines[from..]
        .iter()
        .position(|l| l.starts_with("PUT /api/2.0/permissions/"))
        .map_or(lines.len(), |i| from + i + 1);
    lines[from..to].to_vec()
}

#[test]
fn a_serving_endpoint_is_waited_for_as_the_cli_waits() {
    let test = "a_serving_endpoint_is_waited_for_as_the_cli_waits";
    let Some(r) = start(test, SERVING_YML) else {
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
    let create = "POST /api/2.0/serving-endpoints";
    let (ours, theirs) = (after(&all[m1..m2], create), after(&all[m2..], create));
    // The same create, read and permissions; we read the endpoint once more
    // for its id (the CLI takes it from the read of its wait).
    assert_eq!(ours[..2], theirs[..2]);
    assert_eq!(ours[1], "GET /api/2.0/serving-endpoints/scorer", "{ours:?}");
    assert_eq!(ours.last(), theirs.last());
    assert!(ours.len() <= theirs.len() + 1, "{ours:?}\n{theirs:?}");

    // A new served version: the config update, then the wait.
    let changed = SERVING_YML.replace("entity_version: \"1\"", "entity_version: \"2\"");
    r.repo.write("resources/kinds.yml", &changed);
    std::fs::write(copy.path().join("resources/kinds.yml"), &changed).unwrap();
    let m1 = r.server.mark();
    r.ok(&["deploy"]);
    let m2 = r.server.mark();
    r.databricks(&cli, copy.path(), &["bundle", "deploy"], CliWorkspace::Own);
    let all = r.server.requests();
    let update = "PUT /api/2.0/serving-endpoints/scorer/config";
    let ours = after(&all[m1..m2], update);
    assert_eq!(ours[..2], after(&all[m2..], update)[..2]);
    assert_eq!(ours[1], "GET /api/2.0/serving-endpoints/scorer", "{ours:?}");
}
