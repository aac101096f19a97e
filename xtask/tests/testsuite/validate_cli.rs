//! `validate` against the Databricks CLI itself (v0.298.0, built by
//! `tests/cliref/build.sh` into `target/cliref/bin/`): the same bundle copy,
//! the same fake workspace (the CLI team's `testserver`), `databricks bundle
//! validate -o json` beside `xtask validate --json --remote`. Skipped with a
//! note when the CLI is not built, unless `XTASK_REQUIRE_CLI=1`.
//!
//! The tests that pin what the CLI printed (no CLI needed) are at the end.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::validate::{bundle, copy_tree, target_names, validate};

pub(crate) struct Cli {
    pub(crate) databricks: PathBuf,
    server: Child,
    pub(crate) url: String,
}

impl Drop for Cli {
    fn drop(&mut self) {
        // The server serves until its stdin closes.
        drop(self.server.stdin.take());
        let _ = self.server.wait();
    }
}

pub(crate) fn cli(test: &str) -> Option<Cli> {
    let bin = e2e::workspace_root().join("target/cliref/bin");
    let (databricks, testserver) = (bin.join("databricks"), bin.join("testserver"));
    if !(databricks.is_file() && testserver.is_file()) {
        assert!(
            std::env::var_os("XTASK_REQUIRE_CLI").is_none_or(|v| v != "1"),
            "{test}: {} not built (tests/cliref/build.sh) and XTASK_REQUIRE_CLI=1",
            bin.display()
        );
        eprintln!("{test}: skipped, the Databricks CLI is not built (tests/cliref/build.sh)");
        return None;
    }
    let mut server = Command::new(&testserver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start testserver");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("testserver prints its URL");
    Some(Cli {
        databricks,
        server,
        url: line.trim().to_string(),
    })
}

/// Point every `host:` of the copy's YAML files at the fake workspace.
pub(crate) fn point_hosts_at(dir: &Path, url: &str) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            point_hosts_at(&p, url);
            continue;
        }
        if !p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&p).expect("read yaml");
        let out: Vec<String> = text
            .lines()
            .map(|l| match l.split_once("host: http") {
                Some((head, _)) if head.trim().is_empty() => format!("{head}host: {url}"),
                _ => l.to_string(),
            })
            .collect();
        std::fs::write(&p, out.join("\n") + "\n").expect("write yaml");
    }
}

/// The headlines of the diagnostics (`Error: ...`, `Warning: ...`), without
/// this tool's refusal of kinds it cannot deploy (README, "Where validate
/// differs from the CLI on purpose").
fn headlines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| {
            l.starts_with("Error: ")
                || l.starts_with("Warning: ")
                || l.starts_with("Recommendation: ")
        })
        .filter(|l| !l.contains("are not deployed by this tool"))
        .map(str::to_string)
        .collect()
}

/// Both tools on one copy of `src`, target `t`: the JSON documents and the
/// diagnostics' headlines, or a description of where they differ.
fn compare(cli: &Cli, src: &Path, t: Option<&str>) -> Result<(), String> {
    compare_with(cli, src, t, &["--include-locations"])
}

/// [`compare`] with `extra` flags given to both tools.
fn compare_with(cli: &Cli, src: &Path, t: Option<&str>, extra: &[&str]) -> Result<(), String> {
    let run = Prepared::new(cli, src);
    let mut targs: Vec<&str> = Vec::new();
    if let Some(t) = t {
        targs.extend(["-t", t]);
    }
    let theirs = run.databricks(&[&["-o", "json"], extra, &targs].concat());
    let mut args = vec!["--json", "--remote"];
    args.extend(extra);
    args.extend(&targs);
    let ours = validate(&run.copy, &args, &run.env());
    let (their_json, our_json): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&theirs.stdout).map_err(|e| format!("CLI JSON: {e}"))?,
        serde_json::from_str(&ours.stdout).map_err(|e| format!("our JSON: {e}\n{}", ours.all()))?,
    );
    let name = format!("{} -t {}", src.display(), t.unwrap_or("(default)"));
    if their_json != our_json {
        return Err(format!(
            "{name}: JSON differs\n--- CLI\n{their_json:#}\n--- ours\n{our_json:#}"
        ));
    }
    let their_diags = headlines(&String::from_utf8_lossy(&theirs.stderr));
    let our_diags = headlines(&ours.stderr);
    if their_diags != our_diags {
        return Err(format!(
            "{name}: diagnostics differ\n--- CLI\n{their_diags:#?}\n--- ours\n{our_diags:#?}"
        ));
    }
    Ok(())
}

/// A copy of a bundle pointed at the CLI's server, and the environment both
/// tools validate it in: a home and a token of its own.
pub(crate) struct Prepared<'a> {
    cli: &'a Cli,
    _tmp: tempfile::TempDir,
    pub(crate) copy: PathBuf,
    home: tempfile::TempDir,
    token: String,
}

impl<'a> Prepared<'a> {
    pub(crate) fn new(cli: &'a Cli, src: &Path) -> Prepared<'a> {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join("b");
        copy_tree(src, &copy);
        point_hosts_at(&copy, &cli.url);
        Prepared {
            cli,
            _tmp: tmp,
            copy,
            home: tempfile::tempdir().unwrap(),
            token: format!("dbapi0{}", uuid_like()),
        }
    }

    pub(crate) fn env(&self) -> [(&str, &str); 3] {
        [
            ("DATABRICKS_HOST", self.cli.url.as_str()),
            ("DATABRICKS_TOKEN", self.token.as_str()),
            ("HOME", self.home.path().to_str().unwrap()),
        ]
    }

    /// `databricks bundle validate <args>` in the copy, with only this
    /// environment and `PATH`.
    pub(crate) fn databricks(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.cli.databricks)
            .args(["bundle", "validate"])
            .args(args)
            .current_dir(&self.copy)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env())
            .output()
            .expect("run databricks")
    }
}

pub(crate) fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}x{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn targets_of(dir: &Path) -> Vec<Option<String>> {
    let text = std::fs::read_to_string(dir.join("databricks.yml")).unwrap_or_default();
    let t = target_names(&text);
    if t.is_empty() {
        vec![None]
    } else {
        t.into_iter().map(Some).collect()
    }
}

#[test]
fn this_bundle_and_the_corpus_resolve_as_the_cli_resolves_them() {
    let Some(cli) = cli("this_bundle_and_the_corpus_resolve_as_the_cli_resolves_them") else {
        return;
    };
    let mut dirs = vec![e2e::workspace_root().join("bundle")];
    if let Some(corpus) =
        e2e::corpus_dir("this_bundle_and_the_corpus_resolve_as_the_cli_resolves_them")
    {
        let mut found: Vec<PathBuf> = std::fs::read_dir(corpus)
            .expect("corpus")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("databricks.yml").is_file())
            .collect();
        found.sort();
        dirs.extend(found);
    }
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in &dirs {
        for t in targets_of(dir) {
            checked += 1;
            if let Err(e) = compare(&cli, dir, t.as_deref()) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Small bundles for the rules `validate` took from the CLI: schema
/// warnings, permissions, presets in development mode, artifacts.
/// A probe: its name and its files (path, content).
type Probe = (&'static str, Vec<(&'static str, &'static [u8])>);

fn probes() -> Vec<Probe> {
    vec![
        ("schema", vec![("databricks.yml", SCHEMA_PROBE.as_bytes()), ("a.yml", SCHEMA_PROBE_INCLUDE.as_bytes())]),
        (
            "permissions",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: p\npermissions:\n  - level: CAN_VIEW\n    group_name: users\n  - level: CAN_RUN\n    user_name: a@x.com\n  - level: CAN_MANAGE\n    user_name: tester@databricks.com\nresources:\n  jobs:\n    j:\n      permissions:\n        - level: CAN_MANAGE\n          group_name: users\n  experiments:\n    e:\n      name: /Shared/x\n",
            )],
        ),
        (
            "development",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: d\ntargets:\n  dev:\n    mode: development\nresources:\n  experiments:\n    e:\n      name: /Shared/x\n  jobs:\n    j:\n      name: j\n      tasks:\n        - task_key: b\n        - task_key: a\n      schedule:\n        quartz_cron_expression: 0 0 * * * ?\n        timezone_id: UTC\n",
            )],
        ),
        (
            "artifacts",
            vec![
                ("databricks.yml", b"bundle:\n  name: w\nartifacts:\n  whl:\n    type: whl\n    build: echo\n    path: ./pkg\n"),
                ("pkg/setup.py", b""),
            ],
        ),
    ]
}

#[test]
fn probe_bundles_resolve_as_the_cli_resolves_them() {
    let Some(cli) = cli("probe_bundles_resolve_as_the_cli_resolves_them") else {
        return;
    };
    let mut failures = Vec::new();
    for (name, files) in probes() {
        let dir = bundle(&files);
        for t in targets_of(dir.path()) {
            if let Err(e) = compare(&cli, dir.path(), t.as_deref()) {
                failures.push(format!("probe {name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Bundles for what the CLI does on its way (issue 15): what it prints when
/// loading stops at an error, `lookup:` variables answered by the
/// workspace, a written variable `value`, and its resource fixups.
fn resolution_probes() -> Vec<Probe> {
    vec![
        (
            "no default target: the configuration as loaded",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: t\nvariables:\n  a:\n    default: x\n  c:\n    type: complex\n    default: {k: 1}\nresources:\n  jobs:\n    j:\n      name: j\ntargets:\n  dev:\n    variables:\n      a: y\n      c: {k: 2}\n  prod:\n    variables:\n      a:\n        default: z\n",
            )],
        ),
        (
            "an include that is not YAML",
            vec![
                ("databricks.yml", b"bundle:\n  name: i\ninclude:\n  - run.py\n"),
                ("run.py", b"print(1)\n"),
            ],
        ),
        (
            "an invalid engine",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: e\n  engine: nope\nresources:\n  jobs:\n    j:\n      name: j\n",
            )],
        ),
        (
            "lookups answered by the workspace",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: l\nvariables:\n  policy:\n    lookup:\n      cluster_policy: some-test-cluster-policy\n  pool:\n    lookup:\n      instance_pool: some-${var.suffix}\n  cluster:\n    lookup:\n      cluster: some-test-cluster\n  suffix:\n    default: test-instance-pool\nresources:\n  jobs:\n    j:\n      name: ${var.cluster}\n      job_clusters:\n        - job_cluster_key: k\n          new_cluster:\n            policy_id: ${var.policy}\n            instance_pool_id: ${var.pool}\n            spark_version: '15.4.x-scala2.12'\n            num_workers: 1\n",
            )],
        ),
        (
            "a lookup the workspace cannot answer",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: l\nvariables:\n  policy:\n    lookup:\n      cluster_policy: no-such-policy\n",
            )],
        ),
        (
            "a written value, merged after interpolation",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: v\nvariables:\n  cluster:\n    type: complex\n    value:\n      node_type_id: DS3\n      num_workers: 2\n  foo:\n    value: bar\nworkspace:\n  root_path: /Workspace/Shared/${var.foo}\nresources:\n  jobs:\n    job1:\n      job_clusters:\n        - new_cluster:\n            node_type_id: random\n            spark_version: 13.3.x-scala2.12\ntargets:\n  dev:\n    resources:\n      jobs:\n        job1:\n          job_clusters:\n            - new_cluster: ${var.cluster}\n",
            )],
        ),
        (
            "resource fixups",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: f\nresources:\n  clusters:\n    pooled:\n      cluster_name: p\n      spark_version: 13.3.x-scala2.12\n      instance_pool_id: ip-1\n      node_type_id: i3.xlarge\n      enable_elastic_disk: true\n      num_workers: 1\n      aws_attributes:\n        availability: ON_DEMAND\n        instance_profile_arn: arn:aws:iam::1:instance-profile/p\n  model_serving_endpoints:\n    e:\n      name: e\n      config:\n        served_models:\n          - model_name: m\n            model_version: '1'\n            scale_to_zero_enabled: true\n            workload_size: Small\n  dashboards:\n    d:\n      display_name: d\n      warehouse_id: w\n      parent_path: already-set\n",
            )],
        ),
        (
            "pipeline library globs",
            vec![
                ("databricks.yml", b"bundle:\n  name: g\ninclude:\n  - resources/*.yml\n"),
                (
                    "resources/p.yml",
                    b"resources:\n  pipelines:\n    p:\n      name: p\n      libraries:\n        - notebook: {path: ../nb/*}\n        - file: {path: ../files/*.py}\n        - file: {path: ../files/one.py}\n        - notebook: {path: /Workspace/Shared/*.py}\n",
                ),
                ("nb/b.py", b"# Databricks notebook source\nprint(2)\n"),
                ("nb/a.py", b"# Databricks notebook source\nprint(1)\n"),
                ("files/one.py", b"print(1)\n"),
                ("files/two.py", b"print(2)\n"),
            ],
        ),
        (
            "a variable default with nothing after it",
            vec![(
                "databricks.yml",
                b"variables:\n  a:\n    description: empty\n    default:\nbundle:\n  name: e${var.a}\n",
            )],
        ),
        (
            "a profile on a machine with no config file",
            vec![(
                "databricks.yml",
                b"bundle:\n  name: p\nworkspace:\n  profile: authors-profile\nresources:\n  jobs:\n    j:\n      name: j\n",
            )],
        ),
    ]
}

#[test]
fn what_the_cli_resolves_on_its_way_resolves_alike() {
    let Some(cli) = cli("what_the_cli_resolves_on_its_way_resolves_alike") else {
        return;
    };
    let mut failures = Vec::new();
    for (name, files) in resolution_probes() {
        let dir = bundle(&files);
        let mut targets = targets_of(dir.path());
        if targets.len() > 1 {
            targets.push(None);
        }
        for t in targets {
            if let Err(e) = compare_with(&cli, dir.path(), t.as_deref(), &[]) {
                failures.push(format!("probe {name}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const SCHEMA_PROBE: &str = "bundle:
  name: t1
foo: 1
include:
  - a.yml
resources:
  jobs:
    j:
      name: x
      max_concurrent_runs: \"many\"
      tasks:
        - task_key: a
          notebok_task:
            notebook_path: ./nb.py
          new_cluster:
            num_workers: one
      schedule:
        quartz_cron_expression: \"1\"
        pause_status: SOMETIMES
      timeout_seconds: 1.5
  pipelines:
    p:
      catalog: 3
      clusters:
        - label: default
          autoscale:
            mode: FAST
";

const SCHEMA_PROBE_INCLUDE: &str = "bar:
  x: 1
holder: &h
  y: 1
resources:
  experiments:
    e:
      name: /Shared/x
      description: d
";

/// What `databricks bundle validate` v0.298.0 printed on stderr for the
/// schema probe (run once by hand with the CLI and the test server; the
/// side-by-side test above checks it again whenever the CLI is built).
const SCHEMA_PROBE_CLI_STDERR: &str = "Warning: unknown field: foo
  in databricks.yml:3:1

Warning: cannot parse \"many\" as an integer
  at resources.jobs.j.max_concurrent_runs
  in databricks.yml:10:28

Warning: unknown field: notebok_task
  at resources.jobs.j.tasks[0]
  in databricks.yml:13:11

Warning: cannot parse \"one\" as an integer
  at resources.jobs.j.tasks[0].new_cluster.num_workers
  in databricks.yml:16:26

Warning: cannot accurately represent \"1.5\" as integer due to precision loss
  at resources.jobs.j.timeout_seconds
  in databricks.yml:20:24

Warning: unknown field: bar
  in a.yml:1:1

Warning: unknown field: description
  at resources.experiments.e
  in a.yml:9:7

Warning: required field \"max_workers\" is not set
  at resources.pipelines.p.clusters[0].autoscale
  in databricks.yml:27:13

Warning: required field \"min_workers\" is not set
  at resources.pipelines.p.clusters[0].autoscale
  in databricks.yml:27:13

Warning: required field \"timezone_id\" is not set
  at resources.jobs.j.schedule
  in databricks.yml:18:9

Warning: invalid value \"FAST\" for enum field. Valid values are [ENHANCED LEGACY]
  at resources.pipelines.p.clusters[0].autoscale.mode
  in databricks.yml:27:19

Warning: invalid value \"SOMETIMES\" for enum field. Valid values are [PAUSED UNPAUSED]
  at resources.jobs.j.schedule.pause_status
  in databricks.yml:19:23

";

#[test]
fn schema_problems_are_warned_as_the_cli_warns_them() {
    let dir = bundle(&[
        ("databricks.yml", SCHEMA_PROBE.as_bytes()),
        ("a.yml", SCHEMA_PROBE_INCLUDE.as_bytes()),
    ]);
    let run = validate(dir.path(), &["--json"], &[]);
    assert_eq!(run.stderr, SCHEMA_PROBE_CLI_STDERR, "{}", run.all());
    let json = run.json();
    let j = &json["resources"]["jobs"]["j"];
    // Left out: the mistyped values and the unknown fields; converted: a
    // number where a string is expected.
    assert_eq!(
        j["max_concurrent_runs"], 1,
        "the default, since the value was left out"
    );
    assert!(j.get("timeout_seconds").is_none() && j["tasks"][0].get("notebok_task").is_none());
    assert_eq!(json["resources"]["pipelines"]["p"]["catalog"], "3");
    assert!(
        json["resources"]["experiments"]["e"]
            .get("description")
            .is_none()
    );
    // `--strict` makes the warnings errors.
    let strict = validate(dir.path(), &["--strict"], &[]);
    assert_eq!(strict.code, 1, "{}", strict.all());
    assert!(
        strict
            .stderr
            .contains("12 warnings were found. Warnings are not allowed in strict mode"),
        "{}",
        strict.stderr
    );
}

#[test]
fn development_mode_adds_what_the_cli_adds() {
    // Measured with the CLI on the `development` probe above.
    let files = &probes()[2].1;
    let dir = bundle(files);
    let run = validate(dir.path(), &["--json", "-t", "dev"], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    let json = run.json();
    assert_eq!(
        json["resources"]["experiments"]["e"]["tags"],
        serde_json::json!([{"key": "dev", "value": "tester"}])
    );
    let j = &json["resources"]["jobs"]["j"];
    assert_eq!(j["tasks"][0]["task_key"], "a", "tasks sorted by key");
    assert_eq!(j["schedule"]["pause_status"], "PAUSED");
    assert_eq!(json["bundle"]["environment"], "dev");
    assert_eq!(
        json["bundle"]["git"],
        serde_json::json!({"bundle_root_path": "."})
    );
    // Keys in the CLI's order: sorted.
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(run.stdout.find("\"bundle\"").unwrap() < run.stdout.find("\"resources\"").unwrap());
}

#[test]
fn an_experiment_description_is_an_unknown_field() {
    // The CLI: "Warning: unknown field: description" (experiments have none);
    // this repository's bundle once had one.
    let yml = "bundle:\n  name: e\nresources:\n  experiments:\n    experiment:\n      name: /Shared/x\n      description: d\n";
    let dir = bundle(&[("databricks.yml", yml.as_bytes())]);
    let run = validate(dir.path(), &[], &[]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stderr,
        "Warning: unknown field: description\n  at resources.experiments.experiment\n  in databricks.yml:7:7\n\n"
    );
    assert!(
        run.stdout.ends_with("\nFound 1 warning\n"),
        "{}",
        run.stdout
    );
}
