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
