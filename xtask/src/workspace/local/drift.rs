//! What differs between a version's tree and its manifest: the drift check
//! every deploy and `status` run on the current version.

use std::path::Path;

use anyhow::Result;

use super::envstat;
use super::tree::{list_files, same_file};
use crate::files::Stat;
use crate::package::{self, Manifest};
use crate::workspace::Drift;

/// The drift of the tree at `dir` (version `id`) from `manifest`. A file is
/// hashed only when `env_stat` (the text of `.cache/env-stat`) does not
/// vouch for its stat.
pub(super) fn check(dir: &Path, id: &str, env_stat: &str, manifest: &Manifest) -> Result<Drift> {
    let mut cache = envstat::Reader::new(env_stat, id);
    let mut drift = Drift::default();
    let files = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.hash.as_str()));
    check_top(dir, "files", files, &mut cache, &mut drift)?;
    let artifacts = manifest
        .artifacts
        .iter()
        .map(|a| (a.path.as_str(), a.hash.as_str()));
    check_top(dir, "artifacts", artifacts, &mut cache, &mut drift)?;
    drift.added.sort();
    drift.changed.sort();
    drift.missing.sort();
    Ok(drift)
}

/// The drift under `dir/top` from `expected` (path under `top`, hash),
/// sorted by path, into `drift`.
fn check_top<'m>(
    dir: &Path,
    top: &str,
    expected: impl Iterator<Item = (&'m str, &'m str)>,
    cache: &mut envstat::Reader,
    drift: &mut Drift,
) -> Result<()> {
    let mut found = Vec::new();
    list_files(dir, top, &mut found)?;
    found.retain(|(path, _)| path != "artifacts/manifest.json");
    // Both lists by the path under `top`, a plain comparison of strings
    // (every found path starts with `top/`): one merge.
    let under = |path: &str| -> usize { path.len().min(top.len() + 1) };
    // Stable: merges the sorted runs `list_files` gives.
    found.sort_by(|a, b| a.0[under(&a.0)..].cmp(&b.0[under(&b.0)..]));
    let mut found = found.into_iter().peekable();
    for (rel, hash) in expected {
        while let Some((path, _)) = found.next_if(|(p, _)| &p[under(p)..] < rel) {
            drift.added.push(path);
        }
        let Some((path, stat)) = found.next_if(|(p, _)| &p[under(p)..] == rel) else {
            drift.missing.push(format!("{top}/{rel}"));
            continue;
        };
        if !vouched(cache, top, rel, hash, &stat) && package::hash_file(&dir.join(&path))? != hash {
            drift.changed.push(path);
        }
    }
    drift.added.extend(found.map(|(path, _)| path));
    Ok(())
}

/// The env-stat records this very file (same stat) with `hash`.
fn vouched(cache: &mut envstat::Reader, top: &str, rel: &str, hash: &str, stat: &Stat) -> bool {
    cache
        .find(top, rel)
        .is_some_and(|e| e.hash == hash && e.stat().is_some_and(|s| same_file(&s, stat)))
}
