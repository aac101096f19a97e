//! The remote backend of an environment: a folder of a Databricks workspace
//! (reference §1), `<root>/{files,artifacts,state}`, written over REST.
//!
//! The workspace has no rename, so a deployment cannot switch atomically
//! like the local one. What it guarantees instead: the state files are
//! written last (in `STATE_FILES` order), so they always describe a complete
//! deployment; a killed deploy leaves some files updated, and the next one
//! repairs them because it compares content hashes through `drift`.
//!
//! Order within a commit, as the CLI's sync: deletes, then `mkdirs` of the
//! leaf folders, then all puts (overwrite, parents created on a 404), each
//! phase with bounded parallelism over the client's kept-alive connections.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::api::{ObjectType, is_exists, is_missing};
use super::auth::{self, TargetAuth};
use super::client::{Client, ClientOptions, api_error};
use super::ratelimit::Role;
use super::txn::RemoteTxn;
use crate::config::Bundle;
use crate::package::{self, Manifest};
use crate::workspace::local::{describe_holder, holder_is_gone};
use crate::workspace::{Drift, LockInfo, Replaced, STATE_FILES, Transaction, Workspace};

/// Our record of what each deployed object looked like right after the
/// deploy (`modified_at` per remote path), so `drift` only downloads objects
/// touched since. Not one of the CLI's files; the CLI ignores it.
const SNAPSHOT: &str = "remote-snapshot.json";

/// The most folders a deploy lists to look for files changed out of band:
/// about 4 s of requests at the default rate limit, and this repository's
/// bundle (21 folders) keeps its look on every deploy.
const DEPLOY_LIST_BUDGET: usize = 64;

pub struct RemoteWorkspace {
    client: Client,
    /// The same client as the CLI's filers send: the files' uploads, the
    /// state files, the lock (each its own rate-limit bucket, see `Role`).
    files: Client,
    state: Client,
    lock: Client,
    /// The look for files changed there out of band: a client of its own.
    look: Client,
    /// Absolute workspace path of the environment, e.g.
    /// `/Workspace/Users/me@x.com/.bundle/my_bundle/dev`.
    root: String,
    /// The workspace user the environment was opened for (empty when
    /// opened by root path alone, as the tests do).
    user: String,
    /// What the last `drift` found (remote path → `modified_at`), so a
    /// commit re-lists only the folders it wrote to for its snapshot.
    last_walk: Mutex<Option<BTreeMap<String, Option<i64>>>>,
    /// The id of the deploy lock this process took: checked before a
    /// commit deletes files or writes state (see [`RemoteWorkspace::fence`]).
    held: Mutex<Option<String>>,
    /// State files (by bare name) and artifacts (`artifacts/<path>`) as this
    /// process read or wrote them while holding the lock (`None`: known
    /// missing). Under the lock nobody else writes them, so reading one
    /// again or writing the same bytes back would be a request for nothing;
    /// at 15 requests a second such requests are the cost of a deploy.
    /// Emptied when the lock is taken and released.
    state_seen: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

impl RemoteWorkspace {
    pub fn new(client: Client, root: String) -> RemoteWorkspace {
        RemoteWorkspace {
            files: client.with_role(Role::Files),
            state: client.with_role(Role::State),
            lock: client.with_role(Role::Lock),
            look: client.with_role(Role::Look),
            client,
            root: root.trim_end_matches('/').to_string(),
            user: String::new(),
            last_walk: Mutex::new(None),
            held: Mutex::new(None),
            state_seen: Mutex::new(HashMap::new()),
        }
    }

    /// A deploy displaced by a `--force-lock` stops before its deletes and
    /// its state write instead of committing over the other deploy.
    pub(super) fn fence(&self) -> Result<()> {
        let Some(ours) = self.held.lock().unwrap_or_else(|p| p.into_inner()).clone() else {
            return Ok(());
        };
        match self.read_lock()? {
            Some((_, Some(h))) if h.id == ours => Ok(()),
            Some((_, Some(h))) => bail!(
                "this deploy lost its lock to another: {}; it stops before deleting files or \
                 writing state",
                describe_holder(&h)
            ),
            _ => {
                bail!("the deploy lock is gone or unreadable: this deploy stops before its commit")
            }
        }
    }

    /// The environment of `bundle` for `user` (from [`connect`]). The config
    /// must have been loaded with `LoadOptions::current_user = Some(user)`:
    /// `workspace.root_path` and `${workspace.current_user.*}` are expanded
    /// at load time, and the local guess (git email) may name another home.
    pub fn open(client: Client, user: &str, bundle: &Bundle) -> Result<RemoteWorkspace> {
        if bundle.user() != user {
            bail!(
                "the configuration of target {} was resolved for user `{}` but the workspace \
                 user is `{user}`; load it with that current user",
                bundle.target,
                bundle.user()
            );
        }
        let root = bundle
            .workspace("root_path")
            .map(str::to_string)
            .unwrap_or_else(|| format!("~/.bundle/{}/{}", bundle.name, bundle.target));
        let root = expand_root(&root, user).with_context(|| format!("target {}", bundle.target))?;
        Ok(RemoteWorkspace {
            user: user.to_string(),
            ..RemoteWorkspace::new(client, root)
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn abs(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    fn state_path(&self, name: &str) -> String {
        self.abs(&format!("state/{name}"))
    }

    /// Sets which lock this process holds (`None`: none), starting the
    /// state cache afresh either way.
    fn set_held(&self, id: Option<String>) {
        *self.held.lock().unwrap_or_else(|p| p.into_inner()) = id;
        self.state_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// What the cache knows of state file `name`: `Some(None)` known
    /// missing, `None` unknown (or no lock held: nothing is cached then).
    fn seen(&self, name: &str) -> Option<Option<Vec<u8>>> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()?;
        self.state_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// Drops what the cache knows of `name`: the next read asks the server.
    pub(super) fn forget(&self, name: &str) {
        self.state_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }

    fn remember(&self, name: &str, bytes: Option<Vec<u8>>) {
        if self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
        {
            self.state_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(name.to_string(), bytes);
        }
    }

    /// The client the deployment's files are sent with.
    pub(super) fn files_client(&self) -> &Client {
        &self.files
    }

    /// Upload with overwrite; on a missing parent, `mkdirs` it and retry
    /// once (the CLI's create-parents mode). `by`: the sender's client.
    pub(super) fn put_creating_parents(
        by: &Client,
        path: &str,
        bytes: Vec<u8>,
        overwrite: bool,
    ) -> Result<()> {
        match by.import_file(path, bytes.clone(), overwrite) {
            Err(e) if is_missing(&e) => {
                by.mkdirs(parent(path))?;
                by.import_file(path, bytes, overwrite)
            }
            other => other,
        }
    }

    fn read_lock(&self) -> Result<Option<(Vec<u8>, Option<LockInfo>)>> {
        Ok(self
            .lock
            .read_file(&self.state_path("deploy.lock"))?
            .map(|bytes| {
                let info = serde_json::from_slice(&bytes).ok();
                (bytes, info)
            }))
    }

    /// The folders (absolute) that hold a file of the deployment `prev`
    /// describes: they exist, so a put into one needs no `mkdirs` first (one
    /// deleted out of band since is created on the put's 404).
    fn deployed_dirs(&self, prev: Option<&Manifest>) -> HashSet<String> {
        let Some(m) = prev else {
            return HashSet::new();
        };
        let files = m
            .files
            .iter()
            .map(|f| format!("files/{}", remote_name(&f.path, f.notebook)));
        let artifacts = m.artifacts.iter().map(|a| format!("artifacts/{}", a.path));
        files
            .chain(artifacts)
            .chain(["artifacts/manifest.json".to_string()])
            .map(|rel| parent(&self.abs(&rel)).to_string())
            .collect()
    }

    /// Every file and notebook under `files/` and `artifacts/`, by path
    /// relative to the root (notebooks under their workspace name, without
    /// extension), with their `modified_at` and type.
    ///
    /// `None` when the server does not implement `workspace/list` (501): the
    /// CLI's test server serves no listing, since the CLI never lists a
    /// deployment (it trusts its own record). Drift is then unknown.
    fn walk(&self) -> Result<Option<BTreeMap<String, Option<i64>>>> {
        match self.walk_all() {
            Err(e) if unlisted(&e) => Ok(None),
            other => other.map(Some),
        }
    }

    /// The `modified_at` of each deployed object as the last deploy saw it.
    fn read_snapshot(&self) -> Result<BTreeMap<String, Option<i64>>> {
        Ok(match self.read_state(SNAPSHOT)? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            None => BTreeMap::new(),
        })
    }

    fn walk_all(&self) -> Result<BTreeMap<String, Option<i64>>> {
        let mut out = BTreeMap::new();
        let mut dirs: Vec<String> = vec![self.abs("files"), self.abs("artifacts")];
        let mut top = true;
        // Breadth-first, one level at a time, each level listed in parallel.
        while !dirs.is_empty() {
            let levels =
                self.look
                    .run_parallel(std::mem::take(&mut dirs), |c, d| match c.list(&d) {
                        // The top folders do not exist before the first deploy.
                        Err(e) if top && is_missing(&e) => Ok(Vec::new()),
                        other => other,
                    })?;
            top = false;
            for obj in levels.into_iter().flatten() {
                if obj.object_type == ObjectType::Directory {
                    dirs.push(obj.path);
                } else if let Some(rel) = obj.path.strip_prefix(&format!("{}/", self.root)) {
                    out.insert(rel.to_string(), obj.modified_at);
                }
            }
        }
        Ok(out)
    }

    /// Record `modified_at` of every deployed object. After a `drift` (every
    /// deploy has one), only the folders written to are listed again.
    pub(super) fn write_snapshot(&self, written: &[String], deleted: &[String]) -> Result<()> {
        let cached = self
            .last_walk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let snapshot = match cached {
            None => match self.walk()? {
                Some(found) => found,
                None => return Ok(()),
            },
            Some(mut snapshot) => {
                for d in deleted {
                    snapshot.remove(d);
                }
                let dirs: BTreeSet<String> = written
                    .iter()
                    .map(|p| parent(&self.abs(p)).to_string())
                    .collect();
                let listed = self
                    .look
                    .run_parallel(dirs.into_iter().collect(), |c, d| c.list(&d));
                // A server that lists nothing (the CLI's test server) keeps no snapshot.
                let listed = match listed {
                    Err(e) if unlisted(&e) => return Ok(()),
                    other => other?,
                };
                let prefix = format!("{}/", self.root);
                for obj in listed.into_iter().flatten() {
                    if obj.object_type != ObjectType::Directory
                        && let Some(rel) = obj.path.strip_prefix(&prefix)
                    {
                        snapshot.insert(rel.to_string(), obj.modified_at);
                    }
                }
                snapshot
            }
        };
        // Through `write_state`, so the state cache stays true.
        self.write_state(SNAPSHOT, &serde_json::to_vec(&snapshot)?)
    }
}

/// The server does not implement `workspace/list` (501).
fn unlisted(e: &anyhow::Error) -> bool {
    api_error(e).is_some_and(|a| a.status == 501)
}

/// How many folders a walk of `dirs` lists: each with its ancestors below
/// `root` (a folder holding only folders is listed too), `root` itself not.
pub(super) fn all_folders(root: &str, dirs: HashSet<String>) -> usize {
    let mut all = HashSet::new();
    for mut dir in dirs {
        while dir.len() > root.len() && dir.starts_with(root) && all.insert(dir.clone()) {
            dir = parent(&dir).to_string();
        }
    }
    all.len()
}

/// The target's `workspace.*` auth attributes, with `profile_flag`
/// (`-p/--profile`) replacing `workspace.profile`.
pub fn target_auth(bundle: &Bundle, profile_flag: Option<&str>) -> TargetAuth {
    target_auth_from(
        &|key| bundle.workspace(key).map(str::to_string),
        profile_flag,
    )
}

/// [`target_auth`] from any source of `workspace.<key>` values (the loader
/// asks before the bundle is resolved, to learn the user once).
pub fn target_auth_from(
    workspace: &dyn Fn(&str) -> Option<String>,
    profile_flag: Option<&str>,
) -> TargetAuth {
    let mut attrs = auth::Attrs::default();
    for a in auth::attrs::ATTRS.iter().filter(|a| a.name != "host") {
        if let Some(v) = workspace(a.name) {
            attrs.set(a.name, &v);
        }
    }
    TargetAuth {
        host: workspace("host"),
        attrs,
        profile: profile_flag
            .map(str::to_string)
            .or_else(|| workspace("profile")),
    }
}

/// Who we are in a workspace: the SCIM `Me` answer, whole (the
/// configuration's `${workspace.current_user.*}` reads its other fields).
#[derive(Debug, Clone)]
pub struct Me {
    pub user: String,
    pub scim: serde_json::Value,
}

/// Resolves credentials (target settings, environment, `~/.databrickscfg`),
/// builds the client and asks the workspace who we are (SCIM `Me`, once).
pub fn connect(target: &TargetAuth) -> Result<(Client, Me)> {
    let auth = auth::resolve(target)?;
    let client = Client::with_auth(auth, ClientOptions::default())?;
    let (user, scim) = client
        .me_record()
        .with_context(|| format!("asking {} for the current user", client.host()))?;
    Ok((client, Me { user, scim }))
}

/// `~/` → the user's home; `/Users/..` → `/Workspace/Users/..` (the CLI's
/// prefixing rule: any absolute path not under `/Workspace/` or `/Volumes/`).
pub fn expand_root(root: &str, user: &str) -> Result<String> {
    let root = match root.strip_prefix("~/") {
        Some(rest) => format!("/Workspace/Users/{user}/{rest}"),
        None => root.to_string(),
    };
    if !root.starts_with('/') {
        bail!("workspace.root_path `{root}` must be absolute or start with `~/`");
    }
    if root.split('/').any(|c| c == "..") {
        bail!("workspace.root_path `{root}` must not contain `..`");
    }
    let root = if root.starts_with("/Workspace/") || root.starts_with("/Volumes/") {
        root
    } else {
        format!("/Workspace{root}")
    };
    Ok(root.trim_end_matches('/').to_string())
}

/// The remote name of a deployed file: notebooks lose their extension.
pub(super) fn remote_name(rel: &str, notebook: bool) -> String {
    crate::files::remote_name(rel, notebook).to_string()
}

pub(super) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Expected remote names (relative to the root) of a manifest, with hashes.
fn expected(manifest: &Manifest) -> HashMap<String, &str> {
    let files = manifest.files.iter().map(|f| {
        (
            format!("files/{}", remote_name(&f.path, f.notebook)),
            f.hash.as_str(),
        )
    });
    let artifacts = manifest
        .artifacts
        .iter()
        .map(|a| (format!("artifacts/{}", a.path), a.hash.as_str()));
    files.chain(artifacts).collect()
}

impl Workspace for RemoteWorkspace {
    fn location(&self) -> String {
        format!("{}{}", self.client.host(), self.root)
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        if let Some(known) = self.seen(name) {
            return Ok(known);
        }
        let bytes = self.state.read_file(&self.state_path(name))?;
        self.remember(name, bytes.clone());
        Ok(bytes)
    }

    fn write_state(&self, name: &str, bytes: &[u8]) -> Result<()> {
        if self.seen(name).flatten().as_deref() == Some(bytes) {
            return Ok(());
        }
        Self::put_creating_parents(&self.state, &self.state_path(name), bytes.to_vec(), true)?;
        self.remember(name, Some(bytes.to_vec()));
        Ok(())
    }

    /// Reference §1.6: create with `overwrite=false` (only the server's
    /// create is atomic), swallow "exists", then read back and compare ids.
    fn lock(&self, lock: &LockInfo) -> Result<Replaced> {
        let path = self.state_path("deploy.lock");
        let body = serde_json::to_vec(lock)?;
        let mut replaced = Replaced::Nothing;
        let mut overwrite = lock.is_forced;
        if lock.is_forced
            && let Some((bytes, info)) = self.read_lock()?
        {
            replaced = Replaced::Forced(info.unwrap_or_else(|| unknown_holder(&bytes)));
        }
        loop {
            match Self::put_creating_parents(&self.lock, &path, body.clone(), overwrite) {
                // The server's create-if-absent is atomic: this lock is ours
                // without reading it back. (An overwrite is read back: two
                // takeovers may race.)
                Ok(()) if !overwrite => {
                    self.set_held(Some(lock.id.clone()));
                    return Ok(replaced);
                }
                Ok(()) => {}
                Err(e) if is_exists(&e) => {}
                // The create is not retried (not idempotent), but it may have
                // reached the server before the answer was lost: look.
                Err(e) => match self.read_lock() {
                    Ok(Some((_, Some(h)))) if h.id == lock.id => {
                        self.set_held(Some(lock.id.clone()));
                        return Ok(replaced);
                    }
                    _ => return Err(e).context("acquiring the deploy lock"),
                },
            }
            let held = self.read_lock()?;
            match held {
                Some((_, Some(h))) if h.id == lock.id => {
                    self.set_held(Some(lock.id.clone()));
                    return Ok(replaced);
                }
                // A holder that was a process of this machine and is gone:
                // take over (once), as the local backend does.
                Some((_, Some(h))) if !overwrite && holder_is_gone(&h) => {
                    replaced = Replaced::Stale(h);
                    overwrite = true;
                }
                Some((_, Some(h))) => bail!(
                    "{}.\nAnother deployment may be in progress. Use --force-lock to override",
                    describe_holder(&h)
                ),
                Some((_, None)) => {
                    bail!(
                        "{path} exists but is not a lock this tool understands; use --force-lock to override"
                    )
                }
                None => bail!(
                    "{path} vanished right after it was created; another deploy may be releasing it, try again"
                ),
            }
        }
    }

    fn unlock(&self, lock: &LockInfo) -> Result<Option<String>> {
        let ours = self.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if ours.as_deref() == Some(lock.id.as_str()) {
            self.set_held(None);
        }
        let path = self.state_path("deploy.lock");
        match self.read_lock()? {
            None => Ok(Some(format!("{path} disappeared while the deploy held it"))),
            Some((_, Some(h))) if h.id == lock.id => {
                self.lock.delete(&path, false)?;
                Ok(None)
            }
            Some((_, Some(h))) => Ok(Some(format!(
                "the lock was taken over meanwhile: {}",
                describe_holder(&h)
            ))),
            Some((_, None)) => Ok(Some(format!("{path} was replaced by something unreadable"))),
        }
    }

    /// The deployment id recorded in `state/metadata.json`.
    fn current(&self) -> Result<Option<String>> {
        let Some(bytes) = self.read_state("metadata.json")? else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("reading {}", self.state_path("metadata.json")))?;
        Ok(v.get("deployment_id")
            .and_then(|id| id.as_str())
            .map(str::to_string))
    }

    /// A notebook is stored without its extension: `files/a/nb.py` is read
    /// from `files/a/nb` when there is no file of the full name.
    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        // Artifacts are plain files (the manifest is read at every deploy):
        // one request, and under the lock one per command.
        if path.starts_with("artifacts/") {
            if let Some(known) = self.seen(path) {
                return Ok(known);
            }
            let bytes = self.files.read_file(&self.abs(path))?;
            self.remember(path, bytes.clone());
            return Ok(bytes);
        }
        if let Some(bytes) = self.client.export(&self.abs(path))? {
            return Ok(Some(bytes));
        }
        let notebook_ext = [".py", ".sql", ".scala", ".r", ".ipynb"]
            .iter()
            .any(|e| path.to_ascii_lowercase().ends_with(e));
        match crate::files::remote_name(path, true) {
            stem if notebook_ext && stem != path && path.starts_with("files/") => {
                self.client.export(&self.abs(stem))
            }
            _ => Ok(None),
        }
    }

    fn local_path(&self, _path: &str) -> Option<PathBuf> {
        None
    }

    fn api(&self) -> Option<crate::workspace::Api<'_>> {
        Some(crate::workspace::Api {
            client: &self.client,
            user: &self.user,
        })
    }

    /// The whole root folder, recursively (a missing one is not an error).
    fn delete_all(&self) -> Result<()> {
        self.state_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.client.delete(&self.root, true).map(|_| ())
    }

    fn drift(&self, manifest: &Manifest) -> Result<Drift> {
        let mut expected = expected(manifest);
        let Some(found) = self.walk()? else {
            eprintln!(
                "note: {} does not list workspace folders (workspace/list): files changed there \
                 out of band are not detected",
                self.client.host()
            );
            return Ok(Drift {
                unknown: true,
                ..Drift::default()
            });
        };
        *self.last_walk.lock().unwrap_or_else(|p| p.into_inner()) = Some(found.clone());
        let snapshot = self.read_snapshot()?;
        let mut drift = Drift::default();
        let mut suspects = Vec::new();
        for (path, modified) in found {
            if path == "artifacts/manifest.json" {
                continue;
            }
            let Some(hash) = expected.remove(&path) else {
                drift.added.push(path);
                continue;
            };
            // Untouched since our deploy: trust it without downloading.
            if snapshot
                .get(&path)
                .is_some_and(|s| *s == modified && modified.is_some())
            {
                continue;
            }
            suspects.push((path, hash.to_string()));
        }
        let changed = self.look.run_parallel(suspects, |c, (path, hash)| {
            let now = c.export(&format!("{}/{path}", self.root))?;
            Ok(now
                .is_none_or(|bytes| package::hash_bytes(&bytes) != hash)
                .then_some(path))
        })?;
        drift.changed = changed.into_iter().flatten().collect();
        drift.missing = expected.into_keys().collect();
        drift.added.sort();
        drift.changed.sort();
        drift.missing.sort();
        Ok(drift)
    }

    /// The look of [`Self::drift`] is a `workspace/list` per folder, at the
    /// rate limit (its own client's): a deploy of more than
    /// [`DEPLOY_LIST_BUDGET`] folders skips it (at 15 a second, 1,112
    /// folders would add 74 s to every deploy, where the CLI never looks)
    /// and lists only the folders it writes, for the snapshot.
    fn drift_for_deploy(&self, manifest: &Manifest) -> Result<Drift> {
        let folders = all_folders(&self.root, self.deployed_dirs(Some(manifest)));
        if folders <= DEPLOY_LIST_BUDGET {
            return self.drift(manifest);
        }
        eprintln!(
            "note: files changed in the workspace out of band are not looked for on a deploy of \
             {folders} folders (a request each; more than {DEPLOY_LIST_BUDGET}): `status`, \
             `stage` and `release` look"
        );
        let snapshot = self.read_snapshot()?;
        *self.last_walk.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
        Ok(Drift {
            unknown: true,
            ..Drift::default()
        })
    }

    fn begin(&self, _id: &str) -> Result<Box<dyn Transaction + '_>> {
        let prev: Option<Manifest> = match self.read("artifacts/manifest.json")? {
            Some(bytes) => serde_json::from_slice(&bytes).ok(),
            None => None,
        };
        let notebooks = prev
            .as_ref()
            .map(|m| {
                m.files
                    .iter()
                    .filter(|f| f.notebook)
                    .map(|f| format!("files/{}", f.path))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Box::new(RemoteTxn::new(
            self,
            notebooks,
            self.deployed_dirs(prev.as_ref()),
        )))
    }

    /// A workspace keeps no old deployments: rollback is a local feature.
    fn versions(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    fn read_version_state(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        if self.current()?.as_deref() == Some(id) {
            self.read_state(name)
        } else {
            Ok(None)
        }
    }

    /// Only the current deployment can be "switched to" (a redeploy of the
    /// same content, or a metadata update): its state files are rewritten.
    fn switch(&self, id: &str, state: &[(&str, Vec<u8>)]) -> Result<()> {
        let current = self.current()?;
        if current.as_deref() != Some(id) {
            bail!(
                "deployment {id} is not kept in {}: a remote environment keeps only its current deployment",
                self.location()
            );
        }
        self.fence()?;
        for name in STATE_FILES {
            if let Some((_, bytes)) = state.iter().find(|(n, _)| *n == name) {
                self.write_state(name, bytes)?;
            }
        }
        Ok(())
    }

    fn prune(&self, _keep: &[String]) -> Result<()> {
        Ok(())
    }

    /// Nothing to finish: a killed deploy left either old state files (the
    /// next deploy repairs the files through `drift`) or complete new ones.
    fn recover(&self) -> Result<()> {
        Ok(())
    }
}

fn unknown_holder(bytes: &[u8]) -> LockInfo {
    LockInfo {
        id: String::new(),
        acquisition_time: String::new(),
        is_forced: false,
        user: format!("an unreadable lock ({} bytes)", bytes.len()),
        ..LockInfo::default()
    }
}
