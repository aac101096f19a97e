//! The stat cache of the bundle's source files: a file whose size, mtime,
//! inode and ctime are unchanged since it was hashed is not read again.
//!
//! Timestamps have a granularity (a jiffy, or a second on some file systems):
//! an edit in the same tick as the read that hashed a file leaves its stat
//! unchanged. So, as git does with its "racy" index entries, an entry whose
//! timestamps are within `RACY_NS` of the scan that hashed it is not trusted
//! next time: the file is hashed again. A `touch` changes the stat, the hash
//! is recomputed, the content found equal, and nothing is written.

use std::collections::HashMap;
use std::path::Path;

use crate::files::Stat;

const RACY_NS: i64 = 1_000_000_000;

#[derive(Debug, Clone)]
pub struct Entry {
    pub stat: Stat,
    pub hash: String,
    pub notebook: bool,
}

#[derive(Debug, Default)]
pub struct SourceCache {
    entries: HashMap<String, (Entry, bool)>,
}

impl SourceCache {
    pub fn load(path: &Path) -> SourceCache {
        let Ok(text) = std::fs::read_to_string(path) else {
            return SourceCache::default();
        };
        let mut lines = text.lines();
        if lines.next() != Some("v1") {
            return SourceCache::default();
        }
        let entries = lines
            .filter_map(|line| {
                let mut it = line.splitn(8, ' ');
                let stat = Stat::parse(&mut it)?;
                let notebook = it.next()? == "1";
                let racy = it.next()? == "1";
                let hash = it.next()?.to_string();
                Some((
                    it.next()?.to_string(),
                    (
                        Entry {
                            stat,
                            hash,
                            notebook,
                        },
                        racy,
                    ),
                ))
            })
            .collect();
        SourceCache { entries }
    }

    /// Whether the cache should be rewritten after a scan that hashed
    /// `misses` of `files` files: not for a handful of misses (a few edits),
    /// which cost less to hash again next time than a rewrite of every entry
    /// now (and a file just edited is racy anyway, so it would be hashed
    /// again regardless). Not saving is always safe: an entry left out only
    /// means a file is hashed again.
    pub fn save_needed(&self, misses: usize, files: usize) -> bool {
        let few = (files / 256).max(8);
        misses > few || self.entries.len() > files + few
    }

    /// The cached hash of `path` if its stat is unchanged and the entry is trustworthy.
    pub fn get(&self, path: &str, stat: &Stat) -> Option<&Entry> {
        match self.entries.get(path) {
            Some((e, false)) if e.stat == *stat => Some(e),
            _ => None,
        }
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

pub fn now_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
