//! The folders of a local environment: listing (through shared folders)
//! and pruning.

use std::borrow::Cow;
use std::collections::HashSet;
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

/// What a version being written already holds.
pub(super) enum Held {
    /// Nothing: a new, empty folder.
    Nothing,
    /// An old version rewritten by [`reuse`]: every path of the next
    /// manifest, with its content, except these (`files/...`,
    /// `artifacts/...`), which it lacks. Asked only about the next
    /// manifest's paths (the only ones a version is written with).
    AllBut(HashSet<String>),
}

impl Held {
    /// `path` (of the next manifest) is already there with its content.
    pub(super) fn holds(&self, path: &str) -> bool {
        match self {
            Held::Nothing => false,
            Held::AllBut(lacking) => !lacking.contains(path),
        }
    }
}

/// The paths and hashes of a manifest, borrowed from its bytes: what
/// [`reuse`] compares (a full [`Manifest`] would build every record).
#[derive(serde::Deserialize)]
pub(super) struct Listed<'a> {
    #[serde(borrow)]
    files: Vec<ListedFile<'a>>,
    #[serde(borrow, default)]
    artifacts: Vec<ListedFile<'a>>,
}

#[derive(serde::Deserialize)]
struct ListedFile<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    hash: Cow<'a, str>,
}

impl Listed<'_> {
    /// (top, path, hash) in `envstat::order`, each path once: sorted here
    /// if the file was not (it always is when this tool wrote it).
    fn entries(&self) -> Vec<(&'static str, &str, &str)> {
        let files = self.files.iter().map(|f| ("files", &f.path, &f.hash));
        let artifacts = self
            .artifacts
            .iter()
            .map(|a| ("artifacts", &a.path, &a.hash));
        let mut out: Vec<(&'static str, &str, &str)> = files
            .chain(artifacts)
            .map(|(top, p, h)| (top, p.as_ref(), h.as_ref()))
            .collect();
        if !out.is_sorted_by(|a, b| entry_key(a) < entry_key(b)) {
            out.sort_by(|a, b| entry_key(a).cmp(&entry_key(b)));
            out.dedup_by(|a, b| entry_key(a) == entry_key(b));
        }
        out
    }
}

fn entry_key<'a>(e: &(&'static str, &'a str, &'a str)) -> (u8, &'a str) {
    envstat::key(e.0, e.1)
}

/// Turn the tree at `dir`, which holds `old`, into the start of one holding
/// `next`: every file whose path or content differs goes (and folders left
/// empty), and so does every path in `unverified` (`files/...`: where the
/// tree may hold another inode than the current version, which the drift
/// check does not vouch for; see `lineage`); the old state snapshot and
/// marks go. Returns what stays: the paths of `next` the tree already holds.
/// One merge of the two sorted lists: its cost is a comparison per path,
/// allocations only for what differs.
pub(super) fn reuse(
    dir: &Path,
    old: &Listed,
    next: &Manifest,
    unverified: &HashSet<String>,
) -> Result<Held> {
    let mut want = envstat::expected(next).peekable();
    let mut lacking = HashSet::new();
    let mut doomed = vec!["artifacts/manifest.json".to_string()];
    let mut path = String::new();
    let mut verified = |top: &str, rel: &str| {
        if unverified.is_empty() {
            return true;
        }
        path.clear();
        path.push_str(top);
        path.push('/');
        path.push_str(rel);
        !unverified.contains(&path)
    };
    for (top, rel, hash) in old.entries() {
        let k = envstat::key(top, rel);
        while let Some((t, r, _)) = want.next_if(|(t, r, _)| envstat::key(t, r) < k) {
            lacking.insert(format!("{t}/{r}"));
        }
        match want.next_if(|(t, r, _)| envstat::key(t, r) == k) {
            Some((_, _, h)) if h == hash && verified(top, rel) => {}
            Some((t, r, _)) => {
                lacking.insert(format!("{t}/{r}"));
                doomed.push(format!("{top}/{rel}"));
            }
            None => doomed.push(format!("{top}/{rel}")),
        }
    }
    lacking.extend(want.map(|(t, r, _)| format!("{t}/{r}")));
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
    for mark in [PLAIN, super::lineage::LINEAGE] {
        let _ = fs::remove_file(dir.join(mark));
    }
    Ok(Held::AllBut(lacking))
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
    // In path order, each sorted on its thread: the caller's sort of the
    // whole list meets runs already sorted.
    dirs.sort_unstable();
    let found: Vec<Mutex<Vec<(String, Stat)>>> =
        dirs.iter().map(|_| Mutex::new(Vec::new())).collect();
    crate::util::parallel(dirs.len(), |i| {
        let mut stack = vec![dirs[i].clone()];
        let mut files = Vec::new();
        while let Some(rel) = stack.pop() {
            list_dir(root, &rel, &mut files, &mut stack)?;
        }
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
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
        let path = crate::files::join_rel(rel, &name.to_string_lossy());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::FileRecord;

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        let records = files
            .iter()
            .map(|(path, hash)| FileRecord {
                path: path.to_string(),
                size: 1,
                hash: hash.to_string(),
                notebook: false,
            })
            .collect();
        Manifest::new(records, Vec::new())
    }

    /// An old tree rewritten towards a new manifest: what differs goes, what
    /// stays is held with its content; an old manifest out of order (written
    /// by hand) gives the same answer.
    #[test]
    fn reuse_keeps_only_same_path_and_content_in_either_order() {
        let old = [("a", "h1"), ("b/c", "h2"), ("d", "h3"), ("flip", "h4")];
        let next = manifest(&[("a", "h1"), ("b/c", "hX"), ("e", "h5"), ("flip/in", "h6")]);
        for order in [vec![0, 1, 2, 3], vec![3, 0, 2, 1, 0]] {
            let tmp = crate::util::tempdir::TempDir::new("reuse").unwrap();
            let dir = tmp.path();
            for (path, hash) in old {
                let full = dir.join("files").join(path);
                fs::create_dir_all(full.parent().unwrap()).unwrap();
                fs::write(full, hash).unwrap();
            }
            fs::create_dir_all(dir.join("artifacts")).unwrap();
            fs::write(dir.join("artifacts/manifest.json"), "{}").unwrap();
            fs::create_dir_all(dir.join("state")).unwrap();
            fs::write(dir.join(PLAIN), "").unwrap();
            let files: Vec<serde_json::Value> = order
                .iter()
                .map(|&i| serde_json::json!({"path": old[i].0, "hash": old[i].1, "size": 2}))
                .collect();
            let bytes = serde_json::to_vec(&serde_json::json!({"files": files})).unwrap();
            let listed: Listed = serde_json::from_slice(&bytes).unwrap();
            let held = reuse(dir, &listed, &next, &HashSet::new()).unwrap();
            assert!(held.holds("files/a"), "{order:?}");
            for lacking in ["files/b/c", "files/e", "files/flip/in"] {
                assert!(!held.holds(lacking), "{lacking} {order:?}");
            }
            assert_eq!(fs::read_to_string(dir.join("files/a")).unwrap(), "h1");
            for gone in [
                "files/b/c",
                "files/b",
                "files/d",
                "files/flip",
                "state",
                PLAIN,
            ] {
                assert!(!dir.join(gone).exists(), "{gone} stayed {order:?}");
            }
            assert!(!dir.join("artifacts/manifest.json").exists());
        }
    }

    /// A path the lineage does not vouch for goes even with the same content:
    /// the new version links or writes it, never keeps the old inode.
    #[test]
    fn reuse_drops_unverified_paths_of_the_same_content() {
        let tmp = crate::util::tempdir::TempDir::new("reuse").unwrap();
        let dir = tmp.path();
        for (path, hash) in [("a", "h1"), ("b", "h2")] {
            let full = dir.join("files").join(path);
            fs::create_dir_all(full.parent().unwrap()).unwrap();
            fs::write(full, hash).unwrap();
        }
        fs::write(dir.join(super::super::lineage::LINEAGE), "{}").unwrap();
        let bytes = br#"{"files": [{"path": "a", "hash": "h1"}, {"path": "b", "hash": "h2"}]}"#;
        let listed: Listed = serde_json::from_slice(bytes).unwrap();
        let next = manifest(&[("a", "h1"), ("b", "h2")]);
        let unverified: HashSet<String> = ["files/b".to_string()].into();
        let held = reuse(dir, &listed, &next, &unverified).unwrap();
        assert!(held.holds("files/a"));
        assert!(!held.holds("files/b"));
        assert!(dir.join("files/a").exists());
        assert!(!dir.join("files/b").exists());
        assert!(!dir.join(super::super::lineage::LINEAGE).exists());
    }
}
