//! The folders of a local environment: listing (through shared folders)
//! and pruning.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};

use super::envstat;
use crate::files::Stat;
use crate::package::Manifest;

/// Marks a pruned version folder kept only for folders newer versions share
/// (by the versions of this tool that shared folders through symlinks).
pub(super) const HUSK: &str = ".husk";

/// Marks a version folder written as a plain tree: real folders, no link
/// that another version needs. Such a version is deleted or rewritten as a
/// whole; one without the mark (older tools) may be shared from.
pub(super) const PLAIN: &str = ".plain";

/// Turn the tree at `dir`, which holds `old`, into the start of one holding
/// `next`: every file whose path or content differs goes (and folders left
/// empty), the old state snapshot and mark go. Returns the paths that stay,
/// which already hold their new content.
pub(super) fn reuse(dir: &Path, old: &Manifest, next: &Manifest) -> Result<HashSet<String>> {
    let want: HashMap<String, &str> = envstat::expected(next)
        .map(|(top, rel, hash)| (format!("{top}/{rel}"), hash))
        .collect();
    let mut good = HashSet::new();
    let mut doomed = vec!["artifacts/manifest.json".to_string()];
    for (top, rel, hash) in envstat::expected(old) {
        let path = format!("{top}/{rel}");
        if want.get(&path) == Some(&hash) {
            good.insert(path);
        } else {
            doomed.push(path);
        }
    }
    crate::util::parallel(doomed.len(), |i| {
        let full = dir.join(&doomed[i]);
        match fs::remove_file(&full) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", full.display()))
            }
            _ => Ok(()),
        }
    })?;
    // Folders left empty, deepest first (a file may become a folder's name).
    let mut folders: Vec<&str> = doomed
        .iter()
        .flat_map(|p| p.match_indices('/').map(|(i, _)| &p[..i]))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    folders.sort_by_key(|f| std::cmp::Reverse(f.matches('/').count()));
    for f in folders {
        let _ = fs::remove_dir(dir.join(f));
    }
    for gone in ["state"] {
        match fs::remove_dir_all(dir.join(gone)) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(gone).display()));
            }
            _ => {}
        }
    }
    let _ = fs::remove_file(dir.join(PLAIN));
    Ok(good)
}

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
