//! Where things are (the bundle folder, the repository around it, the folder
//! that holds `.bundle/`) and how the user asked to be served (env, backend,
//! output, variables). Resolved once, by the `commands` layer, from the
//! command line and the environment (uv's settings resolved once): domain
//! code reads these plain fields and never sees a clap type.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

#[derive(Debug, Clone)]
pub struct Project {
    /// The bundle folder (holds `databricks.yml`), absolute.
    pub bundle_dir: PathBuf,
    /// The repository that holds the bundle: the git work tree around
    /// `bundle_dir`, or `bundle_dir` itself outside git.
    pub repo_root: PathBuf,
    /// The folder under which `.bundle/<bundle>/<env>/` lives.
    pub state_root: PathBuf,
    pub settings: Settings,
}

/// What the user chose for this invocation, beyond where things are.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The environment (a target of databricks.yml), when one was named.
    pub env: Option<String>,
    /// `--var NAME=VALUE` values, as given.
    pub vars: Vec<String>,
    /// One JSON document on stdout instead of human output.
    pub json: bool,
    /// The Databricks workspace backend instead of the local folder.
    pub remote: bool,
    /// `-p/--profile`: replaces every target's `workspace.profile`.
    pub profile: Option<String>,
    pub quiet: bool,
    pub verbose: bool,
}

/// Where the user pointed the tool; `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub bundle_dir: Option<PathBuf>,
    pub root: Option<PathBuf>,
}

impl Project {
    pub fn resolve(paths: Paths, settings: Settings) -> Result<Project> {
        let bundle_dir = match &paths.bundle_dir {
            Some(dir) => dir.clone(),
            None => this_repository().join("bundle"),
        };
        if !bundle_dir.is_dir() {
            bail!(
                "bundle folder {} does not exist or is not a folder",
                bundle_dir.display()
            );
        }
        let bundle_dir = std::path::absolute(&bundle_dir)
            .with_context(|| format!("resolving {}", bundle_dir.display()))?;
        let repo_root = git_work_tree(&bundle_dir).unwrap_or_else(|| bundle_dir.clone());
        let state_root = match &paths.root {
            Some(root) => std::path::absolute(root)
                .with_context(|| format!("resolving {}", root.display()))?,
            None => repo_root.clone(),
        };
        Ok(Project {
            bundle_dir,
            repo_root,
            state_root,
            settings,
        })
    }

    /// A project on `bundle_dir` outside git, its envs under `state_root`,
    /// quiet: what in-process callers (benchmarks, unit tests) need.
    pub fn quiet_local(bundle_dir: &Path, state_root: &Path, env: &str) -> Project {
        Project {
            bundle_dir: bundle_dir.to_path_buf(),
            repo_root: bundle_dir.to_path_buf(),
            state_root: state_root.to_path_buf(),
            settings: Settings {
                env: Some(env.to_string()),
                quiet: true,
                ..Settings::default()
            },
        }
    }

    /// `<root>/.bundle/<bundle>/<env>`: a local environment.
    pub fn env_dir(&self, bundle_name: &str, env: &str) -> PathBuf {
        self.state_root.join(".bundle").join(bundle_name).join(env)
    }

    /// Human progress output is wanted (not `--json`, not `-q`).
    pub fn human(&self) -> bool {
        !self.settings.json && !self.settings.quiet
    }
}

/// The repository this xtask was built from (rust-analyzer's `project_root`).
pub fn this_repository() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The nearest ancestor of `dir` (itself included) that holds `.git`.
pub fn git_work_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}
