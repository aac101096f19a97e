//! Plan and apply a deployment: lock, diff, upload, delete, state files,
//! atomic switch, history, rollback.
//!
//! Public API for other modules (flow, watch, runner):
//! - [`plan`] / [`deploy`]: the working tree of a loaded bundle to its target env;
//! - [`promote`]: copy what env A holds to env B byte for byte, digest verified;
//! - [`rollback`], [`status`], [`update_metadata`]; where an env's files
//!   can be read here: [`open`] then `Workspace::files_dir`.
//!
//! History: each env keeps its last 5 deployments; `XTASK_DEPLOY_HISTORY=N`
//! (or `DeployOptions::history`) changes that. (Old versions are pruned
//! before the switch, so the version a deploy replaces stays until the next
//! deploy even with N = 1.) `XTASK_TIMINGS=1` prints the phases of a deploy.

mod artifacts;
mod cache;
mod commands;
mod destroy;
pub mod dstate;
mod engine;
pub mod env;
mod lock;
#[cfg(test)]
mod nofollow_tests;
mod ops;
mod promote;
mod remote_acl;
mod remote_apps;
mod remote_custom;
mod remote_dashboards;
mod remote_drift;
mod remote_drift_access;
mod remote_drift_kinds;
mod remote_fields;
mod remote_kinds;
mod remote_models;
mod remote_postgres;
mod remote_refs;
mod remote_resources;
mod remote_rest;
mod remote_secret_scopes;
mod remote_serving;
mod remote_vector_search;
mod remote_wait;
mod resources;
mod rollback;
pub mod state;
mod tfshape;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value, json};

pub use artifacts::ArtifactChange;
pub use commands::{
    DeployRequest, deploy_cmd, destroy_cmd, plan_cmd, rollback_cmd, status_cmd, summary_cmd,
};
pub use engine::{FileChanges, Known};
pub use env::{load_config, load_name, load_options, load_target, load_target_in, open, open_env};
#[allow(unused_imports)] // promote and update_metadata are for the flow module.
pub use ops::{EnvStatus, status, update_metadata};
pub use promote::promote;
pub use resources::ResourceChange;
pub use rollback::{RollbackReport, rollback};
pub use state::{HistoryEntry, Metadata};

use crate::config::Bundle;
use crate::project::Project;
use crate::workspace::Workspace;
use cache::SourceCache;
use state::EnvState;

#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// Take the lock even if another deploy holds it (recorded).
    pub force_lock: bool,
    /// Deployments to keep for rollback [default: `XTASK_DEPLOY_HISTORY`, else 5].
    pub history: Option<usize>,
    /// Extra fields for metadata.json (e.g. a test record), kept as given.
    pub metadata: Map<String, Value>,
    /// Show build output.
    pub verbose: bool,
    /// Leave old versions for a later [`prune`] (watch prunes when idle, so
    /// a save never waits for it). History may then exceed its length.
    pub defer_prune: bool,
    /// `promote` only: the digest the source env must hold (the one its
    /// passing record names); anything else stops the promotion.
    pub expect_digest: Option<String>,
}

/// What a plan would do or a deploy did. A deploy's report equals the plan's
/// (files, artifacts, resources) when nothing changed in between.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    pub env: String,
    pub location: String,
    pub dry_run: bool,
    /// Nothing to write: same content, no drift (state still recorded).
    pub noop: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_digest: Option<String>,
    pub files: FileChanges,
    pub artifacts: Vec<ArtifactChange>,
    pub resources: Vec<ResourceChange>,
    pub forced_lock: bool,
    pub warnings: Vec<String>,
}

/// The envs that only a gate writes, with that gate: a plain `deploy` there
/// needs `--force` and is recorded as ungated.
pub const GATED_ENVS: [(&str, &str); 2] = [("staging", "stage"), ("prod", "release")];

fn history_len(opts: &DeployOptions) -> usize {
    opts.history
        .or_else(|| {
            std::env::var("XTASK_DEPLOY_HISTORY")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(5)
        .max(1)
}

/// The ids of the last `n` distinct deployments of the history.
/// [`keep_ids`] of the history once deployment `id` is added to it.
fn keep_ids_with(history: &state::History, id: &str, n: usize) -> Vec<String> {
    let mut out = vec![id.to_string()];
    out.extend(keep_ids(history, n).into_iter().filter(|k| k != id));
    out.truncate(n.max(1));
    out
}

fn keep_ids(history: &state::History, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in history.deployments.iter().rev() {
        if out.len() >= n {
            break;
        }
        if !out.contains(&e.id) {
            out.push(e.id.clone());
        }
    }
    out
}

/// The user deploying: the config's current user, else `$USER`.
pub(crate) fn current_user(bundle: &Bundle) -> String {
    bundle.config["workspace"]["current_user"]["userName"]
        .as_str()
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `git_info` in a thread: it runs git a few times (`status` stats the
/// whole tree), which overlaps with hashing the bundle.
fn git_info_soon(bundle: &Bundle) -> std::thread::JoinHandle<Value> {
    let (root, config) = (bundle.root.clone(), bundle.config["bundle"]["git"].clone());
    std::thread::spawn(move || git_info(&root, &config))
}

/// `bundle.git` of the config, or asked from git when the config has none;
/// `dirty: true` when the working tree has uncommitted changes (the commit
/// alone would then credit it with content it does not have).
fn git_info(root: &std::path::Path, config: &Value) -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut out = match config.as_object().filter(|g| !g.is_empty()) {
        Some(git) => git.clone(),
        None => git_asked(root, &|a| git(a).filter(|s| !s.is_empty())),
    };
    if out.contains_key("commit")
        && git(&[
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--",
            ".",
        ])
        .is_some_and(|s| !s.is_empty())
    {
        out.insert("dirty".into(), json!(true));
    }
    Value::Object(out)
}

/// The `bundle.git` fields, asked from git.
fn git_asked(
    root: &std::path::Path,
    git: &dyn Fn(&[&str]) -> Option<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(commit) = git(&["rev-parse", "HEAD"]) {
        out.insert("commit".into(), json!(commit));
        if let Some(branch) = git(&["rev-parse", "--abbrev-ref", "HEAD"]) {
            out.insert("branch".into(), json!(branch));
        }
        if let Some(url) = git(&["config", "--get", "remote.origin.url"]) {
            out.insert("origin_url".into(), json!(url));
        }
        if let Some(top) = git(&["rev-parse", "--show-toplevel"]) {
            let rel = root
                .strip_prefix(&top)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.insert(
                "bundle_root_path".into(),
                json!(if rel.is_empty() { ".".into() } else { rel }),
            );
        }
    }
    out
}

/// What a deploy of `bundle` to its target would do. Writes nothing (not even caches).
pub fn plan(project: &Project, bundle: &Bundle, _opts: &DeployOptions) -> Result<DeployReport> {
    env::check_references(project, bundle)?;
    let ws = open(project, bundle)?;
    let state = EnvState::read_lenient(&*ws)?;
    engine_allows(project, bundle, &*ws, &state)?;
    let specs = crate::package::artifacts::specs(bundle)?;
    let cache = SourceCache::load(&cache_path(project, bundle));
    let known = Known::default();
    let c = engine::compute(&engine::Request {
        bundle,
        ws: &*ws,
        state: &state,
        cache: &cache,
        specs: &specs,
        built: &None,
        assign_ids: false,
        known: &known,
    })?;
    let mut r = report(&*ws, bundle, &c, true, (None, ws.current()?), false);
    r.warnings.extend(state.warnings);
    Ok(r)
}

fn cache_path(project: &Project, bundle: &Bundle) -> PathBuf {
    project
        .env_dir(&bundle.name, &bundle.target)
        .join(".cache")
        .join("source-stat")
}

/// The report of a plan or deploy; `ids`: the deployment made (none for a
/// plan) and the one before.
fn report(
    ws: &dyn Workspace,
    bundle: &Bundle,
    c: &engine::Computed,
    dry_run: bool,
    (id, previous_id): (Option<String>, Option<String>),
    forced: bool,
) -> DeployReport {
    DeployReport {
        env: bundle.target.clone(),
        location: ws.location(),
        dry_run,
        noop: c.is_noop(),
        deployment_id: id,
        previous_id,
        digest: c.manifest.digest.clone(),
        previous_digest: c.prev_manifest.as_ref().map(|m| m.digest.clone()),
        files: c.files.clone(),
        artifacts: c.artifacts.clone(),
        resources: c.resources.changes.clone(),
        forced_lock: forced,
        warnings: c.warnings.clone(),
    }
}

/// Deploy the working tree of `bundle` to its target env: lock, build,
/// compare, write the difference into a new version, switch, record.
pub fn deploy(project: &Project, bundle: &Bundle, opts: &DeployOptions) -> Result<DeployReport> {
    deploy_known(project, bundle, opts, &Known::default())
}

/// `deploy`, skipping what the caller already knows (see [`Known`]).
pub fn deploy_known(
    project: &Project,
    bundle: &Bundle,
    opts: &DeployOptions,
    known: &Known,
) -> Result<DeployReport> {
    let mut t = crate::util::Timer::new();
    env::check_references(project, bundle)?;
    let ws = open(project, bundle)?;
    let user = current_user(bundle);
    let (mut report, warnings) = with_lock(&*ws, &user, opts.force_lock, || {
        deploy_locked(project, bundle, opts, &*ws, &user, known)
    })?;
    t.phase("lock, deploy, unlock");
    report.warnings.splice(0..0, warnings);
    Ok(report)
}

/// Run `work` holding `ws`'s deploy lock, released whatever `work` returns.
/// Also returns what the lock has to say (a stale lock taken over, the lock
/// lost meanwhile), for the caller's report.
pub(crate) fn with_lock<T>(
    ws: &dyn Workspace,
    user: &str,
    force: bool,
    work: impl FnOnce() -> Result<T>,
) -> Result<(T, Vec<String>)> {
    let held = lock::acquire(ws, user, force)?;
    let result = work();
    let mut warnings = held.warnings.clone();
    warnings.extend(held.release()?);
    Ok((result?, warnings))
}

/// Remove the versions beyond the history of the bundle's env (those a
/// deploy with `defer_prune` left), under the deploy lock.
pub fn prune(project: &Project, bundle: &Bundle, opts: &DeployOptions) -> Result<()> {
    let ws = open(project, bundle)?;
    let user = current_user(bundle);
    with_lock(&*ws, &user, opts.force_lock, || {
        let state = EnvState::read(&*ws)?;
        ws.prune(&keep_ids(&state.history, history_len(opts)))
    })
    .map(drop)
}

fn deploy_locked(
    project: &Project,
    bundle: &Bundle,
    opts: &DeployOptions,
    ws: &dyn Workspace,
    user: &str,
    known: &Known,
) -> Result<DeployReport> {
    let mut t = crate::util::Timer::new();
    let git_soon = git_info_soon(bundle);
    let cache_file = cache_path(project, bundle);
    let (cache, state) = recover_and_read(ws, &cache_file)?;
    engine_allows(project, bundle, ws, &state)?;
    let specs = crate::package::artifacts::specs(bundle)?;
    let built = Some(build_artifacts(&specs, opts.verbose)?);
    let scan_start = cache::now_ns();
    t.phase("recover, prune, build");
    let c = engine::compute(&engine::Request {
        bundle,
        ws,
        state: &state,
        cache: &cache,
        specs: &specs,
        built: &built,
        assign_ids: true,
        known,
    })?;
    t.phase("compute");

    let previous_id = ws.current()?;
    let noop = c.is_noop();
    // Nothing new: the deploy is recorded on the current version.
    let id = previous_id
        .clone()
        .filter(|_| noop)
        .unwrap_or_else(|| state.new_id());
    let (staged, resources, resource_warnings) =
        files_then_resources(bundle, opts, ws, &state, &c, &id)?;
    let now = crate::util::now_rfc3339();
    let git = git_soon.join().unwrap_or_default();
    let record = state.next_record(
        state::deployed_files(&c.manifest.files),
        resources.resources.clone(),
        &now,
        deploy_event(&id, &c, user, &git, opts),
    );
    let made = state::Made {
        id: &id,
        digest: &c.manifest.digest,
        at: now,
        by: user,
        git: &git,
        other: &opts.metadata,
    };
    let metadata = Metadata::new(bundle, &resources.metadata_ids(bundle), made);
    let tfstate = &record.tfstate;
    let files = record.files(&metadata)?;

    t.phase(" . staged, resources");
    commit(ws, staged, &id, &c.manifest, &files).inspect_err(|_| {
        if !noop {
            keep_resource_ids(ws, &resources, tfstate);
            let _ = write_cli_state(bundle, ws, &state, tfstate, user);
        }
    })?;
    write_cli_state(bundle, ws, &state, tfstate, user)?;
    t.phase("write, switch");
    let deployed = (Some(id), previous_id);
    let mut r = report(ws, bundle, &c, false, deployed, opts.force_lock);
    r.resources = resources.changes;
    r.warnings.extend(resource_warnings);
    r.warnings.extend(state.warnings.iter().cloned());
    r.warnings
        .extend(crate::package::artifacts::unquoted_var_warnings(bundle));
    if let Err(e) = save_cache(&cache, &cache_file, &c, scan_start) {
        r.warnings
            .push(format!("could not save the stat cache: {e:#}"));
    }
    // Tables of every file, freed while the lock is released and the
    // report printed.
    crate::util::parallel::drop_later((c, record));
    t.phase("report, stat cache");
    Ok(r)
}

/// Make the deployment current with its state `files`: commit the staged
/// version, or with nothing new staged, record the deploy on the current one
/// (seq + 1, as the CLI does).
fn commit(
    ws: &dyn Workspace,
    staged: Staged,
    id: &str,
    manifest: &crate::package::Manifest,
    files: &[(&str, Vec<u8>)],
) -> Result<()> {
    match staged {
        None => ws.switch(id, files),
        Some(txn) => txn.commit(manifest, files),
    }
}

/// A new version whose files are sent, its commit still to do (`None`:
/// nothing new to write).
type Staged<'w> = Option<Box<dyn crate::workspace::Transaction + 'w>>;

/// Files first, then the resources that name them, then (the caller) the
/// state: the CLI's order, so a job never points at a notebook not yet
/// uploaded. The new version's files are sent; its commit is left to do.
fn files_then_resources<'w>(
    bundle: &Bundle,
    opts: &DeployOptions,
    ws: &'w dyn Workspace,
    state: &EnvState,
    c: &engine::Computed,
    id: &str,
) -> Result<(Staged<'w>, resources::ResourcePlan, Vec<String>)> {
    let keep = keep_ids_with(&state.history, id, history_len(opts));
    let staged = match c.is_noop() {
        true => None,
        false => Some(stage_version(ws, c, id, &keep, opts.defer_prune)?),
    };
    match apply_resources_recorded(ws, bundle, state, &c.resources) {
        Ok((plan, warnings)) => Ok((staged, plan, warnings)),
        Err(e) => {
            if let Some(txn) = staged {
                let _ = txn.abort();
            }
            Err(e)
        }
    }
}

/// The history entry of deploy `id`, flagged `dirty` (uncommitted changes)
/// and `ungated` as they apply.
fn deploy_event(
    id: &str,
    c: &engine::Computed,
    user: &str,
    git: &Value,
    opts: &DeployOptions,
) -> HistoryEntry {
    let flags: Vec<String> = [
        (git["dirty"] == true, "dirty"),
        (opts.metadata.contains_key("ungated"), "ungated"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| f.to_string())
    .collect();
    HistoryEntry {
        id: id.to_string(),
        kind: "deploy".into(),
        seq: 0,
        digest: c.manifest.digest.clone(),
        at: String::new(),
        by: user.to_string(),
        commit: git["commit"].as_str().map(str::to_string),
        forced_lock: opts.force_lock,
        from: None,
        flags,
    }
}

/// Recover what an interrupted deploy left and read the state; the stat
/// cache, which needs nothing from the env, is read meanwhile. (Pruning
/// waits for a new version: a deploy with nothing new removes nothing.)
fn recover_and_read(ws: &dyn Workspace, cache_file: &Path) -> Result<(SourceCache, EnvState)> {
    let (cache, state) = std::thread::scope(|s| {
        let cache = s.spawn(|| SourceCache::load(cache_file));
        let state = (|| -> Result<EnvState> {
            ws.recover()
                .context("recovering from an interrupted deploy")?;
            EnvState::read(ws)
        })();
        (cache.join().unwrap_or_default(), state)
    });
    Ok((cache, state?))
}

/// Run each artifact's build: (spec, files produced).
fn build_artifacts(
    specs: &[crate::package::artifacts::ArtifactSpec],
    verbose: bool,
) -> Result<Vec<(crate::package::artifacts::ArtifactSpec, Vec<PathBuf>)>> {
    specs
        .iter()
        .map(|spec| {
            Ok((
                spec.clone(),
                crate::package::artifacts::build(spec, verbose)?,
            ))
        })
        .collect()
}

/// Write version `id`, its files sent (`upload`), ready for its state files
/// and the switch (`commit`). The oldest version the history window drops
/// is rewritten into the new one; others it drops go while the new one is
/// written, in another thread (versions share no folder; before the switch:
/// unlinking after it would change the ctime of files the commit records).
fn stage_version<'w>(
    ws: &'w dyn Workspace,
    c: &engine::Computed,
    id: &str,
    keep: &[String],
    defer_prune: bool,
) -> Result<Box<dyn crate::workspace::Transaction + 'w>> {
    let basis = crate::workspace::Basis {
        next: &c.manifest,
        keep,
    };
    let mut t = crate::util::Timer::new();
    // The manifest (10,000 records in a big bundle) is serialised on the
    // other core while the old version is rewritten.
    let (txn, manifest_json) = std::thread::scope(|s| {
        let json = s.spawn(|| serde_json::to_vec(&c.manifest));
        let txn = ws.begin_from(id, &basis);
        let json = json.join().unwrap_or_else(|_| {
            Err(serde::ser::Error::custom(
                "serialising the manifest panicked",
            ))
        });
        (txn, json)
    });
    let (txn, manifest_json) = (txn?, manifest_json?);
    t.phase(" . begin (oldest reused)");
    let (applied, pruned) = std::thread::scope(|s| {
        let pruner = (!defer_prune).then(|| s.spawn(|| ws.prune(keep)));
        let applied = engine::apply(c, &*txn, &manifest_json);
        let pruned = pruner.map_or(Ok(()), |p| {
            p.join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("pruning old versions panicked")))
        });
        (applied, pruned)
    });
    if let Err(e) = applied.and(pruned).and_then(|()| txn.upload()) {
        let _ = txn.abort();
        return Err(e);
    }
    Ok(txn)
}

/// Save the source stat cache when enough of it was hashed afresh.
fn save_cache(
    cache: &SourceCache,
    cache_file: &Path,
    c: &engine::Computed,
    scan_start: i64,
) -> Result<()> {
    if !cache.save_needed(c.cache_misses, c.cache_stats.len()) {
        return Ok(());
    }
    let entries: Vec<(&str, cache::Entry)> = c
        .manifest
        .files
        .iter()
        .zip(&c.cache_stats)
        .map(|(r, stat)| {
            let entry = cache::Entry {
                stat: *stat,
                hash: r.hash.clone(),
                notebook: r.notebook,
            };
            (r.path.as_str(), entry)
        })
        .collect();
    SourceCache::save(cache_file, &entries, scan_start)
}

/// In a workspace, create/update/delete the planned resources there (real
/// ids filled in); in a local folder the plan is the state.
fn apply_resources(
    ws: &dyn Workspace,
    plan: &resources::ResourcePlan,
) -> Result<(resources::ResourcePlan, Vec<String>)> {
    let mut plan = plan.clone();
    let Some(api) = ws.api() else {
        return Ok((plan, Vec::new()));
    };
    let warnings = remote_resources::apply(api.client, api.user, &mut plan, &[], &mut |_| Ok(()))?;
    Ok((plan, warnings))
}

/// [`apply_resources`], recording each create and delete in the env's
/// `state` (its state before the deploy) as it happens.
fn apply_resources_recorded(
    ws: &dyn Workspace,
    bundle: &Bundle,
    state: &EnvState,
    plan: &resources::ResourcePlan,
) -> Result<(resources::ResourcePlan, Vec<String>)> {
    let mut plan = plan.clone();
    let Some(api) = ws.api() else {
        return Ok((plan, Vec::new()));
    };
    let prev = state.tfstate.as_ref().map_or(&[][..], |t| &t.resources[..]);
    let direct = writes_dstate(ws, bundle, state).then_some(api.user);
    let mut record = record_resources(ws, state, direct);
    let warnings = remote_resources::apply(api.client, api.user, &mut plan, prev, &mut record)?;
    Ok((plan, warnings))
}

/// Writes `terraform.tfstate` with the resources given, one serial past the
/// env's state: what [`remote_resources::apply`] calls after each create and
/// delete. (The deploy's own state write later takes the same serial: one
/// deploy, one step of the serial, whether it finished or not.)
/// With `dstate_user`, `resources.json` too (see [`writes_dstate`]).
fn record_resources<'a>(
    ws: &'a dyn Workspace,
    state: &'a EnvState,
    dstate_user: Option<&'a str>,
) -> impl FnMut(Vec<state::TfResource>) -> Result<()> + 'a {
    move |resources| {
        let tf = state.next_tfstate(resources);
        ws.write_state("terraform.tfstate", &tfshape::encode(&tf)?)
            .context("recording a created or deleted resource in terraform.tfstate")?;
        match dstate_user {
            Some(user) => dstate::write(ws, state.dstate.as_ref(), &tf, user),
            None => Ok(()),
        }
    }
}

/// An env in a workspace whose target the CLI would deploy with its direct
/// engine gets the CLI's `resources.json` beside our state.
fn writes_dstate(ws: &dyn Workspace, bundle: &Bundle, state: &EnvState) -> bool {
    let env_engine = std::env::var("DATABRICKS_BUNDLE_ENGINE").ok();
    ws.api().is_some()
        && dstate::direct_engine(&bundle.config, state.dstate.as_ref(), env_engine.as_deref())
}

/// A target the CLI deploys with its Terraform engine refuses an app's
/// `lifecycle.started`, as the CLI's plan and deploy refuse it (only its
/// direct engine starts apps), before anything is sent.
fn engine_allows(
    project: &Project,
    bundle: &Bundle,
    ws: &dyn Workspace,
    state: &EnvState,
) -> Result<()> {
    if ws.api().is_none() || writes_dstate(ws, bundle, state) {
        return Ok(());
    }
    let diags = crate::config::kinds::started_needs_direct(bundle);
    match diags.is_empty() {
        true => Ok(()),
        false => env::reported(project, None::<()>, &diags),
    }
}

/// The CLI's direct-engine state (`resources.json`) beside ours, when the
/// CLI would use that engine here, so it finds what we deployed: after a
/// commit, and (best effort) after a failed one whose resources exist.
fn write_cli_state(
    bundle: &Bundle,
    ws: &dyn Workspace,
    state: &EnvState,
    tfstate: &state::TfState,
    user: &str,
) -> Result<()> {
    if writes_dstate(ws, bundle, state) {
        dstate::write(ws, state.dstate.as_ref(), tfstate, user)?;
    }
    Ok(())
}

/// The files of a deploy failed after its resources were created: record
/// their ids anyway (as Terraform writes its state after an apply), or the
/// next deploy would create them a second time. Best effort: the deploy's
/// own error is what the user needs to see.
fn keep_resource_ids(ws: &dyn Workspace, plan: &resources::ResourcePlan, tfstate: &state::TfState) {
    if !plan.changed() {
        return;
    }
    if let Ok(bytes) = tfshape::encode(tfstate) {
        let _ = ws.write_state("terraform.tfstate", &bytes);
    }
}
