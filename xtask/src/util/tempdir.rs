//! A temporary folder removed on drop (benchmarks and in-process tools).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A temp folder removed when dropped, so a failed benchmark leaves nothing.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }

    /// A temp folder inside `parent` (removed on drop too).
    pub fn new_in(parent: &Path, prefix: &str) -> Result<TempDir> {
        let dir = parent.join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
