//! The CLI's `apps.Validate` rules against the Databricks CLI itself: one
//! bundle per rule, `databricks bundle validate` (human and `-o json`) beside
//! `xtask validate --remote` (and `--json`) on one copy, one fake workspace.
//! Their diagnostics (stderr), exit status and JSON documents must be equal.
//! Skipped with a note when the CLI is not built, unless `XTASK_REQUIRE_CLI=1`.

use std::path::Path;

use crate::support::validate::{bundle, validate};
use crate::validate_cli::{Cli, Prepared, cli};

struct Outcome {
    code: i32,
    stderr: String,
    json: serde_json::Value,
}

/// Each tool's human run (status, stderr) and JSON run (document, stderr).
fn run_both(cli: &Cli, src: &Path, target: Option<&str>) -> [(Outcome, Outcome); 2] {
    let run = Prepared::new(cli, src);
    let targs: Vec<&str> = target.map(|t| vec!["-t", t]).unwrap_or_default();
    let theirs = |json: bool| {
        let format: &[&str] = if json { &["-o", "json"] } else { &[] };
        let out = run.databricks(&[format, &targs].concat());
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            json: serde_json::from_slice(&out.stdout).unwrap_or_default(),
        }
    };
    let ours = |json: bool| {
        let mut args = vec!["--remote"];
        if json {
            args.push("--json");
        }
        args.extend(&targs);
        let out = validate(&run.copy, &args, &run.env());
        Outcome {
            code: out.code,
            stderr: out.stderr.clone(),
            json: serde_json::from_str(&out.stdout).unwrap_or_default(),
        }
    };
    [(theirs(false), ours(false)), (theirs(true), ours(true))]
}

/// Both tools agree on `files`; `also` lists other diagnostics texts the CLI
/// may print instead (Go's map order picks which app it names).
fn agree(test: &str, files: &[(&str, &[u8])], target: Option<&str>, also: &[(&str, &str)]) {
    let Some(cli) = cli(test) else { return };
    let dir = bundle(files);
    for (mode, (theirs, ours)) in ["human", "json"]
        .iter()
        .zip(run_both(&cli, dir.path(), target))
    {
        let swapped = also
            .iter()
            .fold(ours.stderr.clone(), |s, (a, b)| s.replace(a, b));
        assert!(
            theirs.stderr == ours.stderr || (!also.is_empty() && theirs.stderr == swapped),
            "{test} ({mode}): diagnostics differ\n--- CLI\n{}\n--- ours\n{}",
            theirs.stderr,
            ours.stderr
        );
        assert!(!ours.stderr.is_empty(), "{test}: a case with no diagnostic");
        assert_eq!(theirs.code, ours.code, "{test} ({mode}): exit status");
        if *mode == "json" {
            assert_eq!(theirs.json, ours.json, "{test}: documents differ");
        }
    }
}

const APP_PY: (&str, &[u8]) = ("app/app.py", b"print('hi')\n");

#[test]
fn an_app_without_a_source_is_refused_as_the_cli_refuses_it() {
    let yml = "bundle:\n  name: apps-missing\nresources:\n  apps:\n    a:\n      name: a\n      description: no source\n";
    agree(
        "apps_missing_source",
        &[("databricks.yml", yml.as_bytes()), APP_PY],
        None,
        &[],
    );
    // In production mode without a root path: the app's error ends the
    // phase before the mode's own error, in both tools.
    let prod = format!("{yml}targets:\n  prod:\n    mode: production\n");
    agree(
        "apps_missing_source_prod",
        &[("databricks.yml", prod.as_bytes()), APP_PY],
        Some("prod"),
        &[],
    );
}

#[test]
fn an_app_with_two_sources_is_refused_as_the_cli_refuses_it() {
    let yml = "bundle:\n  name: apps-both\nresources:\n  apps:\n    a:\n      name: a\n      source_code_path: ./app\n      git_source:\n        branch: main\n";
    agree(
        "apps_both_sources",
        &[("databricks.yml", yml.as_bytes()), APP_PY],
        None,
        &[],
    );
}

#[test]
fn two_apps_on_one_folder_are_refused_as_the_cli_refuses_them() {
    let yml = "bundle:\n  name: apps-dup\nresources:\n  apps:\n    a:\n      name: a\n      source_code_path: ./app\n    b:\n      name: b\n      source_code_path: ./app\n";
    agree(
        "apps_duplicate_path",
        &[("databricks.yml", yml.as_bytes()), APP_PY],
        None,
        // The CLI may meet `b` first: then it names `a`, at a's path.
        &[
            ("'b' has the same", "'x' has the same"),
            ("resource 'a', this", "resource 'b', this"),
            ("'x' has the same", "'a' has the same"),
            ("databricks.yml:10:25", "databricks.yml:7:25"),
        ],
    );
    // A target overrides a's path: both places, the target's first.
    let yml = "bundle:\n  name: apps-dup-t\nresources:\n  apps:\n    a:\n      name: a\n      source_code_path: ./other\n    b:\n      name: b\n      source_code_path: ./app\ntargets:\n  t:\n    resources:\n      apps:\n        a:\n          source_code_path: ./app\n";
    agree(
        "apps_duplicate_path_target",
        &[
            ("databricks.yml", yml.as_bytes()),
            APP_PY,
            ("other/app.py", b""),
        ],
        Some("t"),
        &[
            ("'b' has the same", "'x' has the same"),
            ("resource 'a', this", "resource 'b', this"),
            ("'x' has the same", "'a' has the same"),
            (
                "databricks.yml:10:25",
                "databricks.yml:16:29\n     databricks.yml:7:25",
            ),
        ],
    );
    // Two apps from git share the empty source code path, in the CLI too.
    let yml = "bundle:\n  name: apps-git\nresources:\n  apps:\n    a:\n      name: a\n      git_source:\n        branch: main\n    b:\n      name: b\n      git_source:\n        branch: main\n";
    agree(
        "apps_two_git_sources",
        &[("databricks.yml", yml.as_bytes())],
        None,
        &[
            ("'b' has the same", "'x' has the same"),
            ("resource 'a', this", "resource 'b', this"),
            ("'x' has the same", "'a' has the same"),
        ],
    );
}

const PERMS: &str = "bundle:
  name: apps-perms
resources:
  jobs:
    j:
      name: j
      permissions:
        - level: CAN_VIEW
          group_name: g
    granted:
      name: granted
      permissions:
        - level: CAN_MANAGE_RUN
          service_principal_name: ${resources.apps.a.service_principal_client_id}
    open:
      name: open
  experiments:
    e:
      name: /Shared/e
      permissions:
        - level: CAN_READ
          group_name: g
  apps:
    a:
      name: a
      source_code_path: ./app
      resources:
        - name: job
          job:
            id: ${resources.jobs.j.id}
            permission: CAN_MANAGE_RUN
        - name: granted
          job:
            id: ${resources.jobs.granted.id}
            permission: CAN_MANAGE_RUN
        - name: open
          job:
            id: ${resources.jobs.open.id}
            permission: CAN_VIEW
        - name: experiment
          experiment:
            experiment_id: ${resources.experiments.e.id}
            permission: CAN_EDIT
        - name: warehouse
          sql_warehouse:
            id: abc
            permission: CAN_USE
targets:
  dev:
    default: true
  other:
    resources:
      apps:
        a:
          description: overridden
";

#[test]
fn an_app_left_out_of_its_resources_permissions_is_warned_as_the_cli_warns() {
    let files: &[(&str, &[u8])] = &[("databricks.yml", PERMS.as_bytes()), APP_PY];
    agree("apps_permissions_warning", files, None, &[]);
    // The app written twice (a target adds to it): both places, as the CLI.
    agree("apps_permissions_warning_target", files, Some("other"), &[]);
}
