//! The remote backend's transaction: the writes of a deployment, collected
//! and then sent in the CLI's order. `upload` sends the files (deletes,
//! leaf folders, puts, the manifest last), so that the resources naming
//! them are created after they exist, as the CLI does; `commit` then writes
//! the state files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::backend::{RemoteWorkspace, parent, remote_name};
use crate::package::Manifest;
use crate::workspace::{STATE_FILES, Transaction, Workspace};

enum Source {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// Collects the deployment's writes. Nothing is sent before `upload` (or
/// `commit`), so `abort` has nothing to undo.
pub(super) struct RemoteTxn<'a> {
    ws: &'a RemoteWorkspace,
    puts: Mutex<Vec<(String, Source)>>,
    deletes: Mutex<Vec<String>>,
    prev_notebooks: std::collections::HashSet<String>,
    /// Folders the current deployment has files in: no `mkdirs` for them.
    deployed_dirs: std::collections::HashSet<String>,
    /// What `upload` sent (written, deleted), for the commit's snapshot.
    sent: Mutex<(Vec<String>, Vec<String>)>,
}

impl<'a> RemoteTxn<'a> {
    pub(super) fn new(
        ws: &'a RemoteWorkspace,
        prev_notebooks: std::collections::HashSet<String>,
        deployed_dirs: std::collections::HashSet<String>,
    ) -> Self {
        RemoteTxn {
            ws,
            puts: Mutex::new(Vec::new()),
            deletes: Mutex::new(Vec::new()),
            prev_notebooks,
            deployed_dirs,
            sent: Mutex::new((Vec::new(), Vec::new())),
        }
    }

    fn check_size(&self, path: &str, size: u64) -> Result<()> {
        if size > super::api::MAX_IMPORT_BYTES as u64 {
            bail!(
                "{path}: {size} bytes ({:.1} MB) is over the workspace's 10 MB limit per file; \
                 exclude it from the bundle (sync.exclude) or store it elsewhere (a volume)",
                size as f64 / (1024.0 * 1024.0)
            );
        }
        Ok(())
    }

    /// Deletes ("not found" is fine: the goal is absence), then the leaf
    /// folders (the server creates their parents) that the current
    /// deployment does not already have files in.
    fn delete_and_mkdirs(&self, deletes: &[String], puts: &[(String, Source)]) -> Result<()> {
        let ws = self.ws;
        let targets: Vec<String> = deletes.iter().map(|d| ws.abs(d)).collect();
        ws.client()
            .run_parallel(targets, |c, p| c.delete(&p, false).map(drop))?;
        let dirs: BTreeSet<String> = puts
            .iter()
            .map(|(p, _)| parent(&ws.abs(p)).to_string())
            .collect();
        let leaves: Vec<String> = dirs
            .iter()
            .filter(|d| {
                !dirs
                    .range(format!("{d}/")..)
                    .next()
                    .is_some_and(|n| n.starts_with(&format!("{d}/")))
                    && !self.deployed_dirs.contains(*d)
            })
            .cloned()
            .collect();
        ws.client()
            .run_parallel(leaves, |c, d| c.mkdirs(&d))
            .map(drop)
    }

    /// Puts, overwrite, with parents created on a 404 (a folder removed
    /// meanwhile). Files are read here, one per worker. The manifest goes
    /// after all of them: the next deploy diffs against it, so it must never
    /// describe files that failed to upload.
    fn put_all(&self, puts: Vec<(String, Source)>) -> Result<()> {
        let ws = self.ws;
        let (manifest, puts): (Vec<_>, Vec<_>) = puts
            .into_iter()
            .partition(|(p, _)| p == "artifacts/manifest.json");
        let put = |(path, src): (String, Source)| {
            let bytes = match src {
                Source::Bytes(b) => b,
                Source::File(f) => {
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?
                }
            };
            RemoteWorkspace::put_creating_parents(ws.files_client(), &ws.abs(&path), bytes, true)
        };
        let progress = crate::progress::Counter::new("uploading", puts.len());
        ws.files_client().run_parallel(puts, |_, item| {
            let r = put(item);
            progress.tick();
            r
        })?;
        drop(progress);
        manifest.into_iter().try_for_each(put)
    }
}

impl Transaction for RemoteTxn<'_> {
    // Remote files are written in place: what is kept is already there.
    fn keep(&self, _path: &str) -> Result<()> {
        Ok(())
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<()> {
        self.check_size(path, bytes.len() as u64)?;
        self.puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((path.to_string(), Source::Bytes(bytes.to_vec())));
        Ok(())
    }

    fn put_file(&self, path: &str, src: &Path) -> Result<()> {
        let size = std::fs::metadata(src)
            .with_context(|| format!("reading {}", src.display()))?
            .len();
        self.check_size(path, size)?;
        self.puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((path.to_string(), Source::File(src.to_path_buf())));
        Ok(())
    }

    fn delete(&self, path: &str) -> Result<()> {
        let notebook = self.prev_notebooks.contains(path);
        self.deletes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(remote_name(path, notebook));
        Ok(())
    }

    /// Sends what was collected so far; a second call sends what came since.
    fn upload(&self) -> Result<()> {
        let puts = std::mem::take(&mut *self.puts.lock().unwrap_or_else(|p| p.into_inner()));
        let deletes = std::mem::take(&mut *self.deletes.lock().unwrap_or_else(|p| p.into_inner()));
        if puts.is_empty() && deletes.is_empty() {
            return Ok(());
        }
        // A deploy that lost its lock stops before changing anything.
        self.ws.fence()?;
        let written: Vec<String> = puts.iter().map(|(p, _)| p.clone()).collect();
        // The manifest read at the start of the deploy is cached: not after this.
        for p in written.iter().chain(&deletes) {
            self.ws.forget(p);
        }
        self.delete_and_mkdirs(&deletes, &puts)?;
        self.put_all(puts)?;
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        sent.0.extend(written);
        sent.1.extend(deletes);
        Ok(())
    }

    /// The files not sent yet, then the state, in order, so that it always
    /// names a complete deployment.
    fn commit(self: Box<Self>, _manifest: &Manifest, state: &[(&str, Vec<u8>)]) -> Result<()> {
        self.upload()?;
        let ws = self.ws;
        ws.fence()?;
        for name in STATE_FILES {
            if let Some((_, bytes)) = state.iter().find(|(n, _)| *n == name) {
                ws.write_state(name, bytes)?;
            }
        }
        let (written, deleted) = self.sent.into_inner().unwrap_or_else(|p| p.into_inner());
        ws.write_snapshot(&written, &deleted)
    }

    fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
