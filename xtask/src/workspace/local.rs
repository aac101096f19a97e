//! A local environment: `<root>/.bundle/<bundle>/<env>/`.
//!
//! ```text
//! <env>/
//!   current -> .deployments/<id>      the one switch: a symlink replaced by rename(2)
//!   files -> current/files            stable paths for readers (the runner, users)
//!   artifacts -> current/artifacts
//!   state/                            metadata.json, deployment.json, terraform.tfstate,
//!                                     history.json, deploy.lock, runs/ (the runner's)
//!   .deployments/<id>/{files,artifacts,state}   kept versions; state/ is the snapshot
//!                                     of the state files written with that version
//!   .cache/env-stat                   stat of the current version's files (drift check)
//! ```
//!
//! A new version is built beside the current one: a folder (see
//! `deploy::engine::clean_dirs`) whose whole content is unchanged is one
//! relative symlink to where that folder physically is (in the current
//! version or an older one); when the current version already shares it, the
//! new one hard-links that very symlink (relative, same depth: it resolves to
//! the same place). In the other folders, unchanged files are hard links to
//! the current version's and changed ones are written fresh. Nothing is
//! visible until `current` is switched. Pruning an old version keeps the
//! folders newer versions still share, as a "husk" (marked `.husk`, never
//! offered for rollback), and deletes the rest. Deployed files are read-only,
//! to discourage edits in place (which, through the sharing, would also reach
//! older versions; `drift` finds them and the next deploy writes a fresh copy,
//! and `lineage` keeps an older version that still holds one from bringing
//! it back when it is rewritten into a new version).
//!
//! Cost on this kind of file system (ext4 here): a hard link is ~5 µs, but
//! creating an inode (mkdir, symlink, a new file) 15–250 µs depending on load
//! (the allocator skips recently deleted inodes, which a busy disk has many
//! of). So a redeploy makes inodes only along the changed paths (plus, the
//! first time a folder is shared, its symlink), and links for the rest.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::{Basis, Drift, LockInfo, Replaced, STATE_FILES, Transaction, Workspace};
use crate::files::Stat;
use crate::package::Manifest;
use crate::util::fault;

mod drift;
mod envstat;
mod lineage;
mod lockfile;
mod tree;
mod txn;
mod verify;

use lockfile::{Guard, try_hold, unknown_holder};
pub use lockfile::{describe_holder, holder_is_gone, hostname, process_identity};
use tree::{HUSK, Held, PLAIN, delete_except};
use txn::LocalTxn;

pub struct LocalWorkspace {
    env: PathBuf,
    /// While this process holds the deploy lock: its id (the fence checked
    /// before a switch or a prune) and the `flock` that proves it alive.
    held: Mutex<Option<(String, fs::File)>>,
}

impl LocalWorkspace {
    pub fn new(env: PathBuf) -> LocalWorkspace {
        LocalWorkspace {
            env,
            held: Mutex::new(None),
        }
    }
    fn state_dir(&self) -> PathBuf {
        self.env.join("state")
    }
    fn versions_dir(&self) -> PathBuf {
        self.env.join(".deployments")
    }
    pub(super) fn version_dir(&self, id: &str) -> PathBuf {
        self.versions_dir().join(id)
    }
    /// Where `path` of version `id` physically is, relative to
    /// `.deployments/`: follow the shared-folder links component by component
    /// (a few lstat calls, where `canonicalize` would stat every ancestor).
    fn physical(&self, id: &str, path: &str) -> Result<String> {
        let root = self.versions_dir();
        let mut cur = id.to_string();
        for part in path.split('/') {
            let next = format!("{cur}/{part}");
            let full = root.join(&next);
            let meta = fs::symlink_metadata(&full)
                .with_context(|| format!("reading {}", full.display()))?;
            cur = if meta.file_type().is_symlink() {
                let target = fs::read_link(&full)?;
                let target = target.to_string_lossy();
                let mut t: &str = &target;
                while let Some(rest) = t.strip_prefix("../") {
                    t = rest;
                }
                t.to_string()
            } else {
                next
            };
        }
        Ok(cur)
    }

    /// Every folder under `.deployments/`, husks included, oldest first.
    fn all_versions(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match fs::read_dir(self.versions_dir()) {
            Ok(entries) => {
                for e in entries {
                    let e = e?;
                    // `.build-<id>`: a version being written, not one yet.
                    if e.file_type()?.is_dir()
                        && let Some(name) = e.file_name().to_str()
                        && !name.starts_with('.')
                    {
                        out.push(name.to_string());
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("listing {}", self.versions_dir().display()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The real folders below `rel` of version `id` (physically at `dir`)
    /// that a kept version reaches, as physical paths. A shared folder is
    /// only ever linked at its own path, so a kept version reaches folder
    /// `p` of `id` exactly when its path `p` resolves there: a few lstat
    /// calls per real folder and kept version, where walking every kept
    /// version's links costs a listing of each of their folders.
    fn shared_folders(
        &self,
        id: &str,
        dir: &Path,
        rel: &str,
        kept: &[&String],
        out: &mut HashSet<PathBuf>,
    ) -> Result<()> {
        let here = dir.join(rel);
        let entries = match fs::read_dir(&here) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("listing {}", here.display())),
        };
        for e in entries {
            let e = e.with_context(|| format!("listing {}", here.display()))?;
            if !e.file_type()?.is_dir() {
                continue;
            }
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let path = format!("{rel}/{name}");
            let physical = format!("{id}/{path}");
            let reached = kept
                .iter()
                .any(|w| self.physical(w, &path).is_ok_and(|p| p == physical));
            if reached {
                out.insert(dir.join(&path));
            } else {
                self.shared_folders(id, dir, &path, kept, out)?;
            }
        }
        Ok(())
    }

    /// Start version `id` in `.deployments/.build-<id>`: the oldest version
    /// that `basis` no longer keeps, rewritten (only what differs), else a
    /// new folder filled by links to the current version.
    fn begin_in(&self, id: &str, basis: Option<&Basis>) -> Result<Box<dyn Transaction + '_>> {
        let root = self.versions_dir();
        fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
        let dir = root.join(format!(".build-{id}"));
        let base_id = self.current()?;
        let reused = match basis {
            Some(b) => self.reuse_oldest(base_id.as_deref(), b, &dir)?,
            None => None,
        };
        let held = match reused {
            Some(held) => held,
            None => {
                fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                Held::Nothing
            }
        };
        let base = base_id.as_ref().map(|cur| self.version_dir(cur));
        Ok(Box::new(LocalTxn {
            ws: self,
            id: id.to_string(),
            dir,
            base,
            base_id,
            made: Mutex::new(HashSet::new()),
            fresh: Mutex::new(HashSet::new()),
            held,
        }))
    }

    /// The oldest plain version that is neither current nor kept (and has a
    /// manifest that reads, and a lineage from the current version), moved
    /// to `dir` and rewritten towards `basis.next`; `None` when there is none.
    fn reuse_oldest(
        &self,
        current: Option<&str>,
        basis: &Basis,
        dir: &Path,
    ) -> Result<Option<Held>> {
        for id in self.all_versions()? {
            if Some(id.as_str()) == current || basis.keep.contains(&id) || !self.is_plain(&id) {
                continue;
            }
            // Its files are trusted only where they are the current
            // version's inodes (verified by the drift check): not at all
            // when the lineages do not lead from the current version to it.
            let Some(unverified) = current
                .map(|cur| lineage::written_since(&self.versions_dir(), cur, &id))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            let from = self.version_dir(&id);
            let Some(bytes) = read_opt(&from.join("artifacts/manifest.json"))? else {
                continue;
            };
            // Paths and hashes only, borrowed from the bytes: no record is built.
            let Ok(listed) = crate::util::json::from_bytes::<tree::Listed>(&bytes) else {
                continue;
            };
            fs::rename(&from, dir)
                .with_context(|| format!("renaming {} to {}", from.display(), dir.display()))?;
            fault::step("old version taken")?;
            return tree::reuse(dir, &listed, basis.next, &unverified).map(Some);
        }
        Ok(None)
    }

    fn is_plain(&self, id: &str) -> bool {
        self.version_dir(id).join(PLAIN).exists()
    }

    /// Check that version `id` holds exactly what its manifest lists (the
    /// same paths, each with its hash), repairing what differs from another
    /// kept version that holds the right bytes. Returns the manifest.
    fn verify(&self, id: &str) -> Result<Manifest> {
        let others: Vec<PathBuf> = self
            .versions()?
            .into_iter()
            .filter(|v| v != id)
            .map(|v| self.version_dir(&v))
            .collect();
        verify::restore(&self.version_dir(id), id, &others)
    }

    fn cache_file(&self) -> PathBuf {
        self.env.join(".cache").join("env-stat")
    }

    /// Before a switch or a prune: the deploy lock is still the one this
    /// process took. A `--force-lock` from elsewhere displaces it; the
    /// displaced deploy then stops here instead of switching in (or pruning)
    /// over the other. The guard returned keeps a take-over out until the
    /// step is done. Nothing to check when this process holds no lock.
    fn fence(&self) -> Result<Option<Guard>> {
        let Some(ours) = self
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(id, _)| id.clone())
        else {
            return Ok(None);
        };
        let guard = Guard::take(&self.env.join(".lock-guard"))?;
        let path = self.state_dir().join("deploy.lock");
        let on_disk = read_opt(&path)?;
        match on_disk.as_deref().map(serde_json::from_slice::<LockInfo>) {
            Some(Ok(h)) if h.id == ours => Ok(Some(guard)),
            Some(Ok(h)) => bail!(
                "this deploy lost its lock to another: {}; it stops before switching or pruning, \
                 the env keeps what the other deploy makes live",
                describe_holder(&h)
            ),
            _ => bail!(
                "{} is gone or unreadable: this deploy no longer holds the lock and stops here",
                path.display()
            ),
        }
    }

    /// Point `current` at version `id` with one rename, then make sure the stable links exist.
    fn switch_current(&self, id: &str) -> Result<()> {
        // The top-level links first: anything that can fail happens before
        // the switch, which is the last step (a link to `current/...` may
        // dangle until then).
        for name in ["files", "artifacts"] {
            let link = self.env.join(name);
            match fs::symlink_metadata(&link) {
                Ok(m) if m.file_type().is_symlink() => continue,
                Ok(_) => bail!(
                    "{} is not a link to current/{name}: this environment was not written by this tool; \
                     move it away and deploy again",
                    link.display()
                ),
                Err(_) => {
                    let tmp = self.env.join(format!(".{name}.tmp"));
                    let _ = fs::remove_file(&tmp);
                    std::os::unix::fs::symlink(format!("current/{name}"), &tmp)
                        .with_context(|| format!("creating {}", tmp.display()))?;
                    fs::rename(&tmp, &link)
                        .with_context(|| format!("creating {}", link.display()))?;
                }
            }
        }
        let tmp = self.env.join(format!(".current-{id}.tmp"));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!(".deployments/{id}"), &tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        fault::step("switch prepared")?;
        let fence = self.fence()?;
        fs::rename(&tmp, self.env.join("current"))
            .with_context(|| format!("switching {} to {id}", self.env.display()))?;
        drop(fence);
        fault::step("switched")?;
        Ok(())
    }

    fn install_state(&self, dir: &Path, state: &[(&str, Vec<u8>)]) -> Result<()> {
        let snapshot = dir.join("state");
        fs::create_dir_all(&snapshot)
            .with_context(|| format!("creating {}", snapshot.display()))?;
        for (name, bytes) in state {
            atomic_write(&snapshot.join(name), bytes)?;
            fault::step("snapshot state file written")?;
        }
        Ok(())
    }

    fn write_installed_state(&self, state: &[(&str, Vec<u8>)]) -> Result<()> {
        for (name, bytes) in state {
            self.write_state(name, bytes)?;
            fault::step("state file written")?;
        }
        Ok(())
    }

    /// Remember the stat of every file of version `id`, so `drift` can trust unchanged stats.
    ///
    /// `base`: the version `id` was built from, and the paths written anew;
    /// the others are linked or shared from it (same inode, size, mtime), so
    /// their entries carry over without a stat: recording costs the change,
    /// not the bundle.
    fn record_env_stat(
        &self,
        dir: &Path,
        id: &str,
        manifest: &Manifest,
        base: Option<(&str, &HashSet<String>)>,
    ) -> Result<()> {
        let text = match base {
            Some(_) => fs::read_to_string(self.cache_file()).unwrap_or_default(),
            None => String::new(),
        };
        let mut old = envstat::Reader::new(&text, base.map_or("", |(from, _)| from));
        let mut out = String::with_capacity(text.len().max(64 * manifest.files.len()));
        out.push_str(&format!("v1 {id}\n"));
        // A few paths as a rule: searched as (top, rel), with no path built
        // or hashed per file.
        let mut fresh: Vec<(&str, &str)> = base
            .into_iter()
            .flat_map(|(_, fresh)| fresh.iter().filter_map(|p| p.split_once('/')))
            .collect();
        fresh.sort_unstable();
        for (top, rel, hash) in envstat::expected(manifest) {
            let carried = old
                .find(top, rel)
                .filter(|e| e.hash == hash)
                .filter(|_| fresh.binary_search(&(top, rel)).is_err());
            match carried {
                // Linked from the base: the same inode, the same line.
                Some(e) => {
                    out.push_str(e.line);
                    out.push('\n');
                }
                None => {
                    let path = format!("{top}/{rel}");
                    match fs::symlink_metadata(dir.join(&path)) {
                        Ok(meta) => envstat::line(&mut out, &path, &Stat::of(&meta), hash),
                        Err(_) => continue,
                    }
                }
            }
        }
        let file = self.cache_file();
        fs::create_dir_all(file.parent().unwrap_or(&self.env))?;
        atomic_write(&file, out.as_bytes())
    }
}

/// Write a file so that readers see the old content or the new one: a
/// temporary file beside it, then rename(2).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Remove the temp files `atomic_write` and a repair leave when killed
/// (`.NAME.tmp-PID`, `.NAME.tmp`) from `dir`; best effort, as a leftover
/// only costs space.
fn remove_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".tmp-")) {
            let _ = fs::remove_file(e.path());
        }
    }
}

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

impl Workspace for LocalWorkspace {
    fn location(&self) -> String {
        self.env.display().to_string()
    }

    fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        read_opt(&self.state_dir().join(name))
    }

    fn write_state(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.state_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        atomic_write(&dir.join(name), bytes)
    }

    fn lock(&self, lock: &LockInfo) -> Result<Replaced> {
        let dir = self.state_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let _guard = Guard::take(&self.env.join(".lock-guard"))?;
        let path = dir.join("deploy.lock");
        let held = read_opt(&path)?;
        let holder: Option<LockInfo> = held.as_deref().and_then(|b| serde_json::from_slice(b).ok());
        // A live holder keeps `.lock-held` locked: never taken over, forced or not.
        let Some(alive) = try_hold(&self.env.join(".lock-held"))? else {
            let who = holder.as_ref().map_or_else(
                || format!("{} (being written)", path.display()),
                describe_holder,
            );
            bail!(
                "{who}.\nAnother deployment is running on this machine; --force-lock does not \
                 override a live deploy: wait for it to finish or stop it"
            );
        };
        let replaced = match (&held, holder) {
            (None, _) => Replaced::Nothing,
            (Some(_), Some(h)) if lock.is_forced => Replaced::Forced(h),
            (Some(b), None) if b.iter().all(u8::is_ascii_whitespace) => {
                Replaced::Unreadable("empty".into())
            }
            (Some(b), None) if lock.is_forced => Replaced::Forced(unknown_holder(b)),
            // Partial JSON with no live holder here: a write cut short.
            (Some(b), None) if b.first() == Some(&b'{') && !b.ends_with(b"}") => {
                Replaced::Unreadable(format!("{} bytes, cut short", b.len()))
            }
            (Some(_), Some(h)) if holder_is_gone(&h) => Replaced::Stale(h),
            (Some(_), Some(h)) => bail!(
                "{}.\nAnother deployment may be in progress. Use --force-lock to override",
                describe_holder(&h)
            ),
            (Some(_), None) => bail!(
                "{} exists but is not a lock this tool understands; use --force-lock to override",
                path.display()
            ),
        };
        // Written whole to a temporary file first: a full disk leaves no
        // empty lock behind, only a temporary file the next recovery removes.
        atomic_write(&path, &serde_json::to_vec(lock)?)?;
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some((lock.id.clone(), alive));
        Ok(replaced)
    }

    fn unlock(&self, lock: &LockInfo) -> Result<Option<String>> {
        let _guard = Guard::take(&self.env.join(".lock-guard"))?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        // The `flock` goes when this returns, after the file (under the guard).
        let _alive = held.take_if(|(id, _)| *id == lock.id);
        let path = self.state_dir().join("deploy.lock");
        let Some(held) = read_opt(&path)? else {
            return Ok(Some(format!(
                "{} disappeared while the deploy held it",
                path.display()
            )));
        };
        match serde_json::from_slice::<LockInfo>(&held) {
            Ok(h) if h.id == lock.id => {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
                Ok(None)
            }
            Ok(h) => Ok(Some(format!(
                "the lock was taken over meanwhile: {}",
                describe_holder(&h)
            ))),
            Err(_) => Ok(Some(format!(
                "{} was replaced by something unreadable",
                path.display()
            ))),
        }
    }

    fn current(&self) -> Result<Option<String>> {
        let link = self.env.join("current");
        if fs::symlink_metadata(&link).is_ok_and(|m| !m.file_type().is_symlink()) {
            bail!(
                "{} is not a link to a deployment (replaced out of band); the next deploy or rollback repairs it",
                link.display()
            );
        }
        match fs::read_link(link) {
            Ok(target) => Ok(target
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}/current", self.env.display())),
        }
    }

    fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.current()? {
            Some(id) => read_opt(&self.version_dir(&id).join(path)),
            None => Ok(None),
        }
    }

    fn local_path(&self, path: &str) -> Option<PathBuf> {
        let id = self.current().ok()??;
        Some(self.version_dir(&id).join(path))
    }

    /// A stable path: `files` links to the current version's.
    fn files_dir(&self) -> Option<PathBuf> {
        Some(self.env.join("files"))
    }

    fn delete_all(&self) -> Result<()> {
        match fs::remove_dir_all(&self.env) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("deleting {}", self.env.display()))
            }
            _ => Ok(()),
        }
    }

    fn drift(&self, manifest: &Manifest) -> Result<Drift> {
        let Some(id) = self.current()? else {
            return Ok(Drift::default());
        };
        let text = fs::read_to_string(self.cache_file()).unwrap_or_default();
        drift::check(&self.version_dir(&id), &id, &text, manifest)
    }

    fn begin(&self, id: &str) -> Result<Box<dyn Transaction + '_>> {
        self.begin_in(id, None)
    }

    fn begin_from(&self, id: &str, basis: &Basis) -> Result<Box<dyn Transaction + '_>> {
        self.begin_in(id, Some(basis))
    }

    fn versions(&self) -> Result<Vec<String>> {
        let mut out = self.all_versions()?;
        out.retain(|id| !self.version_dir(id).join(HUSK).exists());
        Ok(out)
    }

    fn read_version_state(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        read_opt(&self.version_dir(id).join("state").join(name))
    }

    fn switch(&self, id: &str, state: &[(&str, Vec<u8>)]) -> Result<()> {
        if !self.version_dir(id).is_dir() {
            bail!("deployment {id} is not kept in {}", self.env.display());
        }
        // A displaced deploy stops before any work (checked again at the switch).
        drop(self.fence()?);
        // Re-recording the same version (a no-change deploy, a metadata
        // update) keeps its stat cache: nothing was linked or unlinked.
        let already = self.current()?.as_deref() == Some(id);
        // A kept version must still hold exactly what it was deployed with
        // (its files are read-only, but a determined edit gets through).
        let manifest = match already {
            true => None,
            false => Some(self.verify(id)?),
        };
        self.install_state(&self.version_dir(id), state)?;
        // Stats before the switch, as in a commit.
        if let Some(manifest) = manifest {
            self.record_env_stat(&self.version_dir(id), id, &manifest, None)?;
        }
        self.switch_current(id)?;
        self.write_installed_state(state)
    }

    fn prune(&self, keep: &[String]) -> Result<()> {
        let _fence = self.fence()?;
        let current = self.current()?;
        let all = self.all_versions()?;
        let doomed = |id: &&String| Some(*id) != current.as_ref() && !keep.contains(id);
        // A plain version shares nothing that another needs: it goes whole.
        let (plain, all): (Vec<String>, Vec<String>) = all
            .into_iter()
            .partition(|id| doomed(&id) && self.is_plain(id));
        for id in &plain {
            let dir = self.version_dir(id);
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
            fault::step("old deployment removed")?;
        }
        self.prune_shared(&all, current.as_ref(), keep)
    }

    fn recover(&self) -> Result<()> {
        self.recover_env()
    }
}

impl LocalWorkspace {
    /// Prune the versions written by older tools, whose folders newer ones
    /// may reach through symlinks.
    fn prune_shared(
        &self,
        all: &[String],
        current: Option<&String>,
        keep: &[String],
    ) -> Result<()> {
        let is_husk = |id: &String| self.version_dir(id).join(HUSK).exists();
        let mut doomed: Vec<&String> = all
            .iter()
            .filter(|id| Some(*id) != current && !keep.contains(id))
            .collect();
        // What a husk holds can become unreachable only when a version that
        // shares it goes: with no such version doomed, there is nothing to
        // do (and no need to walk every kept version's links). Husks go
        // first, so that a prune killed midway leaves a version doomed, which
        // brings the next prune back to the husks.
        doomed.sort_by_key(|id| !is_husk(id));
        if doomed.iter().all(|id| is_husk(id)) {
            return Ok(());
        }
        // Folders of a doomed version that kept versions still share stay,
        // as a husk (marked, never listed as a version) until nothing uses them.
        let kept: Vec<&String> = all
            .iter()
            .filter(|id| !doomed.contains(id) && !is_husk(id))
            .collect();
        for id in doomed {
            let dir = self.version_dir(id);
            let dir =
                fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
            let mut shared = HashSet::new();
            self.shared_folders(id, &dir, "files", &kept, &mut shared)?;
            if delete_except(&dir, &shared)? {
                fs::write(dir.join(HUSK), "shared folders of a pruned deployment\n")
                    .with_context(|| format!("marking {}", dir.display()))?;
            }
            fault::step("old deployment removed")?;
        }
        Ok(())
    }

    /// Finish or undo what a killed run left: temp files, a version being
    /// written, a `current` that is not a link, state files not installed.
    fn recover_env(&self) -> Result<()> {
        let versions = self.versions_dir();
        let mut temp_dirs = vec![
            self.env.clone(),
            self.state_dir(),
            self.env.join(".cache"),
            versions.clone(),
        ];
        if let Ok(entries) = fs::read_dir(&versions) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".build-") {
                    fs::remove_dir_all(e.path())
                        .with_context(|| format!("removing {}", e.path().display()))?;
                } else if !name.starts_with('.') {
                    temp_dirs.push(e.path());
                }
            }
        }
        self.heal_current()?;
        // Temp files of a killed run: the switch's, the state files', the
        // caches', a repair's (beside the versions), a lineage's (in one).
        for dir in temp_dirs {
            remove_temp_files(&dir);
        }
        // A run killed between the switch and the state files: install the
        // state recorded with the current version.
        if let Some(id) = self.current()? {
            for name in STATE_FILES {
                if let Some(snapshot) = self.read_version_state(&id, name)?
                    && self.read_state(name)?.as_deref() != Some(&snapshot[..])
                {
                    self.write_state(name, &snapshot)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod lock_tests;

impl LocalWorkspace {
    /// `current` found as something other than a link (copied over, written
    /// by hand): point it again at the deployment the state files name, else
    /// the newest kept one.
    fn heal_current(&self) -> Result<()> {
        let link = self.env.join("current");
        match fs::symlink_metadata(&link) {
            Ok(m) if !m.file_type().is_symlink() => {}
            _ => return Ok(()),
        }
        let named = self
            .read_state("metadata.json")?
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|m| m["deployment_id"].as_str().map(str::to_string));
        let versions = self.versions()?;
        let id = named
            .filter(|id| versions.contains(id))
            .or_else(|| versions.last().cloned())
            .with_context(|| {
                format!("{} is not a link and no deployment is kept", link.display())
            })?;
        if m_is_dir(&link) {
            fs::remove_dir_all(&link).with_context(|| format!("removing {}", link.display()))?;
        }
        self.switch_current(&id)
    }
}

fn m_is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}
