//! Where a kept version's files came from, so that reusing the oldest
//! version trusts only the files it still shares with the current one.
//!
//! Each version written by this tool holds `.lineage`: the version its
//! links came from (its base) and the paths it holds as other inodes than
//! its base's (written fresh, copied, repaired by a rollback). Every other
//! path of a version is its base's very inode. So, following the bases from
//! the current version back to an older one, a path none of those versions
//! wrote fresh is one inode in both: the drift check of the current
//! version verifies it for the older one too. A path some of them wrote is
//! not verified by anything in the older one (an edit in place there, or
//! in a shared inode that a later deploy repaired, would otherwise come back
//! when that version is rewritten into a new one).
//!
//! Small: proportional to what each deploy changed, read only when the
//! oldest version is reused (one file per version between it and the current).

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Context, Result};

use super::atomic_write;

/// The lineage file in a version folder.
pub(super) const LINEAGE: &str = ".lineage";

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Lineage {
    /// The version this one was built from; `None`: built from nothing.
    base: Option<String>,
    /// Paths (`files/...`, `artifacts/...`) that are not the base's inode.
    fresh: Vec<String>,
}

/// Record, in version folder `dir`, that it was built from `base` and holds
/// `fresh` as its own inodes. A version with no base needs no paths: a walk
/// back from a newer version stops there.
pub(super) fn write<'a>(
    dir: &Path,
    base: Option<&str>,
    fresh: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let mut fresh: Vec<String> = match base {
        Some(_) => fresh.cloned().collect(),
        None => Vec::new(),
    };
    fresh.sort_unstable();
    let lineage = Lineage {
        base: base.map(str::to_string),
        fresh,
    };
    atomic_write(&dir.join(LINEAGE), &serde_json::to_vec(&lineage)?)
}

fn read(dir: &Path) -> Result<Option<Lineage>> {
    let path = dir.join(LINEAGE);
    match fs::read(&path) {
        // Damaged: as if absent (the version is then trusted for nothing).
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Version folder `dir` is about to hold `paths` as new inodes (a repair):
/// recorded first, so that a run killed midway errs on the safe side. A
/// version without a lineage is trusted for nothing already; one without a
/// base is the end of every walk back, its paths never asked.
pub(super) fn add_fresh(dir: &Path, paths: &[&str]) -> Result<()> {
    let Some(mut lineage) = read(dir)?.filter(|l| l.base.is_some()) else {
        return Ok(());
    };
    lineage.fresh.extend(paths.iter().map(|p| p.to_string()));
    lineage.fresh.sort_unstable();
    lineage.fresh.dedup();
    atomic_write(&dir.join(LINEAGE), &serde_json::to_vec(&lineage)?)
}

/// The paths that may be another inode in version `oldest` than in
/// `current`: those written fresh by every version from `current` back to
/// (not including) `oldest`, following the bases (`versions` is the
/// `.deployments` folder). `None` when `oldest` is not an ancestor of
/// `current` as far as the lineages tell (a rollback to a newer or older
/// branch, a version written by an older tool): none of its files is
/// verified then.
pub(super) fn written_since(
    versions: &Path,
    current: &str,
    oldest: &str,
) -> Result<Option<HashSet<String>>> {
    let mut out = HashSet::new();
    let mut at = current.to_string();
    let mut seen = HashSet::new();
    while at != oldest {
        if !seen.insert(at.clone()) {
            return Ok(None);
        }
        let Some(lineage) = read(&versions.join(&at))? else {
            return Ok(None);
        };
        out.extend(lineage.fresh);
        match lineage.base {
            Some(base) => at = base,
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::tempdir::TempDir;

    fn version(root: &Path, id: &str, base: Option<&str>, fresh: &[&str]) {
        let dir = root.join(id);
        fs::create_dir_all(&dir).unwrap();
        let fresh: Vec<String> = fresh.iter().map(|p| p.to_string()).collect();
        write(&dir, base, fresh.iter()).unwrap();
    }

    fn sorted(set: Option<HashSet<String>>) -> Option<Vec<String>> {
        set.map(|s| {
            let mut v: Vec<String> = s.into_iter().collect();
            v.sort();
            v
        })
    }

    /// The walk back collects what every version after the oldest wrote,
    /// and refuses an oldest that is not on the chain.
    #[test]
    fn written_since_follows_the_bases_and_refuses_other_branches() {
        let tmp = TempDir::new("lineage").unwrap();
        let root = tmp.path();
        version(root, "1", None, &["files/a", "files/b"]);
        version(root, "2", Some("1"), &["files/a"]);
        version(root, "3", Some("2"), &["files/c"]);
        // A branch from 2 (a rollback to 2, then a deploy).
        version(root, "4", Some("2"), &["files/d"]);
        let got = |cur, old| sorted(written_since(root, cur, old).unwrap());
        assert_eq!(
            got("3", "1"),
            Some(vec!["files/a".into(), "files/c".into()])
        );
        assert_eq!(got("3", "2"), Some(vec!["files/c".into()]));
        assert_eq!(
            got("4", "1"),
            Some(vec!["files/a".into(), "files/d".into()])
        );
        assert_eq!(got("3", "3"), Some(vec![]));
        // Not an ancestor: a sibling, a descendant, an unknown version.
        assert_eq!(got("4", "3"), None);
        assert_eq!(got("1", "3"), None);
        assert_eq!(got("3", "0"), None);
        // A version without a lineage (an older tool) breaks the chain.
        fs::remove_file(root.join("2").join(LINEAGE)).unwrap();
        assert_eq!(got("3", "1"), None);
        assert_eq!(got("3", "2"), Some(vec!["files/c".into()]));
        // A damaged one too.
        fs::write(root.join("3").join(LINEAGE), "{").unwrap();
        assert_eq!(got("3", "2"), None);
    }

    /// A repair recorded in a version reaches every walk through it,
    /// including one that ends at its base; a first version keeps no paths.
    #[test]
    fn a_repair_is_added_and_a_first_version_records_no_paths() {
        let tmp = TempDir::new("lineage").unwrap();
        let root = tmp.path();
        version(root, "1", None, &["files/a"]);
        version(root, "2", Some("1"), &[]);
        let text = fs::read_to_string(root.join("1").join(LINEAGE)).unwrap();
        assert!(!text.contains("files/a"), "{text}");
        add_fresh(&root.join("2"), &["files/x", "files/x"]).unwrap();
        assert_eq!(
            sorted(written_since(root, "2", "1").unwrap()),
            Some(vec!["files/x".into()])
        );
        // Repaired in a first version: still the end of any walk.
        add_fresh(&root.join("1"), &["files/y"]).unwrap();
        assert_eq!(sorted(written_since(root, "1", "0").unwrap()), None);
        assert_eq!(
            fs::read_to_string(root.join("1").join(LINEAGE)).unwrap(),
            text
        );
        // No lineage: nothing written, nothing to trust.
        fs::create_dir_all(root.join("old")).unwrap();
        add_fresh(&root.join("old"), &["files/z"]).unwrap();
        assert!(!root.join("old").join(LINEAGE).exists());
    }
}
