//! `destroy` and `summary`, as `databricks bundle destroy|summary`: the
//! resources recorded in an env's state deleted (then its files and state),
//! or listed with their ids and workspace URLs.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use serde::Serialize;

use super::resources::{Action, ResourceChange, ResourcePlan};
use super::state::{EnvState, TfResource};
use super::{env, lock, remote_resources};
use crate::config::{Bundle, kinds};
use crate::project::Project;
use crate::workspace::Workspace;

/// One resource recorded in an env's state.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// `jobs`, `experiments`, ...
    pub kind: String,
    pub key: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its page in the workspace (remote envs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub target: String,
    pub location: String,
    pub resources: Vec<Recorded>,
}

#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub env: String,
    pub location: String,
    /// False when nothing was deployed there.
    pub destroyed: bool,
    pub resources: Vec<Recorded>,
    pub warnings: Vec<String>,
}

fn recorded(r: &TfResource, host: Option<&str>) -> Option<Recorded> {
    let kind = kinds::by_tf_type(&r.kind);
    let id = r.id()?.to_string();
    let attrs = &r.instances.first()?.attributes;
    let name = kind
        .and_then(|k| attrs.get(k.name_field))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Some(Recorded {
        kind: kind.map_or_else(|| r.kind.clone(), |k| k.key.to_string()),
        key: r.name.clone(),
        url: host.zip(kind).map(|(h, k)| k.url(h, &id)),
        id,
        name,
    })
}

/// The workspace host of a remote env (for URLs); `None` locally.
fn host(ws: &dyn Workspace) -> Option<String> {
    ws.api().map(|api| api.client.host().to_string())
}

/// Each resource recorded in the env's state, with its id and URL.
pub fn summary(project: &Project, bundle: &Bundle) -> Result<Summary> {
    let ws = env::open(project, bundle)?;
    let state = EnvState::read(&*ws)?;
    let host = host(&*ws);
    let resources = state
        .tfstate
        .iter()
        .flat_map(|t| &t.resources)
        .filter_map(|r| recorded(r, host.as_deref()))
        .collect();
    Ok(Summary {
        name: bundle.name.clone(),
        target: bundle.target.clone(),
        location: ws.location(),
        resources,
    })
}

/// Asks on the terminal whether to go on; refuses where nobody can answer.
fn confirm(what: &[Recorded], location: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "destroy deletes {} resource(s) and everything under {location}: pass --auto-approve \
             (no terminal to ask on)",
            what.len()
        );
    }
    let mut err = std::io::stderr().lock();
    writeln!(err, "The following resources will be deleted:")?;
    for r in what {
        writeln!(err, "  delete {} {} ({})", r.kind, r.key, r.id)?;
    }
    writeln!(
        err,
        "All files and the state under {location} will be deleted."
    )?;
    write!(err, "Would you like to proceed? [y/n]: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("destroy cancelled: nothing was deleted");
    }
    Ok(())
}

/// Deletes every resource recorded in the env's state, each recorded gone
/// before the next request (a failed destroy leaves a state that names what
/// is left), then the env's files and state.
pub fn destroy(
    project: &Project,
    bundle: &Bundle,
    auto_approve: bool,
    force_lock: bool,
) -> Result<DestroyReport> {
    let ws = env::open(project, bundle)?;
    let state = EnvState::read(&*ws)?;
    let location = ws.location();
    let host = host(&*ws);
    let prev: Vec<TfResource> = state
        .tfstate
        .iter()
        .flat_map(|t| t.resources.clone())
        .collect();
    let listed: Vec<Recorded> = prev
        .iter()
        .filter_map(|r| recorded(r, host.as_deref()))
        .collect();
    let mut report = DestroyReport {
        env: bundle.target.clone(),
        location: location.clone(),
        destroyed: false,
        resources: listed.clone(),
        warnings: Vec::new(),
    };
    if state.metadata.is_none() && state.deployment.is_none() && prev.is_empty() {
        return Ok(report);
    }
    if !auto_approve {
        confirm(&listed, &location)?;
    }
    let user = super::current_user(bundle);
    let held = lock::acquire(&*ws, &user, force_lock)?;
    report.warnings.extend(held.warnings.iter().cloned());
    if let Some(api) = ws.api() {
        let mut plan = ResourcePlan {
            changes: listed
                .iter()
                .map(|r| ResourceChange {
                    kind: r.kind.clone(),
                    key: r.key.clone(),
                    action: Action::Delete,
                    id: Some(r.id.clone()),
                    drift: Vec::new(),
                })
                .collect(),
            resources: Vec::new(),
        };
        let direct = super::writes_dstate(&*ws, bundle, &state).then_some(api.user);
        let mut record = super::record_resources(&*ws, &state, direct);
        let warnings =
            remote_resources::apply(api.client, api.user, &mut plan, &prev, &mut record)?;
        report.warnings.extend(warnings);
    }
    // The lock goes with the rest of the state.
    let _ = held.release();
    ws.delete_all()?;
    report.destroyed = true;
    Ok(report)
}
