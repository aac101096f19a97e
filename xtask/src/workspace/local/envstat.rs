//! `.cache/env-stat`: the stat and hash of every file of the current
//! version, so that `drift` hashes only files whose stat changed.
//!
//! ```text
//! v1 <version id>
//! <size> <mtime_ns> <ino> <ctime_ns> <hash> files/<path>        (manifest order:
//! ...                                                           files, then artifacts,
//! <size> <mtime_ns> <ino> <ctime_ns> <hash> artifacts/<path>     each sorted by path)
//! ```
//!
//! Everything that reads it walks the manifest in that same order, so a
//! lookup is a step forward in the file, not a hash map of 10,000 entries.

use std::iter::{FilterMap, Peekable};
use std::str::Lines;

use crate::files::{Stat, fields, seek};
use crate::package::Manifest;

/// Where an env path sorts: `files/...` before `artifacts/...`, each by path
/// (the order of the manifest's two lists, and of the file's lines).
pub(super) fn order(path: &str) -> (u8, &str) {
    match path.split_once('/') {
        Some((top @ ("files" | "artifacts"), rest)) => key(top, rest),
        _ => (2, path),
    }
}

/// `order` of `top/rel`, for `top` `files` or `artifacts`.
pub(super) fn key<'r>(top: &str, rel: &'r str) -> (u8, &'r str) {
    (if top == "files" { 0 } else { 1 }, rel)
}

/// Every file a manifest expects in the env, in `order`: (top folder, path
/// under it, hash).
pub(super) fn expected(manifest: &Manifest) -> impl Iterator<Item = (&'static str, &str, &str)> {
    let files = manifest
        .files
        .iter()
        .map(|f| ("files", f.path.as_str(), f.hash.as_str()));
    let artifacts = manifest
        .artifacts
        .iter()
        .map(|a| ("artifacts", a.path.as_str(), a.hash.as_str()));
    files.chain(artifacts)
}

/// The lines of the file, each split once as it is passed.
type Entries<'a> = Peekable<FilterMap<Lines<'a>, fn(&'a str) -> Option<Recorded<'a>>>>;

/// The recorded entries of one version, looked up in increasing `order`.
pub(super) struct Reader<'a> {
    lines: Entries<'a>,
}

impl<'a> Reader<'a> {
    /// The entries of `text` if it was recorded for version `id`; else none.
    pub(super) fn new(text: &'a str, id: &str) -> Reader<'a> {
        let mut lines = text.lines();
        if lines.next().and_then(|l| l.strip_prefix("v1 ")) != Some(id) {
            lines = "".lines();
        }
        let parse: fn(&'a str) -> Option<Recorded<'a>> = Recorded::parse;
        Reader {
            lines: lines.filter_map(parse).peekable(),
        }
    }

    /// The entry of `path` (`files/...` or `artifacts/...`), skipping those
    /// before it. Lookups must come in increasing `order`.
    pub(super) fn find(&mut self, top: &str, rel: &str) -> Option<Recorded<'a>> {
        seek(&mut self.lines, &key(top, rel), |r| Some(order(r.path)))
    }
}

/// One recorded entry: its line as written, its stat fields, hash and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Recorded<'a> {
    pub line: &'a str,
    pub hash: &'a str,
    path: &'a str,
    stat: [&'a str; 4],
}

impl<'a> Recorded<'a> {
    /// A line: the four numbers of the stat, the hash, the path.
    fn parse(line: &'a str) -> Option<Recorded<'a>> {
        let ([size, mtime, ino, ctime, hash], path) = fields::<5>(line)?;
        Some(Recorded {
            line,
            hash,
            path,
            stat: [size, mtime, ino, ctime],
        })
    }

    pub(super) fn stat(&self) -> Option<Stat> {
        Stat::parse(&self.stat)
    }
}

/// One line of the file.
pub(super) fn line(out: &mut String, path: &str, stat: &Stat, hash: &str) {
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "{} {} {} {} {hash} {path}",
        stat.size, stat.mtime_ns, stat.ino, stat.ctime_ns
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_step_through_the_file_in_manifest_order() {
        let s = |size| Stat {
            size,
            ..Stat::default()
        };
        let mut text = String::from("v1 0002-x\n");
        line(&mut text, "files/a.py", &s(1), "h1");
        line(&mut text, "files/b/c.py", &s(2), "h2");
        text.push_str("garbage\n");
        line(&mut text, "files/d.py", &s(3), "h3");
        line(&mut text, "artifacts/.internal/w.whl", &s(4), "h4");
        let mut r = Reader::new(&text, "0002-x");
        let mut find = |top, rel| r.find(top, rel).map(|e| (e.stat().unwrap(), e.hash));
        assert_eq!(find("files", "a.py"), Some((s(1), "h1")));
        // Not recorded: found missing without losing the place.
        assert_eq!(find("files", "b/a.py"), None);
        assert_eq!(find("files", "d.py"), Some((s(3), "h3")));
        assert_eq!(find("artifacts", ".internal/w.whl"), Some((s(4), "h4")));
        assert_eq!(find("artifacts", "z"), None);
        // Recorded for another version: nothing is trusted.
        assert_eq!(Reader::new(&text, "0003-y").find("files", "a.py"), None);
    }
}
