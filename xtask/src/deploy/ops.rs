//! Operations on deployed environments: status, rollback, promotion, and
//! metadata updates by other modules.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;

use super::state::{self, DeploymentState, EnvState, HistoryEntry, Metadata, TfState};
use super::{DeployOptions, DeployReport, engine, history_len, keep_ids, open, with_lock};
use crate::config::Bundle;
use crate::package::{self, Manifest};
use crate::project::Project;
use crate::workspace::local::LocalWorkspace;
use crate::workspace::{Drift, LockInfo, Workspace};

#[derive(Debug, Clone, Serialize)]
pub struct EnvStatus {
    pub env: String,
    pub location: String,
    pub deployed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    pub digest: Option<String>,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub deployed_at: Option<String>,
    pub deployed_by: Option<String>,
    pub seq: Option<u64>,
    pub drift: Drift,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockInfo>,
    /// Deployments that `rollback --to` can switch to, oldest first.
    pub kept: Vec<HistoryEntry>,
    /// Damaged state read past (the next deploy repairs it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The environments of `bundle_name` (all of them, or `env`), with drift. Writes nothing.
pub fn status(project: &Project, bundle_name: &str, env: Option<&str>) -> Result<Vec<EnvStatus>> {
    let envs = match env {
        Some(e) => vec![e.to_string()],
        None => {
            let dir = project.state_root.join(".bundle").join(bundle_name);
            let mut v = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if !name.starts_with('.') && e.path().is_dir() {
                        v.push(name);
                    }
                }
            }
            v.sort();
            v
        }
    };
    envs.iter()
        .map(|env| env_status(&LocalWorkspace::new(project.env_dir(bundle_name, env)), env))
        .collect()
}

/// The status of one env in any backend (the remote one keeps no history: `kept` is empty).
pub fn env_status(ws: &dyn Workspace, env: &str) -> Result<EnvStatus> {
    let current = ws.current()?;
    let read = EnvState::read_lenient(ws)?;
    let mut metadata: Option<Metadata> = read.metadata;
    // A run killed after its switch leaves the state behind: trust the version's own record.
    if let Some(id) = &current
        && metadata.as_ref().is_none_or(|m| &m.deployment_id != id)
        && let Some(bytes) = ws.read_version_state(id, "metadata.json")?
    {
        metadata = serde_json::from_slice(&bytes).ok();
    }
    let deployment: Option<DeploymentState> = match &current {
        Some(id) => ws
            .read_version_state(id, "deployment.json")?
            .and_then(|b| serde_json::from_slice(&b).ok()),
        None => None,
    };
    let mut warnings = read.warnings;
    let manifest: Option<Manifest> = match ws.read("artifacts/manifest.json")? {
        Some(b) => match serde_json::from_slice(&b) {
            Ok(m) => Some(m),
            Err(e) => {
                warnings.push(format!(
                    "the deployed artifacts/manifest.json is not valid ({e}): drift not checked; \
                     the next deploy repairs it"
                ));
                None
            }
        },
        None => None,
    };
    let drift = match &manifest {
        Some(m) => ws.drift(m)?,
        None => Drift::default(),
    };
    let lock = ws
        .read_state("deploy.lock")?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let history = read.history;
    let versions = ws.versions()?;
    let mut kept: Vec<HistoryEntry> = Vec::new();
    for e in history.deployments.iter().rev() {
        if versions.contains(&e.id) && !kept.iter().any(|k| k.id == e.id) {
            kept.push(e.clone());
        }
    }
    kept.reverse();
    let git = |k: &str| {
        metadata
            .as_ref()
            .and_then(|m| m.config["bundle"]["git"][k].as_str().map(str::to_string))
    };
    Ok(EnvStatus {
        env: env.to_string(),
        location: ws.location(),
        deployed: current.is_some(),
        deployment_id: current.clone(),
        digest: manifest.as_ref().map(|m| m.digest.clone()),
        commit: git("commit"),
        branch: git("branch"),
        deployed_at: metadata.as_ref().map(|m| m.deployed_at.clone()),
        deployed_by: metadata.as_ref().map(|m| m.deployed_by.clone()),
        seq: deployment.map(|d| d.seq),
        drift,
        lock,
        kept,
        warnings,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    pub env: String,
    pub from: Option<String>,
    pub to: String,
    pub digest: String,
    pub forced_lock: bool,
    pub warnings: Vec<String>,
}

/// Switch env `bundle.target` back to a kept deployment (`to`: its id, or its
/// sequence number; default: the one before the current).
pub fn rollback(
    project: &Project,
    bundle: &Bundle,
    to: Option<&str>,
    opts: &DeployOptions,
) -> Result<RollbackReport> {
    if project.settings.remote {
        bail!(
            "rollback is not available on the remote backend: a workspace keeps only the current \
             deployment of env {} (no history). Check out the wanted commit and deploy it, or \
             promote from another env",
            bundle.target
        );
    }
    let ws = open(project, bundle)?;
    let user = super::current_user(bundle);
    let (mut r, warnings) = with_lock(&*ws, &user, opts.force_lock, || {
        rollback_locked(&*ws, bundle, to, opts, &user)
    })?;
    r.warnings.splice(0..0, warnings);
    Ok(r)
}

fn rollback_locked(
    ws: &dyn Workspace,
    bundle: &Bundle,
    to: Option<&str>,
    opts: &DeployOptions,
    user: &str,
) -> Result<RollbackReport> {
    ws.recover()?;
    let state = EnvState::read(ws)?;
    let current = ws.current()?;
    let versions = ws.versions()?;
    let known = |id: &str| {
        versions.iter().any(|v| v == id) && state.history.deployments.iter().any(|e| e.id == id)
    };
    let target = match to {
        Some(to) => {
            let wanted = to.parse::<u64>().ok().map(|n| format!("{n:04}-"));
            versions
                .iter()
                .find(|v| {
                    v.as_str() == to || wanted.as_ref().is_some_and(|w| v.starts_with(w.as_str()))
                })
                .filter(|v| known(v))
                .cloned()
                .with_context(|| {
                    format!(
                        "deployment {to} is not kept in env {}; see `cargo xtask status --env {}`",
                        bundle.target, bundle.target
                    )
                })?
        }
        None => state
            .history
            .deployments
            .iter()
            .rev()
            .map(|e| &e.id)
            .find(|id| Some(*id) != current.as_ref() && known(id))
            .cloned()
            .with_context(|| {
                format!(
                    "env {} has no earlier deployment to roll back to",
                    bundle.target
                )
            })?,
    };
    if Some(&target) == current.as_ref() && to.is_some() {
        // Asked again (a re-run after a rollback killed past its switch,
        // whose state the recovery above installed): nothing left to do.
        return Ok(RollbackReport {
            env: bundle.target.clone(),
            from: current.clone(),
            to: target,
            digest: state.metadata.map(|m| m.digest).unwrap_or_default(),
            forced_lock: opts.force_lock,
            warnings: vec!["already the current deployment: nothing to do".into()],
        });
    }
    if Some(&target) == current.as_ref() {
        bail!(
            "deployment {target} is already the current one in env {}",
            bundle.target
        );
    }
    let read = |name: &str| -> Result<Vec<u8>> {
        ws.read_version_state(&target, name)?
            .with_context(|| format!("deployment {target} has no {name}"))
    };
    let mut metadata: Metadata = serde_json::from_slice(&read("metadata.json")?)?;
    let old_deployment: DeploymentState = serde_json::from_slice(&read("deployment.json")?)?;
    let old_tf: TfState = serde_json::from_slice(&read("terraform.tfstate")?)?;
    let now = crate::util::now_rfc3339();
    metadata.other.insert(
        "rolled_back".into(),
        json!({"at": now, "by": user, "from": current}),
    );
    let record = state.next_record(
        old_deployment.files,
        old_tf.resources,
        &now,
        HistoryEntry {
            id: target.clone(),
            kind: "rollback".into(),
            seq: 0,
            digest: metadata.digest.clone(),
            at: String::new(),
            by: user.to_string(),
            commit: metadata.config["bundle"]["git"]["commit"]
                .as_str()
                .map(str::to_string),
            forced_lock: opts.force_lock,
            from: current.clone(),
            flags: Vec::new(),
        },
    );
    let _ = history_len(opts);
    let files = record.files(&metadata)?;
    ws.switch(&target, &files)?;
    Ok(RollbackReport {
        env: bundle.target.clone(),
        from: current,
        to: target,
        digest: metadata.digest,
        forced_lock: opts.force_lock,
        warnings: Vec::new(),
    })
}

/// Copy what env `from_env` holds to `bundle.target`, byte for byte: every
/// file is checked against `from_env`'s manifest and the digest verified, so
/// the target gets exactly the tested bytes (nothing is rebuilt). Resources
/// come from `bundle` (the target's configuration).
#[allow(dead_code)] // called by the flow module (stage, release)
pub fn promote(
    project: &Project,
    bundle: &Bundle,
    from_env: &str,
    opts: &DeployOptions,
) -> Result<DeployReport> {
    if from_env == bundle.target {
        bail!("cannot promote env {from_env} to itself");
    }
    let from = super::open_env(project, bundle, from_env)?;
    let user = super::current_user(bundle);
    // The source env is locked for the whole copy: what is read is what
    // its record vouches for, not a deploy landing meanwhile.
    let (mut r, warnings) = with_lock(&*from, &user, opts.force_lock, || {
        promote_from(project, bundle, &*from, from_env, opts, &user)
    })
    .with_context(|| format!("promoting from env {from_env} (locked for the copy)"))?;
    r.warnings.splice(0..0, warnings);
    Ok(r)
}

/// `promote`, with the source env locked.
fn promote_from(
    project: &Project,
    bundle: &Bundle,
    from: &dyn Workspace,
    from_env: &str,
    opts: &DeployOptions,
    user: &str,
) -> Result<DeployReport> {
    let user = user.to_string();
    let source: Manifest = match from.read("artifacts/manifest.json")? {
        Some(b) => serde_json::from_slice(&b)
            .with_context(|| format!("reading the manifest of env {from_env}"))?,
        None => bail!("nothing is deployed in env {from_env}"),
    };
    if package::digest(&source.files, &source.artifacts) != source.digest {
        bail!("the manifest of env {from_env} does not match its digest");
    }
    let from_meta: Option<Metadata> = EnvState::read(from)?.metadata;
    if let Some(want) = &opts.expect_digest {
        let recorded = from_meta.as_ref().map(|m| m.digest.as_str());
        if source.digest != *want || recorded != Some(want.as_str()) {
            bail!(
                "env {from_env} holds digest {} (its record says {}), not the digest {want} that passed: \
                 it changed since; nothing was promoted",
                source.digest,
                recorded.unwrap_or("nothing")
            );
        }
    }
    let ws = open(project, bundle)?;
    let (mut r, warnings) = with_lock(&*ws, &user, opts.force_lock, || -> Result<DeployReport> {
        ws.recover()?;
        let state = EnvState::read(&*ws)?;
        let n = history_len(opts);
        let prev: Option<Manifest> = match ws.read("artifacts/manifest.json")? {
            Some(b) => Some(serde_json::from_slice(&b)?),
            None => None,
        };
        let previous_id = ws.current()?;
        let drift = match &prev {
            Some(m) => ws.drift(m)?,
            None => Drift::default(),
        };
        // Already promoted from the same env, intact: nothing new, so no
        // new deployment (and nothing pushed out of the rollback window).
        let promoted = state
            .metadata
            .as_ref()
            .and_then(|m| m.promoted_from.as_ref());
        if prev.as_ref().is_some_and(|m| m.digest == source.digest)
            && drift.is_empty()
            && promoted.is_some_and(|p| p["env"] == from_env && p["digest"] == source.digest)
        {
            return Ok(DeployReport {
                env: bundle.target.clone(),
                location: ws.location(),
                dry_run: false,
                noop: true,
                deployment_id: previous_id.clone(),
                previous_id,
                digest: source.digest.clone(),
                previous_digest: prev.map(|m| m.digest),
                files: engine::FileChanges::default(),
                artifacts: Vec::new(),
                resources: Vec::new(),
                forced_lock: opts.force_lock,
                warnings: Vec::new(),
            });
        }
        let planned = super::resources::plan(bundle, state.tfstate.as_ref(), true);
        let now = crate::util::now_rfc3339();
        let id = format!("{:04}-{}", state.next_seq(), &state::new_uuid()[..8]);
        let mut keep = keep_ids(&state.history, n - 1);
        keep.push(id.clone());
        let basis = crate::workspace::Basis {
            next: &source,
            keep: &keep,
        };
        let txn = ws.begin_from(&id, &basis)?;
        let copy = || copy_verified(&*from, from_env, &*txn, &source, prev.as_ref(), &drift);
        let changes = match copy() {
            Ok(c) => c,
            Err(e) => {
                let _ = txn.abort();
                return Err(e);
            }
        };
        // Only once every byte checked out: a refused promotion creates nothing.
        let (resources, resource_warnings) = match super::apply_resources(project, bundle, &planned)
        {
            Ok(r) => r,
            Err(e) => {
                let _ = txn.abort();
                return Err(e);
            }
        };
        let git = from_meta
            .as_ref()
            .map(|m| m.config["bundle"]["git"].clone())
            .unwrap_or_default();
        let promoted_from = json!({
            "env": from_env,
            "deployment_id": from.current()?,
            "digest": source.digest,
            "test": from_meta.as_ref().and_then(|m| m.test.clone()),
        });
        let record = state.next_record(
            state::deployed_files(&source.files),
            resources.resources.clone(),
            &now,
            HistoryEntry {
                id: id.clone(),
                kind: "promote".into(),
                seq: 0,
                digest: source.digest.clone(),
                at: String::new(),
                by: user.clone(),
                commit: git["commit"].as_str().map(str::to_string),
                forced_lock: opts.force_lock,
                from: Some(format!(
                    "{from_env}/{}",
                    from.current()?.unwrap_or_default()
                )),
                flags: Vec::new(),
            },
        );
        let metadata = Metadata {
            version: 1,
            config: state::metadata_config(bundle, &git, &resources.metadata_ids(bundle)),
            extra: Default::default(),
            deployment_id: id.clone(),
            digest: source.digest.clone(),
            deployed_at: now,
            deployed_by: user.clone(),
            tool_version: state::TOOL_VERSION.to_string(),
            test: None,
            promoted_from: Some(promoted_from),
            other: opts.metadata.clone(),
        };
        let (tfstate, history) = (&record.tfstate, &record.history);
        let state_files = record.files(&metadata)?;
        ws.prune(&keep_ids(history, n))?;
        if let Err(e) = txn.commit(&source, &state_files) {
            super::keep_resource_ids(&*ws, &resources, tfstate);
            return Err(e);
        }
        Ok(DeployReport {
            env: bundle.target.clone(),
            location: ws.location(),
            dry_run: false,
            noop: false,
            deployment_id: Some(id),
            previous_id,
            digest: source.digest.clone(),
            previous_digest: prev.map(|m| m.digest),
            files: changes,
            artifacts: Vec::new(),
            resources: resources.changes,
            forced_lock: opts.force_lock,
            warnings: resource_warnings,
        })
    })?;
    r.warnings.splice(0..0, warnings);
    Ok(r)
}

/// Write `source` into `txn`: what the target already holds intact (by path
/// and hash, one pass over a map) is kept, the rest read from `from` and
/// checked against the manifest before it is written. In parallel: reading
/// and hashing dominate.
fn copy_verified(
    from: &dyn Workspace,
    from_env: &str,
    txn: &dyn crate::workspace::Transaction,
    source: &Manifest,
    prev: Option<&Manifest>,
    drift: &Drift,
) -> Result<engine::FileChanges> {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let paths = |m: &Manifest| -> Vec<(String, String)> {
        let files = m
            .files
            .iter()
            .map(|f| (format!("files/{}", f.path), f.hash.clone()));
        let arts = m
            .artifacts
            .iter()
            .map(|a| (format!("artifacts/{}", a.path), a.hash.clone()));
        files.chain(arts).collect()
    };
    let held: HashMap<String, String> = prev.map(paths).unwrap_or_default().into_iter().collect();
    let entries = paths(source);
    let put: Vec<std::sync::Mutex<bool>> = entries.iter().map(|_| Default::default()).collect();
    let unchanged = AtomicUsize::new(0);
    crate::util::parallel(entries.len(), |i| {
        let (path, hash) = &entries[i];
        let same = held.get(path) == Some(hash)
            && !drift.damaged(path)
            // A workspace reports a notebook under its name without extension.
            && !drift.damaged(crate::files::remote_name(path, true));
        if same {
            unchanged.fetch_add(1, Ordering::Relaxed);
            return txn.keep(path);
        }
        let bytes = from
            .read(path)?
            .with_context(|| format!("env {from_env} lacks {path}"))?;
        if package::hash_bytes(&bytes) != *hash {
            bail!(
                "{path} in env {from_env} differs from its manifest (changed out of band): the tree \
                 is not what its record vouches for; deploy {from_env} again; nothing was promoted"
            );
        }
        *put[i].lock().unwrap_or_else(|e| e.into_inner()) = true;
        txn.put(path, &bytes)
    })?;
    txn.put(
        "artifacts/manifest.json",
        &serde_json::to_vec_pretty(source)?,
    )?;
    let mut changes = engine::FileChanges {
        unchanged: unchanged.into_inner(),
        ..Default::default()
    };
    for ((path, _), p) in entries.into_iter().zip(put) {
        if p.into_inner().unwrap_or_else(|e| e.into_inner()) {
            changes.put.push(path);
        }
    }
    Ok(changes)
}

/// Change the metadata.json of env `env` (e.g. the flow's test record), under
/// the deploy lock, in the state and in the current version's own record.
#[allow(dead_code)] // called by the flow module (test record)
pub fn update_metadata(
    project: &Project,
    bundle: &Bundle,
    f: impl FnOnce(&mut Metadata),
) -> Result<()> {
    let ws = open(project, bundle)?;
    with_lock(
        &*ws,
        &super::current_user(bundle),
        false,
        || -> Result<()> {
            ws.recover()?;
            let Some(id) = ws.current()? else {
                bail!("nothing is deployed in env {}", bundle.target)
            };
            let mut metadata = EnvState::read(&*ws)?
                .metadata
                .context("the env has no metadata.json")?;
            f(&mut metadata);
            let mut files = Vec::new();
            for name in crate::workspace::STATE_FILES {
                let bytes = if name == "metadata.json" {
                    serde_json::to_vec_pretty(&metadata)?
                } else {
                    match ws.read_state(name)? {
                        Some(b) => b,
                        None => continue,
                    }
                };
                files.push((name, bytes));
            }
            ws.switch(&id, &files)
        },
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(dir: &std::path::Path, env: &str) -> (Project, Bundle) {
        let src = dir.join("bundle");
        let project = Project::quiet_local(&src, &dir.join("root"), env);
        let bundle = Bundle {
            root: src,
            name: "b".into(),
            target: env.into(),
            mode: None,
            config: json!({"resources": {"jobs": {"j": {"name": "j"}}}}),
            resource_files: Default::default(),
            source: Default::default(),
        };
        (project, bundle)
    }

    #[test]
    fn promote_copies_the_exact_bytes_and_refuses_a_corrupted_source() {
        let dir = std::env::temp_dir().join(format!("xtask-promote-{}", uuid::Uuid::new_v4()));
        let src = dir.join("bundle");
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("pkg/__init__.py"), "A = 1\n").unwrap();
        std::fs::write(src.join("README.md"), "tested\n").unwrap();
        let (project, test_bundle) = setup(&dir, "test");
        let tested =
            crate::deploy::deploy(&project, &test_bundle, &DeployOptions::default()).unwrap();
        // The working tree moves on after the test: promotion must not pick that up.
        std::fs::write(src.join("README.md"), "untested\n").unwrap();
        let (_, staging) = setup(&dir, "staging");
        let r = promote(&project, &staging, "test", &DeployOptions::default()).unwrap();
        assert_eq!(r.digest, tested.digest);
        let staged = project.env_dir("b", "staging");
        assert_eq!(
            std::fs::read_to_string(staged.join("files/README.md")).unwrap(),
            "tested\n"
        );
        assert!(
            staged
                .join("artifacts/.internal/b-0.1.0-py3-none-any.whl")
                .is_file()
        );
        let meta: Metadata =
            serde_json::from_slice(&std::fs::read(staged.join("state/metadata.json")).unwrap())
                .unwrap();
        assert_eq!(meta.digest, tested.digest);
        assert_eq!(meta.promoted_from.as_ref().unwrap()["env"], "test");
        assert!(
            meta.config["resources"]["jobs"]["j"]["id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );

        // A file of the source env changed out of band: refuse, staging keeps its version.
        let f = project.env_dir("b", "test").join("files/README.md");
        let mut perm = std::fs::metadata(&f).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
        std::fs::set_permissions(&f, perm).unwrap();
        std::fs::write(&f, "tampered\n").unwrap();
        // Staging already holds those bytes (verified against the manifest): nothing to copy.
        let again = promote(&project, &staging, "test", &DeployOptions::default()).unwrap();
        assert!(again.files.put.is_empty());
        // An env that needs the tampered file refuses, and is left undeployed.
        let (_, prod) = setup(&dir, "prod");
        let err = promote(&project, &prod, "test", &DeployOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("differs from its manifest"),
            "{err:#}"
        );
        assert!(!project.env_dir("b", "prod").join("current").exists());

        // The source holds another digest than the record that passed (a
        // deploy landed, or was killed before its state): refused.
        let opts = DeployOptions {
            expect_digest: Some("0".repeat(64)),
            ..Default::default()
        };
        let err = promote(&project, &staging, "test", &opts).unwrap_err();
        assert!(format!("{err:#}").contains("not the digest"), "{err:#}");
        // The source env is locked during the copy: a held lock stops it.
        let lock = project.env_dir("b", "test").join("state/deploy.lock");
        std::fs::write(&lock, "{\"ID\":\"x\",\"AcquisitionTime\":\"now\",\"IsForced\":false,\"User\":\"u\",\"pid\":1,\"host\":\"elsewhere\"}").unwrap();
        let err = promote(&project, &staging, "test", &DeployOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("promoting from env test"),
            "{err:#}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
