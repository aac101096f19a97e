//! Rollback: switch an env back to a kept deployment, verified against
//! that deployment's manifest.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::json;

use super::state::{DeploymentState, EnvState, HistoryEntry, Metadata, TfState};
use super::{DeployOptions, history_len, open, with_lock};
use crate::config::Bundle;
use crate::project::Project;
use crate::workspace::Workspace;

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
    if !super::env::backend(project).keeps_history() {
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
    let target = pick_target(ws, &state, bundle, to, current.as_deref())?;
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
    let old_tf: TfState = super::tfshape::decode(&read("terraform.tfstate")?)?;
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

/// The kept deployment `to` names (its id or its sequence number), or by
/// default the newest one before the current.
fn pick_target(
    ws: &dyn Workspace,
    state: &EnvState,
    bundle: &Bundle,
    to: Option<&str>,
    current: Option<&str>,
) -> Result<String> {
    let versions = ws.versions()?;
    let known = |id: &str| {
        versions.iter().any(|v| v == id) && state.history.deployments.iter().any(|e| e.id == id)
    };
    Ok(match to {
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
            .find(|id| Some(id.as_str()) != current && known(id))
            .cloned()
            .with_context(|| {
                format!(
                    "env {} has no earlier deployment to roll back to",
                    bundle.target
                )
            })?,
    })
}
