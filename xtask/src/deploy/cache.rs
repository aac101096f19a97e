//! The stat cache of the bundle's source files: a file whose size, mtime,
//! inode and ctime are unchanged since it was hashed is not read again.
//!
//! Timestamps have a granularity (a jiffy, or a second on some file systems):
//! an edit in the same tick as the read that hashed a file leaves its stat
//! unchanged. So, as git does with its "racy" index entries, an entry whose
//! timestamps are within `RACY_NS` of the scan that hashed it is not trusted
//! next time: the file is hashed again. A `touch` changes the stat, the hash
//! is recomputed, the content found equal, and nothing is written.

use std::path::Path;

use crate::files::{SourceFile, Stat, fields, seek};

const RACY_NS: i64 = 1_000_000_000;

#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub stat: Stat,
    pub hash: String,
    pub notebook: bool,
}

/// The cache file's text: a line per file, sorted by path, read in one
/// pass beside the sorted file set (no map of every entry is built).
#[derive(Debug, Default)]
pub struct SourceCache {
    text: String,
}

impl SourceCache {
    pub fn load(path: &Path) -> SourceCache {
        match std::fs::read_to_string(path) {
            Ok(text) if text.starts_with("v1\n") => SourceCache { text },
            _ => SourceCache::default(),
        }
    }

    fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines().skip(1)
    }

    /// For each of `files` (sorted by path): its cached entry, if its stat
    /// is unchanged and the entry is trustworthy.
    pub fn lookup(&self, files: &[SourceFile]) -> Vec<Option<Entry>> {
        // Each line split once, as it is passed.
        let mut lines = self.lines().filter_map(fields::<7>).peekable();
        files
            .iter()
            .map(|f| {
                seek(&mut lines, &f.path.as_str(), |(_, path)| Some(path))
                    .and_then(|(fields, _)| parse(fields))
                    .filter(|e| e.stat == f.stat)
            })
            .collect()
    }

    /// Whether the cache should be rewritten after a scan that hashed
    /// `misses` of `files` files: not for a handful of misses (a few edits),
    /// which cost less to hash again next time than a rewrite of every entry
    /// now (and a file just edited is racy anyway, so it would be hashed
    /// again regardless). Not saving is always safe: an entry left out only
    /// means a file is hashed again.
    pub fn save_needed(&self, misses: usize, files: usize) -> bool {
        let few = (files / 256).max(8);
        // Lines counted by a vectorised search (the text is ~1 MB for a big
        // bundle), less the `v1` header.
        let lines = memchr::memchr_iter(b'\n', self.text.as_bytes()).count();
        misses > few || lines.saturating_sub(1) > files + few
    }

    /// Write the cache for these entries; `scan_start_ns` is when the hashing began.
    pub fn save(path: &Path, entries: &[(&str, Entry)], scan_start_ns: i64) -> anyhow::Result<()> {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(entries.len() * 120 + 3);
        out.push_str("v1\n");
        for (p, e) in entries {
            let racy = e.stat.mtime_ns.max(e.stat.ctime_ns) >= scan_start_ns - RACY_NS;
            let _ = writeln!(
                out,
                "{} {} {} {} {} {} {} {p}",
                e.stat.size,
                e.stat.mtime_ns,
                e.stat.ino,
                e.stat.ctime_ns,
                u8::from(e.notebook),
                u8::from(racy),
                e.hash
            );
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::workspace::local::atomic_write(path, out.as_bytes())
    }
}

/// A line's entry; none if it is racy (see the top of this file) or unreadable.
fn parse([size, mtime, ino, ctime, notebook, racy, hash]: [&str; 7]) -> Option<Entry> {
    let stat = Stat::parse(&[size, mtime, ino, ctime])?;
    let (notebook, racy, hash) = (notebook == "1", racy == "1", hash.to_string());
    (!racy).then_some(Entry {
        stat,
        hash,
        notebook,
    })
}

pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Saved again when many files were hashed afresh or when the file holds
    /// many entries for files that are gone; not for a handful of either.
    #[test]
    fn saved_again_only_for_many_misses_or_many_gone_entries() {
        let tmp = crate::util::TempDir::new("cache").unwrap();
        let file = tmp.path().join("source-stat");
        let entries: Vec<(String, Entry)> = (0..100)
            .map(|i| (format!("f{i:03}.py"), Entry::default()))
            .collect();
        let borrowed: Vec<(&str, Entry)> = entries
            .iter()
            .map(|(p, e)| (p.as_str(), e.clone()))
            .collect();
        SourceCache::save(&file, &borrowed, i64::MAX).unwrap();
        let cache = SourceCache::load(&file);
        assert!(!cache.save_needed(0, 100));
        assert!(!cache.save_needed(8, 100));
        assert!(cache.save_needed(9, 100));
        // 100 entries for 92 files: 8 gone, a handful; 91: 9 gone.
        assert!(!cache.save_needed(0, 92));
        assert!(cache.save_needed(0, 91));
        assert!(SourceCache::default().save_needed(9, 0));
        assert!(!SourceCache::default().save_needed(0, 0));
    }
}
