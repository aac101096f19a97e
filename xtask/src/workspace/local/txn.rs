//! A new local version being written: see the layout in `local.rs`.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::tree::{Held, PLAIN};
use super::{LocalWorkspace, lineage};
use crate::package::Manifest;
use crate::util::fault;
use crate::workspace::Transaction;

pub(super) struct LocalTxn<'a> {
    pub(super) ws: &'a LocalWorkspace,
    pub(super) id: String,
    pub(super) dir: PathBuf,
    pub(super) base: Option<PathBuf>,
    pub(super) made: Mutex<HashSet<PathBuf>>,
    pub(super) base_id: Option<String>,
    /// Paths written anew (not linked or shared from the base version): the
    /// only ones whose stat the commit must take.
    pub(super) fresh: Mutex<HashSet<String>>,
    /// What the folder already holds with the new content (a rewritten
    /// old tree): kept as it is.
    pub(super) held: Held,
}

impl LocalTxn<'_> {
    fn written(&self, path: &str) {
        self.fresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_string());
    }

    /// A path of a rewritten old tree that is written anew (a repair): its
    /// old file goes first.
    fn clear(&self, path: &str, full: &Path) -> Result<()> {
        if self.held.holds(path) {
            match fs::remove_file(full) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", full.display()));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn target(&self, path: &str) -> Result<PathBuf> {
        if path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        {
            bail!("refusing to write {path:?}: not a plain relative path");
        }
        let full = self.dir.join(path);
        if let Some(parent) = full.parent() {
            // Not under the lock: the other threads keep linking meanwhile
            // (create_dir_all tolerates a folder made concurrently).
            let known = self
                .made
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(parent);
            if !known {
                fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                self.made
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(parent.to_path_buf());
            }
        }
        Ok(full)
    }
}

impl Transaction for LocalTxn<'_> {
    fn lacking(&self) -> Option<&HashSet<String>> {
        match &self.held {
            Held::Nothing => None,
            Held::AllBut(lacking) => Some(lacking),
        }
    }

    fn keep(&self, path: &str) -> Result<()> {
        if self.held.holds(path) {
            return Ok(());
        }
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
                self.written(path);
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("linking {}", full.display())),
        }
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        let full = self.target(path)?;
        self.clear(path, &full)?;
        fault::step("file written")?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&full)
            .with_context(|| format!("creating {}", full.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("writing {}", full.display()))?;
        self.written(path);
        Ok(())
    }

    fn put_file(&self, path: &str, src: &Path) -> Result<()> {
        let full = self.target(path)?;
        self.clear(path, &full)?;
        fault::step("file copied")?;
        // Not through a link swapped in since the walk; holes kept.
        crate::util::nofollow::copy_nofollow(src, &full)
            .with_context(|| format!("copying {} to {}", src.display(), full.display()))?;
        fs::set_permissions(&full, fs::Permissions::from_mode(0o444))
            .with_context(|| format!("making {} read-only", full.display()))?;
        self.written(path);
        Ok(())
    }

    fn delete(&self, _path: &str) -> Result<()> {
        // The new version is built from scratch: a file not kept or put is gone.
        Ok(())
    }

    fn commit(self: Box<Self>, manifest: &Manifest, state: &[(&str, Vec<u8>)]) -> Result<()> {
        fault::step("commit")?;
        self.ws.install_state(&self.dir, state)?;
        // The stats are taken before the switch, while nothing else can
        // reach the files: an edit made once they are visible must not be
        // recorded as their planned content.
        let fresh = self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        let base = self.base_id.as_deref().map(|b| (b, &*fresh));
        self.ws
            .record_env_stat(&self.dir, &self.id, manifest, base)?;
        lineage::write(&self.dir, self.base_id.as_deref(), fresh.iter())?;
        fault::step("lineage written")?;
        fs::write(self.dir.join(PLAIN), "")
            .with_context(|| format!("marking {}", self.dir.display()))?;
        // Under its own name only now: a version folder is always complete.
        let version = self.ws.version_dir(&self.id);
        fs::rename(&self.dir, &version)
            .with_context(|| format!("renaming {} to {}", self.dir.display(), version.display()))?;
        fault::step("version in place")?;
        self.ws.switch_current(&self.id)?;
        self.ws.write_installed_state(state)
    }

    fn abort(self: Box<Self>) -> Result<()> {
        fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))
    }
}
