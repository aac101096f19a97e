//! `artifacts/manifest.json` and the digest.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

pub const MANIFEST_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub digest: String,
    /// Sorted by path.
    pub files: Vec<FileRecord>,
    /// Sorted by path.
    pub artifacts: Vec<ArtifactRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Relative to the bundle root (and to `files/`), `/`-separated.
    pub path: String,
    pub size: u64,
    /// blake3, hex.
    pub hash: String,
    #[serde(default)]
    pub notebook: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Relative to `artifacts/`, e.g. `.internal/my_bundle-0.1.0-py3-none-any.whl`.
    pub path: String,
    pub size: u64,
    pub hash: String,
    /// The artifact's key under `artifacts:` in the config, or `wheel` for the
    /// bundle's own wheel.
    pub name: String,
    /// For artifacts built from the bundle's files: a hash of the inputs, so an
    /// unchanged input set reuses the previous build instead of rebuilding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
}

impl Manifest {
    pub fn new(files: Vec<FileRecord>, artifacts: Vec<ArtifactRecord>) -> Manifest {
        let digest = digest(&files, &artifacts);
        Manifest {
            version: MANIFEST_VERSION,
            digest,
            files,
            artifacts,
        }
    }
}

/// The digest of a deployment: blake3 over the sorted `files/<path>` and
/// `artifacts/<path>` entries, each `<path>\0<hash>\n`. The prefixes keep a
/// file and an artifact of the same relative path apart; the manifest itself is
/// not part of it (it is derived from the list).
pub fn digest(files: &[FileRecord], artifacts: &[ArtifactRecord]) -> String {
    // Every `artifacts/` entry sorts before every `files/` one, so with each
    // list sorted (as a manifest keeps them) the entries are hashed as they
    // come: no copy of 10,000 paths to sort on every deploy.
    let files = sorted(files, |a, b| (&a.path, &a.hash).cmp(&(&b.path, &b.hash)));
    let artifacts = sorted(artifacts, |a, b| {
        (&a.path, &a.hash).cmp(&(&b.path, &b.hash))
    });
    let entries = artifacts
        .iter()
        .map(|a| ("artifacts/", &a.path, &a.hash))
        .chain(files.iter().map(|f| ("files/", &f.path, &f.hash)));
    // Hashed in blocks: one `update` per entry costs more than the hashing.
    let mut hasher = blake3::Hasher::new();
    let mut block = Vec::with_capacity(64 << 10);
    for (top, path, hash) in entries {
        block.extend_from_slice(top.as_bytes());
        block.extend_from_slice(path.as_bytes());
        block.push(0);
        block.extend_from_slice(hash.as_bytes());
        block.push(b'\n');
        if block.len() >= 60 << 10 {
            hasher.update(&block);
            block.clear();
        }
    }
    hasher.update(&block);
    hasher.finalize().to_hex().to_string()
}

/// `records` in the order of `cmp`: as they are when already so.
fn sorted<T: Clone>(records: &[T], cmp: impl Fn(&T, &T) -> Ordering) -> Cow<'_, [T]> {
    if records.is_sorted_by(|a, b| cmp(a, b).is_le()) {
        return Cow::Borrowed(records);
    }
    let mut owned = records.to_vec();
    owned.sort_by(cmp);
    Cow::Owned(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, hash: &str) -> FileRecord {
        FileRecord {
            path: path.into(),
            size: 1,
            hash: hash.into(),
            notebook: false,
        }
    }

    #[test]
    fn digest_depends_on_paths_and_hashes_not_order() {
        let a = digest(&[f("a", "1"), f("b", "2")], &[]);
        assert_eq!(a, digest(&[f("b", "2"), f("a", "1")], &[]));
        assert_ne!(a, digest(&[f("a", "1"), f("b", "3")], &[]));
        assert_ne!(a, digest(&[f("a", "1"), f("c", "2")], &[]));
        let art = ArtifactRecord {
            path: "a".into(),
            size: 1,
            hash: "1".into(),
            name: "w".into(),
            inputs: None,
        };
        assert_ne!(digest(&[f("a", "1")], &[]), digest(&[], &[art]));
    }

    /// The digest as first defined: every entry prefixed, then all sorted.
    fn digest_by_sorting(files: &[FileRecord], artifacts: &[ArtifactRecord]) -> String {
        let mut entries: Vec<(String, &str)> = files
            .iter()
            .map(|f| (format!("files/{}", f.path), f.hash.as_str()))
            .chain(
                artifacts
                    .iter()
                    .map(|a| (format!("artifacts/{}", a.path), a.hash.as_str())),
            )
            .collect();
        entries.sort();
        let mut hasher = blake3::Hasher::new();
        for (path, hash) in entries {
            hasher.update(format!("{path}\0{hash}\n").as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }

    #[test]
    fn digest_is_unchanged_from_its_first_definition() {
        let art = |path: &str, hash: &str| ArtifactRecord {
            path: path.into(),
            size: 1,
            hash: hash.into(),
            name: "w".into(),
            inputs: None,
        };
        let files = [
            f("a/b.py", "1"),
            f("a.py", "2"),
            f("a/b.py", "0"),
            f("z", "3"),
            f("b", "4"),
        ];
        let arts = [art(".internal/w.whl", "5"), art("a", "6")];
        for n in 0..=files.len() {
            for (fs, ars) in [(&files[..n], &arts[..]), (&files[..n], &arts[..0])] {
                let mut sorted = fs.to_vec();
                sorted.sort_by(|a, b| (&a.path, &a.hash).cmp(&(&b.path, &b.hash)));
                for fs in [fs, &sorted[..]] {
                    assert_eq!(digest(fs, ars), digest_by_sorting(fs, ars), "{fs:?}");
                }
            }
        }
    }
}
