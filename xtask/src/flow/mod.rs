//! The delivery gates: `test`, `stage`, `release` (DESIGN §7).
//!
//! The gates move one thing, a deployment's bytes identified by its digest:
//! `test` builds and checks it, `stage` copies what passed to staging,
//! `release` copies what staging holds to prod. Nothing is rebuilt after
//! `test`; every refusal says why and what to do.

mod gitcheck;
mod record;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};

use crate::config::Bundle;
use crate::deploy::{self, DeployOptions};
use crate::diag::{Diagnostic, Failed};
use crate::project::Project;
use record::{Outcome, StepRecord, TestRecord};

const TEST_ENV: &str = "test";
const STAGING_ENV: &str = "staging";
const PROD_ENV: &str = "prod";

/// How a gate was asked to run (plain data: the commands layer fills it).
#[derive(Debug, Clone, Copy, Default)]
pub struct GateOptions {
    /// Take the deploy lock even if another deploy holds it (recorded).
    pub force_lock: bool,
    /// `release` only: show what would be released, writing nothing.
    pub dry_run: bool,
}

/// A gate writes one env only, with the configuration that was tested:
/// `-t` naming another env, or `--var` overrides, are refused.
fn check_gate(project: &Project, gate: &str, env: &str, no_vars: bool) -> Result<()> {
    let mut why = Vec::new();
    if let Some(asked) = project.settings.env.as_deref().filter(|e| *e != env) {
        why.push(format!(
            "`{gate}` deploys only to env `{env}`, not `{asked}`: drop `-t {asked}` \
             (use `cargo xtask deploy -t {asked}` to deploy there)"
        ));
    }
    if no_vars && !project.settings.vars.is_empty() {
        why.push(format!(
            "`{gate}` promotes the configuration `test` ran with; variable overrides ({}) \
             would change it untested: drop --var",
            project.settings.vars.join(", ")
        ));
    }
    if why.is_empty() {
        return Ok(());
    }
    refuse(project, gate, &why)
}

pub fn test_cmd(project: &Project, args: &GateOptions) -> Result<()> {
    check_gate(project, "test", TEST_ENV, false)?;
    let record = run_test_gate(project, args)?;
    finish(project, &record.summary_json(), record.passed)
}

pub fn stage_cmd(project: &Project, args: &GateOptions) -> Result<()> {
    check_gate(project, "stage", STAGING_ENV, true)?;
    let staging = load(project, STAGING_ENV)?;
    let test = load(project, TEST_ENV)?;
    let digest = deploy::plan(project, &test, &DeployOptions::default())?.digest;
    let record = match passing_record(project, &test, &digest)? {
        Some(record) => {
            say(
                project,
                format!(
                    "`test` passed digest {} at {}: promoting it",
                    short(&digest),
                    record.finished_at
                ),
            );
            record
        }
        None => {
            say(
                project,
                format!(
                    "no passing `test` record for digest {}: running `test` first",
                    short(&digest)
                ),
            );
            let record = run_test_gate(project, args)?;
            if !record.passed {
                finish(project, &record.summary_json(), false)?;
            }
            record
        }
    };
    let tested = record.digest.clone().unwrap_or_default();
    // `promote` records where the bytes came from, with test's record.
    let mut opts = deploy_options(project, args, Map::new());
    opts.expect_digest = Some(tested.clone());
    let report = deploy::promote(project, &staging, TEST_ENV, &opts)?;
    warn(project, &report.warnings);
    if report.digest != tested {
        bail!(
            "staging holds digest {} after the copy, expected {}: nothing was released",
            report.digest,
            tested
        );
    }
    say(
        project,
        format!(
            "staging now holds digest {} (from `test`)",
            short(&report.digest)
        ),
    );
    finish(project, &json!({"staged": report}), true)
}

pub fn release_cmd(project: &Project, args: &GateOptions) -> Result<()> {
    check_gate(project, "release", PROD_ENV, true)?;
    let prod = load(project, PROD_ENV)?;
    let (params, diags) = crate::params::check(&project.bundle_dir, &project.repo_root, None);
    refuse_on_errors(project, &diags)?;
    let branch = gitcheck::current_branch(&project.repo_root)?;
    let mut refusals = Vec::new();
    if branch != params.input_release_branch {
        refusals.push(format!(
            "releases run only from the release branch `{}`, and this is `{branch}`: merge `{}` into `{}` and release from there",
            params.input_release_branch, params.input_default_branch, params.input_release_branch
        ));
    }
    if let Some(dirty) = gitcheck::dirty_files(&project.repo_root)? {
        refusals.push(format!(
            "the working tree has uncommitted changes ({dirty}): commit or stash them"
        ));
    }
    let commit = gitcheck::head(&project.repo_root)?;
    if let Err(why) =
        gitcheck::from_default_branch(&project.repo_root, &params.input_default_branch)
    {
        refusals.push(why);
    }
    let staging_bundle = load(project, STAGING_ENV)?;
    let digest = deploy::plan(project, &staging_bundle, &DeployOptions::default())?.digest;
    match read_metadata(project, &staging_bundle)? {
        None => refusals.push("staging holds nothing: run `cargo xtask stage` on the default branch first".into()),
        Some(meta) if meta.digest != digest => refusals.push(format!(
            "staging holds digest {} but this commit packages to {}: stage this commit first (`cargo xtask stage` on `{}`)",
            short(&meta.digest),
            short(&digest),
            params.input_default_branch
        )),
        Some(meta) => {
            let passed = meta.promoted_from.as_ref().and_then(|p| p["test"]["passed"].as_bool()).unwrap_or(false);
            if !passed {
                refusals.push("staging's deployment has no passing test record: run `cargo xtask stage`".into());
            }
        }
    }
    if !refusals.is_empty() {
        return refuse(project, "release", &refusals);
    }
    let release = json!({
        "by": deploy::current_user(&prod),
        "commit": commit,
        "branch": branch,
        "at": crate::util::now_rfc3339(),
    });
    if args.dry_run {
        say(
            project,
            format!(
                "would release digest {} from staging to prod (commit {commit})",
                short(&digest)
            ),
        );
        return finish(
            project,
            &json!({"dry_run": true, "digest": digest, "release": release}),
            true,
        );
    }
    let mut metadata = Map::new();
    metadata.insert("release".into(), release);
    let mut opts = deploy_options(project, args, metadata);
    opts.expect_digest = Some(digest.clone());
    let report = deploy::promote(project, &prod, STAGING_ENV, &opts)?;
    warn(project, &report.warnings);
    if report.digest != digest {
        bail!(
            "prod holds digest {} after the copy, expected {digest}",
            report.digest
        );
    }
    say(
        project,
        format!(
            "released digest {} to prod (commit {commit})",
            short(&digest)
        ),
    );
    finish(project, &json!({"released": report}), true)
}

/// validate → unit tests → package and deploy to `test` → integration jobs →
/// integration tests. Stops at the first failure; the record says which step
/// failed and where its log is, and is kept in `test`'s state.
fn run_test_gate(project: &Project, args: &GateOptions) -> Result<TestRecord> {
    let bundle = load(project, TEST_ENV)?;
    let env_dir = project.env_dir(&bundle.name, TEST_ENV);
    let mut record = TestRecord::start(&project.repo_root, &env_dir)?;
    let python = match step(project, &mut record, "python environment", |_log| {
        crate::pyenv::ensure(project, &bundle.root.join("requirements.txt"))
    }) {
        Some(p) => p,
        None => return record.finish(project, &bundle, false),
    };
    let unit = step(project, &mut record, "unit tests", |log| {
        pytest(&python, &bundle.root, "not integration", log)
    });
    if unit.is_none() {
        return record.finish(project, &bundle, false);
    }
    let opts = deploy_options(project, args, Map::new());
    let Some((report, deployed)) = step(project, &mut record, "deploy to test", |_log| {
        let report = deploy::deploy(project, &bundle, &opts)?;
        warn(project, &report.warnings);
        // Where the deployed files can be read here: the jobs and tests run
        // on them. `None`: in a workspace, which runs the jobs itself.
        let deployed = deploy::open(project, &bundle)?.files_dir();
        Ok((report, deployed))
    }) else {
        return record.finish(project, &bundle, false);
    };
    record.digest = Some(report.digest.clone());
    for key in crate::runner::integration_jobs(&bundle) {
        let job = bundle.require_job(&key)?.settings.clone();
        let ok = step(
            project,
            &mut record,
            &format!("integration job {key}"),
            |_log| {
                if deployed.is_none() {
                    // The deployed job, in the workspace (task states on stderr would
                    // mix with the gate's; the result is the step's outcome).
                    crate::runner::run_deployed(project, &bundle, &key, false)?;
                    return Ok(std::path::PathBuf::new());
                }
                let report = crate::runner::run_in_env(project, &bundle, &key, &job)?;
                if project.human() {
                    eprintln!("{}", crate::runner::summary(&report));
                }
                if !report.ok() {
                    bail!(
                        "job {key} ended {} (logs in {})",
                        report.result_state,
                        report.run_dir.display()
                    );
                }
                // A task that did not run proved nothing: the gate needs every one.
                let skipped = skipped_tasks(&report);
                if !skipped.is_empty() {
                    bail!(
                        "job {key}: task(s) SKIPPED, so the job is not tested: {}",
                        skipped.join("; ")
                    );
                }
                Ok(report.run_dir)
            },
        );
        if ok.is_none() {
            return record.finish(project, &bundle, false);
        }
    }
    // Remotely the deployed files cannot be imported from here; the working
    // tree holds the same bytes (the deploy just compared them by hash).
    let files = deployed.unwrap_or_else(|| bundle.root.clone());
    let integ = step(project, &mut record, "integration tests", |log| {
        pytest(&python, &files, "integration", log)
    });
    record.finish(project, &bundle, integ.is_some())
}

/// `key (kind): reason` of every task of `report` that did not run.
fn skipped_tasks(report: &crate::runner::JobReport) -> Vec<String> {
    report
        .tasks
        .iter()
        .filter(|t| t.state == crate::runner::TaskState::Skipped)
        .map(|t| {
            format!(
                "{} ({}): {}",
                t.task_key,
                t.kind,
                t.reason.as_deref().unwrap_or("cannot run locally")
            )
        })
        .collect()
}

/// Run one step, timing it and recording its outcome; `None` when it failed
/// (the failure is printed with the step's log).
fn step<T>(
    project: &Project,
    record: &mut TestRecord,
    name: &str,
    f: impl FnOnce(&Path) -> Result<T>,
) -> Option<T> {
    let log = record.log_path(name);
    if project.human() {
        eprintln!("==> {name}");
    }
    let started = Instant::now();
    let result = f(&log);
    let duration_ms = started.elapsed().as_millis() as u64;
    let log_shown = log.exists().then(|| log.display().to_string());
    match result {
        Ok(v) => {
            record.steps.push(StepRecord {
                name: name.into(),
                outcome: Outcome::Passed,
                duration_ms,
                log: log_shown,
                error: None,
            });
            Some(v)
        }
        Err(err) => {
            if !project.settings.json {
                eprintln!("Error: step `{name}` failed: {err:#}");
                if let Some(l) = &log_shown {
                    eprintln!("  log: {l}");
                }
            }
            record.steps.push(StepRecord {
                name: name.into(),
                outcome: Outcome::Failed,
                duration_ms,
                log: log_shown,
                error: Some(format!("{err:#}")),
            });
            None
        }
    }
}

/// `pytest -m <marker>` in `dir`, output to `log`. "No tests collected"
/// (exit 5) passes: a bundle may have no tests of a kind.
fn pytest(python: &Path, dir: &Path, marker: &str, log: &Path) -> Result<()> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    let status = std::process::Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", marker])
        .current_dir(dir)
        // The deployed copy is read-only and must not drift from its manifest.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("running pytest with {}", python.display()))?;
    match status.code() {
        Some(0) | Some(5) => Ok(()),
        _ => bail!(
            "pytest -m \"{marker}\" failed in {} ({status}){}",
            dir.display(),
            failed_tests(&std::fs::read_to_string(log).unwrap_or_default())
        ),
    }
}

/// The tests pytest's short summary names as failed, each with its
/// assertion (`FAILED tests/test_x.py::test_y - assert 1 == 2`), so the
/// gate's message says which test failed without opening the log.
fn failed_tests(log: &str) -> String {
    const SHOWN: usize = 10;
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.starts_with("FAILED ") || l.starts_with("ERROR "))
        .collect();
    let mut out: String = failed
        .iter()
        .take(SHOWN)
        .map(|l| format!("\n  {l}"))
        .collect();
    if failed.len() > SHOWN {
        out.push_str(&format!("\n  ... and {} more", failed.len() - SHOWN));
    }
    out
}

/// Load and check the configuration for `env`; print the problems and stop
/// on errors.
fn load(project: &Project, env: &str) -> Result<Bundle> {
    let bundle = deploy::load_target(project, Some(env))?;
    let (_, params) = crate::params::check(
        &project.bundle_dir,
        &project.repo_root,
        Some((&bundle.name, bundle.location("bundle.name"))),
    );
    refuse_on_errors(project, &params)?;
    Ok(bundle)
}

fn refuse_on_errors(project: &Project, diags: &[Diagnostic]) -> Result<()> {
    if diags.iter().any(Diagnostic::is_error) {
        for d in diags {
            eprint!("{d}");
        }
        if !project.settings.json {
            eprintln!("{}", crate::diag::summary_line(diags));
        }
        return Err(Failed.into());
    }
    Ok(())
}

fn refuse(project: &Project, gate: &str, why: &[String]) -> Result<()> {
    if project.settings.json {
        println!("{}", json!({"refused": gate, "reasons": why}));
    } else {
        eprintln!("Error: `{gate}` refused:");
        for w in why {
            eprintln!("  - {w}");
        }
    }
    Err(Failed.into())
}

fn deploy_options(
    project: &Project,
    args: &GateOptions,
    metadata: Map<String, Value>,
) -> DeployOptions {
    DeployOptions {
        force_lock: args.force_lock,
        metadata,
        verbose: project.settings.verbose,
        ..Default::default()
    }
}

/// The record of a passing `test` run of `digest` in `env`, if there is one.
fn passing_record(project: &Project, test: &Bundle, digest: &str) -> Result<Option<TestRecord>> {
    let Some(meta) = read_metadata(project, test)? else {
        return Ok(None);
    };
    let Some(test) = meta.test else {
        return Ok(None);
    };
    let record: TestRecord = match serde_json::from_value(test) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    Ok(
        (record.passed && meta.digest == digest && record.digest.as_deref() == Some(digest))
            .then_some(record),
    )
}

/// The metadata.json of `bundle`'s target env, from whichever backend holds it.
fn read_metadata(project: &Project, bundle: &Bundle) -> Result<Option<deploy::Metadata>> {
    let ws = deploy::open(project, bundle)?;
    Ok(deploy::state::EnvState::read(&*ws)?.metadata)
}

/// A deploy's warnings (a stale lock taken over, a lock forced) are the
/// user's to see in the gates too, not only in `deploy`.
fn warn(project: &Project, warnings: &[String]) {
    if !project.settings.quiet {
        for w in warnings {
            eprintln!("Warning: {w}");
        }
    }
}

fn say(project: &Project, line: String) {
    if project.human() {
        eprintln!("{line}");
    }
}

fn finish(project: &Project, doc: &Value, ok: bool) -> Result<()> {
    if project.settings.json {
        crate::util::print_json(doc)?;
    }
    if ok { Ok(()) } else { Err(Failed.into()) }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
