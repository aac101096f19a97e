//! Databricks Apps, as the CLI's direct engine deploys them
//! (`dresources/app.go`): created without compute (`no_compute=true`)
//! unless `lifecycle.started` is true, then waited for until its compute is
//! active or stopped; updated through an asynchronous update of the app's
//! own fields (waited for), then, when `lifecycle.started` is set, started
//! and its code deployed (true) or stopped (false); re-created under another
//! name (a create retried while an app of that name is still being deleted,
//! as the CLI's), deleted. The deploy-only fields (`source_code_path`,
//! `config`, `git_source`, `lifecycle`) are never part of the app's own
//! calls; the state records them as the CLI's does (`lifecycle` only its
//! `started`).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use super::remote_custom::Custom;
use super::resources::Action;
use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::{ApiError, Client, api_error};

pub(super) const KIND: Custom = Custom {
    kind: "apps",
    prepare: None,
    apply,
    permissions: None,
    observed: &[],
    observe: None,
    to_state,
    from_state: Map::clone,
    access_state: None,
    permission_id: None,
};

const BASE: &str = "/api/2.0/apps";

/// Fields set through app deployments, not the app API.
const DEPLOY_ONLY: [&str; 4] = ["source_code_path", "config", "git_source", "lifecycle"];

/// The fields an update replaces (the CLI's `UpdateMaskFields`).
const UPDATE_MASK: &str = "description,budget_policy_id,usage_policy_id,resources,user_api_scopes,\
                           compute_size,git_repository,telemetry_export_destinations";

/// The CLI's `AppState`: the settings, `lifecycle` kept only for its
/// `started` (`prevent_destroy` is the bundle's alone).
fn to_state(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut out = settings.clone();
    match settings.get("lifecycle").map(|l| &l["started"]) {
        Some(Value::Bool(b)) => out.insert("lifecycle".into(), json!({ "started": b })),
        _ => out.remove("lifecycle"),
    };
    out
}

fn app_fields(settings: &Value) -> Value {
    let mut m = settings.as_object().cloned().unwrap_or_default();
    for k in DEPLOY_ONLY {
        m.remove(k);
    }
    Value::Object(m)
}

fn at(name: &str) -> String {
    format!("{BASE}/{}", escape(name))
}

fn apply(
    client: &Client,
    action: Action,
    old: Option<String>,
    settings: &Value,
    before: Option<&Value>,
) -> Result<Option<String>> {
    if action == Action::Delete {
        if let Some(id) = old {
            client.rest("DELETE", &at(&id), None)?;
        }
        return Ok(None);
    }
    let app = app_fields(settings);
    let name = app["name"]
        .as_str()
        .context("an app needs a name")?
        .to_string();
    // The app as it is now: a deleted one is made again, and its compute
    // status says whether it is started (the CLI's remote state).
    let existing = match old {
        Some(id) => client.rest("GET", &at(&id), None)?.map(|got| (id, got)),
        None => None,
    };
    match existing {
        // The name is the id: another name is another app.
        Some((id, _)) if id != name => client.rest("DELETE", &at(&id), None).map(drop)?,
        Some((id, remote)) => {
            if action == Action::Update {
                if before.is_none_or(|b| app_fields(b) != app) {
                    update(client, &id, &app)?;
                }
                lifecycle(client, &id, settings, &remote)?;
            }
            return Ok(Some(id));
        }
        None => {}
    }
    create(
        client,
        &name,
        &app,
        settings["lifecycle"]["started"] == true,
    )?;
    Ok(Some(name))
}

/// Created with compute only when `lifecycle.started` is true, then waited
/// for until its compute is active or stopped (no code is deployed yet).
fn create(client: &Client, name: &str, app: &Value, start: bool) -> Result<()> {
    let path = match start {
        true => BASE.to_string(),
        false => format!("{BASE}?no_compute=true"),
    };
    let post = || {
        let answer = client.rest("POST", &path, Some(app))?;
        answer
            .with_context(|| format!("{BASE}: not found"))
            .map(drop)
    };
    let deleting = || {
        let app = client.rest("GET", &at(name), None)?;
        Ok(app.is_none_or(|a| a["compute_status"]["state"] == "DELETING"))
    };
    let limit = Duration::from_secs(15 * 60);
    create_retrying(post, deleting, std::thread::sleep, limit)?;
    compute(client, name, &["ACTIVE", "STOPPED"], &["ERROR"]).map(drop)
}

/// `post` (a create), sent again while the app of that name is still being
/// deleted, as the CLI's `DoCreate` retries for up to 15 minutes: "already
/// exists" while `deleting` (gone already, or `DELETING`) says so is worth
/// another try; any other failure, or one after `limit`, is the error.
fn create_retrying(
    mut post: impl FnMut() -> Result<()>,
    mut deleting: impl FnMut() -> Result<bool>,
    mut sleep: impl FnMut(Duration),
    limit: Duration,
) -> Result<()> {
    let mut waited = Duration::ZERO;
    loop {
        let Err(err) = post() else {
            return Ok(());
        };
        let exists = api_error(&err).is_some_and(ApiError::is_exists);
        if !exists || waited >= limit || !deleting()? {
            return Err(err);
        }
        let pause = poll();
        sleep(pause);
        waited += pause;
    }
}

/// The app's own fields replaced, then the update waited for.
fn update(client: &Client, name: &str, app: &Value) -> Result<()> {
    let path = format!("{}/update", at(name));
    let body = json!({ "app": app, "update_mask": UPDATE_MASK });
    let mut first = client.rest("POST", &path, Some(&body))?;
    let read = || match first.take() {
        Some(answer) => Ok(answer),
        None => get(client, &path),
    };
    let what = format!("app {name}: update");
    let fail = ["FAILED", "CANCELED"];
    wait(&what, read, "/status", &["SUCCEEDED"], &fail).map(drop)
}

/// `lifecycle.started`, when set, against the compute as it was found
/// (`remote`): true starts it if not started and deploys the code (every
/// update, as the CLI's); false stops it if started.
fn lifecycle(client: &Client, name: &str, settings: &Value, remote: &Value) -> Result<()> {
    match (settings["lifecycle"]["started"].as_bool(), started(remote)) {
        (Some(true), running) => {
            if !running {
                let path = format!("{}/start", at(name));
                client.rest("POST", &path, Some(&json!({})))?;
                let app = compute(client, name, &["ACTIVE"], &["ERROR", "STOPPED"])?;
                deployments_done(client, name, &app)?;
            }
            deploy_code(client, name, settings)
        }
        (Some(false), true) => {
            client.rest("POST", &format!("{}/stop", at(name)), Some(&json!({})))?;
            compute(client, name, &["STOPPED"], &["ERROR"]).map(drop)
        }
        _ => Ok(()),
    }
}

/// Started: a compute status that is neither stopped nor in error (the
/// CLI's `isComputeStopped`, negated).
pub(super) fn started(app: &Value) -> bool {
    let status = &app["compute_status"];
    status.is_object() && !matches!(status["state"].as_str(), Some("STOPPED" | "ERROR"))
}

/// A snapshot deployment of the app's code, waited for until it succeeds.
/// One refused (another in progress) is sent again once those are done.
fn deploy_code(client: &Client, name: &str, settings: &Value) -> Result<()> {
    let path = format!("{}/deployments", at(name));
    let body = deployment(settings);
    let made = match client.rest("POST", &path, Some(&body)) {
        Ok(Some(made)) => made,
        _ => {
            deployments_done(client, name, &get(client, &at(name))?)?;
            client
                .rest("POST", &path, Some(&body))?
                .with_context(|| format!("{path}: not found"))?
        }
    };
    let id = made["deployment_id"]
        .as_str()
        .with_context(|| format!("{path}: no deployment_id in the answer"))?;
    deployment_done(client, name, id)
}

/// The deployment the CLI sends (`BuildDeployment`): the workspace folder of
/// the code, the command and environment of `config`, the `git_source`.
pub(super) fn deployment(settings: &Value) -> Value {
    let mut d = Map::new();
    d.insert("mode".into(), json!("SNAPSHOT"));
    let path = settings["source_code_path"].as_str().unwrap_or_default();
    if !path.is_empty() {
        d.insert("source_code_path".into(), json!(path));
    }
    if settings["git_source"].is_object() {
        d.insert("git_source".into(), settings["git_source"].clone());
    }
    let config = &settings["config"];
    if config["command"].as_array().is_some_and(|c| !c.is_empty()) {
        d.insert("command".into(), config["command"].clone());
    }
    if let Some(env) = config["env"].as_array().filter(|e| !e.is_empty()) {
        d.insert("env_vars".into(), env.iter().map(env_var).collect());
    }
    Value::Object(d)
}

/// The `config` a deployment ran with (the CLI's `deploymentToAppConfig`):
/// its command and environment, `None` without either.
pub(super) fn deployed_config(d: &Value) -> Option<Value> {
    let mut config = Map::new();
    if d["command"].as_array().is_some_and(|c| !c.is_empty()) {
        config.insert("command".into(), d["command"].clone());
    }
    if let Some(env) = d["env_vars"].as_array().filter(|e| !e.is_empty()) {
        config.insert("env".into(), env.iter().map(env_var).collect());
    }
    (!config.is_empty()).then_some(Value::Object(config))
}

/// One environment variable: its non-empty `name`, `value`, `value_from`.
fn env_var(v: &Value) -> Value {
    let fields = ["name", "value", "value_from"];
    let kept = fields.iter().filter_map(|f| {
        let s = v[*f].as_str().filter(|s| !s.is_empty())?;
        Some((f.to_string(), json!(s)))
    });
    Value::Object(kept.collect())
}

/// The app's active and pending deployments, if in progress, waited for
/// (the CLI's `WaitForDeploymentToComplete`).
fn deployments_done(client: &Client, name: &str, app: &Value) -> Result<()> {
    for which in ["active_deployment", "pending_deployment"] {
        let d = &app[which];
        if d["status"]["state"] == "IN_PROGRESS"
            && let Some(id) = d["deployment_id"].as_str()
        {
            deployment_done(client, name, id)?;
        }
    }
    Ok(())
}

fn deployment_done(client: &Client, name: &str, id: &str) -> Result<()> {
    let path = format!("{}/deployments/{}", at(name), escape(id));
    let what = format!("app {name}: deployment {id}");
    let fail = ["FAILED", "CANCELLED"];
    wait(
        &what,
        || get(client, &path),
        "/status",
        &["SUCCEEDED"],
        &fail,
    )
    .map(drop)
}

/// The app read until its compute is in a state of `done` (the app
/// returned) or of `fail` (an error).
fn compute(client: &Client, name: &str, done: &[&str], fail: &[&str]) -> Result<Value> {
    let what = format!("app {name}: compute");
    wait(
        &what,
        || get(client, &at(name)),
        "/compute_status",
        done,
        fail,
    )
}

fn get(client: &Client, path: &str) -> Result<Value> {
    client
        .rest("GET", path, None)?
        .with_context(|| format!("{path}: not found"))
}

/// `read` until the `state` of its answer's status (at the JSON pointer
/// `status`) is one of `done` (the answer returned) or of `fail` (an error
/// with the status message); 20 minutes at most, as the CLI's waiters.
fn wait(
    what: &str,
    mut read: impl FnMut() -> Result<Value>,
    status: &str,
    done: &[&str],
    fail: &[&str],
) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(20 * 60);
    loop {
        let answer = read()?;
        let s = answer.pointer(status).cloned().unwrap_or_default();
        let state = s["state"].as_str().unwrap_or_default();
        if done.contains(&state) {
            return Ok(answer);
        }
        if fail.contains(&state) {
            bail!(
                "{what}: {state}: {}",
                s["message"].as_str().unwrap_or_default()
            );
        }
        if Instant::now() > deadline {
            bail!("{what}: not done after 20 minutes ({state})");
        }
        std::thread::sleep(poll());
    }
}

/// Between polls (`XTASK_POLL_MS` overrides, for tests).
fn poll() -> Duration {
    let ms = std::env::var("XTASK_POLL_MS")
        .ok()
        .and_then(|v| v.parse().ok());
    Duration::from_millis(ms.unwrap_or(2000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: &str) -> anyhow::Error {
        anyhow::Error::new(ApiError {
            status,
            error_code: Some(code.into()),
            message: "refused".into(),
        })
    }

    /// `create_retrying` over the answers `posts` and `deleting` (each
    /// taken in turn): its result, the posts sent and the pauses taken.
    fn retry(posts: Vec<Result<()>>, deleting: &[bool]) -> (Result<()>, usize, usize) {
        let mut posts = posts.into_iter();
        let (mut sent, mut asked, mut paused) = (0, 0, 0);
        let out = create_retrying(
            || {
                sent += 1;
                posts.next().unwrap_or(Ok(()))
            },
            || {
                asked += 1;
                Ok(deleting[(asked - 1).min(deleting.len() - 1)])
            },
            |_| paused += 1,
            Duration::from_secs(10),
        );
        (out, sent, paused)
    }

    #[test]
    fn a_create_is_retried_only_while_the_app_of_that_name_is_being_deleted() {
        let exists = || Err(api(409, "RESOURCE_ALREADY_EXISTS"));
        let (out, sent, paused) = retry(vec![exists(), exists(), Ok(())], &[true]);
        out.unwrap();
        assert_eq!((sent, paused), (3, 2));
        // Another app of that name, live: the error, at once.
        let (out, sent, _) = retry(vec![exists()], &[false]);
        assert!(format!("{:#}", out.unwrap_err()).contains("RESOURCE_ALREADY_EXISTS"));
        assert_eq!(sent, 1);
        // Any other failure is not retried.
        let (out, sent, _) = retry(vec![Err(api(400, "INVALID_PARAMETER_VALUE"))], &[true]);
        assert!(out.is_err());
        assert_eq!(sent, 1);
        // Deleting for ever: given up after the limit, with the error.
        let forever = (0..100).map(|_| exists()).collect();
        let (out, sent, _) = retry(forever, &[true]);
        assert!(out.is_err());
        let polls = 10_000 / poll().as_millis() as usize;
        assert_eq!(sent, polls + 1);
    }

    #[test]
    fn the_deployment_and_state_are_the_clis() {
        let settings = json!({
            "name": "a",
            "source_code_path": "/Workspace/x/app",
            "config": {"command": ["python", "app.py"], "env": [{"name": "V", "value": "1"}]},
            "lifecycle": {"started": true, "prevent_destroy": true}
        });
        assert_eq!(
            deployment(&settings),
            json!({
                "mode": "SNAPSHOT", "source_code_path": "/Workspace/x/app",
                "command": ["python", "app.py"], "env_vars": [{"name": "V", "value": "1"}]
            })
        );
        let state = to_state(settings.as_object().unwrap());
        assert_eq!(state["lifecycle"], json!({"started": true}));
        let kept = json!({"name": "a", "lifecycle": {"prevent_destroy": true}});
        assert!(!to_state(kept.as_object().unwrap()).contains_key("lifecycle"));
        assert!(started(&json!({"compute_status": {"state": "ACTIVE"}})));
        assert!(started(&json!({"compute_status": {"state": "STARTING"}})));
        assert!(!started(&json!({"compute_status": {"state": "STOPPED"}})));
        assert!(!started(&json!({"name": "a"})));
        let ran =
            json!({"command": [], "env_vars": [{"name": "V", "value": "1", "value_from": ""}]});
        assert_eq!(
            deployed_config(&ran),
            Some(json!({"env": [{"name": "V", "value": "1"}]}))
        );
        assert_eq!(deployed_config(&json!({"mode": "SNAPSHOT"})), None);
    }
}
