//! The walk of a bundle's tree under git's ignore rules.
//!
//! The rules are those of the `ignore` crate's walker as the CLI's file set
//! needs them: nested `.gitignore` files, `.git/info/exclude`, the global
//! excludes file, and the `.gitignore` files of the folders above the root.
//! Inside a repository or not (as that walker does when no repository is
//! required), the folders above a repository's root count too. Its
//! `Gitignore` matchers do the matching.
//!
//! The walk itself is ours because it is the hot path of every deploy and
//! every watch sync, and a plain one costs about half as much: the type of
//! an entry comes with the listing, the stat of a file is taken relative to
//! its open folder (no path lookup per file), and a folder's ignore files
//! and virtualenv marker are seen in its listing instead of probed for.
//! `tests` checks it against the crate's walker on the same trees.

use std::fs::{self, DirEntry};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::Stat;

/// What a walk found: regular files, the folders it entered, and what it
/// skipped on purpose (symlinks, special files).
#[derive(Debug, Default)]
pub(super) struct Walked {
    /// (path relative to the root, `/`-separated; absolute path; stat).
    pub files: Vec<(String, PathBuf, Stat)>,
    /// Absolute paths of the folders entered, the root included.
    pub dirs: Vec<PathBuf>,
    /// (path, why it was skipped).
    pub skipped: Vec<(String, String)>,
    /// Entries whose name is not UTF-8 and that the ignore rules keep:
    /// (the path shown lossily, the real path). An error if selected; an
    /// ignored one is skipped like any ignored file.
    pub unnamed: Vec<(String, PathBuf)>,
}

/// The ignore files of one folder.
struct Level {
    gitignore: Option<Gitignore>,
    exclude: Option<Gitignore>,
}

type Stack = Vec<Arc<Level>>;

struct Pending {
    rel: String,
    abs: PathBuf,
    stack: Stack,
}

/// Walk `root`; with `rules`, skip what git's ignore rules skip. Never
/// enters `.git`, `.bundle`, `.databricks`, `target/`, `.venv/` or a
/// folder holding `pyvenv.cfg` (a virtualenv).
pub(super) fn walk(root: &Path, rules: bool) -> Result<Walked> {
    let global = if rules { global_rules(root) } else { None };
    let stack = if rules { ancestors(root)? } else { Vec::new() };
    let mut out = Walked::default();
    let mut pending = vec![Pending {
        rel: String::new(),
        abs: root.to_path_buf(),
        stack,
    }];
    // Breadth first until there is work for every thread, then one job per
    // subtree: folders are independent once their parents' rules are known.
    while !pending.is_empty() && pending.len() < 16 {
        let dir = pending.remove(0);
        visit(&dir, rules, global.as_ref(), &mut out, &mut pending)?;
    }
    // Subtrees in path order, each listed in path order: the caller's sort
    // of the whole list then meets runs already sorted (cheap to merge),
    // the sorting done here in small pieces on every thread.
    pending.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    let found: Vec<Mutex<Walked>> = pending.iter().map(|_| Mutex::default()).collect();
    crate::util::parallel(pending.len(), |i| {
        let mut sub = Walked::default();
        let mut stack = vec![Pending {
            rel: pending[i].rel.clone(),
            abs: pending[i].abs.clone(),
            stack: pending[i].stack.clone(),
        }];
        while let Some(dir) = stack.pop() {
            visit(&dir, rules, global.as_ref(), &mut sub, &mut stack)?;
        }
        sub.files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        *found[i].lock().unwrap_or_else(|e| e.into_inner()) = sub;
        Ok(())
    })?;
    for sub in found {
        let mut sub = sub.into_inner().unwrap_or_else(|e| e.into_inner());
        out.files.append(&mut sub.files);
        out.dirs.append(&mut sub.dirs);
        out.skipped.append(&mut sub.skipped);
        out.unnamed.append(&mut sub.unnamed);
    }
    Ok(out)
}

/// What `walk(root, rules)` finds directly in `dir` (a folder below or at
/// `root`), for the cost of one folder: the folders on the way down are
/// checked as the walk would enter them (ignored, a virtualenv, never
/// entered: then nothing), and their ignore files read.
pub(super) fn walk_one(root: &Path, dir: &Path, rules: bool) -> Result<Walked> {
    let global = if rules { global_rules(root) } else { None };
    let mut stack = if rules { ancestors(root)? } else { Vec::new() };
    let rel_dir = dir
        .strip_prefix(root)
        .with_context(|| format!("{} is outside {}", dir.display(), root.display()))?;
    let mut abs = root.to_path_buf();
    let mut rel = String::new();
    for part in rel_dir.components() {
        let std::path::Component::Normal(name) = part else {
            bail!(
                "{}: not a plain path below {}",
                dir.display(),
                root.display()
            );
        };
        let Some(name) = name.to_str() else {
            bail!("{}: file names must be valid UTF-8", dir.display());
        };
        // Entering `abs`: its ignore files apply to what is below.
        if !rel.is_empty() && fs::symlink_metadata(abs.join("pyvenv.cfg")).is_ok() {
            return Ok(Walked::default());
        }
        if rules && let Some(level) = probed_level(&abs)? {
            stack.push(level);
        }
        let next = abs.join(name);
        let is_dir = fs::symlink_metadata(&next).is_ok_and(|m| m.is_dir());
        if !is_dir
            || never_entered(name, is_dir)
            || (rules && ignored(&stack, global.as_ref(), &next, true))
        {
            return Ok(Walked::default());
        }
        abs = next;
        rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
    }
    let mut out = Walked::default();
    let mut below = Vec::new();
    visit(
        &Pending { rel, abs, stack },
        rules,
        global.as_ref(),
        &mut out,
        &mut below,
    )?;
    Ok(out)
}

/// List one folder: files into `out`, sub-folders to visit into `pending`.
fn visit(
    dir: &Pending,
    rules: bool,
    global: Option<&Gitignore>,
    out: &mut Walked,
    pending: &mut Vec<Pending>,
) -> Result<()> {
    let entries: Vec<DirEntry> = fs::read_dir(&dir.abs)
        .and_then(|it| it.collect())
        .with_context(|| format!("listing {}", dir.abs.display()))?;
    let has = |name: &str| entries.iter().any(|e| e.file_name() == name);
    let is_root = dir.rel.is_empty();
    if !is_root && has("pyvenv.cfg") {
        return Ok(());
    }
    out.dirs.push(dir.abs.clone());
    let mut stack = dir.stack.clone();
    if rules && (has(".gitignore") || has(".git")) {
        stack.push(Arc::new(level(&dir.abs)?));
    }
    for e in &entries {
        let name = e.file_name();
        let ft = e
            .file_type()
            .with_context(|| format!("reading {}", e.path().display()))?;
        let is_dir = ft.is_dir();
        let Some(name) = name.to_str() else {
            let abs = dir.abs.join(&name);
            if !(rules && ignored(&stack, global, &abs, is_dir)) {
                let shown = name.to_string_lossy();
                let rel = if is_root {
                    shown.into_owned()
                } else {
                    format!("{}/{shown}", dir.rel)
                };
                out.unnamed.push((rel, abs));
            }
            continue;
        };
        if never_entered(name, is_dir) {
            continue;
        }
        let abs = dir.abs.join(name);
        if rules && ignored(&stack, global, &abs, is_dir) {
            continue;
        }
        let rel = super::join_rel(&dir.rel, name);
        if is_dir {
            pending.push(Pending {
                rel,
                abs,
                stack: stack.clone(),
            });
        } else if ft.is_symlink() {
            // Following links could pull in files from outside the bundle,
            // and a deployed copy would not be a link anyway: skip, but say
            // so (the CLI skips silently, issue #1706).
            let why = format!("skipping symlink {rel}: symbolic links are not deployed");
            out.skipped.push((rel, why));
        } else if !ft.is_file() {
            let why = format!("skipping {rel}: not a regular file");
            out.skipped.push((rel, why));
        } else {
            // Relative to the open folder: no lookup of the whole path.
            let meta = e
                .metadata()
                .with_context(|| format!("reading {}", abs.display()))?;
            out.files.push((rel, abs, Stat::of(&meta)));
        }
    }
    Ok(())
}

/// Is `path` ignored? The deepest `.gitignore` with a say decides; then
/// `.git/info/exclude`; then the global file.
fn ignored(stack: &[Arc<Level>], global: Option<&Gitignore>, path: &Path, is_dir: bool) -> bool {
    let mut by_gitignore = None;
    let mut by_exclude = None;
    for level in stack.iter().rev() {
        if by_gitignore.is_none()
            && let Some(gi) = &level.gitignore
        {
            by_gitignore = decided(gi, path, is_dir);
        }
        if by_exclude.is_none()
            && let Some(gi) = &level.exclude
        {
            by_exclude = decided(gi, path, is_dir);
        }
    }
    by_gitignore
        .or(by_exclude)
        .or_else(|| global.and_then(|gi| decided(gi, path, is_dir)))
        .unwrap_or(false)
}

/// `Some(true)`: ignored; `Some(false)`: whitelisted (`!pattern`); `None`: no rule.
fn decided(gi: &Gitignore, path: &Path, is_dir: bool) -> Option<bool> {
    let m = gi.matched(path, is_dir);
    (!m.is_none()).then(|| m.is_ignore())
}

/// The ignore files of folder `dir`.
fn level(dir: &Path) -> Result<Level> {
    let git = dir.join(".git");
    let git_meta = fs::metadata(&git).ok();
    let gitignore = matcher(dir, &dir.join(".gitignore"))?;
    let exclude = match git_meta {
        Some(meta) => match git_common_dir(&git, meta.is_file()) {
            Some(common) => matcher(dir, &common.join("info").join("exclude"))?,
            None => None,
        },
        None => None,
    };
    Ok(Level { gitignore, exclude })
}

/// The rules of the file at `file`, matched relative to `dir`; `None` if
/// there is no such file.
fn matcher(dir: &Path, file: &Path) -> Result<Option<Gitignore>> {
    if !file.is_file() {
        return Ok(None);
    }
    let mut builder = GitignoreBuilder::new(dir);
    if let Some(err) = builder.add(file) {
        bail!("reading {}: {err}", file.display());
    }
    let gi = builder
        .build()
        .with_context(|| format!("reading {}", file.display()))?;
    Ok((!gi.is_empty()).then_some(gi))
}

/// Where the shared part of a repository's git folder is: `.git` itself, or
/// for a worktree or submodule (`.git` is a file `gitdir: ...`), the
/// `commondir` it names.
fn git_common_dir(git: &Path, is_file: bool) -> Option<PathBuf> {
    if !is_file {
        return Some(git.to_path_buf());
    }
    let text = fs::read_to_string(git).ok()?;
    let gitdir = PathBuf::from(text.lines().next()?.strip_prefix("gitdir: ")?.trim());
    let gitdir = git.parent()?.join(gitdir);
    match fs::read_to_string(gitdir.join("commondir")) {
        Ok(common) => Some(gitdir.join(common.trim())),
        Err(_) => Some(gitdir),
    }
}

/// The ignore files of the folders above `root`, outermost first.
fn ancestors(root: &Path) -> Result<Stack> {
    let mut out = Vec::new();
    for dir in root.ancestors().skip(1) {
        out.extend(probed_level(dir)?);
    }
    out.reverse();
    Ok(out)
}

/// The ignore files of a folder not listed (the folders above a walk's
/// start), found by looking for them; `None` if it has none.
fn probed_level(dir: &Path) -> Result<Option<Arc<Level>>> {
    let probe = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
    if probe(".gitignore") || probe(".git") {
        Ok(Some(Arc::new(level(dir)?)))
    } else {
        Ok(None)
    }
}

/// Entries the walk never takes, whatever the rules say.
fn never_entered(name: &str, is_dir: bool) -> bool {
    matches!(name, ".git" | ".bundle" | ".databricks")
        || (is_dir && matches!(name, "target" | ".venv"))
}

/// The global excludes file (`core.excludesFile`, else `~/.config/git/ignore`).
fn global_rules(root: &Path) -> Option<Gitignore> {
    let (gi, _) = GitignoreBuilder::new(root).build_global();
    (!gi.is_empty()).then_some(gi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ignore::WalkBuilder;
    use std::collections::BTreeSet;

    /// The files the `ignore` crate's own walker finds with git's rules.
    fn reference(root: &Path) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let walker = WalkBuilder::new(root)
            .standard_filters(false)
            .hidden(false)
            .follow_links(false)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(true)
            .parents(true)
            .require_git(false)
            .filter_entry(|e| {
                let name = e.file_name().to_string_lossy();
                let is_dir = e.file_type().is_some_and(|t| t.is_dir());
                e.depth() == 0
                    || !(matches!(name.as_ref(), ".git" | ".bundle" | ".databricks")
                        || (is_dir
                            && (matches!(name.as_ref(), "target" | ".venv")
                                || e.path().join("pyvenv.cfg").is_file())))
            })
            .build();
        for e in walker {
            let e = e.unwrap();
            if e.file_type().is_some_and(|t| t.is_file()) {
                let rel = e.path().strip_prefix(root).unwrap();
                out.insert(rel.to_string_lossy().into_owned());
            }
        }
        out
    }

    fn ours(root: &Path) -> BTreeSet<String> {
        walk(root, true)
            .unwrap()
            .files
            .into_iter()
            .map(|f| f.0)
            .collect()
    }

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// A repository with rules at every level; returns (temp root, repo, bundle).
    fn tricky_tree() -> (PathBuf, PathBuf, PathBuf) {
        let tmp = std::env::temp_dir().join(format!("walk-{}", uuid::Uuid::new_v4()));
        let repo = tmp.join("repo");
        // Above the repository.
        write(&tmp, ".gitignore", "*.sql\n");
        write(&repo, ".git/info/exclude", "*.excluded\nsecret/\n");
        write(&repo, ".git/HEAD", "ref: refs/heads/main\n");
        write(
            &repo,
            ".gitignore",
            "*.log\n!keep.log\nbuild/\n/rooted.txt\ndocs/**/*.tmp\n",
        );
        let bundle = repo.join("bundle");
        for rel in [
            "databricks.yml",
            "a.py",
            "q.sql",
            "a.log",
            "keep.log",
            "x.excluded",
            "rooted.txt",
            "src/rooted.txt",
            "build/out.py",
            "build/inner/deep.py",
            "src/build/out.py",
            "docs/x/y/z.tmp",
            "docs/x/y/z.md",
            "secret/s.py",
            "nested/drop.txt",
            "nested/deeper/drop.txt",
            "nested/deeper/again.log",
            "nested/deeper/keep.me",
            "venv2/pyvenv.cfg",
            "venv2/lib/site.py",
            "target/debug/x",
            ".bundle/old/f.py",
            "sub/.git/HEAD",
            "sub/inner.log",
            "sub/plain.py",
        ] {
            write(&bundle, rel, "x\n");
        }
        write(&bundle, "nested/.gitignore", "drop.txt\n!deeper/\n");
        write(
            &bundle,
            "nested/deeper/.gitignore",
            "!again.log\n*.me\n!keep.me\n",
        );
        // A nested repository: its rules and those above.
        write(&bundle, "sub/.gitignore", "plain.py\n");
        (tmp, repo, bundle)
    }

    #[test]
    fn same_files_as_the_ignore_crates_walker() {
        let (tmp, repo, bundle) = tricky_tree();
        let want = reference(&bundle);
        assert!(want.contains("a.py") && !want.contains("a.log"), "{want:?}");
        assert!(
            want.contains("keep.log") && !want.contains("q.sql"),
            "{want:?}"
        );
        assert_eq!(ours(&bundle), want);
        // The repository root itself, and a folder inside the bundle.
        assert_eq!(ours(&repo), reference(&repo));
        assert_eq!(
            ours(&bundle.join("nested")),
            reference(&bundle.join("nested"))
        );
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn one_folder_selects_what_the_whole_walk_selects_there() {
        use crate::files::{select, select_dir};
        let (tmp, _repo, bundle) = tricky_tree();
        let patterns = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        for (include, exclude) in [
            (patterns(&[]), patterns(&[])),
            (
                patterns(&["build/**", "*.log"]),
                patterns(&["src/**", "build/inner/**"]),
            ),
        ] {
            let all = select(&bundle, &include, &exclude).unwrap().files;
            // Include re-adds from an ignored folder; exclude takes from a kept one.
            let has = |p: &str| all.iter().any(|f| f.path == p);
            assert_eq!(has("build/out.py"), !include.is_empty());
            assert_eq!(has("src/rooted.txt"), exclude.is_empty());
            let mut dirs = vec![bundle.clone()];
            let mut i = 0;
            while i < dirs.len() {
                for e in fs::read_dir(&dirs[i]).unwrap().flatten() {
                    if e.file_type().unwrap().is_dir() {
                        dirs.push(e.path());
                    }
                }
                i += 1;
            }
            for dir in &dirs {
                let want: Vec<&str> = all
                    .iter()
                    .filter(|f| f.abs.parent() == Some(dir.as_path()))
                    .map(|f| f.path.as_str())
                    .collect();
                let got = select_dir(&bundle, dir, &include, &exclude).unwrap().files;
                let got: Vec<&str> = got.iter().map(|f| f.path.as_str()).collect();
                assert_eq!(got, want, "in {} with include {include:?}", dir.display());
            }
        }
        fs::remove_dir_all(&tmp).unwrap();
    }
}

#[cfg(test)]
mod non_utf8_tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    /// Issue 18: a non-UTF-8 name blocked every deploy, even ignored. Now
    /// ignored or excluded ones are skipped; a selected one is an error naming it.
    #[test]
    fn a_non_utf8_name_blocks_only_when_selected() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join(".gitignore"), "*.bak\njunk/\n").unwrap();
        std::fs::write(root.join("a.py"), "x").unwrap();
        std::fs::write(root.join(OsStr::from_bytes(b"caf\xe9.bak")), "x").unwrap();
        std::fs::create_dir_all(root.join("junk").join(OsStr::from_bytes(b"\xff"))).unwrap();
        let sel = crate::files::select(root, &[], &[]).unwrap();
        let paths: Vec<&str> = sel.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [".gitignore", "a.py"]);

        std::fs::write(root.join(OsStr::from_bytes(b"r\xe9sum\xe9.txt")), "x").unwrap();
        let err = format!("{:#}", crate::files::select(root, &[], &[]).unwrap_err());
        assert!(err.contains("valid UTF-8") && err.contains("sum"), "{err}");
        // Excluded by sync.exclude: fine again.
        crate::files::select(root, &[], &["r*.txt".to_string()]).unwrap();
    }
}
