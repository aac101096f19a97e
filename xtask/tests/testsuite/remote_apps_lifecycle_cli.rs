//! Apps with `lifecycle: {started: ...}` on the remote backend, beside the
//! reference CLI (direct engine) on the same Databricks CLI test server:
//! created with or without compute, started with their code deployed,
//! stopped, started again after a stop out of band, as the CLI's requests
//! and `resources.json` entries show; refused on the Terraform engine with
//! the CLI's error.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::remote_kinds::start;
use crate::support::cli_remote::{
    CliRemote, CliWorkspace, assert_same_bodies, cli_state, root, state_entries,
};
use crate::support::deploy::text;
use e2e::cli_server::{Recorded, cli_binary};

/// One app, its code beside the YAML, with `lifecycle.started: STARTED`.
const APP_YML: &str = "\
resources:
  apps:
    app:
      name: scorer-app
      description: first app
      source_code_path: ./app
      config:
        command: [python, app.py]
        env:
          - name: MODEL
            value: scorer
      lifecycle:
        started: STARTED
";

fn app_yml(started: bool) -> String {
    APP_YML.replace("STARTED", &started.to_string())
}

/// The bundle with `yml`, its apps' code beside it (each app a folder of
/// its own, as the CLI requires), and the CLI's copy of it.
fn start_app(test: &str, yml: &str) -> Option<(CliRemote, std::path::PathBuf, tempfile::TempDir)> {
    let r = start(test, yml)?;
    for folder in ["app", "on", "unset", "off"] {
        r.repo
            .write(&format!("resources/{folder}/app.py"), "print('serving')\n");
    }
    let cli = cli_binary(test)?;
    let copy = r.bundle_copy();
    Some((r, cli, copy))
}

/// The bundle's YAML changed the same way in ours and the CLI's copy.
fn write_both(r: &CliRemote, copy: &Path, yml: &str) {
    r.write_both(copy, "resources/kinds.yml", yml);
}

/// Requests that change an app (`METHOD path?query`), in order.
fn app_writes(reqs: &[Recorded]) -> Vec<String> {
    let apps = reqs
        .iter()
        .filter(|q| q.method != "GET" && q.path.starts_with("/api/2.0/apps"));
    apps.map(|q| match q.query.is_empty() {
        true => q.line(),
        false => format!("{}?{}", q.line(), q.query),
    })
    .collect()
}

/// The compute state of app `name` in the workspace of `token`.
fn compute(r: &CliRemote, token: &str, name: &str) -> String {
    let (status, body) = r
        .server
        .call_as(token, "GET", &format!("/api/2.0/apps/{name}"), b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let app: Value = serde_json::from_slice(&body).unwrap();
    app["compute_status"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn cli_token(r: &CliRemote) -> String {
    format!("{}-cli", r.server.token())
}

/// Our deploy, then the CLI's in its own workspace: the app requests of
/// each are the same, in the same order (`sorted`: in any order, for apps
/// the CLI deploys at once), with the same bodies.
fn deploy_same(r: &CliRemote, cli: &Path, copy: &Path, sorted: bool) -> Vec<String> {
    let (ours, theirs) = r.deploy_beside(cli, copy);
    let (mut w, mut t) = (app_writes(&ours), app_writes(&theirs));
    if sorted {
        w.sort();
        t.sort();
    }
    assert_eq!(w, t, "ours, then the CLI's");
    if !w.is_empty() {
        assert_same_bodies(&ours, &theirs, &["POST /api/2.0/apps"], |v| v);
    }
    w
}

/// The `resources.apps.` entries of our `resources.json` and the CLI's.
fn same_state(r: &CliRemote, copy: &Path) {
    let ours = r.server.state(&root("test"), "resources.json");
    let theirs = cli_state(copy);
    let (o, t) = (
        state_entries(&ours, "resources.apps."),
        state_entries(&theirs, "resources.apps."),
    );
    assert_eq!(o, t, "ours, then the CLI's");
}

/// Three apps, started, left out and stopped: created as the CLI creates
/// them (`no_compute=true` unless started), their compute as the CLI
/// leaves it, and recorded as it records them (`lifecycle` in the state).
#[test]
fn apps_are_created_with_compute_only_when_started_as_the_cli() {
    let test = "apps_are_created_with_compute_only_when_started_as_the_cli";
    let three = "\
resources:
  apps:
    on:
      name: app-on
      source_code_path: ./on
      lifecycle:
        started: true
    unset:
      name: app-unset
      description: no lifecycle
      source_code_path: ./unset
    off:
      name: app-off
      source_code_path: ./off
      lifecycle:
        started: false
";
    let Some((r, cli, copy)) = start_app(test, three) else {
        return;
    };
    let w = deploy_same(&r, &cli, copy.path(), true);
    assert_eq!(
        w,
        [
            "POST /api/2.0/apps",
            "POST /api/2.0/apps?no_compute=true",
            "POST /api/2.0/apps?no_compute=true",
        ]
    );
    let token = r.server.token().to_string();
    for (name, state) in [
        ("app-on", "ACTIVE"),
        ("app-unset", "STOPPED"),
        ("app-off", "STOPPED"),
    ] {
        assert_eq!(compute(&r, &token, name), state, "{name}");
        assert_eq!(
            compute(&r, &cli_token(&r), name),
            state,
            "{name}, the CLI's"
        );
    }
    same_state(&r, copy.path());
    let ours = r.server.state(&root("test"), "resources.json");
    let on = &ours["state"]["resources.apps.on"]["state"];
    assert_eq!(on["lifecycle"], json!({"started": true}), "{ours}");
    // Nothing deployed yet: no code folder there, which is no drift.
    let plan = r.ok(&["plan"]);
    let actions: Vec<&Value> = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["action"])
        .collect();
    assert!(actions.iter().all(|a| *a == "unchanged"), "{plan}");

    // Left out, then `false` on a stopped app: no request. (The CLI keeps
    // its old entry there, as for any resource whose workspace already has
    // the new settings; ours takes the new one, see `remote_drift_cli`.)
    let off = three.replace(
        "description: no lifecycle\n",
        "description: no lifecycle\n      lifecycle:\n        started: false\n",
    );
    write_both(&r, copy.path(), &off);
    assert!(deploy_same(&r, &cli, copy.path(), true).is_empty());
    // Then `true`: started and its code deployed.
    write_both(
        &r,
        copy.path(),
        &off.replacen("started: false", "started: true", 1),
    );
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(
        w,
        [
            "POST /api/2.0/apps/app-unset/start",
            "POST /api/2.0/apps/app-unset/deployments",
        ]
    );
    same_state(&r, copy.path());
}

/// Stopped, then `started: true`: started and its code deployed (the
/// command and environment of `config` with it), no update; then
/// `started: false`: stopped. Each with the CLI's requests and state.
#[test]
fn toggling_started_starts_and_deploys_or_stops_the_app_as_the_cli() {
    let test = "toggling_started_starts_and_deploys_or_stops_the_app_as_the_cli";
    let Some((r, cli, copy)) = start_app(test, &app_yml(false)) else {
        return;
    };
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(w, ["POST /api/2.0/apps?no_compute=true"]);
    assert_eq!(compute(&r, r.server.token(), "scorer-app"), "STOPPED");

    write_both(&r, copy.path(), &app_yml(true));
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(
        w,
        [
            "POST /api/2.0/apps/scorer-app/start",
            "POST /api/2.0/apps/scorer-app/deployments",
        ]
    );
    assert_eq!(compute(&r, r.server.token(), "scorer-app"), "ACTIVE");
    let app = r.server.get_json("/api/2.0/apps/scorer-app").unwrap();
    let active = &app["active_deployment"];
    assert_eq!(active["command"], json!(["python", "app.py"]), "{app}");
    assert_eq!(
        active["source_code_path"],
        json!(format!("{}/files/resources/app", root("test")))
    );
    same_state(&r, copy.path());
    // Deployed as the bundle says: nothing to do.
    let plan = r.ok(&["plan"]);
    assert_eq!(plan["resources"][0]["action"], "unchanged", "{plan}");

    write_both(&r, copy.path(), &app_yml(false));
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(w, ["POST /api/2.0/apps/scorer-app/stop"]);
    assert_eq!(compute(&r, r.server.token(), "scorer-app"), "STOPPED");
    same_state(&r, copy.path());
}

/// Started, then stopped out of band: `plan` names `lifecycle.started`, as
/// the CLI's plan shows an update, and `deploy` starts it and deploys its
/// code with the CLI's requests; then nothing is left to do.
#[test]
fn an_app_stopped_out_of_band_is_started_again_as_the_cli() {
    let test = "an_app_stopped_out_of_band_is_started_again_as_the_cli";
    let Some((r, cli, copy)) = start_app(test, &app_yml(true)) else {
        return;
    };
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(w, ["POST /api/2.0/apps"]);
    // Deployed once more: the code deployed (no deployment at a create,
    // so `config` differs there, as for the CLI).
    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(w, ["POST /api/2.0/apps/scorer-app/deployments"]);
    for token in [r.server.token().to_string(), cli_token(&r)] {
        let stop = "/api/2.0/apps/scorer-app/stop";
        let (status, body) = r.server.call_as(&token, "POST", stop, b"{}");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let plan = r.ok(&["plan"]);
    let app = &plan["resources"][0];
    assert_eq!(app["action"], "update", "{plan}");
    assert_eq!(app["drift"], json!(["lifecycle.started"]), "{plan}");
    let theirs = r.databricks(&cli, copy.path(), &["bundle", "plan"], CliWorkspace::Own);
    assert!(
        text(&theirs).contains("update apps.app"),
        "{}",
        text(&theirs)
    );

    let w = deploy_same(&r, &cli, copy.path(), false);
    assert_eq!(
        w,
        [
            "POST /api/2.0/apps/scorer-app/start",
            "POST /api/2.0/apps/scorer-app/deployments",
        ]
    );
    assert_eq!(compute(&r, r.server.token(), "scorer-app"), "ACTIVE");
    let plan = r.ok(&["plan"]);
    assert_eq!(plan["resources"][0]["action"], "unchanged", "{plan}");
    same_state(&r, copy.path());
}

/// A deployment of app `scorer-app` made out of band (another command and
/// environment, a git source), in our workspace and the CLI's.
fn deployed_out_of_band(r: &CliRemote, deployment: &Value) {
    let body = deployment.to_string();
    for token in [r.server.token().to_string(), cli_token(r)] {
        let at = "/api/2.0/apps/scorer-app/deployments";
        let (status, got) = r.server.call_as(&token, "POST", at, body.as_bytes());
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&got));
    }
}

/// `plan` names `drift` for the app, the CLI's plan shows an update, and
/// `deploy` deploys the bundle's code again as the CLI's does; then
/// nothing is left to do.
fn put_back(r: &CliRemote, cli: &Path, copy: &Path, drift: Value) {
    let plan = r.ok(&["plan"]);
    assert_eq!(plan["resources"][0]["drift"], drift, "{plan}");
    let theirs = r.databricks(cli, copy, &["bundle", "plan"], CliWorkspace::Own);
    assert!(
        text(&theirs).contains("update apps.app"),
        "{}",
        text(&theirs)
    );
    let w = deploy_same(r, cli, copy, false);
    assert_eq!(w, ["POST /api/2.0/apps/scorer-app/deployments"]);
    let plan = r.ok(&["plan"]);
    assert_eq!(plan["resources"][0]["action"], "unchanged", "{plan}");
}

/// The app's code deployed out of band with another `config`, then with a
/// `git_source` the bundle does not set: each is drift (read from the
/// active deployment, as the CLI reads it) that `deploy` replaces with
/// the bundle's deployment, with the CLI's request.
#[test]
fn a_deployment_made_out_of_band_is_replaced_by_the_bundles_as_the_cli() {
    let test = "a_deployment_made_out_of_band_is_replaced_by_the_bundles_as_the_cli";
    let Some((r, cli, copy)) = start_app(test, &app_yml(true)) else {
        return;
    };
    deploy_same(&r, &cli, copy.path(), false);
    deploy_same(&r, &cli, copy.path(), false);
    let code = format!("{}/files/resources/app", root("test"));
    let env = json!([{"name": "MODEL", "value": "changed"}, {"name": "NEW", "value": "new"}]);
    deployed_out_of_band(
        &r,
        &json!({"mode": "SNAPSHOT", "source_code_path": code,
                "command": ["streamlit", "run", "dashboard.py"], "env_vars": env}),
    );
    put_back(
        &r,
        &cli,
        copy.path(),
        json!(["config.command", "config.env"]),
    );
    deployed_out_of_band(
        &r,
        &json!({"mode": "SNAPSHOT", "source_code_path": code,
                "git_source": {"branch": "feature-branch"},
                "command": ["python", "app.py"],
                "env_vars": [{"name": "MODEL", "value": "scorer"}]}),
    );
    put_back(&r, &cli, copy.path(), json!(["git_source"]));
}

/// `databricks <args>` on the Terraform engine, in the CLI's own workspace.
fn cli_on_terraform(r: &CliRemote, cli: &Path, dir: &Path, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(cli)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", cli_token(r))
        .env("DATABRICKS_BUNDLE_ENGINE", "terraform")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    text(&out)
}

/// A target on the Terraform engine: `plan` and `deploy` refuse
/// `lifecycle.started` with the CLI's error at the CLI's place, sending
/// nothing to apps and uploading nothing; `validate` accepts it, as the
/// CLI's does.
#[test]
fn started_on_the_terraform_engine_is_refused_as_the_cli_refuses_it() {
    let test = "started_on_the_terraform_engine_is_refused_as_the_cli_refuses_it";
    let Some((r, cli, copy)) = start_app(test, &app_yml(true)) else {
        return;
    };
    let yml = crate::remote_kinds::DATABRICKS_YML
        .replace("  name: demo\n", "  name: demo\n  engine: terraform\n");
    r.write_both(copy.path(), "databricks.yml", &yml);
    let error = "Error: lifecycle.started is only supported in direct deployment mode\n";
    let theirs = cli_on_terraform(&r, &cli, copy.path(), &["bundle", "plan"]);
    let at = theirs
        .split(error)
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("the CLI's error: {theirs}"));
    assert_eq!(at, "  in resources/kinds.yml:13:18");
    let mark = r.server.mark();
    for args in [&["plan"][..], &["deploy"][..]] {
        let out = r.run(args);
        assert!(!out.status.success(), "{}", text(&out));
        assert!(
            text(&out).contains(&format!("{error}{at}\n")),
            "{}",
            text(&out)
        );
    }
    let sent = r.server.requests()[mark..].to_vec();
    assert!(app_writes(&sent).is_empty(), "{:?}", app_writes(&sent));
    assert!(r.uploaded("test", mark).is_empty());
    let out = r.run(&["validate"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("lifecycle"), "{}", text(&out));
}
