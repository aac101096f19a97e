//! `${resources...}` references to fields only the workspace knows (a
//! volume's `storage_location`, a pipeline's `creator_user_name` and
//! `state`, an app's `url`), a field the workspace leaves unset (a
//! pipeline's `catalog`) and an entry of another resource's `permissions`,
//! on the remote backend beside the reference CLI on its test server: the
//! bodies both send and the `resources.json` entries both record are the
//! same, and a redeploy with nothing changed writes no resource.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::remote_kinds::{start, writes};
use crate::support::cli_remote::{assert_same_bodies, cli_state, root, state_entries};
use e2e::cli_server::cli_binary;

const REFS_YML: &str = "\
resources:
  schemas:
    s:
      catalog_name: main
      name: refs_s
  volumes:
    bar:
      catalog_name: main
      schema_name: ${resources.schemas.s.name}
      name: bar
    foo:
      catalog_name: main
      schema_name: ${resources.schemas.s.name}
      name: foo
      comment: ${resources.volumes.bar.storage_location}
  apps:
    app:
      name: refsapp
      description: best app
      source_code_path: ./app
  pipelines:
    p1:
      name: p1
      permissions:
        - level: CAN_VIEW
          group_name: viewers
    p2:
      name: p2 by ${resources.pipelines.p1.creator_user_name} at ${resources.apps.app.url}
      catalog: ${resources.pipelines.p1.catalog}
      permissions:
        - level: ${resources.pipelines.p1.permissions[0].level}
          group_name: team
    p3:
      name: p3 after p2 ${resources.pipelines.p2.state}
";

/// `v` with what each workspace makes up (UUIDs in ids and storage paths)
/// blanked and keys in order, so that two workspaces' bodies compare.
fn blank_uuids(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(blank(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(blank_uuids).collect()),
        Value::Object(m) => {
            let sorted: BTreeMap<String, Value> =
                m.into_iter().map(|(k, x)| (k, blank_uuids(x))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}

/// `s` with each run of 8-4-4-4-12 hex digits replaced by `<uuid>`.
fn blank(s: &str) -> String {
    let b = s.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    let (mut out, mut i) = (String::new(), 0);
    'scan: while i < b.len() {
        let mut j = i;
        for (n, len) in shape.iter().enumerate() {
            let hex = b
                .get(j..j + len)
                .is_some_and(|w| w.iter().all(u8::is_ascii_hexdigit));
            let dash = n == 4 || b.get(j + len) == Some(&b'-');
            if !hex || !dash {
                out.push(b[i] as char);
                i += 1;
                continue 'scan;
            }
            j += len + usize::from(n < 4);
        }
        out.push_str("<uuid>");
        i = j;
    }
    out
}

#[test]
fn references_to_fields_only_the_workspace_knows_resolve_as_the_cli() {
    let test = "references_to_fields_only_the_workspace_knows_resolve_as_the_cli";
    let Some(r) = start(test, REFS_YML) else {
        return;
    };
    let Some(cli) = cli_binary(test) else {
        return;
    };
    r.repo.write("resources/app/app.py", "print('app')\n");
    let copy = r.bundle_copy();

    // Planned before anything exists: the values come with the deploy.
    let plan = r.ok(&["plan"]).to_string();
    assert!(plan.contains("p3"), "{plan}");

    let (ours, theirs) = r.deploy_beside(&cli, copy.path());
    let posts = [
        "POST /api/2.0/pipelines",
        "POST /api/2.1/unity-catalog/volumes",
        "POST /api/2.0/apps",
        "PUT /api/2.0/permissions/pipelines/",
    ];
    assert_same_bodies(&ours, &theirs, &posts, blank_uuids);
    let names: Vec<Value> =
        crate::support::cli_remote::bodies_by(&ours, posts[0], |v| v["name"].clone());
    let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
    assert!(
        names.contains(&"p2 by tester@databricks.com at refsapp-123.cloud.databricksapps.com"),
        "{names:?}"
    );
    assert!(names.contains(&"p3 after p2 IDLE"), "{names:?}");

    let mine = r.server.state(&root("test"), "resources.json");
    let theirs = cli_state(copy.path());
    for key in [
        "resources.pipelines.p2",
        "resources.pipelines.p3",
        "resources.volumes.foo",
    ] {
        let state = |s: &Value| blank_uuids(state_entries(s, key)[key]["state"].clone());
        assert_eq!(state(&mine), state(&theirs), "{key}");
    }

    // Nothing changed: the resolved values are those recorded, no drift.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(w.iter().all(|l| l.contains("/workspace")), "{w:?}");
}

/// The CLI's `acceptance/bundle/resource_deps/immutable_field_ref`: a job
/// that names a volume's `storage_location` (which only a re-create
/// changes) and `catalog_name` (set in the bundle, unchanged) is not
/// updated when the volume's comment is: the plan has one change, and the
/// deploy sends no request for the job.
#[test]
fn a_dependent_of_an_update_that_keeps_its_referenced_fields_is_unchanged() {
    let file = "\
resources:
  schemas:
    schema:
      catalog_name: main
      name: schema
  volumes:
    foo:
      catalog_name: main
      schema_name: schema
      name: volume
      comment: comment1
  jobs:
    bar:
      name: job bar
      description: storage_location is ${resources.volumes.foo.storage_location}, catalog_name is ${resources.volumes.foo.catalog_name}
";
    let Some(r) = start(
        "a_dependent_of_an_update_that_keeps_its_referenced_fields",
        file,
    ) else {
        return;
    };
    r.ok(&["deploy"]);
    r.repo
        .write("resources/kinds.yml", &file.replace("comment1", "comment2"));
    let plan = r.ok(&["plan"]);
    let actions: BTreeMap<String, String> = plan["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|c| {
            let at = format!(
                "{}.{}",
                c["kind"].as_str().unwrap(),
                c["key"].as_str().unwrap()
            );
            (at, c["action"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(actions["volumes.foo"], "update", "{plan}");
    assert_eq!(actions["jobs.bar"], "unchanged", "{plan}");
    assert_eq!(actions["schemas.schema"], "unchanged", "{plan}");
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    assert!(
        w.iter().any(|l| l.contains("unity-catalog/volumes")),
        "{w:?}"
    );
    assert!(!w.iter().any(|l| l.contains("/jobs/")), "{w:?}");
}
