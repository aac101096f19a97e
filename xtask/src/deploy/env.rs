//! Where an environment lives: the local folder (default) or, with
//! `--remote` / `XTASK_REMOTE`, the Databricks workspace of its target.
//!
//! On the remote backend the configuration depends on who we are in the
//! workspace (`${workspace.current_user.*}`, the default root path under
//! `/Workspace/Users/<user>`), so a target is loaded once locally to learn its
//! host/profile, the workspace is asked (SCIM `Me`), and the target is loaded
//! again for that user. Connections are kept per host/profile for the life of
//! the process, so a command touching several envs (stage, release) asks once.

use std::sync::Mutex;

use anyhow::Result;

use crate::config::{self, Bundle, LoadOptions};
use crate::diag::{self, Diagnostic};
use crate::project::Project;
use crate::workspace::local::LocalWorkspace;
use crate::workspace::remote::backend::{self, Me, RemoteWorkspace};
use crate::workspace::remote::client::Client;
use crate::workspace::{Backend, Workspace};

type Key = (Option<String>, Option<String>);

/// Connections by host/profile, each with the workspace's SCIM `Me` answer
/// (asked once, when connecting: the configuration needs the whole record).
static SESSIONS: Mutex<Vec<(Key, Client, Me)>> = Mutex::new(Vec::new());

/// The backend the project's envs live in: the one place the settings
/// choose it (`--remote` / `XTASK_REMOTE`).
pub fn backend(project: &Project) -> Backend {
    if project.settings.remote {
        Backend::Remote
    } else {
        Backend::Local
    }
}

/// The client and workspace user for `bundle`'s target (connected once per host/profile).
pub fn session(project: &Project, bundle: &Bundle) -> Result<(Client, String)> {
    let profile = project.settings.profile.as_deref();
    let (client, me) = session_for(backend::target_auth(bundle, profile))?;
    Ok((client, me.user))
}

fn session_for(target: crate::workspace::remote::auth::TargetAuth) -> Result<(Client, Me)> {
    let key = (target.host.clone(), target.profile.clone());
    let mut sessions = SESSIONS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, client, me)) = sessions.iter().find(|(k, _, _)| *k == key) {
        return Ok((client.clone(), me.clone()));
    }
    let (client, me) = backend::connect(&target)?;
    sessions.push((key, client.clone(), me.clone()));
    Ok((client, me))
}

/// How the project's settings load target `env` (`None`: the default).
pub fn load_options(project: &Project, env: Option<&str>) -> LoadOptions {
    LoadOptions {
        bundle_dir: project.bundle_dir.clone(),
        target: env.map(str::to_string),
        vars: project.settings.vars.clone(),
        current_user: None,
    }
}

/// `config::load`, resolved for the workspace's user on the remote backend
/// (the workspace is asked once the target is merged, and the configuration
/// resolved once), with the resources of kinds this tool cannot deploy
/// reported (errors on the remote backend). Errors only when the workspace
/// cannot be reached;
/// configuration problems come back as diagnostics, as from `config::load`.
pub fn load_config(
    project: &Project,
    opts: &LoadOptions,
) -> Result<(Option<Bundle>, Vec<Diagnostic>)> {
    let (bundle, mut diags) = load_for_user(project, opts)?;
    // A configuration that already failed is not deployed either way: its
    // own errors are the answer (as the CLI's alone).
    let failed = diags.iter().any(Diagnostic::is_error);
    if let Some(b) = bundle.as_ref().filter(|_| !failed) {
        let remote = backend(project).deploys_resources();
        diags.extend(config::kinds::check_deployable(b, remote));
    }
    Ok((bundle, diags))
}

fn load_for_user(
    project: &Project,
    opts: &LoadOptions,
) -> Result<(Option<Bundle>, Vec<Diagnostic>)> {
    if !backend(project).asks_user() || opts.current_user.is_some() {
        return Ok(config::load(opts));
    }
    config::load_asking_user(opts, &mut |ws| {
        let profile = project.settings.profile.as_deref();
        let target =
            backend::target_auth_from(&|key| ws.workspace(key).map(str::to_string), profile);
        let (client, me) = session_for(target)?;
        let answers = client.clone();
        Ok(
            config::CurrentUser::from_scim(me.user, Some(me.scim)).with_lookups(
                move |kind, name| crate::workspace::remote::lookup::resolve(&answers, kind, name),
            ),
        )
    })
}

/// Target `env` of the project's bundle (`None`: the default target), for
/// the backend in use. Prints the diagnostics with their locations (warnings
/// too, unless `-q`); configuration errors end with the summary line and
/// fail with [`diag::Failed`].
pub fn load_target(project: &Project, env: Option<&str>) -> Result<Bundle> {
    load_target_in(project, &project.bundle_dir, env)
}

/// Target `env` of the bundle whose files are in `dir` (the working tree's
/// `bundle/`, or an env's deployed `files/`), as `load_target`.
pub fn load_target_in(
    project: &Project,
    dir: &std::path::Path,
    env: Option<&str>,
) -> Result<Bundle> {
    let opts = LoadOptions {
        bundle_dir: dir.to_path_buf(),
        ..load_options(project, env)
    };
    let (bundle, diags) = load_config(project, &opts)?;
    reported(project, bundle, &diags)
}

/// The bundle's name, with no target selected; the diagnostics are printed
/// as by [`load_target`].
pub fn load_name(project: &Project) -> Result<String> {
    let (name, diags) = config::load_name(&project.bundle_dir);
    reported(project, name, &diags)
}

/// Print the diagnostics with their locations (warnings too, unless `-q`);
/// errors end with the summary line and fail with [`diag::Failed`].
pub(super) fn reported<T>(project: &Project, loaded: Option<T>, diags: &[Diagnostic]) -> Result<T> {
    let errors = diags.iter().any(Diagnostic::is_error);
    if errors || !project.settings.quiet {
        for d in diags {
            eprint!("{d}");
        }
    }
    match loaded {
        Some(v) if !errors => Ok(v),
        _ => {
            eprintln!("{}", diag::summary_line(diags));
            diag::note_failure(diags);
            Err(diag::Failed.into())
        }
    }
}

/// On the remote backend, the bundle's `${resources...}` references whose
/// field neither the referenced kind's settings nor the workspace know
/// (`remote_fields`): printed as configuration errors are, failing with
/// [`diag::Failed`]. Called before anything is sent, so a deploy refused
/// here leaves the workspace as it was (the CLI refuses at its plan, after
/// uploading the files).
pub fn check_references(project: &Project, bundle: &Bundle) -> Result<()> {
    if !backend(project).deploys_resources() {
        return Ok(());
    }
    let diags = super::remote_fields::check(bundle);
    reported(project, Some(()), &diags)
}

/// The backend of `bundle`'s target env.
pub fn open(project: &Project, bundle: &Bundle) -> Result<Box<dyn Workspace>> {
    if backend(project) == Backend::Local {
        return Ok(Box::new(LocalWorkspace::new(
            project.env_dir(&bundle.name, &bundle.target),
        )));
    }
    let (client, user) = session(project, bundle)?;
    Ok(Box::new(RemoteWorkspace::open(client, &user, bundle)?))
}

/// The backend of another env `env` of the same bundle (a promotion's source).
pub fn open_env(project: &Project, bundle: &Bundle, env: &str) -> Result<Box<dyn Workspace>> {
    if env == bundle.target {
        return open(project, bundle);
    }
    if backend(project) == Backend::Local {
        return Ok(Box::new(LocalWorkspace::new(
            project.env_dir(&bundle.name, env),
        )));
    }
    open(project, &load_target(project, Some(env))?)
}
