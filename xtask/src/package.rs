//! The package of a deployment: manifest, digest, wheel and other artifacts.
//!
//! A deployment is a set of files (under `files/`) and artifacts (under
//! `artifacts/`); `artifacts/manifest.json` lists every one of them with its
//! size and blake3 hash, and the digest — the identity the gates compare —
//! is a hash over the sorted (path, hash) list (DESIGN §5).

pub mod artifacts;
pub mod manifest;
pub mod wheel;

pub use manifest::{ArtifactRecord, FileRecord, Manifest, digest};

/// blake3 of some bytes, as lowercase hex.
pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// Like [`hash_file`], for a source file: a link or a special file there is
/// an error, not read through (see `util::nofollow`).
pub fn hash_source_file(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let file = crate::util::nofollow::open_nofollow(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// blake3 of a file's content, streamed (for files too big to hold in memory).
pub fn hash_file(path: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    hasher
        .update_reader(file)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(hasher.finalize().to_hex().to_string())
}
