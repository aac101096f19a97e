//! Schemas, volumes, pipelines and clusters on the remote backend, against
//! the Databricks CLI's own test server: created, updated, re-created and
//! deleted, with `${resources...}` references between them resolved and
//! followed in order, and the bodies we send beside the reference CLI's.

use serde_json::{Value, json};

use crate::support::cli_remote::CliRemote;
use e2e::cli_server::USER;

pub const DATABRICKS_YML: &str = "\
bundle:
  name: demo
include:
  - resources/*.yml
targets:
  test:
    default: true
";

pub const UC_YML: &str = "\
resources:
  schemas:
    s:
      name: ml_s
      catalog_name: main
      comment: first
      grants:
        - principal: account users
          privileges: [USE_SCHEMA]
  volumes:
    v:
      name: landing
      catalog_name: main
      schema_name: ${resources.schemas.s.name}
      volume_type: MANAGED
      comment: raw files
      grants:
        - principal: account users
          privileges: [READ_VOLUME]
";

pub const COMPUTE_YML: &str = "\
resources:
  pipelines:
    p:
      name: ingest
      catalog: main
      schema: ml_s
      serverless: true
      configuration:
        k: one
      permissions:
        - level: CAN_VIEW
          group_name: users
  clusters:
    c:
      cluster_name: small
      spark_version: 15.4.x-scala2.12
      node_type_id: i3.xlarge
      num_workers: 1
  jobs:
    j:
      name: refresh
      tasks:
        - task_key: main
          pipeline_task:
            pipeline_id: ${resources.pipelines.p.id}
";

pub fn start(test: &str, file: &str) -> Option<CliRemote> {
    let r = CliRemote::start(test)?;
    r.repo.write("databricks.yml", DATABRICKS_YML);
    r.repo.write("resources/kinds.yml", file);
    Some(r)
}

/// Non-GET requests from `mark` on, as `METHOD path`.
pub fn writes(r: &CliRemote, mark: usize) -> Vec<String> {
    let all = r.server.requests();
    let later = all[mark..].iter().filter(|q| q.method != "GET");
    later.map(|q| q.line()).collect()
}

pub fn uc(r: &CliRemote, what: &str, full: &str) -> Option<Value> {
    r.server
        .get_json(&format!("/api/2.1/unity-catalog/{what}/{full}"))
}

#[test]
fn schemas_and_volumes_follow_their_references() {
    let Some(r) = start("schemas_and_volumes_follow_their_references", UC_YML) else {
        return;
    };
    r.ok(&["deploy"]);
    assert_eq!(r.id("test", "databricks_schema", "s").unwrap(), "main.ml_s");
    assert_eq!(uc(&r, "schemas", "main.ml_s").unwrap()["comment"], "first");
    let v = uc(&r, "volumes", "main.ml_s.landing").expect("the volume");
    assert_eq!(v["comment"], "raw files");
    assert_eq!(
        r.id("test", "databricks_volume", "v").unwrap(),
        "main.ml_s.landing"
    );
    let grants = r
        .server
        .get_json("/api/2.1/unity-catalog/permissions/volume/main.ml_s.landing")
        .unwrap();
    assert_eq!(
        grants["privilege_assignments"][0]["privileges"],
        json!(["READ_VOLUME"])
    );
    // The schema before the volume that names it.
    let w = writes(&r, 0);
    let pos = |p: &str| w.iter().position(|x| x == p).unwrap();
    assert!(
        pos("POST /api/2.1/unity-catalog/schemas") < pos("POST /api/2.1/unity-catalog/volumes")
    );

    // No change: nothing written.
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    assert!(
        writes(&r, mark).iter().all(|w| w.contains("/workspace")),
        "{:?}",
        writes(&r, mark)
    );

    // A comment: updated in place.
    r.repo.write(
        "resources/kinds.yml",
        &UC_YML.replace("comment: first", "comment: second"),
    );
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    assert_eq!(uc(&r, "schemas", "main.ml_s").unwrap()["comment"], "second");
    assert!(writes(&r, mark).contains(&"PATCH /api/2.1/unity-catalog/schemas/main.ml_s".into()));

    // Another name: another schema; the volume naming it follows.
    r.repo.write(
        "resources/kinds.yml",
        &UC_YML.replace("name: ml_s", "name: ml_t"),
    );
    r.ok(&["deploy"]);
    assert!(uc(&r, "schemas", "main.ml_t").is_some());
    assert!(uc(&r, "schemas", "main.ml_s").is_none());
    assert!(uc(&r, "volumes", "main.ml_t.landing").is_some());
    assert_eq!(
        r.id("test", "databricks_volume", "v").unwrap(),
        "main.ml_t.landing"
    );

    // Removed: the volume goes before its schema.
    r.repo.write("resources/kinds.yml", "resources: {}\n");
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let pos = |p: &str| w.iter().position(|x| x.starts_with(p)).unwrap();
    assert!(
        pos("DELETE /api/2.1/unity-catalog/volumes") < pos("DELETE /api/2.1/unity-catalog/schemas")
    );
    assert!(uc(&r, "volumes", "main.ml_t.landing").is_none());
    assert!(uc(&r, "schemas", "main.ml_t").is_none());
}

fn pipeline(r: &CliRemote, id: &str) -> Option<Value> {
    r.server.get_json(&format!("/api/2.0/pipelines/{id}"))
}

fn cluster(r: &CliRemote, id: &str) -> Option<Value> {
    r.server
        .get_json(&format!("/api/2.1/clusters/get?cluster_id={id}"))
}

#[test]
fn pipelines_clusters_and_a_job_naming_the_pipeline() {
    let Some(r) = start(
        "pipelines_clusters_and_a_job_naming_the_pipeline",
        COMPUTE_YML,
    ) else {
        return;
    };
    r.ok(&["deploy"]);
    let p = r.id("test", "databricks_pipeline", "p").unwrap();
    let c = r.id("test", "databricks_cluster", "c").unwrap();
    assert_eq!(
        pipeline(&r, &p).unwrap()["spec"]["configuration"]["k"],
        "one"
    );
    assert_eq!(cluster(&r, &c).unwrap()["cluster_name"], "small");
    let job = r.server.job(r.job_id("test", "j")).unwrap();
    assert_eq!(job["tasks"][0]["pipeline_task"]["pipeline_id"], p.as_str());
    let acl = r.server.permissions(&format!("pipelines/{p}")).to_string();
    assert!(acl.contains("users") && acl.contains(USER), "{acl}");

    // A setting: the same pipeline updated, the cluster edited.
    let changed = COMPUTE_YML
        .replace("k: one", "k: two")
        .replace("num_workers: 1", "num_workers: 2");
    r.repo.write("resources/kinds.yml", &changed);
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    assert_eq!(r.id("test", "databricks_pipeline", "p").unwrap(), p);
    assert_eq!(
        pipeline(&r, &p).unwrap()["spec"]["configuration"]["k"],
        "two"
    );
    assert_eq!(cluster(&r, &c).unwrap()["num_workers"], 2);
    let w = writes(&r, mark);
    assert!(w.contains(&format!("PUT /api/2.0/pipelines/{p}")), "{w:?}");
    assert!(w.contains(&"POST /api/2.1/clusters/edit".into()), "{w:?}");

    // Storage forces another pipeline; the job follows to its id.
    r.repo.write(
        "resources/kinds.yml",
        &changed.replace(
            "serverless: true",
            "serverless: true\n      storage: /tmp/p2",
        ),
    );
    r.ok(&["deploy"]);
    let p2 = r.id("test", "databricks_pipeline", "p").unwrap();
    assert_ne!(p2, p);
    assert!(pipeline(&r, &p).is_none());
    let jid = r.job_id("test", "j");
    let job = r.server.job(jid).unwrap();
    assert_eq!(job["tasks"][0]["pipeline_task"]["pipeline_id"], p2.as_str());

    // Removed: deleted (the job first, then what it names).
    r.repo.write("resources/kinds.yml", "resources: {}\n");
    let mark = r.server.mark();
    r.ok(&["deploy"]);
    let w = writes(&r, mark);
    let pos = |p: &str| w.iter().position(|x| x.starts_with(p)).unwrap();
    assert!(pos("POST /api/2.2/jobs/delete") < pos("DELETE /api/2.0/pipelines/"));
    assert!(r.server.job(jid).is_none());
    assert!(pipeline(&r, &p2).is_none());
    let gone = cluster(&r, &c);
    assert!(gone.is_none() || gone.unwrap()["state"] == "TERMINATED");
}
