//! Where things are: the bundle folder, the repository around it, and the
//! folder that holds `.bundle/`. Resolved once from the global options.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::Global;

#[derive(Debug, Clone)]
pub struct Project {
    /// The bundle folder (holds `databricks.yml`), absolute.
    pub bundle_dir: PathBuf,
    /// The repository that holds the bundle: the git work tree around
    /// `bundle_dir`, or `bundle_dir` itself outside git.
    pub repo_root: PathBuf,
    /// The folder under which `.bundle/<bundle>/<env>/` lives.
    pub state_root: PathBuf,
    pub global: Global,
}

impl Project {
    pub fn from_global(global: Global) -> Result<Project> {
        let bundle_dir = match &global.bundle_dir {
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
        let state_root = match &global.root {
            Some(root) => std::path::absolute(root)
                .with_context(|| format!("resolving {}", root.display()))?,
            None => repo_root.clone(),
        };
        Ok(Project {
            bundle_dir,
            repo_root,
            state_root,
            global,
        })
    }

    /// `<root>/.bundle/<bundle>/<env>`: a local environment.
    pub fn env_dir(&self, bundle_name: &str, env: &str) -> PathBuf {
        self.state_root.join(".bundle").join(bundle_name).join(env)
    }

    /// Human progress output is wanted (not `--json`, not `-q`).
    pub fn human(&self) -> bool {
        !self.global.json && !self.global.quiet
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
