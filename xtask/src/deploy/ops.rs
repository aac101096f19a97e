//! Operations on deployed environments: status, and metadata updates by
//! other modules (promotion and rollback have their own files).

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::state::{DeploymentState, EnvState, HistoryEntry, Metadata};
use super::{open, with_lock};
use crate::config::Bundle;
use crate::package::Manifest;
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
    /// Resources changed or deleted in the workspace out of band (remote
    /// backend); the next deploy puts them back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_drift: Vec<super::remote_drift::Drifted>,
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
    // A resource that cannot be read back leaves the rest of the status to show.
    let resource_drift = match (ws.api(), &read.tfstate) {
        (Some(api), Some(tf)) => {
            super::remote_drift::detect(&api, &tf.resources).unwrap_or_else(|e| {
                warnings.push(format!("resource drift not checked: {e:#}"));
                Vec::new()
            })
        }
        _ => Vec::new(),
    };
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
        resource_drift,
        lock,
        kept,
        warnings,
    })
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
