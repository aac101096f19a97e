//! Local paths named by resources: they are relative to the YAML file that
//! names them, must exist, must stay inside the bundle root, and become
//! workspace paths as the CLI translates them (notebooks lose their extension).

use std::path::{Path, PathBuf};

use crate::config::ctx::Ctx;
use crate::config::files::normalize;
use crate::config::pattern::visit_mut;
use crate::config::yaml::{Map, Node, Value};

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Notebook,
    File,
    /// A folder: must exist (the CLI's `TranslateModeDirectory`).
    Dir,
    /// A glob: translated, not required to exist locally.
    Glob,
    /// A library to upload (`whl`, `jar`): made relative to the bundle root,
    /// stays local (`TranslateModeLocalRelative`).
    LocalRelative,
    /// An environment dependency that is a local path: relative to the root,
    /// starting with `.` (`TranslateModeLocalRelativeWithPrefix`).
    LocalWithPrefix,
    /// An artifact's folder: must exist, becomes an absolute local path
    /// (`TranslateModeLocalAbsoluteDirectory`).
    LocalAbsoluteDir,
}

const NOTEBOOK_EXTS: [&str; 5] = ["py", "ipynb", "sql", "scala", "r"];

/// Paths that stay local but are written relative to their file: made
/// relative to the bundle root, as the CLI's RewriteSyncPaths does for sync
/// patterns (artifact paths too, so that packaging needs no file table).
pub fn rebase_local(ctx: &Ctx, root: &mut Node) {
    for pattern in [
        "sync.include[*]",
        "sync.exclude[*]",
        "sync.paths[*]",
        "artifacts.*.path",
    ] {
        visit_mut(root, pattern, &mut |_, n| rebase(ctx, n));
    }
}

/// `sync.include` / `sync.exclude` patterns that do not compile: errors at
/// their place (a deploy would refuse them later, with no place to point at).
pub fn check_sync_patterns(ctx: &mut Ctx, root: &Node) {
    for key in ["include", "exclude"] {
        let mut bad = Vec::new();
        crate::config::pattern::visit(root, &format!("sync.{key}[*]"), &mut |path, n| {
            let Some(p) = n.as_str() else { return };
            let mut builder = ignore::gitignore::GitignoreBuilder::new("/");
            if let Err(e) = builder.add_line(None, p) {
                bad.push((
                    format!("invalid sync.{key} pattern {p:?}: {e}"),
                    n.loc,
                    path.to_string(),
                ));
            }
        });
        for (msg, loc, path) in bad {
            ctx.error(msg, Some(loc), &path);
        }
    }
}

fn rebase(ctx: &Ctx, n: &mut Node) {
    let Some(s) = n.as_str() else { return };
    if s.starts_with('/') || s.contains("://") {
        return;
    }
    let dir = ctx
        .files
        .get(n.loc.file as usize)
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let rebased = match normalize(&dir.join(s)) {
        Some(p) if p.as_os_str().is_empty() => ".".to_string(),
        Some(p) => slash(&p),
        // Outside the root (e.g. `sync.paths: [..]`): keep the folder prefix.
        None if dir.as_os_str().is_empty() => return,
        None => slash(&dir.join(s)),
    };
    // Patterns keep a trailing `/` (a folder-only pattern).
    let rebased = if s.ends_with('/') && !rebased.ends_with('/') {
        format!("{rebased}/")
    } else {
        rebased
    };
    n.v = Value::Str(rebased);
}

/// What the CLI's `artifacts.Prepare` fills in: a file source relative to
/// the file that names it becomes absolute, an artifact without `path` is
/// the bundle root, and a wheel without `files` gets `<path>/dist/*.whl`
/// (and, without `build` either, the CLI's `python3 setup.py bdist_wheel`).
pub fn prepare_artifacts(ctx: &Ctx, root: &mut Node) {
    let bundle_root = ctx.root.to_string_lossy().into_owned();
    visit_mut(root, "artifacts.*", &mut |_, art| {
        let dir = ctx
            .files
            .get(art.loc.file as usize)
            .and_then(|f| f.parent())
            .filter(|d| !d.as_os_str().is_empty())
            .map(|d| ctx.root.join(d))
            .unwrap_or_else(|| ctx.root.clone());
        let Some(m) = art.as_map_mut() else { return };
        if let Some(Value::Seq(files)) = m.get_mut("files").map(|n| &mut n.v) {
            for f in files.iter_mut() {
                let Some(fm) = f.as_map_mut() else { continue };
                // No source is the empty one: the folder itself (Go's
                // `filepath.Join(dir, "")`), as `validate/required` shows.
                if fm.get("source").is_none_or(Node::is_null) {
                    let loc = art_loc(fm);
                    fm.insert("source", loc, Node::str("", loc));
                }
                if let Some(src) = fm.get_mut("source")
                    && let Some(text) = src.as_str().filter(|t| !t.starts_with('/'))
                {
                    let joined = match text {
                        "" => dir.clone(),
                        t => dir.join(t),
                    };
                    src.v = Value::Str(joined.to_string_lossy().into_owned());
                }
            }
        }
        let loc = art_loc(m);
        if m.get("path")
            .and_then(Node::as_str)
            .is_none_or(str::is_empty)
        {
            m.insert("path", loc, Node::str(&bundle_root, loc));
        }
        let no_files = m
            .get("files")
            .and_then(Node::as_seq)
            .is_none_or(Vec::is_empty);
        if m.get("type").and_then(Node::as_str) == Some("whl") && no_files {
            let no_build = m
                .get("build")
                .and_then(Node::as_str)
                .is_none_or(str::is_empty);
            if no_build {
                m.insert("build", loc, Node::str("python3 setup.py bdist_wheel", loc));
            }
            let path = m
                .get("path")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string();
            let mut f = Map::default();
            f.insert("source", loc, Node::str(format!("{path}/dist/*.whl"), loc));
            m.insert(
                "files",
                loc,
                Node::new(Value::Seq(vec![Node::new(Value::Map(f), loc)]), loc),
            );
        }
    });
}

fn art_loc(m: &Map) -> crate::config::yaml::Loc {
    m.iter().next().map(|e| e.key_loc).unwrap_or_default()
}

/// The paths a resource names, by pattern, with what each must be. Job
/// tasks are walked by [`task`]: their rules depend on the job (`git_source`).
const PIPELINE_PATHS: [(&str, Kind); 4] = [
    ("resources.pipelines.*.root_path", Kind::Dir),
    (
        "resources.pipelines.*.libraries[*].notebook.path",
        Kind::Notebook,
    ),
    ("resources.pipelines.*.libraries[*].file.path", Kind::File),
    (
        "resources.pipelines.*.libraries[*].glob.include",
        Kind::Glob,
    ),
];

/// Local paths to workspace paths (the CLI's `TranslatePaths`), each
/// checked as its kind needs; errors at their place.
/// The CLI's `ExpandPipelineGlobPaths`: a pipeline library's local
/// `notebook.path` or `file.path` with glob characters becomes one library
/// per match, in name order; no match leaves it as written (and reported by
/// the translation). Each match stays relative to the file that wrote it.
pub fn expand_pipeline_globs(ctx: &Ctx, root: &mut Node) {
    visit_mut(root, "resources.pipelines.*.libraries", &mut |_, libs| {
        let Value::Seq(items) = &mut libs.v else {
            return;
        };
        let mut out = Vec::with_capacity(items.len());
        for item in std::mem::take(items) {
            out.extend(expand_library(ctx, item));
        }
        *items = out;
    });
}

fn expand_library(ctx: &Ctx, item: Node) -> Vec<Node> {
    for kind in ["notebook", "file"] {
        let Some(path_node) = item.get(kind).and_then(|k| k.get("path")) else {
            continue;
        };
        let Some(path) = path_node.as_str() else {
            return vec![item];
        };
        let local = !path.is_empty() && !path.starts_with('/') && !path.contains("://");
        if !local || !path.contains(['*', '?', '[']) {
            return vec![item];
        }
        let (loc, written) = (path_node.loc, path.to_string());
        let dir = ctx
            .files
            .get(loc.file as usize)
            .and_then(|f| f.parent())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let Some(pattern) = crate::config::files::normalize(&dir.join(&written)) else {
            return vec![item];
        };
        let mut matches = crate::config::files::glob(&ctx.root, &pattern).unwrap_or_default();
        if matches.is_empty() {
            return vec![item];
        }
        matches.sort();
        let up = "../".repeat(dir.components().count());
        return matches
            .into_iter()
            .map(|m| {
                let rel = format!("{up}{}", m.to_string_lossy().replace('\\', "/"));
                let mut n = item.clone();
                if let Some(p) = n
                    .as_map_mut()
                    .and_then(|m| m.get_mut(kind))
                    .and_then(Node::as_map_mut)
                    .and_then(|m| m.get_mut("path"))
                {
                    p.v = Value::Str(rel);
                }
                n
            })
            .collect();
    }
    vec![item]
}

/// Where translated paths go: the workspace folder of the bundle's files,
/// and the folder each job and pipeline is defined in (`jobs.<key>`), the
/// CLI's fallback for paths written relative to the resource's file rather
/// than the file that names them.
struct Remote {
    file_path: String,
    fallback: std::collections::HashMap<String, PathBuf>,
    /// Paths translated through the fallback: each an error, but translated.
    fallbacks: std::cell::Cell<usize>,
}

/// Local paths to workspace paths (the CLI's `TranslatePaths`). Returns
/// whether a path failed to translate; a path found only through the
/// fallback is reported as an error but translated (as the CLI does).
pub fn translate(ctx: &mut Ctx, root: &mut Node) -> bool {
    let file_path = root
        .at(&["workspace", "file_path"])
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    let mut fallback = std::collections::HashMap::new();
    for kind in ["jobs", "pipelines"] {
        visit_mut(root, &format!("resources.{kind}.*"), &mut |path, n| {
            let key = path.trim_start_matches("resources.");
            fallback.insert(key.to_string(), file_dir(ctx, n.loc));
        });
    }
    let remote = Remote {
        file_path,
        fallback,
        fallbacks: std::cell::Cell::new(0),
    };
    let errors = |ctx: &Ctx| ctx.diags.iter().filter(|d| d.is_error()).count();
    let before = errors(ctx);
    walk(ctx, root, Some(&remote));
    errors(ctx) - before > remote.fallbacks.get()
}

/// Local paths made relative to the bundle root, unchecked (the CLI's
/// `NormalizePaths`, which runs before translation: what a configuration
/// whose translation failed shows).
pub fn normalize_only(ctx: &mut Ctx, root: &mut Node) {
    walk(ctx, root, None);
}

/// `remote`: where paths go; `None` to only rebase them on the bundle root.
/// A job with `git_source` is left as written, libraries too (its paths are
/// paths in that repository; the CLI skips the whole job).
fn walk(ctx: &mut Ctx, root: &mut Node, remote: Option<&Remote>) {
    let mut git_jobs = Vec::new();
    visit_mut(root, "resources.jobs.*", &mut |base, job| {
        let Some(job) = job.as_map_mut() else { return };
        if job.get("git_source").is_some() {
            git_jobs.push(format!("{base}."));
            return;
        }
        let Some(Value::Seq(tasks)) = job.get_mut("tasks").map(|n| &mut n.v) else {
            return;
        };
        for (i, t) in tasks.iter_mut().enumerate() {
            task(ctx, t, &format!("{base}.tasks[{i}]"), remote);
        }
    });
    for (pattern, kind) in PIPELINE_PATHS {
        visit_mut(root, pattern, &mut |path, n| {
            one(ctx, n, kind, path, remote)
        });
    }
    visit_mut(root, "artifacts.*.path", &mut |path, n| {
        one(ctx, n, Kind::LocalAbsoluteDir, path, remote)
    });
    // An app's code folder: a workspace folder, as the CLI's
    // `applyAppsTranslations` (`TranslateModeDirectory`).
    visit_mut(root, "resources.apps.*.source_code_path", &mut |path, n| {
        one(ctx, n, Kind::Dir, path, remote)
    });
    for pattern in [
        "resources.jobs.*.environments[*].spec.dependencies[*]",
        "resources.pipelines.*.environment.dependencies[*]",
    ] {
        visit_mut(root, pattern, &mut |path, n| {
            if !git_jobs.iter().any(|g| path.starts_with(g.as_str())) {
                dependency(ctx, n, path, remote)
            }
        });
    }
}

/// An environment dependency: `-r file` / `-e path` name a file to upload
/// (translated to the workspace), a local library path stays local
/// (`libraries.IsLocalPathInPipFlag`, `IsLibraryLocal`); packages are left.
fn dependency(ctx: &mut Ctx, n: &mut Node, path: &str, remote: Option<&Remote>) {
    let Some(s) = n.as_str().map(str::to_string) else {
        return;
    };
    for flag in ["-r", "-e"] {
        if let Some(rest) = s.strip_prefix(&format!("{flag} ")) {
            let rest = rest.trim();
            if is_local_path(rest) {
                let mut inner = Node::str(rest, n.loc);
                one(ctx, &mut inner, Kind::File, path, remote);
                if let Some(t) = inner.as_str().filter(|t| *t != rest) {
                    n.v = Value::Str(format!("{flag} {t}"));
                }
            }
            return;
        }
    }
    if is_library_local(&s) {
        one(ctx, n, Kind::LocalWithPrefix, path, remote);
    }
}

/// Not absolute, not a URL of remote storage (quotes ignored).
fn is_local_path(p: &str) -> bool {
    let p = p.trim_matches(['"', '\'']);
    !(p.starts_with("file://") || p.starts_with('/') || remote_scheme(p))
}

fn remote_scheme(p: &str) -> bool {
    match p.split_once(":/") {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme != "file"
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// `libraries.IsLibraryLocal`: a path, not a pip flag or a package spec.
fn is_library_local(dep: &str) -> bool {
    if dep.is_empty() {
        return false;
    }
    if dep.starts_with('.') {
        return true;
    }
    let has_flag = dep
        .split_whitespace()
        .any(|w| w.starts_with('-') && w.len() > 1);
    if has_flag || is_package(dep) {
        return false;
    }
    is_local_path(dep)
}

/// A package requirement: `name`, `name[extra]`, `name==1.2`, `name>=1,<2`,
/// or `name @ https://...`.
fn is_package(dep: &str) -> bool {
    if let Some((name, url)) = dep.split_once(" @ ") {
        return is_package(name) && remote_scheme(url);
    }
    let name_end = dep
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(dep.len());
    if name_end == 0 {
        return false;
    }
    let mut rest = dep[name_end..].trim_start();
    if let Some(r) = rest.strip_prefix('[') {
        let Some(close) = r.find(']') else {
            return false;
        };
        rest = r[close + 1..].trim_start();
    }
    rest.split(',').filter(|c| !c.trim().is_empty()).all(|c| {
        let c = c.trim();
        let version = ["==", "!=", "<=", ">=", "~=", ">", "<"]
            .iter()
            .find_map(|op| c.strip_prefix(op));
        version.is_some_and(|v| {
            let v = v.trim();
            v.starts_with(|ch: char| ch.is_ascii_digit())
                && v.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ".+!_-".contains(ch))
        })
    })
}

fn task(ctx: &mut Ctx, t: &mut Node, path: &str, remote: Option<&Remote>) {
    let Some(tm) = t.as_map_mut() else { return };
    if let Some(inner) = tm
        .get_mut("for_each_task")
        .and_then(Node::as_map_mut)
        .and_then(|m| m.get_mut("task"))
    {
        task(ctx, inner, &format!("{path}.for_each_task.task"), remote);
    }
    if let Some(Value::Seq(libs)) = tm.get_mut("libraries").map(|n| &mut n.v) {
        for (i, lib) in libs.iter_mut().enumerate() {
            for field in ["whl", "jar"] {
                if let Some(n) = lib.as_map_mut().and_then(|m| m.get_mut(field)) {
                    let p = format!("{path}.libraries[{i}].{field}");
                    one(ctx, n, Kind::LocalRelative, &p, remote);
                }
            }
            if let Some(n) = lib.as_map_mut().and_then(|m| m.get_mut("requirements")) {
                let p = format!("{path}.libraries[{i}].requirements");
                one(ctx, n, Kind::File, &p, remote);
            }
        }
    }
    let fields: [(&str, &str, Kind); 4] = [
        ("notebook_task", "notebook_path", Kind::Notebook),
        ("spark_python_task", "python_file", Kind::File),
        ("dbt_task", "project_directory", Kind::Dir),
        ("sql_task", "file", Kind::File),
    ];
    for (section, field, kind) in fields {
        let Some(sm) = tm.get_mut(section).and_then(Node::as_map_mut) else {
            continue;
        };
        if is_git_source(sm) {
            continue;
        }
        let target = if section == "sql_task" {
            sm.get_mut("file")
                .and_then(Node::as_map_mut)
                .and_then(|f| f.get_mut("path"))
        } else {
            sm.get_mut(field)
        };
        let p = if section == "sql_task" {
            format!("{path}.sql_task.file.path")
        } else {
            format!("{path}.{section}.{field}")
        };
        if let Some(n) = target {
            one(ctx, n, kind, &p, remote);
        }
    }
}

fn is_git_source(m: &Map) -> bool {
    m.get("source").and_then(Node::as_str) == Some("GIT")
}

fn one(ctx: &mut Ctx, n: &mut Node, kind: Kind, path: &str, remote: Option<&Remote>) {
    let Some(s) = n.as_str().map(str::to_string) else {
        return;
    };
    // Workspace paths, volumes, URLs and unresolved references are not local.
    if s.is_empty() || s.starts_with('/') || s.contains("://") || s.contains("${") {
        return;
    }
    let dir = file_dir(ctx, n.loc);
    let Some(remote) = remote else {
        if let Some(p) = crate::config::files::normalize_up(&dir.join(&s)) {
            n.v = Value::Str(slash(&p));
        }
        return;
    };
    match resolve(ctx, &dir, &s, kind, path, &remote.file_path) {
        Ok(v) => n.v = Value::Str(v),
        Err(e) => match fallback(ctx, n, &s, kind, path, remote) {
            Some(v) => n.v = Value::Str(v),
            None => ctx.error(e, Some(n.loc), path),
        },
    }
}

/// The folder (relative to the bundle root) of the file `loc` is in.
fn file_dir(ctx: &Ctx, loc: crate::config::yaml::Loc) -> PathBuf {
    ctx.files
        .get(loc.file as usize)
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// The CLI's fallback: a job's or pipeline's path that does not translate
/// relative to its own file, tried relative to the folder the resource is
/// defined in. Found there, it is translated and still an error (the CLI
/// asks to write it relative to its file).
fn fallback(
    ctx: &mut Ctx,
    n: &Node,
    s: &str,
    kind: Kind,
    path: &str,
    remote: &Remote,
) -> Option<String> {
    let rest = path.strip_prefix("resources.")?;
    let (kind_name, rest) = rest.split_once('.')?;
    let name = rest.split(['.', '[']).next()?;
    let dir = remote.fallback.get(&format!("{kind_name}.{name}"))?;
    let original = slash(&crate::config::files::normalize_up(Path::new(s))?);
    let v = resolve(ctx, dir, &original, kind, path, &remote.file_path).ok()?;
    let at = ctx.location(n.loc);
    let msg = format!(
        "path {original} is defined relative to the {} directory ({}:{}:{}). Please update the path to be relative to the file where it is defined or use earlier version of CLI (0.261.0 or earlier).",
        absolute(&ctx.root, dir).display(),
        absolute(&ctx.root, &at.file).display(),
        at.line,
        at.col
    );
    ctx.error(msg, Some(n.loc), path);
    remote.fallbacks.set(remote.fallbacks.get() + 1);
    Some(v)
}

/// `root` joined with `rel`, `..` resolved in the text (Go's `filepath.Join`).
fn absolute(root: &Path, rel: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in root.join(rel).components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// What a local path `s`, written in the folder `dir`, translates to, or
/// the CLI's error for it.
fn resolve(
    ctx: &Ctx,
    dir: &Path,
    s: &str,
    kind: Kind,
    path: &str,
    file_path: &str,
) -> Result<String, String> {
    let joined = dir.join(s);
    let abs = absolute(&ctx.root, &joined);
    let Some(rel) = normalize(&joined) else {
        // Libraries and artifacts may live outside the sync root.
        return match kind {
            Kind::LocalRelative | Kind::LocalWithPrefix => {
                let up = crate::config::files::normalize_up(&joined).unwrap_or(joined);
                Ok(slash(&up))
            }
            Kind::LocalAbsoluteDir => local_dir(s, &abs),
            _ => Err(format!(
                "path {} is not contained in sync root path",
                abs.display()
            )),
        };
    };
    let rel = match kind {
        Kind::Glob => rel,
        Kind::LocalRelative => return Ok(slash(&rel)),
        Kind::LocalWithPrefix => {
            let text = slash(&rel);
            return Ok(if text.starts_with('.') {
                text
            } else {
                format!("./{text}")
            });
        }
        Kind::LocalAbsoluteDir => return local_dir(s, &abs),
        Kind::Dir => {
            if !abs.is_dir() {
                return Err(if abs.exists() {
                    format!("{} is not a directory", abs.display())
                } else {
                    format!("stat {}: no such file or directory", slash(&rel))
                });
            }
            rel
        }
        Kind::Notebook => notebook(&rel, &abs, path)?,
        Kind::File => {
            if !abs.is_file() {
                return Err(format!("file {} not found", slash(&rel)));
            }
            if is_notebook(&abs) {
                return Err(format!(
                    "expected a file for \"{path}\" but got a notebook: file at {} is a notebook",
                    abs.display()
                ));
            }
            rel
        }
    };
    let remote = match kind {
        Kind::Notebook => slash(&rel.with_extension("")),
        _ => slash(&rel),
    };
    Ok(if remote.is_empty() {
        file_path.to_string()
    } else {
        format!("{file_path}/{remote}")
    })
}

/// An artifact's folder: must exist, becomes its absolute local path.
fn local_dir(s: &str, abs: &Path) -> Result<String, String> {
    if !abs.exists() {
        Err(format!("directory {s} not found"))
    } else if !abs.is_dir() {
        Err(format!("expected {s} to be a directory but found a file"))
    } else {
        Ok(abs.to_string_lossy().into_owned())
    }
}

/// A notebook's path relative to the root (with the extension found), or
/// the CLI's error texts, naming the path from the bundle root.
fn notebook(rel: &Path, abs: &Path, path: &str) -> Result<PathBuf, String> {
    let Some(found) = find_notebook(abs) else {
        let r = slash(rel);
        return Err(if rel.extension().is_some() {
            format!("notebook {r} not found")
        } else {
            format!(
                "notebook {r:?} not found. Local notebook references are expected\nto contain one of the following file extensions: [.py, .r, .scala, .sql, .ipynb]"
            )
        });
    };
    if !is_notebook(&found) {
        return Err(format!(
            "expected a notebook for \"{path}\" but got a file: file at {} is not a notebook",
            found.display()
        ));
    }
    Ok(rel.with_file_name(found.file_name().unwrap_or_default()))
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The notebook file: as named, or with a notebook extension added.
fn find_notebook(abs: &Path) -> Option<PathBuf> {
    if abs.is_file() {
        return Some(abs.to_path_buf());
    }
    NOTEBOOK_EXTS
        .iter()
        .map(|e| PathBuf::from(format!("{}.{e}", abs.display())))
        .find(|p| p.is_file())
}

fn has_notebook_header(p: &Path) -> bool {
    use std::io::Read;
    let mut buf = [0u8; 64];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..n]);
    let head = head.trim_start_matches('\u{feff}');
    [
        "# Databricks notebook source",
        "-- Databricks notebook source",
        "// Databricks notebook source",
    ]
    .iter()
    .any(|h| head.starts_with(h))
}

fn is_notebook(p: &Path) -> bool {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("ipynb") => true,
        Some("py" | "sql" | "scala" | "r") => has_notebook_header(p),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    #[test]
    fn a_path_found_only_relative_to_the_resources_file_is_translated_and_an_error() {
        // The override in databricks.yml names `../src/nb.py`: outside the
        // root from its own file, found from resources/ where the job is.
        let (config, diags) = crate::config::load_files(&[
            (
                "databricks.yml",
                "bundle:\n  name: fb\ninclude:\n  - resources/j.yml\ntargets:\n  dev:\n    default: true\n    resources:\n      jobs:\n        j:\n          tasks:\n            - task_key: t\n              notebook_task:\n                notebook_path: ../src/nb.py\n              libraries:\n                - whl: ../dist/a.whl\n",
            ),
            (
                "resources/j.yml",
                "resources:\n  jobs:\n    j:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: x\n",
            ),
            ("src/nb.py", "# Databricks notebook source\n"),
        ]);
        let task = &config["resources"]["jobs"]["j"]["tasks"][0];
        assert_eq!(
            task["notebook_task"]["notebook_path"],
            "/Workspace/Users/u@example.com/.bundle/fb/dev/files/src/nb"
        );
        // A library may live outside the root: relative to it, no error.
        assert_eq!(task["libraries"][0]["whl"], "../dist/a.whl");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0].starts_with("Error: path ../src/nb.py is defined relative to the [ROOT]/resources directory ([ROOT]/databricks.yml:14:32). Please update the path"),
            "{diags:?}"
        );
    }

    #[test]
    fn an_apps_source_folder_becomes_its_workspace_folder() {
        let yml = "bundle:\n  name: a\nresources:\n  apps:\n    x:\n      name: x\n      source_code_path: ./app\n";
        let (config, diags) =
            crate::config::load_files(&[("databricks.yml", yml), ("app/app.py", "print(1)\n")]);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            config["resources"]["apps"]["x"]["source_code_path"],
            "/Workspace/Users/u@example.com/.bundle/a/default/files/app"
        );
        let (_, diags) = crate::config::load_files(&[("databricks.yml", yml)]);
        assert_eq!(
            diags,
            [
                "Error: stat app: no such file or directory\n  at resources.apps.x.source_code_path\n  in databricks.yml:7:25"
            ]
        );
    }

    #[test]
    fn paths_of_a_git_source_job_stay_as_written_and_a_notebook_is_no_file() {
        let (config, diags) = crate::config::load_files(&[
            (
                "databricks.yml",
                "bundle:\n  name: g\ninclude:\n  - resources/j.yml\n",
            ),
            (
                "resources/j.yml",
                "resources:\n  jobs:\n    j:\n      git_source: {git_url: https://github.com/x, git_provider: gitHub, git_branch: main}\n      tasks:\n        - task_key: t\n          notebook_task: {notebook_path: in/repo, source: GIT}\n          libraries:\n            - whl: ../w.whl\n",
            ),
        ]);
        assert!(diags.is_empty(), "{diags:?}");
        let task = &config["resources"]["jobs"]["j"]["tasks"][0];
        assert_eq!(task["libraries"][0]["whl"], "../w.whl");
        let (_, diags) = crate::config::load_files(&[
            (
                "databricks.yml",
                "bundle:\n  name: p\nresources:\n  pipelines:\n    p:\n      libraries:\n        - file: {path: nb.py}\n",
            ),
            ("nb.py", "# Databricks notebook source\n"),
        ]);
        assert!(
            diags.iter().any(|d| d.starts_with("Error: expected a file for \"resources.pipelines.p.libraries[0].file.path\" but got a notebook: file at [ROOT]/nb.py is a notebook")),
            "{diags:?}"
        );
    }

    #[test]
    fn pipeline_library_globs_become_one_library_per_match() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["nb/b.py", "nb/a.py", "files/x.py"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "print(1)\n").unwrap();
        }
        let ctx = Ctx {
            root: dir.path().to_path_buf(),
            files: vec!["databricks.yml".into(), "resources/p.yml".into()],
            ..Default::default()
        };
        // Written in resources/p.yml (file 1): relative to that folder.
        let yaml = "resources:\n  pipelines:\n    p:\n      libraries:\n        - notebook: {path: ../nb/*.py}\n        - file: {path: ../none/*.py}\n        - notebook: {path: /Workspace/*.py}\n        - jar: '*.jar'\n";
        let mut root = parse(yaml, 1).unwrap();
        expand_pipeline_globs(&ctx, &mut root);
        let libs = root.to_json()["resources"]["pipelines"]["p"]["libraries"].clone();
        assert_eq!(
            libs,
            serde_json::json!([
                {"notebook": {"path": "../nb/a.py"}},
                {"notebook": {"path": "../nb/b.py"}},
                {"file": {"path": "../none/*.py"}},
                {"notebook": {"path": "/Workspace/*.py"}},
                {"jar": "*.jar"}
            ])
        );
    }

    #[test]
    fn an_apps_source_code_path_becomes_its_workspace_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("resources/app")).unwrap();
        let mut ctx = Ctx {
            root: dir.path().to_path_buf(),
            files: vec!["databricks.yml".into(), "resources/a.yml".into()],
            ..Default::default()
        };
        // Written in resources/a.yml: relative to that folder.
        let yaml = "workspace:\n  file_path: /W/files\nresources:\n  apps:\n    a: {source_code_path: ./app}\n    b: {source_code_path: ..}\n    c: {source_code_path: /Workspace/x}\n";
        let mut root = parse(yaml, 1).unwrap();
        translate(&mut ctx, &mut root);
        assert!(ctx.diags.is_empty(), "{:?}", ctx.diags);
        let apps = root.to_json()["resources"]["apps"].clone();
        assert_eq!(apps["a"]["source_code_path"], "/W/files/resources/app");
        assert_eq!(apps["b"]["source_code_path"], "/W/files");
        assert_eq!(apps["c"]["source_code_path"], "/Workspace/x");
        // A folder that is not there is the CLI's stat error.
        let mut root = parse(
            "resources:\n  apps:\n    a: {source_code_path: ./gone}\n",
            1,
        )
        .unwrap();
        translate(&mut ctx, &mut root);
        assert_eq!(
            ctx.diags.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            [
                "Error: stat resources/gone: no such file or directory\n  at resources.apps.a.source_code_path\n  in resources/a.yml:3:27\n"
            ]
        );
    }

    #[test]
    fn an_artifact_file_without_a_source_is_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Ctx {
            root: dir.path().to_path_buf(),
            files: vec!["databricks.yml".into()],
            ..Default::default()
        };
        let yaml = "artifacts:\n  a:\n    files:\n      - {}\n      - source: ''\n      - source: dist/x.whl\n";
        let mut root = parse(yaml, 0).unwrap();
        prepare_artifacts(&ctx, &mut root);
        let files = root.to_json()["artifacts"]["a"]["files"].clone();
        let base = dir.path().to_string_lossy().into_owned();
        assert_eq!(
            files,
            serde_json::json!([
                {"source": base},
                {"source": base},
                {"source": format!("{base}/dist/x.whl")}
            ])
        );
    }
}
