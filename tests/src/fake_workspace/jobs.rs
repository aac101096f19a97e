//! Jobs 2.2 (create, reset, get, delete, run-now, runs/get) and MLflow
//! experiments and registered models.

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::workspace::{Job, RunRecord, State, now_ms};
use super::{body_json, error, ok};

/// Tasks per page of `jobs/get`, as the real API pages them.
const TASKS_PER_PAGE: usize = 100;

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return Some(resp),
        }
    };
}

fn no_job(id: i64) -> Response {
    error(
        400,
        "INVALID_PARAMETER_VALUE",
        &format!("Job {id} does not exist."),
    )
}

fn no_experiment(id: &str) -> Response {
    error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Node ID {id} does not exist."),
    )
}

fn no_model(name: &str) -> Response {
    error(
        404,
        "RESOURCE_DOES_NOT_EXIST",
        &format!("Registered Model with name={name} not found"),
    )
}

fn job_id_of(v: &Value) -> Result<i64, Response> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| error(400, "INVALID_PARAMETER_VALUE", "job_id is required"))
}

pub fn route(s: &mut State, req: &Request, path: &str) -> Option<Response> {
    let m = req.method.as_str();
    let q = |k: &str| {
        req.query
            .get(k)
            .cloned()
            .map(Value::String)
            .unwrap_or(Value::Null)
    };
    let resp = match (m, path) {
        ("POST", "/api/2.2/jobs/create" | "/api/2.1/jobs/create") => {
            let mut settings = try_resp!(body_json(req));
            if let Some(o) = settings.as_object_mut() {
                o.remove("access_control_list");
            }
            let id = s.next_id();
            s.jobs.insert(
                id,
                Job {
                    settings,
                    created_time: now_ms(),
                },
            );
            ok(json!({ "job_id": id }))
        }
        ("POST", "/api/2.2/jobs/reset" | "/api/2.1/jobs/reset") => {
            let body = try_resp!(body_json(req));
            let id = try_resp!(job_id_of(&body["job_id"]));
            let Some(job) = s.jobs.get_mut(&id) else {
                // The cloud answers 403 for a job id it cannot see (reference §6.2).
                return Some(error(
                    403,
                    "PERMISSION_DENIED",
                    &format!("User does not have permission on job {id}"),
                ));
            };
            let mut new = body["new_settings"].clone();
            if new.get("run_as").is_none()
                && let (Some(o), Some(run_as)) = (new.as_object_mut(), job.settings.get("run_as"))
            {
                o.insert("run_as".into(), run_as.clone());
            }
            job.settings = new;
            ok(json!({}))
        }
        ("GET", "/api/2.2/jobs/get" | "/api/2.1/jobs/get" | "/api/2.0/jobs/get") => {
            let id = try_resp!(job_id_of(&q("job_id")));
            let Some(job) = s.jobs.get(&id) else {
                return Some(no_job(id));
            };
            let offset: usize = req
                .query
                .get("page_token")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let mut settings = job.settings.clone();
            let mut next = None;
            if let Some(tasks) = settings.get_mut("tasks").and_then(Value::as_array_mut) {
                let total = tasks.len();
                let page: Vec<Value> = tasks
                    .iter()
                    .skip(offset)
                    .take(TASKS_PER_PAGE)
                    .cloned()
                    .collect();
                if offset + TASKS_PER_PAGE < total {
                    next = Some((offset + TASKS_PER_PAGE).to_string());
                }
                *tasks = page;
            }
            let mut v = json!({
                "job_id": id,
                "creator_user_name": s.user,
                "run_as_user_name": s.user,
                "created_time": job.created_time,
                "settings": settings,
            });
            if let Some(n) = next {
                v["next_page_token"] = json!(n);
            }
            ok(v)
        }
        ("POST", "/api/2.2/jobs/delete" | "/api/2.1/jobs/delete") => {
            let body = try_resp!(body_json(req));
            let id = try_resp!(job_id_of(&body["job_id"]));
            match s.jobs.remove(&id) {
                Some(_) => ok(json!({})),
                None => no_job(id),
            }
        }
        ("POST", "/api/2.2/jobs/run-now" | "/api/2.1/jobs/run-now") => {
            let body = try_resp!(body_json(req));
            let id = try_resp!(job_id_of(&body["job_id"]));
            let Some(job) = s.jobs.get(&id) else {
                return Some(no_job(id));
            };
            let task_keys = job.settings["tasks"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t["task_key"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let run_id = s.next_id();
            s.runs.insert(
                run_id,
                RunRecord {
                    job_id: id,
                    polls: 0,
                    task_keys,
                    job_parameters: body["job_parameters"].clone(),
                    python_params: body["python_params"].clone(),
                    cancelled: false,
                },
            );
            ok(json!({ "run_id": run_id, "number_in_job": run_id }))
        }
        ("GET", "/api/2.2/jobs/runs/get" | "/api/2.1/jobs/runs/get") => {
            let id = try_resp!(job_id_of(&q("run_id")));
            let limit = s.run_polls;
            let failing = s.failing_tasks.clone();
            let Some(run) = s.runs.get_mut(&id) else {
                return Some(error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Run {id} does not exist."),
                ));
            };
            run.polls += 1;
            // PENDING on the first poll, RUNNING until `limit` polls have
            // passed, then TERMINATED; 0 polls: finished at once.
            let phase = if run.cancelled {
                "CANCELLED"
            } else if run.polls > limit {
                "TERMINATED"
            } else if run.polls == 1 {
                "PENDING"
            } else {
                "RUNNING"
            };
            let task_state = |key: &str| {
                if phase == "CANCELLED" {
                    json!({ "life_cycle_state": "TERMINATED", "result_state": "CANCELED", "state_message": "Run cancelled." })
                } else if phase != "TERMINATED" {
                    json!({ "life_cycle_state": phase, "state_message": "" })
                } else if failing.contains(key) {
                    json!({ "life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "Task failed (injected)" })
                } else {
                    json!({ "life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": "" })
                }
            };
            let tasks: Vec<Value> = run
                .task_keys
                .iter()
                .enumerate()
                .map(|(i, k)| json!({ "task_key": k, "run_id": id * 100 + i as i64, "state": task_state(k) }))
                .collect();
            let any_failed =
                phase == "TERMINATED" && run.task_keys.iter().any(|k| failing.contains(k));
            let state = if phase == "CANCELLED" {
                json!({ "life_cycle_state": "TERMINATED", "result_state": "CANCELED", "state_message": "Run cancelled." })
            } else if phase != "TERMINATED" {
                json!({ "life_cycle_state": phase, "state_message": "" })
            } else if any_failed {
                json!({ "life_cycle_state": "TERMINATED", "result_state": "FAILED", "state_message": "A task failed" })
            } else {
                json!({ "life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": "" })
            };
            ok(json!({
                "run_id": id,
                "job_id": run.job_id,
                "state": state,
                "tasks": tasks,
                "job_parameters": run.job_parameters,
                "overriding_parameters": { "python_params": run.python_params },
                "run_page_url": format!(
                    "http://{}/jobs/{}/runs/{id}",
                    req.header("host").unwrap_or("127.0.0.1"),
                    run.job_id
                ),
            }))
        }
        ("GET", "/api/2.2/jobs/runs/list" | "/api/2.1/jobs/runs/list") => {
            let job = req.query.get("job_id").and_then(|j| j.parse::<i64>().ok());
            let active_only = req.query.get("active_only").is_some_and(|v| v == "true");
            let limit = s.run_polls;
            let runs: Vec<Value> = s
                .runs
                .iter()
                .filter(|(_, r)| job.is_none_or(|j| r.job_id == j))
                .filter(|(_, r)| !active_only || r.active(limit))
                .map(|(id, r)| json!({ "run_id": id, "job_id": r.job_id }))
                .collect();
            ok(json!({ "runs": runs, "has_more": false }))
        }
        ("POST", "/api/2.2/jobs/runs/cancel" | "/api/2.1/jobs/runs/cancel") => {
            let body = try_resp!(body_json(req));
            let id = try_resp!(job_id_of(&body["run_id"]));
            match s.runs.get_mut(&id) {
                Some(r) => {
                    r.cancelled = true;
                    ok(json!({}))
                }
                None => error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    &format!("Run {id} does not exist."),
                ),
            }
        }
        _ => return mlflow(s, req, path),
    };
    Some(resp)
}

fn mlflow(s: &mut State, req: &Request, path: &str) -> Option<Response> {
    let m = req.method.as_str();
    let resp = match (m, path) {
        ("POST", "/api/2.0/mlflow/experiments/create") => {
            let body = try_resp!(body_json(req));
            let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
                return Some(error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "Missing value for required parameter 'name'.",
                ));
            };
            if s.experiments
                .values()
                .any(|e| e["name"] == name && e["lifecycle_stage"] == "active")
            {
                return Some(error(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("Experiment(name={name}) already exists."),
                ));
            }
            let id = s.next_id().to_string();
            s.experiments.insert(
                id.clone(),
                json!({
                    "experiment_id": id, "name": name, "lifecycle_stage": "active",
                    "artifact_location": format!("dbfs:/databricks/mlflow-tracking/{id}"),
                }),
            );
            ok(json!({ "experiment_id": id }))
        }
        ("GET", "/api/2.0/mlflow/experiments/get") => {
            let id = req.query.get("experiment_id").cloned().unwrap_or_default();
            match s.experiments.get(&id) {
                Some(e) => ok(json!({ "experiment": e })),
                None => no_experiment(&id),
            }
        }
        ("POST", "/api/2.0/mlflow/experiments/update") => {
            let body = try_resp!(body_json(req));
            let id = body["experiment_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match s.experiments.get_mut(&id) {
                Some(e) => {
                    if let Some(n) = body["new_name"].as_str() {
                        e["name"] = json!(n);
                    }
                    ok(json!({}))
                }
                None => no_experiment(&id),
            }
        }
        ("POST", "/api/2.0/mlflow/experiments/delete") => {
            let body = try_resp!(body_json(req));
            let id = body["experiment_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // Deleted experiments stay readable with lifecycle_stage "deleted".
            match s.experiments.get_mut(&id) {
                Some(e) if e["lifecycle_stage"] == "active" => {
                    e["lifecycle_stage"] = json!("deleted");
                    ok(json!({}))
                }
                _ => no_experiment(&id),
            }
        }
        ("POST", "/api/2.0/mlflow/registered-models/create") => {
            let body = try_resp!(body_json(req));
            let Some(name) = body["name"].as_str().filter(|n| !n.is_empty()) else {
                return Some(error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "Missing value for required parameter 'name'.",
                ));
            };
            if s.models.contains_key(name) {
                return Some(error(
                    400,
                    "RESOURCE_ALREADY_EXISTS",
                    &format!("Registered Model (name={name}) already exists."),
                ));
            }
            let now = now_ms();
            let model = json!({
                "name": name, "creation_timestamp": now, "last_updated_timestamp": now,
                "user_id": s.user, "description": body["description"].as_str().unwrap_or_default(),
            });
            s.models.insert(name.to_string(), model.clone());
            ok(json!({ "registered_model": model }))
        }
        ("GET", "/api/2.0/mlflow/registered-models/get") => {
            let name = req.query.get("name").cloned().unwrap_or_default();
            match s.models.get(&name) {
                Some(m) => ok(json!({ "registered_model": m })),
                None => no_model(&name),
            }
        }
        ("GET", "/api/2.0/mlflow/databricks/registered-models/get") => {
            let name = req.query.get("name").cloned().unwrap_or_default();
            match s.models.get(&name) {
                Some(m) => ok(json!({ "registered_model_databricks": m })),
                None => no_model(&name),
            }
        }
        ("PATCH", "/api/2.0/mlflow/registered-models/update") => {
            let body = try_resp!(body_json(req));
            let name = body["name"].as_str().unwrap_or_default().to_string();
            match s.models.get_mut(&name) {
                Some(m) => {
                    if let Some(d) = body["description"].as_str() {
                        m["description"] = json!(d);
                    }
                    m["last_updated_timestamp"] = json!(now_ms());
                    ok(json!({ "registered_model": m }))
                }
                None => no_model(&name),
            }
        }
        ("DELETE", "/api/2.0/mlflow/registered-models/delete") => {
            let body = try_resp!(body_json(req));
            let name = body["name"].as_str().unwrap_or_default().to_string();
            match s.models.remove(&name) {
                Some(_) => ok(json!({})),
                None => no_model(&name),
            }
        }
        _ => return None,
    };
    Some(resp)
}
