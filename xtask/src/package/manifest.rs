//! `artifacts/manifest.json` and the digest.

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
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
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
}
