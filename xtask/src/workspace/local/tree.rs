//! The folders of a local environment: listing (through shared folders)
//! and pruning.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::files::Stat;

/// Marks a pruned version folder kept only for folders newer versions share.
pub(super) const HUSK: &str = ".husk";

/// Delete `dir` except the folders in `keep` (physical paths); true if something stayed.
pub(super) fn delete_except(dir: &Path, keep: &HashSet<PathBuf>) -> Result<bool> {
    if keep.contains(dir) {
        return Ok(true);
    }
    let mut stayed = false;
    for e in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let e = e?;
        let path = e.path();
        if e.file_type()?.is_dir() {
            stayed |= delete_except(&path, keep)?;
        } else if e.file_name() != HUSK {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    if stayed {
        return Ok(true);
    }
    let _ = fs::remove_file(dir.join(HUSK));
    fs::remove_dir(dir).with_context(|| format!("removing {}", dir.display()))?;
    Ok(false)
}

/// The stat fields that tell a deployed file is untouched. Not ctime: hard
/// links made or removed by later deploys change it. An out-of-band edit
/// changes the mtime (or, for a replaced file, the inode).
pub(super) fn same_file(a: &Stat, b: &Stat) -> bool {
    a.size == b.size && a.mtime_ns == b.mtime_ns && a.ino == b.ino
}

/// Every non-directory under `root/top`, as (`top/...` path, stat). The
/// first-level folders are listed in parallel: stat calls dominate.
pub(super) fn list_files(root: &Path, top: &str, out: &mut Vec<(String, Stat)>) -> Result<()> {
    let mut dirs = Vec::new();
    list_dir(root, top, out, &mut dirs)?;
    let found: Vec<Mutex<Vec<(String, Stat)>>> =
        dirs.iter().map(|_| Mutex::new(Vec::new())).collect();
    crate::util::parallel(dirs.len(), |i| {
        let mut stack = vec![dirs[i].clone()];
        let mut files = Vec::new();
        while let Some(rel) = stack.pop() {
            list_dir(root, &rel, &mut files, &mut stack)?;
        }
        *found[i].lock().unwrap_or_else(|e| e.into_inner()) = files;
        Ok(())
    })?;
    for f in found {
        out.append(&mut f.into_inner().unwrap_or_else(|e| e.into_inner()));
    }
    Ok(())
}

/// The entries of one folder: files into `files`, sub-folders into `dirs`.
pub(super) fn list_dir(
    root: &Path,
    rel: &str,
    files: &mut Vec<(String, Stat)>,
    dirs: &mut Vec<String>,
) -> Result<()> {
    let entries = match fs::read_dir(root.join(rel)) {
        Ok(e) => e,
        // A symlink taken for a shared folder (below) that is not one (a
        // link to a file or nowhere, added out of band): listed as a file.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            if let Ok(meta) = fs::symlink_metadata(root.join(rel)) {
                files.push((rel.to_string(), Stat::of(&meta)));
            }
            return Ok(());
        }
        Err(e) => return Err(e).with_context(|| format!("listing {}", root.join(rel).display())),
    };
    for e in entries {
        let e = e?;
        let name = e.file_name();
        let path = format!("{rel}/{}", name.to_string_lossy());
        // The entry's type comes with the listing, and its stat is taken
        // relative to the open folder: no path lookup per file.
        let ft = e.file_type()?;
        // A folder shared with an older version is a relative symlink into
        // `.deployments/` (`../...`), the only symlinks a deploy makes:
        // reading the link text is cheaper than a stat through it. Any other
        // link was added out of band, and is a file here (not followed).
        if ft.is_dir() || (ft.is_symlink() && is_share_link(&e.path())) {
            dirs.push(path);
        } else {
            files.push((path, Stat::of(&e.metadata()?)));
        }
    }
    Ok(())
}

fn is_share_link(path: &Path) -> bool {
    fs::read_link(path).is_ok_and(|t| t.starts_with(".."))
}
