//! Operations on deployed environments: status, rollback, promotion, and
//! metadata updates by other modules.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;

use super::state::{self, DeploymentState, EnvState, HistoryEntry, Metadata, TfState};
use super::{DeployOptions, DeployReport, engine, history_len, keep_ids, lock, open};
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
    let held = lock::acquire(&*ws, &user, opts.force_lock)?;
    let result = rollback_locked(&*ws, bundle, to, opts, &user);
    let mut warnings = held.warnings.clone();
    if let Some(w) = held.release()? {
        warnings.push(w);
    }
    let mut r = result?;
    r.warnings = warnings;
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
    let deployment = state.next_deployment(old_deployment.files, &now);
    let tfstate = state.next_tfstate(old_tf.resources);
    metadata.other.insert(
        "rolled_back".into(),
        json!({"at": now, "by": user, "from": current}),
    );
    let mut history = state.history.clone();
    history.deployments.push(HistoryEntry {
        id: target.clone(),
        kind: "rollback".into(),
        seq: deployment.seq,
        digest: metadata.digest.clone(),
        at: now,
        by: user.to_string(),
        commit: metadata.config["bundle"]["git"]["commit"]
            .as_str()
            .map(str::to_string),
        forced_lock: opts.force_lock,
        from: current.clone(),
    });
    let _ = history_len(opts);
    let files = state::serialise(&deployment, &tfstate, &history, &metadata)?;
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
    let source: Manifest = match from.read("artifacts/manifest.json")? {
        Some(b) => serde_json::from_slice(&b)
            .with_context(|| format!("reading the manifest of env {from_env}"))?,
        None => bail!("nothing is deployed in env {from_env}"),
    };
    if package::digest(&source.files, &source.artifacts) != source.digest {
        bail!("the manifest of env {from_env} does not match its digest");
    }
    let from_meta: Option<Metadata> = EnvState::read(&*from)?.metadata;
    let ws = open(project, bundle)?;
    let user = super::current_user(bundle);
    let held = lock::acquire(&*ws, &user, opts.force_lock)?;
    let result = (|| -> Result<DeployReport> {
        ws.recover()?;
        let state = EnvState::read(&*ws)?;
        let n = history_len(opts);
        ws.prune(&keep_ids(&state.history, n))?;
        let prev: Option<Manifest> = match ws.read("artifacts/manifest.json")? {
            Some(b) => Some(serde_json::from_slice(&b)?),
            None => None,
        };
        let previous_id = ws.current()?;
        let drift = match &prev {
            Some(m) => ws.drift(m)?,
            None => Drift::default(),
        };
        let planned = super::resources::plan(bundle, state.tfstate.as_ref(), true);
        let now = crate::util::now_rfc3339();
        let deployment = state.next_deployment(state::deployed_files(&source.files), &now);
        let id = format!("{:04}-{}", deployment.seq, &state::new_uuid()[..8]);
        let txn = ws.begin(&id)?;
        let mut changes = engine::FileChanges::default();
        let mut copy = || -> Result<()> {
            let entries = source
                .files
                .iter()
                .map(|f| (format!("files/{}", f.path), &f.hash))
                .chain(
                    source
                        .artifacts
                        .iter()
                        .map(|a| (format!("artifacts/{}", a.path), &a.hash)),
                );
            for (path, hash) in entries {
                let same = prev.as_ref().is_some_and(|m| {
                    m.files
                        .iter()
                        .map(|f| (format!("files/{}", f.path), &f.hash))
                        .chain(
                            m.artifacts
                                .iter()
                                .map(|a| (format!("artifacts/{}", a.path), &a.hash)),
                        )
                        .any(|(p, h)| p == path && h == hash)
                }) && !drift.damaged(&path)
                    // A workspace reports a notebook under its name without extension.
                    && !drift.damaged(crate::files::remote_name(&path, true));
                if same {
                    txn.keep(&path)?;
                    changes.unchanged += 1;
                    continue;
                }
                let bytes = from
                    .read(&path)?
                    .with_context(|| format!("env {from_env} lacks {path}"))?;
                if &package::hash_bytes(&bytes) != hash {
                    bail!(
                        "{path} in env {from_env} differs from its manifest (changed out of band); deploy {from_env} again"
                    );
                }
                txn.put(&path, &bytes)?;
                changes.put.push(path);
            }
            txn.put(
                "artifacts/manifest.json",
                &serde_json::to_vec_pretty(&source)?,
            )
        };
        if let Err(e) = copy() {
            let _ = txn.abort();
            return Err(e);
        }
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
        let metadata = Metadata {
            version: 1,
            config: state::metadata_config(bundle, &git, &resources.metadata_ids(bundle)),
            extra: Default::default(),
            deployment_id: id.clone(),
            digest: source.digest.clone(),
            deployed_at: now.clone(),
            deployed_by: user.clone(),
            tool_version: state::TOOL_VERSION.to_string(),
            test: None,
            promoted_from: Some(promoted_from),
            other: opts.metadata.clone(),
        };
        let tfstate = state.next_tfstate(resources.resources.clone());
        let mut history = state.history.clone();
        history.deployments.push(HistoryEntry {
            id: id.clone(),
            kind: "promote".into(),
            seq: deployment.seq,
            digest: source.digest.clone(),
            at: now,
            by: user.clone(),
            commit: git["commit"].as_str().map(str::to_string),
            forced_lock: opts.force_lock,
            from: Some(format!(
                "{from_env}/{}",
                from.current()?.unwrap_or_default()
            )),
        });
        let state_files = state::serialise(&deployment, &tfstate, &history, &metadata)?;
        ws.prune(&keep_ids(&history, n))?;
        if let Err(e) = txn.commit(&source, &state_files) {
            super::keep_resource_ids(&*ws, &resources, &tfstate);
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
    })();
    let mut warnings = held.warnings.clone();
    if let Some(w) = held.release()? {
        warnings.push(w);
    }
    let mut r = result?;
    warnings.append(&mut r.warnings);
    r.warnings = warnings;
    Ok(r)
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
    let held = lock::acquire(&*ws, &super::current_user(bundle), false)?;
    let result = (|| -> Result<()> {
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
    })();
    held.release()?;
    result
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
        std::fs::remove_dir_all(dir).unwrap();
    }
}
