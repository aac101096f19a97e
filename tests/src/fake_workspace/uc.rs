//! Unity Catalog: registered models (`/api/2.1/unity-catalog/models`) and
//! grants on them (`/api/2.1/unity-catalog/permissions/function/<full_name>`);
//! and the direct permissions of jobs and experiments (`/api/2.0/permissions`).

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::workspace::{State, now_ms};
use super::{body_json, error, ok};

const MODELS: &str = "/api/2.1/unity-catalog/models";
const GRANTS: &str = "/api/2.1/unity-catalog/permissions/function/";

fn no_model(full_name: &str) -> Response {
    error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Routine or Model '{full_name}' does not exist."),
    )
}

/// UC names: no dots, slashes, spaces or control characters.
fn bad_name(name: &str) -> bool {
    name.is_empty()
        || name
            .chars()
            .any(|c| matches!(c, '.' | '/' | ' ') || c.is_control())
}

/// `GET|PUT /api/2.0/permissions/{jobs,experiments}/<id>`: the object must
/// exist; PUT replaces the list.
fn permissions(s: &mut State, req: &Request, object: &str) -> Response {
    let (ty, id) = object.split_once('/').unwrap_or((object, ""));
    let exists = match ty {
        "jobs" => id.parse::<i64>().is_ok_and(|n| s.jobs.contains_key(&n)),
        "experiments" => s
            .experiments
            .get(id)
            .is_some_and(|e| e["lifecycle_stage"] == "active"),
        _ => false,
    };
    if !exists {
        return error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            &format!("{ty} {id} does not exist."),
        );
    }
    if req.method == "PUT" {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        for e in body["access_control_list"].as_array().into_iter().flatten() {
            let level = e["permission_level"].as_str().unwrap_or_default();
            if !matches!(
                level,
                "CAN_READ" | "CAN_EDIT" | "CAN_MANAGE" | "CAN_VIEW" | "CAN_MANAGE_RUN" | "IS_OWNER"
            ) {
                return error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Permission level {level} is not valid for {ty}"),
                );
            }
        }
        s.permissions
            .insert(object.to_string(), body["access_control_list"].clone());
    } else if req.method != "GET" {
        return error(405, "METHOD_NOT_ALLOWED", "GET or PUT");
    }
    ok(json!({
        "object_id": format!("/{object}"),
        "object_type": ty.trim_end_matches('s'),
        "access_control_list": s.permissions.get(object).cloned().unwrap_or(json!([])),
    }))
}

pub fn route(s: &mut State, req: &Request, path: &str) -> Option<Response> {
    if let Some(object) = path.strip_prefix("/api/2.0/permissions/") {
        return Some(permissions(s, req, object));
    }
    if let Some(full) = path.strip_prefix(GRANTS) {
        return Some(grants(s, req, full));
    }
    let m = req.method.as_str();
    if path == MODELS && m == "POST" {
        return Some(create(s, req));
    }
    let full = path.strip_prefix(MODELS)?.strip_prefix('/')?.to_string();
    let resp = match m {
        "GET" => match s.uc_models.get(&full) {
            Some(v) => ok(v.clone()),
            None => no_model(&full),
        },
        "PATCH" => {
            let body = match body_json(req) {
                Ok(b) => b,
                Err(r) => return Some(r),
            };
            match s.uc_models.get_mut(&full) {
                Some(v) => {
                    for k in ["comment", "owner"] {
                        if let Some(x) = body.get(k) {
                            v[k] = x.clone();
                        }
                    }
                    v["updated_at"] = json!(now_ms());
                    ok(v.clone())
                }
                None => no_model(&full),
            }
        }
        "DELETE" => match s.uc_models.remove(&full) {
            Some(_) => {
                s.grants.remove(&full);
                ok(json!({}))
            }
            None => no_model(&full),
        },
        _ => return None,
    };
    Some(resp)
}

fn create(s: &mut State, req: &Request) -> Response {
    let body = match body_json(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let part = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let (catalog, schema, name) = (part("catalog_name"), part("schema_name"), part("name"));
    for (what, v) in [
        ("catalog_name", &catalog),
        ("schema_name", &schema),
        ("name", &name),
    ] {
        if bad_name(v) {
            return error(
                400,
                "INVALID_PARAMETER_VALUE",
                &format!("Invalid {what}: '{v}'"),
            );
        }
    }
    let full = format!("{catalog}.{schema}.{name}");
    if s.uc_models.contains_key(&full) {
        return error(
            409,
            "RESOURCE_ALREADY_EXISTS",
            &format!("Routine or Model '{full}' already exists"),
        );
    }
    let now = now_ms();
    let model = json!({
        "name": name, "catalog_name": catalog, "schema_name": schema, "full_name": full,
        "comment": body.get("comment").cloned().unwrap_or(Value::Null),
        "owner": s.user, "created_by": s.user, "created_at": now, "updated_at": now,
        "storage_location": format!("s3://fake-metastore/models/{}", s.next_id()),
    });
    s.uc_models.insert(full, model.clone());
    ok(model)
}

fn grants(s: &mut State, req: &Request, full: &str) -> Response {
    if !s.uc_models.contains_key(full) {
        return no_model(full);
    }
    let grants = s.grants.entry(full.to_string()).or_default();
    if req.method == "PATCH" {
        let body = match body_json(req) {
            Ok(b) => b,
            Err(r) => return r,
        };
        for c in body["changes"].as_array().into_iter().flatten() {
            let Some(p) = c["principal"].as_str() else {
                return error(400, "INVALID_PARAMETER_VALUE", "principal is required");
            };
            let set = grants.entry(p.to_string()).or_default();
            for a in c["add"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                set.insert(a.to_string());
            }
            for r in c["remove"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                set.remove(r);
            }
        }
        grants.retain(|_, v| !v.is_empty());
    } else if req.method != "GET" {
        return error(405, "METHOD_NOT_ALLOWED", "GET or PATCH");
    }
    let list: Vec<Value> = grants
        .iter()
        .map(|(p, v)| json!({ "principal": p, "privileges": v }))
        .collect();
    ok(json!({ "privilege_assignments": list }))
}
