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
//! A new version is built beside the current one: unchanged files are hard
//! links to the current version's, changed ones are written fresh; nothing is
//! visible until `current` is switched. Deployed files are read-only, to
//! discourage edits in place (which, through the hard links, would also reach
//! older versions; `drift` finds them and the next deploy writes a fresh copy).

use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::{Drift, LockInfo, Replaced, STATE_FILES, Transaction, Workspace};
use crate::deploy::fault;
use crate::files::Stat;
use crate::package::{self, Manifest};

pub struct LocalWorkspace {
    env: PathBuf,
}

impl LocalWorkspace {
    pub fn new(env: PathBuf) -> LocalWorkspace {
        LocalWorkspace { env }
    }
    fn state_dir(&self) -> PathBuf {
        self.env.join("state")
    }
    fn versions_dir(&self) -> PathBuf {
        self.env.join(".deployments")
    }
    fn version_dir(&self, id: &str) -> PathBuf {
        self.versions_dir().join(id)
    }
    fn cache_file(&self) -> PathBuf {
        self.env.join(".cache").join("env-stat")
    }

    /// Point `current` at version `id` with one rename, then make sure the stable links exist.
    fn switch_current(&self, id: &str) -> Result<()> {
        let tmp = self.env.join(format!(".current-{id}.tmp"));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(format!(".deployments/{id}"), &tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        fault::step("switch prepared")?;
        fs::rename(&tmp, self.env.join("current"))
            .with_context(|| format!("switching {} to {id}", self.env.display()))?;
        fault::step("switched")?;
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
        Ok(())
    }

    fn install_state(&self, id: &str, state: &[(&str, Vec<u8>)]) -> Result<()> {
        let snapshot = self.version_dir(id).join("state");
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
    fn record_env_stat(&self, id: &str, manifest: &Manifest) -> Result<()> {
        let dir = self.version_dir(id);
        let mut out = format!("v1 {id}\n");
        let paths = manifest
            .files
            .iter()
            .map(|f| (format!("files/{}", f.path), f.hash.as_str()))
            .chain(
                manifest
                    .artifacts
                    .iter()
                    .map(|a| (format!("artifacts/{}", a.path), a.hash.as_str())),
            );
        for (path, hash) in paths {
            if let Ok(meta) = fs::symlink_metadata(dir.join(&path)) {
                let s = Stat::of(&meta);
                out.push_str(&format!(
                    "{} {} {} {} {hash} {path}\n",
                    s.size, s.mtime_ns, s.ino, s.ctime_ns
                ));
            }
        }
        let file = self.cache_file();
        fs::create_dir_all(file.parent().unwrap_or(&self.env))?;
        atomic_write(&file, out.as_bytes())
    }

    fn load_env_stat(&self, id: &str) -> HashMap<String, (Stat, String)> {
        let Ok(text) = fs::read_to_string(self.cache_file()) else {
            return HashMap::new();
        };
        let mut lines = text.lines();
        if lines.next() != Some(&format!("v1 {id}")) {
            return HashMap::new();
        }
        lines
            .filter_map(|line| {
                let mut it = line.splitn(6, ' ');
                let stat = Stat {
                    size: it.next()?.parse().ok()?,
                    mtime_ns: it.next()?.parse().ok()?,
                    ino: it.next()?.parse().ok()?,
                    ctime_ns: it.next()?.parse().ok()?,
                };
                let hash = it.next()?.to_string();
                Some((it.next()?.to_string(), (stat, hash)))
            })
            .collect()
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

fn read_opt(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An exclusive `flock` on a guard file, held while the lock file is inspected
/// and replaced, so that two processes taking over a stale lock cannot both win.
struct Guard(fs::File);

impl Guard {
    fn take(path: &Path) -> Result<Guard> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the lifetime of `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
        Ok(Guard(file))
    }
}

pub fn describe_holder(h: &LockInfo) -> String {
    let forced = if h.is_forced {
        "force-acquired"
    } else {
        "acquired"
    };
    let mut s = format!(
        "deploy lock {forced} by {} at {}",
        h.user, h.acquisition_time
    );
    if h.pid != 0 {
        s.push_str(&format!(" (pid {} on {})", h.pid, h.host));
    }
    s
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
        let body = serde_json::to_vec(lock)?;
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(&body)
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(Replaced::Nothing);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
        }
        let held = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let holder: Option<LockInfo> = serde_json::from_slice(&held).ok();
        let replaced = match holder {
            _ if lock.is_forced => {
                Replaced::Forced(holder.unwrap_or_else(|| unknown_holder(&held)))
            }
            Some(h)
                if h.host == lock.host
                    && h.pid != 0
                    && h.pid != std::process::id()
                    && !pid_alive(h.pid) =>
            {
                Replaced::Stale(h)
            }
            Some(h) => bail!(
                "{}.\nAnother deployment may be in progress. Use --force-lock to override",
                describe_holder(&h)
            ),
            None => bail!(
                "{} exists but is not a lock this tool understands; use --force-lock to override",
                path.display()
            ),
        };
        atomic_write(&path, &body)?;
        Ok(replaced)
    }

    fn unlock(&self, lock: &LockInfo) -> Result<Option<String>> {
        let _guard = Guard::take(&self.env.join(".lock-guard"))?;
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
        match fs::read_link(self.env.join("current")) {
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

    fn drift(&self, manifest: &Manifest) -> Result<Drift> {
        let Some(id) = self.current()? else {
            return Ok(Drift::default());
        };
        let dir = self.version_dir(&id);
        let cache = self.load_env_stat(&id);
        let mut expected: HashMap<String, &str> = manifest
            .files
            .iter()
            .map(|f| (format!("files/{}", f.path), f.hash.as_str()))
            .chain(
                manifest
                    .artifacts
                    .iter()
                    .map(|a| (format!("artifacts/{}", a.path), a.hash.as_str())),
            )
            .collect();
        let mut drift = Drift::default();
        let mut found = Vec::new();
        for top in ["files", "artifacts"] {
            list_files(&dir, top, &mut found)?;
        }
        for (path, stat) in found {
            if path == "artifacts/manifest.json" {
                continue;
            }
            let Some(hash) = expected.remove(&path) else {
                drift.added.push(path);
                continue;
            };
            let trusted = cache
                .get(&path)
                .is_some_and(|(s, h)| *s == stat && h == hash);
            if !trusted && package::hash_file(&dir.join(&path))? != hash {
                drift.changed.push(path);
            }
        }
        drift.missing = expected.into_keys().collect();
        drift.added.sort();
        drift.changed.sort();
        drift.missing.sort();
        Ok(drift)
    }

    fn begin(&self, id: &str) -> Result<Box<dyn Transaction + '_>> {
        let dir = self.version_dir(id);
        fs::create_dir_all(self.versions_dir())
            .with_context(|| format!("creating {}", self.versions_dir().display()))?;
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let base = self.current()?.map(|cur| self.version_dir(&cur));
        Ok(Box::new(LocalTxn {
            ws: self,
            id: id.to_string(),
            dir,
            base,
            made: Mutex::new(HashSet::new()),
        }))
    }

    fn versions(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        match fs::read_dir(self.versions_dir()) {
            Ok(entries) => {
                for e in entries {
                    let e = e?;
                    if e.file_type()?.is_dir() {
                        if let Some(name) = e.file_name().to_str() {
                            out.push(name.to_string());
                        }
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("listing {}", self.versions_dir().display()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn read_version_state(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>> {
        read_opt(&self.version_dir(id).join("state").join(name))
    }

    fn switch(&self, id: &str, state: &[(&str, Vec<u8>)]) -> Result<()> {
        if !self.version_dir(id).is_dir() {
            bail!("deployment {id} is not kept in {}", self.env.display());
        }
        self.install_state(id, state)?;
        self.switch_current(id)?;
        self.write_installed_state(state)?;
        if let Some(bytes) = read_opt(&self.version_dir(id).join("artifacts/manifest.json"))? {
            let manifest: Manifest =
                serde_json::from_slice(&bytes).context("reading the manifest")?;
            self.record_env_stat(id, &manifest)?;
        }
        Ok(())
    }

    fn prune(&self, keep: &[String]) -> Result<()> {
        let current = self.current()?;
        for id in self.versions()? {
            if Some(&id) == current.as_ref() || keep.contains(&id) {
                continue;
            }
            let dir = self.version_dir(&id);
            fs::remove_dir_all(&dir)
                .with_context(|| format!("removing old deployment {}", dir.display()))?;
            fault::step("old deployment removed")?;
        }
        Ok(())
    }

    fn recover(&self) -> Result<()> {
        for dir in [self.env.clone(), self.state_dir()] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && (name.ends_with(".tmp") || name.contains(".tmp-")) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        // A run killed between the switch and the state files: install the
        // state recorded with the current version.
        if let Some(id) = self.current()? {
            for name in STATE_FILES {
                if let Some(snapshot) = self.read_version_state(&id, name)? {
                    if self.read_state(name)?.as_deref() != Some(&snapshot[..]) {
                        self.write_state(name, &snapshot)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn unknown_holder(bytes: &[u8]) -> LockInfo {
    LockInfo {
        id: String::new(),
        acquisition_time: String::new(),
        is_forced: false,
        user: format!(
            "<unreadable lock: {}>",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        ),
        pid: 0,
        host: String::new(),
    }
}

/// Every non-directory under `root/top`, as (`top/...` path, stat).
fn list_files(root: &Path, top: &str, out: &mut Vec<(String, Stat)>) -> Result<()> {
    let mut stack = vec![top.to_string()];
    while let Some(rel) = stack.pop() {
        let entries = match fs::read_dir(root.join(&rel)) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("listing {}", root.join(&rel).display()));
            }
        };
        for e in entries {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let path = format!("{rel}/{name}");
            let meta = fs::symlink_metadata(e.path())?;
            if meta.is_dir() {
                stack.push(path);
            } else {
                out.push((path, Stat::of(&meta)));
            }
        }
    }
    Ok(())
}

struct LocalTxn<'a> {
    ws: &'a LocalWorkspace,
    id: String,
    dir: PathBuf,
    base: Option<PathBuf>,
    made: Mutex<HashSet<PathBuf>>,
}

impl LocalTxn<'_> {
    fn target(&self, path: &str) -> Result<PathBuf> {
        if path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            bail!("refusing to write {path:?}: not a plain relative path");
        }
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
            if !made.contains(parent) {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                made.insert(parent.to_path_buf());
            }
        }
        Ok(full)
    }
}

impl Transaction for LocalTxn<'_> {
    fn keep(&self, path: &str) -> Result<()> {
        let Some(base) = &self.base else {
            bail!("no current deployment to keep {path} from")
        };
        let full = self.target(path)?;
        fault::step("file linked")?;
        match fs::hard_link(base.join(path), &full) {
            Ok(()) => Ok(()),
            // Too many links (or a file system without them): copy instead.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMLINK) | Some(libc::EXDEV) | Some(libc::EPERM)
                ) =>
            {
                fs::copy(base.join(path), &full)
                    .with_context(|| format!("copying {}", full.display()))?;
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("linking {}", full.display())),
        }
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let full = self.target(path)?;
        fault::step("file written")?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&full)
            .with_context(|| format!("creating {}", full.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", full.display()))
    }

    fn put_file(&self, path: &str, src: &Path) -> Result<()> {
        let full = self.target(path)?;
        fault::step("file copied")?;
        fs::copy(src, &full)
            .with_context(|| format!("copying {} to {}", src.display(), full.display()))?;
        fs::set_permissions(&full, fs::Permissions::from_mode(0o444))
            .with_context(|| format!("making {} read-only", full.display()))
    }

    fn delete(&self, _path: &str) -> Result<()> {
        // The new version is built from scratch: a file not kept or put is gone.
        Ok(())
    }

    fn commit(self: Box<Self>, manifest: &Manifest, state: &[(&str, Vec<u8>)]) -> Result<()> {
        fault::step("commit")?;
        self.ws.install_state(&self.id, state)?;
        self.ws.switch_current(&self.id)?;
        self.ws.write_installed_state(state)?;
        self.ws.record_env_stat(&self.id, manifest)
    }

    fn abort(self: Box<Self>) -> Result<()> {
        fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))
    }
}
