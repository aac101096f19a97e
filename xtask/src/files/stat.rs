//! The stat of a file as the stat caches (`.cache/source-stat`,
//! `.cache/env-stat`) record it, and the reading of their lines: some 20,000
//! per redeploy of a big bundle, so each is split once, in one pass.

use std::cmp::Ordering;
use std::iter::Peekable;
use std::os::unix::fs::MetadataExt;

/// What `stat` says about a file: enough to tell, without reading it, that a
/// file has not changed since it was hashed (size, mtime, inode, ctime: an
/// editor's atomic save changes the inode, an in-place write the ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ino: u64,
    pub ctime_ns: i64,
}

impl Stat {
    /// The four numbers as the stat caches write them (`size mtime ino
    /// ctime`), taken from the front of `fields`.
    pub fn parse(fields: &[&str; 4]) -> Option<Stat> {
        Some(Stat {
            size: number(fields[0])?,
            mtime_ns: i64::try_from(number(fields[1])?).ok()?,
            ino: number(fields[2])?,
            ctime_ns: i64::try_from(number(fields[3])?).ok()?,
        })
    }

    pub fn of(meta: &std::fs::Metadata) -> Stat {
        Stat {
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ino: meta.ino(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// The first `N` space-separated fields of a stat cache line and the rest
/// (a path, which may hold spaces). One scan: a deploy reads some 20,000
/// such lines, where a `splitn` costs a searcher per field.
pub fn fields<const N: usize>(line: &str) -> Option<([&str; N], &str)> {
    let mut out = [""; N];
    let mut rest = line;
    for field in &mut out {
        // Vectorised: a field is a 64-character hash.
        let end = memchr::memchr(b' ', rest.as_bytes())?;
        *field = &rest[..end];
        rest = &rest[end + 1..];
    }
    Some((out, rest))
}

/// A decimal number of at most 19 digits (which cannot overflow a `u64`,
/// so no check per digit), as the stat caches write them.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return text.parse().ok();
    }
    text.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Step `lines`, sorted by `key`, to the line whose key is `want`: lines
/// before it (and lines `key` cannot read) are passed over; a line after it
/// is left for the next call. The stat caches are read so, in one pass beside
/// a sorted file set, without a map of every entry.
pub fn seek<T: Copy, K: Ord>(
    lines: &mut Peekable<impl Iterator<Item = T>>,
    want: &K,
    key: impl Fn(T) -> Option<K>,
) -> Option<T> {
    while let Some(&line) = lines.peek() {
        match key(line).map(|k| k.cmp(want)) {
            None | Some(Ordering::Less) => {
                lines.next();
            }
            Some(Ordering::Equal) => return lines.next(),
            Some(Ordering::Greater) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_the_numbers_off_and_leave_the_path_whole() {
        let line = "12 345 6 78 abc dir/a file.py";
        assert_eq!(
            fields::<5>(line),
            Some((["12", "345", "6", "78", "abc"], "dir/a file.py"))
        );
        assert_eq!(fields::<2>("a b "), Some((["a", "b"], "")));
        assert_eq!(fields::<3>("a b"), None);
        assert_eq!(fields::<0>("a b"), Some(([], "a b")));
    }

    #[test]
    fn numbers_read_as_str_parse_reads_them() {
        for text in [
            "0",
            "7",
            "1764527400123456789",
            "18446744073709551615",
            "",
            "-1",
            "1x",
            "99999999999999999999",
        ] {
            assert_eq!(number(text), text.parse().ok(), "{text:?}");
        }
        let stat = Stat::parse(&["1", "9223372036854775807", "3", "4"]).unwrap();
        assert_eq!(stat.mtime_ns, i64::MAX);
        assert_eq!(Stat::parse(&["1", "9223372036854775808", "3", "4"]), None);
    }
}
