//! Check a kept version against its manifest before it becomes current
//! again, and put back what differs.
//!
//! Deployed files are read-only, but an edit that gets through (chmod, or a
//! tool that replaces files) must not be rolled back to: every file is
//! hashed. A file that differs is restored from another kept version that
//! holds the same content (checked by hash, copied: not linked, so the
//! repaired version shares no inode with one that may be edited again).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use super::tree::list_files;
use super::{envstat, lineage};
use crate::package::{self, Manifest};

/// One path of a version that is not as its manifest says.
struct Wrong {
    path: String,
    /// The content it should have; `None`: it should not be there.
    hash: Option<String>,
    why: &'static str,
}

fn read_manifest(dir: &Path) -> Option<Manifest> {
    let bytes = fs::read(dir.join("artifacts/manifest.json")).ok()?;
    crate::util::json::from_bytes(&bytes).ok()
}

/// Make version `id` (at `dir`) hold exactly its manifest, from `others` if
/// need be; refuse, saying what differs, if that cannot be done.
pub(super) fn restore(dir: &Path, id: &str, others: &[PathBuf]) -> Result<Manifest> {
    let manifest = read_manifest(dir).with_context(|| {
        format!("deployment {id} has no readable manifest (artifacts/manifest.json)")
    })?;
    let wrong = check(dir, &manifest)?;
    if wrong.is_empty() {
        return Ok(manifest);
    }
    // Each file put back is a new inode, no longer its base version's: said
    // in the lineage first, so that reusing an older version never trusts
    // the inode it replaced (which a kill midway may leave either way).
    let repaired: Vec<&str> = wrong
        .iter()
        .filter(|w| w.hash.is_some())
        .map(|w| w.path.as_str())
        .collect();
    lineage::add_fresh(dir, &repaired)?;
    crate::util::fault::step("repairs recorded")?;
    let sources = by_hash(others);
    let mut left = Vec::new();
    for w in &wrong {
        if !repair(dir, w, &sources)? {
            left.push(format!("{} ({})", w.path, w.why));
        }
    }
    if left.is_empty() {
        return Ok(manifest);
    }
    let n = left.len();
    left.truncate(10);
    bail!(
        "deployment {id} no longer holds the bytes it was deployed with and no kept deployment \
         has them ({n} difference{}: {}{}); refusing to switch to it: deploy the wanted commit \
         again, or roll back to another deployment",
        if n == 1 { "" } else { "s" },
        left.join(", "),
        if n > 10 { ", ..." } else { "" }
    )
}

/// Every path of `dir` that differs from `manifest`, hashing each file.
fn check(dir: &Path, manifest: &Manifest) -> Result<Vec<Wrong>> {
    let mut found = Vec::new();
    for top in ["files", "artifacts"] {
        list_files(dir, top, &mut found)?;
    }
    let mut extra: HashMap<String, ()> = found.into_iter().map(|(p, _)| (p, ())).collect();
    extra.remove("artifacts/manifest.json");
    let expected: Vec<(String, &str)> = envstat::expected(manifest)
        .map(|(top, rel, hash)| (format!("{top}/{rel}"), hash))
        .collect();
    let found: Vec<Mutex<Option<&'static str>>> =
        expected.iter().map(|_| Mutex::new(None)).collect();
    crate::util::parallel(expected.len(), |i| {
        let (path, hash) = &expected[i];
        let full = dir.join(path);
        let why = match fs::symlink_metadata(&full) {
            Err(_) => Some("missing"),
            Ok(m) if !m.file_type().is_file() => Some("not a plain file"),
            Ok(_) if package::hash_file(&full)? != *hash => Some("changed"),
            Ok(_) => None,
        };
        *found[i].lock().unwrap_or_else(|e| e.into_inner()) = why;
        Ok(())
    })?;
    let mut wrong = Vec::new();
    for ((path, hash), why) in expected.iter().zip(found) {
        extra.remove(path);
        if let Some(why) = why.into_inner().unwrap_or_else(|e| e.into_inner()) {
            wrong.push(Wrong {
                path: path.clone(),
                hash: Some(hash.to_string()),
                why,
            });
        }
    }
    let mut extra: Vec<String> = extra.into_keys().collect();
    extra.sort();
    wrong.extend(extra.into_iter().map(|path| Wrong {
        path,
        hash: None,
        why: "not deployed",
    }));
    Ok(wrong)
}

/// Where each content is in the other versions, by their manifests.
fn by_hash(others: &[PathBuf]) -> HashMap<String, Vec<PathBuf>> {
    let mut out: HashMap<String, Vec<PathBuf>> = HashMap::new();
    for dir in others {
        let Some(m) = read_manifest(dir) else {
            continue;
        };
        for (top, rel, hash) in envstat::expected(&m) {
            out.entry(hash.to_string())
                .or_default()
                .push(dir.join(top).join(rel));
        }
    }
    out
}

/// Put `w` right in `dir`: remove what should not be there, copy the right
/// bytes from a source whose hash checks out. False if no source has them.
fn repair(dir: &Path, w: &Wrong, sources: &HashMap<String, Vec<PathBuf>>) -> Result<bool> {
    let full = dir.join(&w.path);
    let Some(hash) = &w.hash else {
        fs::remove_file(&full).with_context(|| format!("removing {}", full.display()))?;
        return Ok(true);
    };
    let candidates = sources.get(hash).map(Vec::as_slice).unwrap_or_default();
    let Some(src) = candidates
        .iter()
        .find(|src| package::hash_file(src).is_ok_and(|h| h == *hash))
    else {
        return Ok(false);
    };
    let parent = full.parent().unwrap_or(dir);
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    // Beside the versions, not in the tree: a kill before the rename must
    // not leave a file in a deployment that its manifest does not list.
    let tmp = dir
        .parent()
        .unwrap_or(dir)
        .join(format!(".repair.tmp-{}", std::process::id()));
    fs::copy(src, &tmp).with_context(|| format!("copying {}", src.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o444))
        .with_context(|| format!("making {} read-only", tmp.display()))?;
    crate::util::fault::step("repair copied")?;
    if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
        fs::remove_dir_all(&full).with_context(|| format!("removing {}", full.display()))?;
    }
    fs::rename(&tmp, &full).with_context(|| format!("writing {}", full.display()))?;
    // The copy is checked too: the source may change meanwhile.
    Ok(package::hash_file(&full)? == *hash)
}
