//! The backends an environment lives in: a local folder (default) and a
//! Databricks workspace over REST, behind one trait.
//!
//! An environment holds the current deployment (`files/`, `artifacts/`) and
//! its `state/` (reference §1). The deploy engine (`crate::deploy`) decides
//! *what* to write; a backend decides *how* to make it visible:
//!
//! | guarantee | local folder | remote workspace |
//! |---|---|---|
//! | readers during a deploy | see the old version or the new one, never a mix (versioned folders, one atomic symlink switch) | see files change one by one (no rename in the API); state files are written last, so the state always names a complete version |
//! | killed mid-deploy | previous version intact; the next run removes the leftovers | files partly updated; the next deploy repairs them (content hashes, not mtimes) |
//! | lock | `state/deploy.lock` created with `O_EXCL`; a dead holder on this host is detected | `import-file?overwrite=false`, read back and compared |
//! | history / rollback | the last N versions are kept | not available |
//! | resources | the plan is recorded in the state | created through the workspace's API (`Workspace::api`) |
//! | jobs and integration tests | run here on the deployed files (`Workspace::files_dir`) | jobs run in the workspace |
//!
//! Domain code asks the opened `Workspace` (or, before one is opened, the
//! [`Backend`] that `deploy::env` picks once from the settings) which side of
//! this table it is on; it never reads the settings' `remote` flag itself.

pub mod local;
#[allow(dead_code)]
pub mod remote;

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::package::Manifest;
use crate::workspace::remote::client::Client;

/// The state files a deployment writes, in the order they are written. A
/// backend writes them only after every file of the deployment is in place.
pub const STATE_FILES: [&str; 4] = [
    "deployment.json",
    "terraform.tfstate",
    "history.json",
    "metadata.json",
];

/// `state/deploy.lock`: the CLI's capitalised keys, plus who holds it (pid,
/// host, boot id, PID namespace and the process's start time) so that a lock
/// left by a dead process on this machine can be told from a live one: a pid
/// alone is reused, and a hostname is shared by containers and clones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "AcquisitionTime")]
    pub acquisition_time: String,
    #[serde(rename = "IsForced")]
    pub is_forced: bool,
    #[serde(rename = "User")]
    pub user: String,
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub host: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub boot_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pid_ns: String,
    /// Clock ticks after boot when the holder started (`/proc/<pid>/stat`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_time: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What acquiring the lock replaced, if anything.
#[derive(Debug, Clone)]
pub enum Replaced {
    Nothing,
    /// The holder was a process of this host that no longer exists.
    Stale(LockInfo),
    /// Taken over with `--force-lock`.
    Forced(LockInfo),
    /// An empty or partial lock file (a full disk, a crash while it was
    /// written) with no live holder: replaced. The text says what was there.
    Unreadable(String),
}

/// Files of the current deployment that differ from its manifest: edited,
/// added or deleted out of band. Paths are relative to the environment root
/// (`files/a.py`, `artifacts/.internal/x.whl`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub missing: Vec<String>,
    /// The backend could not look (a workspace that does not list folders,
    /// such as the CLI's test server): nothing found does not mean none.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.added.is_empty() && self.missing.is_empty()
    }
    /// Whether the deployed copy of `path` can no longer be trusted.
    pub fn damaged(&self, path: &str) -> bool {
        self.changed.iter().chain(&self.missing).any(|p| p == path)
    }
}

/// The two kinds of backend, for what differs before an environment is
/// opened. `deploy::env` picks one from the settings, once; domain code asks
/// it (or the opened [`Workspace`]) what to do, never the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A folder on this machine (the default).
    Local,
    /// A Databricks workspace over REST (`--remote`).
    Remote,
}

impl Backend {
    /// Whether every env of a bundle can be listed: a local env is a folder
    /// under the state root, a workspace is asked for one target at a time.
    pub fn lists_envs(self) -> bool {
        self == Backend::Local
    }

    /// Whether earlier deployments are kept, so that rollback can switch
    /// back to one (a workspace keeps only the current deployment).
    pub fn keeps_history(self) -> bool {
        self == Backend::Local
    }

    /// Whether a bundle's resources must be able to exist in a workspace
    /// (kinds this tool cannot create there are errors, not warnings).
    pub fn deploys_resources(self) -> bool {
        self == Backend::Remote
    }

    /// Whether the configuration depends on the workspace user (SCIM `Me`),
    /// so the workspace is asked before the target is resolved.
    pub fn asks_user(self) -> bool {
        self == Backend::Remote
    }
}

/// The Databricks workspace a remote environment lives in: where its
/// resources are created, and as whom.
#[derive(Clone, Copy)]
pub struct Api<'a> {
    pub client: &'a Client,
    pub user: &'a str,
}

/// One environment in one backend. Paths given to it are relative to the
/// environment root: `files/<path>`, `artifacts/<path>`; state file names are
/// bare (`metadata.json`).
pub trait Workspace: Send + Sync {
    /// Where the environment is, for messages (a folder or a URL).
    fn location(&self) -> String;

    /// A state file's bytes, `None` if absent.
    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Replace a state file; readers see the old bytes or the new ones.
    fn write_state(&self, name: &str, bytes: &[u8]) -> Result<()>;

    /// Create `state/deploy.lock` if absent. A lock held by a live process
    /// is an error naming the holder unless `lock.is_forced`; a lock whose
    /// holder is known to be dead is replaced.
    fn lock(&self, lock: &LockInfo) -> Result<Replaced>;
    /// Remove the lock if it is still ours; a warning (not an error) otherwise.
    fn unlock(&self, lock: &LockInfo) -> Result<Option<String>>;

    /// The id of the deployment readers currently see, if any.
    fn current(&self) -> Result<Option<String>>;
    /// A file of the current deployment (`artifacts/manifest.json`), `None` if absent.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>>;
    /// Where a file of the current deployment can be read directly, for backends that have one.
    #[allow(dead_code)] // for the runner and promotion across backends
    fn local_path(&self, path: &str) -> Option<PathBuf>;
    /// The folder on this machine that holds the current deployment's files
    /// (`<env>/files`): jobs run here on them and tests import them. `None`
    /// for a workspace, where jobs run in the workspace.
    fn files_dir(&self) -> Option<PathBuf> {
        None
    }
    /// The workspace the environment lives in, for backends that are one:
    /// the resources of a deployment are created there. `None` for a local
    /// folder, where the resource plan is only recorded.
    fn api(&self) -> Option<Api<'_>> {
        None
    }
    /// Delete the environment: its files, artifacts and state (a missing
    /// environment is not an error).
    fn delete_all(&self) -> Result<()>;
    /// Compare the current deployment with its manifest.
    fn drift(&self, manifest: &Manifest) -> Result<Drift>;
    /// [`Workspace::drift`] as a deploy asks it: a backend whose look costs
    /// a request per folder may skip it for a big deployment (`unknown`),
    /// where `status` and the promotions always look.
    fn drift_for_deploy(&self, manifest: &Manifest) -> Result<Drift> {
        self.drift(manifest)
    }

    /// Start writing deployment `id` on top of the current one.
    fn begin(&self, id: &str) -> Result<Box<dyn Transaction + '_>>;
    /// `begin`, knowing what the new deployment will hold: a backend that
    /// keeps whole trees may then rewrite an old one (that `basis.keep` no
    /// longer needs) into the new one, in proportion to what differs.
    fn begin_from(&self, id: &str, basis: &Basis) -> Result<Box<dyn Transaction + '_>> {
        let _ = basis;
        self.begin(id)
    }

    /// Deployments kept for rollback, oldest first (empty if the backend keeps none).
    fn versions(&self) -> Result<Vec<String>>;
    /// A state file as recorded with a kept deployment.
    fn read_version_state(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>>;
    /// Make kept deployment `id` the current one, with these state files.
    fn switch(&self, id: &str, state: &[(&str, Vec<u8>)]) -> Result<()>;
    /// Forget deployments not in `keep` (the current one is always kept).
    fn prune(&self, keep: &[String]) -> Result<()>;
    /// Finish or undo what a killed run left behind (stale temp files, state
    /// files not yet installed). Called with the lock held.
    fn recover(&self) -> Result<()>;
}

/// What a new deployment is made from and holds.
pub struct Basis<'a> {
    /// The manifest of the new deployment.
    pub next: &'a Manifest,
    /// The deployments to keep besides the new one (the history window).
    pub keep: &'a [String],
}

/// A new deployment being written. Nothing is visible to readers before
/// `commit`; `abort` (or dropping it) leaves the current deployment as it was.
pub trait Transaction: Sync {
    /// `path` is unchanged from the current deployment (local: hard link; remote: nothing to do).
    fn keep(&self, path: &str) -> Result<()>;
    /// The paths (`files/...`, `artifacts/...`) of the new deployment this
    /// one does not hold yet; `None`: it holds none. A rewritten old version
    /// holds all but a few, and the others need no `keep`.
    fn lacking(&self) -> Option<&std::collections::HashSet<String>> {
        None
    }
    /// Write `path` with these bytes.
    fn put(&self, path: &str, bytes: &[u8]) -> Result<()>;
    /// Write `path` with the content of a local file.
    fn put_file(&self, path: &str, src: &std::path::Path) -> Result<()>;
    /// `path` of the current deployment is not part of the new one.
    fn delete(&self, path: &str) -> Result<()>;
    /// Send the files written so far where they will be read from, before
    /// the resources that name them are created (the CLI's order: files,
    /// then resources, then state). The local backend has nothing to send
    /// before its switch.
    fn upload(&self) -> Result<()> {
        Ok(())
    }
    /// Make the new deployment current, then write the state files (in
    /// `STATE_FILES` order). `manifest` describes what was written.
    fn commit(self: Box<Self>, manifest: &Manifest, state: &[(&str, Vec<u8>)]) -> Result<()>;
    /// Give up: the current deployment stays.
    fn abort(self: Box<Self>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::{Backend, Workspace};
    use crate::workspace::local::LocalWorkspace;

    /// Each difference is on the side the two backends' guarantees say
    /// (module docs): a workspace keeps no history and cannot be listed.
    #[test]
    fn backend_capabilities() {
        let local = Backend::Local;
        let remote = Backend::Remote;
        assert!(local.lists_envs() && !remote.lists_envs());
        assert!(local.keeps_history() && !remote.keeps_history());
        assert!(!local.deploys_resources() && remote.deploys_resources());
        assert!(!local.asks_user() && remote.asks_user());
    }

    /// A local env: its files are read where they are, it has no workspace
    /// to create resources in, and deleting it twice is not an error.
    #[test]
    fn a_local_env_is_a_folder_with_no_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        let ws = LocalWorkspace::new(env.clone());
        std::fs::create_dir_all(env.join("state")).unwrap();
        std::fs::write(env.join("state/metadata.json"), "{}").unwrap();
        assert_eq!(ws.files_dir(), Some(env.join("files")));
        assert!(ws.api().is_none());
        ws.delete_all().unwrap();
        assert!(!env.exists());
        ws.delete_all().unwrap();
        assert!(dir.path().exists(), "only the env is deleted");
    }
}
