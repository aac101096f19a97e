//! The core of plan and deploy: compare the bundle (files, artifacts,
//! resources) with what an environment holds, then write the difference.
//!
//! `compute` reads and writes nothing in the environment but its state and
//! manifest; `apply` writes the plan into a transaction. Both are shared by
//! `plan` (compute only) and `deploy` (compute, then apply), which is what
//! makes the plan honest: deploy does exactly what plan printed.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::artifacts::{self, ArtifactAction, ArtifactBytes, ArtifactChange, Prior, Sources};
use super::cache::{Entry, SourceCache};
use super::resources::{self, ResourcePlan};
use super::state::EnvState;
use crate::config::Bundle;
use crate::files::{self, Selection, SourceFile, Stat};
use crate::package::artifacts::ArtifactSpec;
use crate::package::{self, FileRecord, Manifest};
use crate::util::{fault, parallel};
use crate::workspace::{Drift, Transaction, Workspace};

/// Files larger than this are streamed instead of read into memory.
const BIG_FILE: u64 = 16 << 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FileChanges {
    /// Files written: new, changed, or repaired after drift. Sorted.
    pub put: Vec<String>,
    /// Files of the current deployment no longer in the bundle. Sorted.
    pub delete: Vec<String>,
    pub unchanged: usize,
    /// Paths (relative to the env: `files/...`, `artifacts/...`) found
    /// changed, added or missing out of band, which this deploy repairs.
    pub repaired: Vec<String>,
}

/// What a deployment changes, computed against the current one.
pub struct Computed {
    pub files: FileChanges,
    pub artifacts: Vec<ArtifactChange>,
    pub resources: ResourcePlan,
    pub manifest: Manifest,
    pub prev_manifest: Option<Manifest>,
    /// Source files in manifest order, for `apply`.
    sources: Vec<PathBuf>,
    /// Bytes of artifacts to write, by artifact path.
    artifact_bytes: Vec<(String, ArtifactBytes)>,
    /// The stat of each file of `manifest.files` (same order), for the
    /// source stat cache.
    pub cache_stats: Vec<Stat>,
    /// Files hashed because the cache could not vouch for them.
    pub cache_misses: usize,
    pub warnings: Vec<String>,
}

impl Computed {
    /// Nothing to write: same files, artifacts and resources, no drift.
    pub fn is_noop(&self) -> bool {
        self.files.put.is_empty()
            && self.files.delete.is_empty()
            && self.files.repaired.is_empty()
            && self
                .artifacts
                .iter()
                .all(|a| a.action == ArtifactAction::Unchanged)
            && !self.resources.changed()
            && self
                .prev_manifest
                .as_ref()
                .is_some_and(|m| m.digest == self.manifest.digest)
    }
}

/// What the caller already knows, so that a deploy need not find it out
/// (watch, between full syncs).
#[derive(Default)]
pub struct Known<'a> {
    /// The file set, selected by the caller: no walk.
    pub selection: Option<&'a Selection>,
    /// The version the caller deployed last. While it is still the current
    /// one, the env is taken to be as that deploy left it: no drift check.
    pub current: Option<&'a str>,
}

/// Built artifacts of the config: (spec, files produced). `None` in a plan.
pub type Built = Option<Vec<(ArtifactSpec, Vec<PathBuf>)>>;

/// What a plan or a deploy compares: the bundle's tree against its env.
pub struct Request<'a> {
    pub bundle: &'a Bundle,
    pub ws: &'a dyn Workspace,
    pub state: &'a EnvState,
    pub cache: &'a SourceCache,
    pub specs: &'a [ArtifactSpec],
    pub built: &'a Built,
    /// A deploy gives new resources ids; a plan leaves them unknown.
    pub assign_ids: bool,
    pub known: &'a Known<'a>,
}

/// The files read on the tree's side: the selection, each file's hash entry
/// (same order) and how many were hashed afresh.
type Local<'a> = (Cow<'a, Selection>, Vec<(String, Entry)>, usize);

pub fn compute(req: &Request) -> Result<Computed> {
    let mut lap = crate::util::Timer::new();
    // What the env holds and what the tree holds are independent: on the
    // remote backend the first is network round trips, the second local
    // I/O and hashing, so they overlap.
    let (deployed, local) = std::thread::scope(|s| {
        let remote = s.spawn(|| {
            let mut lap = crate::util::Timer::new();
            let out = read_env(req.ws, req.known);
            lap.phase(" .. manifest + drift");
            out
        });
        let mut lap = crate::util::Timer::new();
        let local = select_and_hash(req);
        lap.phase(" .. select + hash");
        let deployed = remote
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reading the env's state panicked")));
        (deployed, local)
    });
    let (prev_manifest, drift) = deployed?;
    let (selection, hashed, cache_misses) = local?;
    lap.phase(" . select + hash || manifest + drift");
    files::check_collisions(hashed.iter().map(|e| (e.0.as_str(), e.1.notebook)))?;
    lap.phase(" . hash + collisions");

    let changes = diff_files(&hashed, prev_manifest.as_ref(), &drift);
    lap.phase(" . diff");
    let (records, cache_stats) = into_records(hashed);
    let sources_in = Sources {
        records: &records,
        files: &selection.files,
    };
    let prior = Prior {
        manifest: prev_manifest.as_ref(),
        drift: &drift,
    };
    let arts = artifacts::plan(req.bundle, &sources_in, &prior, req.specs, req.built)?;
    let (artifact_records, artifact_changes, artifact_bytes) =
        (arts.records, arts.changes, arts.bytes);
    let mut resources = resources::plan(req.bundle, req.state.tfstate.as_ref(), req.assign_ids);
    if let Some(api) = req.ws.api() {
        let prev = req
            .state
            .tfstate
            .as_ref()
            .map_or(&[][..], |t| &t.resources[..]);
        super::remote_drift::amend(&api, &mut resources, prev)?;
    }
    let manifest = Manifest::new(records, artifact_records);
    let warnings = selection.warnings.clone();
    let sources = into_sources(selection);
    lap.phase(" . artifacts, manifest");
    Ok(Computed {
        files: changes,
        artifacts: artifact_changes,
        resources,
        manifest,
        prev_manifest,
        sources,
        artifact_bytes,
        cache_stats,
        cache_misses,
        warnings,
    })
}

/// The env's manifest and its drift from it (none looked for while the env
/// is still the version the caller deployed last).
fn read_env(ws: &dyn Workspace, known: &Known) -> Result<(Option<Manifest>, Drift)> {
    let prev_manifest: Option<Manifest> = match ws.read("artifacts/manifest.json")? {
        Some(bytes) => {
            Some(crate::util::json::from_bytes(&bytes).context("reading the deployed manifest")?)
        }
        None => None,
    };
    let trusted = known.current.is_some() && ws.current()?.as_deref() == known.current;
    let drift = match &prev_manifest {
        Some(m) if !trusted => ws.drift_for_deploy(m)?,
        _ => Drift::default(),
    };
    Ok((prev_manifest, drift))
}

/// The file set (the caller's, or a walk) and the hash of every file.
fn select_and_hash<'a>(req: &Request<'a>) -> Result<Local<'a>> {
    let selection = match req.known.selection {
        Some(given) => Cow::Borrowed(given),
        None => Cow::Owned(files::select(
            &req.bundle.root,
            &req.bundle.sync_patterns("include"),
            &req.bundle.sync_patterns("exclude"),
        )?),
    };
    let (hashed, cache_misses) = hash_all(&selection.files, req.cache)?;
    Ok((selection, hashed, cache_misses))
}

/// The tree against the env's manifest. Both lists are sorted by path: one
/// merge finds the same, the changed and the deleted files; a file the
/// drift check found damaged is put again even when its hash is the same.
fn diff_files(hashed: &[(String, Entry)], prev: Option<&Manifest>, drift: &Drift) -> FileChanges {
    let next: Vec<(&str, &str)> = hashed
        .iter()
        .map(|(p, e)| (p.as_str(), e.hash.as_str()))
        .collect();
    let prev_files: Vec<(&str, &str)> = prev.map_or(Vec::new(), |m| {
        m.files
            .iter()
            .map(|r| (r.path.as_str(), r.hash.as_str()))
            .collect()
    });
    let damaged = |path: &str| !drift.is_empty() && drift.damaged(&format!("files/{path}"));
    let mut changes = diff_sorted(&next, &prev_files, &damaged);
    changes.repaired = drift
        .changed
        .iter()
        .chain(&drift.added)
        .chain(&drift.missing)
        .cloned()
        .collect();
    changes.repaired.sort();
    changes
}

/// The manifest's file records, moved out of the hash entries (10,000
/// paths and hashes in a big bundle: not copied), and each file's stat.
fn into_records(hashed: Vec<(String, Entry)>) -> (Vec<FileRecord>, Vec<Stat>) {
    hashed
        .into_iter()
        .map(|(path, entry)| {
            let record = FileRecord {
                path,
                size: entry.stat.size,
                hash: entry.hash,
                notebook: entry.notebook,
            };
            (record, entry.stat)
        })
        .unzip()
}

/// Each selected file's path on disk, moved out of a selection the walk
/// made (copied from one the caller gave).
fn into_sources(selection: Cow<Selection>) -> Vec<PathBuf> {
    match selection {
        Cow::Owned(s) => s.files.into_iter().map(|f| f.abs).collect(),
        Cow::Borrowed(s) => s.files.iter().map(|f| f.abs.clone()).collect(),
    }
}

/// The difference between two path-sorted lists of `(path, hash)`, in one
/// merge pass: what to put (new, changed, or `damaged` in place), what to
/// delete, how many stay. Deploy (source against the env) and promotion
/// (one env's manifest against another's) both plan with it.
pub fn diff_sorted(
    next: &[(&str, &str)],
    prev: &[(&str, &str)],
    damaged: &dyn Fn(&str) -> bool,
) -> FileChanges {
    let mut changes = FileChanges::default();
    let mut prev_iter = prev.iter().peekable();
    for &(path, hash) in next {
        while let Some(gone) = prev_iter.next_if(|p| p.0 < path) {
            changes.delete.push(gone.0.to_string());
        }
        let same = prev_iter
            .next_if(|p| p.0 == path)
            .is_some_and(|p| p.1 == hash);
        if !same || damaged(path) {
            changes.put.push(path.to_string());
        } else {
            changes.unchanged += 1;
        }
    }
    changes
        .delete
        .extend(prev_iter.map(|gone| gone.0.to_string()));
    changes
}

/// Hash every selected file, from the cache when its stat is unchanged; the
/// others in parallel.
fn hash_all(files: &[SourceFile], cache: &SourceCache) -> Result<(Vec<(String, Entry)>, usize)> {
    let mut entries: Vec<Option<Entry>> = cache.lookup(files);
    let misses: Vec<usize> = (0..files.len()).filter(|&i| entries[i].is_none()).collect();
    let hashed: Vec<Mutex<Option<Entry>>> = misses.iter().map(|_| Mutex::new(None)).collect();
    parallel(misses.len(), |k| {
        let entry = hash_source(&files[misses[k]])?;
        *hashed[k].lock().unwrap_or_else(|e| e.into_inner()) = Some(entry);
        Ok(())
    })?;
    for (&i, entry) in misses.iter().zip(hashed) {
        entries[i] = entry.into_inner().unwrap_or_else(|e| e.into_inner());
    }
    let entries = files
        .iter()
        .zip(entries)
        .map(|(f, e)| {
            Ok((
                f.path.clone(),
                e.ok_or_else(|| anyhow!("{} was not hashed", f.path))?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((entries, misses.len()))
}

pub(super) fn read_source(f: &SourceFile) -> Result<Vec<u8>> {
    if fault::unreadable(&f.path) {
        return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            .with_context(|| format!("reading {}", f.abs.display()));
    }
    crate::util::nofollow::read_nofollow(&f.abs)
        .with_context(|| format!("reading {}", f.abs.display()))
}

pub(super) fn hash_source(f: &SourceFile) -> Result<Entry> {
    if f.stat.size > BIG_FILE {
        let hash = package::hash_source_file(&f.abs)?;
        let mut head = vec![0u8; 32];
        let mut file = crate::util::nofollow::open_nofollow(&f.abs)?;
        let n = std::io::Read::read(&mut file, &mut head)?;
        head.truncate(n);
        // A big .ipynb is parsed whole only if it may be a notebook.
        let notebook = if f.path.ends_with(".ipynb") {
            files::is_notebook(&f.path, &read_source(f)?)
        } else {
            files::is_notebook(&f.path, &head)
        };
        return Ok(Entry {
            stat: f.stat,
            hash,
            notebook,
        });
    }
    let bytes = read_source(f)?;
    Ok(Entry {
        stat: f.stat,
        hash: package::hash_bytes(&bytes),
        notebook: files::is_notebook(&f.path, &bytes),
    })
}

/// Write a computed deployment into `txn`: changed files put (re-hashed, so a
/// file edited since `compute` is caught), the others kept; its artifacts;
/// and `manifest_json`, the manifest serialised compact (every deploy reads
/// it back, and a redeploy writes it whole).
pub fn apply(c: &Computed, txn: &dyn Transaction, manifest_json: &[u8]) -> Result<()> {
    let put: HashSet<&str> = c.files.put.iter().map(String::as_str).collect();
    // One job per folder: the threads then work in different folders (the
    // kernel serialises entries made in the same one: two threads linking
    // into one folder spend their time waiting for each other).
    fn parent(path: &str) -> &str {
        path.rsplit_once('/').map_or("", |(d, _)| d)
    }
    let mut t = crate::util::Timer::new();
    let files = &c.manifest.files;
    // Into a rewritten old version only what it lacks, and what is put.
    let lacking: Option<HashSet<&str>> = txn
        .lacking()
        .map(|l| l.iter().filter_map(|p| p.strip_prefix("files/")).collect());
    let mut order: Vec<usize> = (0..files.len())
        .filter(|&i| {
            let path = files[i].path.as_str();
            lacking
                .as_ref()
                .is_none_or(|l| l.contains(path) || put.contains(path))
        })
        .collect();
    order.sort_by(|&a, &b| parent(&files[a].path).cmp(parent(&files[b].path)));
    let folders: Vec<&[usize]> = order
        .chunk_by(|&a, &b| parent(&files[a].path) == parent(&files[b].path))
        .collect();
    parallel(folders.len(), |j| {
        folders[j]
            .iter()
            .try_for_each(|&i| apply_file(c, txn, &put, i))
    })?;
    t.phase(" . files");
    for path in &c.files.delete {
        txn.delete(&format!("files/{path}"))?;
    }
    for a in &c.manifest.artifacts {
        let target = format!("artifacts/{}", a.path);
        match c.artifact_bytes.iter().find(|(p, _)| *p == a.path) {
            Some((_, ArtifactBytes::Memory(bytes))) => txn.put(&target, bytes)?,
            Some((_, ArtifactBytes::File(src))) => txn.put_file(&target, src)?,
            None => txn.keep(&target)?,
        }
    }
    if let Some(prev) = &c.prev_manifest {
        for a in &prev.artifacts {
            if !c.manifest.artifacts.iter().any(|r| r.path == a.path) {
                txn.delete(&format!("artifacts/{}", a.path))?;
            }
        }
    }
    let r = txn.put("artifacts/manifest.json", manifest_json);
    t.phase(" . artifacts, manifest");
    r
}

/// Keep or write file `i` of the manifest.
fn apply_file(c: &Computed, txn: &dyn Transaction, put: &HashSet<&str>, i: usize) -> Result<()> {
    let rec = &c.manifest.files[i];
    let target = format!("files/{}", rec.path);
    if !put.contains(rec.path.as_str()) {
        return txn.keep(&target);
    }
    let src = &c.sources[i];
    if rec.size > BIG_FILE {
        txn.put_file(&target, src)?;
        // Copied by the kernel: check the source still has the planned content.
        let written = package::hash_source_file(src)?;
        return check_same(&rec.path, &written, &rec.hash);
    }
    let bytes = if fault::unreadable(&rec.path) {
        return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            .with_context(|| format!("reading {}", src.display()));
    } else {
        crate::util::nofollow::read_nofollow(src)
            .with_context(|| format!("reading {}", src.display()))?
    };
    check_same(&rec.path, &package::hash_bytes(&bytes), &rec.hash)?;
    txn.put(&target, &bytes)
}

fn check_same(path: &str, now: &str, planned: &str) -> Result<()> {
    if now != planned {
        bail!("{path} changed while it was being deployed; run the deploy again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::diff_sorted;

    #[test]
    fn the_diff_puts_new_changed_and_damaged_paths_and_deletes_the_gone() {
        let prev = [("a", "1"), ("b", "2"), ("c", "3"), ("e", "5")];
        let next = [("b", "2"), ("c", "X"), ("d", "4"), ("e", "5")];
        let c = diff_sorted(&next, &prev, &|p| p == "e");
        assert_eq!(c.put, ["c", "d", "e"]);
        assert_eq!(c.delete, ["a"]);
        assert_eq!(c.unchanged, 1);
        // Everything new against nothing; nothing against everything.
        let c = diff_sorted(&next, &[], &|_| false);
        assert_eq!((c.put.len(), c.delete.len(), c.unchanged), (4, 0, 0));
        let c = diff_sorted(&[], &prev, &|_| false);
        assert_eq!(c.delete, ["a", "b", "c", "e"]);
    }
}
