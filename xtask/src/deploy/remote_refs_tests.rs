//! Ordering and resolution of `${resources...}` references.

use super::*;
use crate::deploy::state::TfInstance;
use serde_json::json;

fn res(kind: &str, key: &str, attrs: Value) -> TfResource {
    TfResource {
        mode: "managed".into(),
        kind: tf_type(kind),
        name: key.into(),
        provider: String::new(),
        instances: vec![TfInstance {
            schema_version: 0,
            attributes: attrs.as_object().cloned().unwrap_or_default(),
            sensitive_attributes: Vec::new(),
            resolved_references: serde_json::Map::new(),
        }],
    }
}

fn change(kind: &str, key: &str, action: Action) -> ResourceChange {
    let (kind, key, id) = (kind.into(), key.into(), None);
    ResourceChange {
        kind,
        key,
        action,
        id,
        drift: Vec::new(),
    }
}

#[test]
fn creates_follow_references_deletes_precede_them() {
    let vol = json!({"schema_name": "${resources.schemas.s.name}"});
    let resources = vec![
        res("volumes", "v", vol.clone()),
        res("schemas", "s", json!({})),
    ];
    let mut plan = ResourcePlan {
        changes: vec![
            change("volumes", "v", Action::Create),
            change("schemas", "s", Action::Create),
        ],
        resources,
    };
    assert_eq!(order(&plan, &[]).unwrap(), [1, 0]);
    // Removed: the volume (recorded naming the schema) goes first.
    let prev = plan.resources.clone();
    plan.changes = vec![
        change("schemas", "s", Action::Delete),
        change("volumes", "v", Action::Delete),
    ];
    assert_eq!(order(&plan, &prev).unwrap(), [1, 0]);
    // A cycle is an error, not a hang.
    let s = json!({"comment": "${resources.volumes.v.name}"});
    plan.resources = vec![res("volumes", "v", vol), res("schemas", "s", s)];
    plan.changes = vec![
        change("volumes", "v", Action::Create),
        change("schemas", "s", Action::Create),
    ];
    assert!(order(&plan, &[]).unwrap_err().to_string().contains("cycle"));
}

#[test]
fn references_are_found_and_replaced() {
    let v = json!({"a": "${resources.schemas.s.name}", "b": ["x ${resources.jobs.j.id} y"]});
    let found: Vec<String> = refs(&v).into_iter().map(|r| r.key).collect();
    assert_eq!(found, ["j", "s"]);
    let out = resolve(&v, &|r| {
        Ok(match r.field.as_str() {
            "id" => json!(12),
            _ => json!("dev_s"),
        })
    })
    .unwrap();
    assert_eq!(out, json!({"a": "dev_s", "b": ["x 12 y"]}));
    assert_eq!(refs(&json!("${resources.x}")).len(), 0);
}

#[test]
fn an_id_put_in_an_integer_field_is_a_number_and_in_text_stays_text() {
    let all = vec![res("jobs", "bar", json!({"id": "8796049158161900518"}))];
    let foo = json!({
        "description": "runs ${resources.jobs.bar.id}",
        "tasks": [{"task_key": "t", "run_job_task": {"job_id": "${resources.jobs.bar.id}"}}]
    });
    let lookup = |r: &Ref| lookup_with(&all, &|_| Ok(None), r, 0);
    let out = resolve_for("jobs", &foo, &lookup).unwrap();
    assert_eq!(
        out["tasks"][0]["run_job_task"]["job_id"],
        json!(8796049158161900518_i64)
    );
    assert_eq!(out["description"], "runs 8796049158161900518");
    // Untyped, as before: the id as the state keeps it.
    let plain = resolve(&foo, &lookup).unwrap();
    assert_eq!(
        plain["tasks"][0]["run_job_task"]["job_id"],
        "8796049158161900518"
    );
}

#[test]
fn indexed_paths_resolve_and_text_outside_the_grammar_is_no_reference() {
    let all = vec![res(
        "jobs",
        "b",
        json!({"permissions": [{"level": "CAN_VIEW"}, {"level": "CAN_MANAGE"}]}),
    )];
    let a = json!({"permissions": [
        {"level": "${resources.jobs.b.permissions[1].level}"},
        {"level": "${resources.volumes.bar.bad..syntax}"}
    ]});
    assert_eq!(refs(&a).len(), 1);
    let out = resolve(&a, &|r| lookup_with(&all, &|_| Ok(None), r, 0)).unwrap();
    assert_eq!(out["permissions"][0]["level"], "CAN_MANAGE");
    assert_eq!(
        out["permissions"][1]["level"],
        "${resources.volumes.bar.bad..syntax}"
    );
}

#[test]
fn a_field_the_bundle_does_not_set_comes_from_the_workspace() {
    let all = vec![
        res("pipelines", "foo", json!({"name": "pfoo", "id": "p1"})),
        res("apps", "app", json!({"name": "app", "id": "app"})),
    ];
    let raw = json!({"pipeline_id": "p1", "creator_user_name": "me@x", "state": "IDLE",
                     "spec": {"name": "pfoo"}});
    let remote = |r: &Ref| match r.kind.as_str() {
        "pipelines" => remote_value(r, &raw).map(Some),
        _ => Ok(None),
    };
    let v = json!({
        "name": "by ${resources.pipelines.foo.creator_user_name} (${resources.pipelines.foo.name})",
        "catalog": "${resources.pipelines.foo.catalog}",
        "comment": "${resources.pipelines.foo.state}"
    });
    let out = resolve(&v, &|r| lookup_with(&all, &remote, r, 0)).unwrap();
    // Unset there too: a field of the settings is not sent.
    assert_eq!(out, json!({"name": "by me@x (pfoo)", "comment": "IDLE"}));
    // A field neither knows is an error naming it; one of a resource not
    // read back is not known.
    let bad = json!({"x": "${resources.pipelines.foo.non_existent}"});
    let err = resolve(&bad, &|r| lookup_with(&all, &remote, r, 0)).unwrap_err();
    assert!(err.to_string().contains("non_existent"), "{err}");
    let deep = json!({"x": "${resources.pipelines.foo.ingestion_definition.connection_name}"});
    let err = resolve(&deep, &|r| lookup_with(&all, &remote, r, 0)).unwrap_err();
    assert!(err.to_string().contains("not set"), "{err}");
    let url = json!({"x": "${resources.apps.app.url}"});
    let err = resolve(&url, &|r| lookup_with(&all, &remote, r, 0)).unwrap_err();
    assert!(err.to_string().contains("resources.apps.app.url"), "{err}");
}
