//! Which files belong to the bundle: ignore rules, `sync.include/exclude`, notebooks.
//!
//! The set is `(walk ∪ include) − exclude`, as the Databricks CLI computes it
//! (reference §2.1): the walk honours `.gitignore` files (nested ones too),
//! `.git/info/exclude` and the global excludes file, inside or outside a git
//! repository; `sync.include` re-adds ignored files; `sync.exclude` always wins.
//! Unlike the CLI, the include walk still prunes the folders that never belong
//! to a bundle (`.git`, `.bundle`, `.databricks`, `target/`, virtualenvs), so a
//! repository with a big `.venv` stays fast.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

mod stat;
mod walk;

pub use stat::{Stat, fields, seek};

/// `rel/name`, or `name` at the top (`rel` empty). Without `format!`,
/// whose machinery costs more than the copy: walks make one per file.
pub fn join_rel(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        return name.to_string();
    }
    let mut path = String::with_capacity(rel.len() + 1 + name.len());
    path.push_str(rel);
    path.push('/');
    path.push_str(name);
    path
}

/// One selected file of the bundle.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Relative to the bundle root, `/`-separated.
    pub path: String,
    pub abs: PathBuf,
    pub stat: Stat,
}

#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// Sorted by `path`.
    pub files: Vec<SourceFile>,
    /// Things skipped on purpose that a user may want to know about (symlinks).
    pub warnings: Vec<String>,
    /// The folders the ignore rules keep, new empty ones included (what a
    /// watcher must watch, with the folders of the files).
    pub dirs: Vec<PathBuf>,
}

/// Select the files of the bundle rooted at `root`.
pub fn select(root: &Path, include: &[String], exclude: &[String]) -> Result<Selection> {
    selected(root, include, exclude, walk::walk(root, true)?, || {
        walk::walk(root, false)
    })
}

/// The files of `select(root, ...)` that are directly in folder `dir`, for
/// the cost of one folder (watch, after events in it).
pub fn select_dir(
    root: &Path,
    dir: &Path,
    include: &[String],
    exclude: &[String],
) -> Result<Selection> {
    selected(
        root,
        include,
        exclude,
        walk::walk_one(root, dir, true)?,
        || walk::walk_one(root, dir, false),
    )
}

/// `(walked ∪ included) − excluded`, sorted; `everything` is the walk
/// without ignore rules, for `include` to re-add from.
fn selected(
    root: &Path,
    include: &[String],
    exclude: &[String],
    walked: walk::Walked,
    everything: impl FnOnce() -> Result<walk::Walked>,
) -> Result<Selection> {
    let include = matcher(root, include, "sync.include")?;
    let exclude = matcher(root, exclude, "sync.exclude")?;
    let mut warnings = BTreeSet::new();
    warnings.extend(walked.skipped.into_iter().map(|(_, why)| why));
    let excluded = |path: &str| {
        exclude
            .matched_path_or_any_parents(Path::new(path), false)
            .is_ignore()
    };
    let mut unnamed: Vec<(String, std::path::PathBuf)> = walked
        .unnamed
        .into_iter()
        .filter(|(rel, _)| !excluded(rel))
        .collect();
    let mut found: Vec<SourceFile> = walked
        .files
        .into_iter()
        .map(|(path, abs, stat)| SourceFile { path, abs, stat })
        .collect();
    // Stable: merges the sorted runs the walk gives (see `walk`).
    found.sort_by(|a, b| a.path.cmp(&b.path));
    if !include.is_empty() {
        // Include re-adds files the ignore rules dropped: walk without them.
        let everything = everything()?;
        let included = |path: &str| {
            include
                .matched_path_or_any_parents(Path::new(path), false)
                .is_ignore()
        };
        let mut extra = Vec::new();
        for (path, abs, stat) in everything.files {
            if included(&path)
                && found
                    .binary_search_by(|f| f.path.as_str().cmp(&path))
                    .is_err()
            {
                extra.push(SourceFile { path, abs, stat });
            }
        }
        for (path, why) in everything.skipped {
            if included(&path) {
                warnings.insert(why);
            }
        }
        unnamed.extend(
            everything
                .unnamed
                .into_iter()
                .filter(|(rel, _)| included(rel) && !excluded(rel)),
        );
        found.append(&mut extra);
        found.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    }
    if let Some((_, abs)) = unnamed.first() {
        bail!(
            "{}: file names must be valid UTF-8 to be deployed; rename it, or ignore it \
             (.gitignore or sync.exclude)",
            abs.display()
        );
    }
    if !exclude.is_empty() {
        found.retain(|f| !excluded(&f.path));
    }
    Ok(Selection {
        files: found,
        warnings: warnings.into_iter().collect(),
        dirs: walked.dirs,
    })
}

fn matcher(root: &Path, patterns: &[String], what: &str) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(root);
    for pattern in patterns {
        builder
            .add_line(None, pattern)
            .with_context(|| format!("invalid {what} pattern {pattern:?}"))?;
    }
    builder
        .build()
        .with_context(|| format!("compiling {what} patterns"))
}

/// Is this file a Databricks notebook? (reference §2.3): the first line equals
/// the language's header, or a `.ipynb` is JSON with an `nbformat` field.
pub fn is_notebook(path: &str, content: &[u8]) -> bool {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let header: &[u8] = match ext.as_str() {
        "py" | "r" => b"# Databricks notebook source",
        "scala" => b"// Databricks notebook source",
        "sql" => b"-- Databricks notebook source",
        "ipynb" => {
            return serde_json::from_slice::<serde_json::Value>(content)
                .is_ok_and(|v| v.get("nbformat").is_some());
        }
        _ => return false,
    };
    // The CLI scans the first 32 bytes and takes the first line, `\r\n` stripped.
    let head = &content[..content.len().min(32)];
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line == header
}

/// The name a file gets in a Databricks workspace: notebooks lose their
/// extension (except `.designer.ipynb`).
pub fn remote_name(path: &str, notebook: bool) -> &str {
    if !notebook || path.ends_with(".designer.ipynb") {
        return path;
    }
    match path.rsplit_once('.') {
        Some((stem, _)) if !stem.ends_with('/') && !stem.is_empty() => stem,
        _ => path,
    }
}

/// Two local files that would land on the same remote name are an error,
/// with the CLI's wording.
pub fn check_collisions<'a>(files: impl IntoIterator<Item = (&'a str, bool)>) -> Result<()> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut errors = Vec::new();
    for (path, notebook) in files {
        let remote = remote_name(path, notebook);
        if let Some(other) = seen.insert(remote, path) {
            errors.push(format!(
                "both {other} and {path} point to the same remote file location {remote}. \
                 Please remove one of them from your local project"
            ));
        }
    }
    if !errors.is_empty() {
        bail!(errors.join("\n"));
    }
    Ok(())
}

/// The folders a watcher must watch to see every change to the selection:
/// every folder the ignore rules keep (new empty folders included, so a
/// file created in one is seen), plus the folders of files that
/// `sync.include` re-adds from ignored places. Never `.git`, `.bundle`,
/// `target/` or a virtualenv.
pub fn watch_dirs(selection: &Selection) -> BTreeSet<PathBuf> {
    let mut dirs: BTreeSet<PathBuf> = selection.dirs.iter().cloned().collect();
    for file in &selection.files {
        if let Some(parent) = file.abs.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notebook_headers() {
        assert!(is_notebook(
            "a.py",
            b"# Databricks notebook source\nprint(1)\n"
        ));
        assert!(is_notebook(
            "a.PY",
            b"# Databricks notebook source\r\nprint(1)\n"
        ));
        assert!(!is_notebook(
            "a.py",
            b"# Databricks notebook source extra\n"
        ));
        assert!(!is_notebook("a.txt", b"# Databricks notebook source\n"));
        assert!(is_notebook("q.sql", b"-- Databricks notebook source\n"));
        assert!(is_notebook("n.ipynb", br#"{"nbformat": 4, "cells": []}"#));
        assert!(!is_notebook("n.ipynb", b"{not json"));
    }

    #[test]
    fn remote_names_and_collisions() {
        assert_eq!(remote_name("a/nb.py", true), "a/nb");
        assert_eq!(remote_name("a/nb.py", false), "a/nb.py");
        assert_eq!(remote_name("x.designer.ipynb", true), "x.designer.ipynb");
        assert!(check_collisions([("a.py", true), ("a.sql", true)]).is_err());
        assert!(check_collisions([("a.py", true), ("a", false)]).is_err());
        assert!(check_collisions([("a.py", false), ("a", false)]).is_ok());
    }
}
