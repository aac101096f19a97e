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
    /// A folder or glob: translated, not required to exist locally.
    Dir,
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

/// The paths a resource names, by pattern, with what each must be. Job
/// tasks are walked by [`task`]: their rules depend on the job (`git_source`).
const PIPELINE_PATHS: [(&str, Kind); 4] = [
    ("resources.pipelines.*.root_path", Kind::Dir),
    (
        "resources.pipelines.*.libraries[*].notebook.path",
        Kind::Notebook,
    ),
    ("resources.pipelines.*.libraries[*].file.path", Kind::File),
    ("resources.pipelines.*.libraries[*].glob.include", Kind::Dir),
];

pub fn translate(ctx: &mut Ctx, root: &mut Node) {
    let file_path = root
        .at(&["workspace", "file_path"])
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    visit_mut(root, "resources.jobs.*", &mut |base, job| {
        let Some(job) = job.as_map_mut() else { return };
        // With `git_source`, task paths are paths in that repository.
        let job_git = job.get("git_source").is_some();
        let Some(Value::Seq(tasks)) = job.get_mut("tasks").map(|n| &mut n.v) else {
            return;
        };
        for (i, t) in tasks.iter_mut().enumerate() {
            task(ctx, t, &format!("{base}.tasks[{i}]"), job_git, &file_path);
        }
    });
    for (pattern, kind) in PIPELINE_PATHS {
        visit_mut(root, pattern, &mut |path, n| {
            one(ctx, n, kind, path, &file_path)
        });
    }
}

fn task(ctx: &mut Ctx, t: &mut Node, path: &str, job_git: bool, file_path: &str) {
    let Some(tm) = t.as_map_mut() else { return };
    if let Some(inner) = tm
        .get_mut("for_each_task")
        .and_then(Node::as_map_mut)
        .and_then(|m| m.get_mut("task"))
    {
        task(
            ctx,
            inner,
            &format!("{path}.for_each_task.task"),
            job_git,
            file_path,
        );
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
        if job_git || is_git_source(sm) {
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
            one(ctx, n, kind, &p, file_path);
        }
    }
}

fn is_git_source(m: &Map) -> bool {
    m.get("source").and_then(Node::as_str) == Some("GIT")
}

fn one(ctx: &mut Ctx, n: &mut Node, kind: Kind, path: &str, file_path: &str) {
    let Some(s) = n.as_str() else { return };
    // Workspace paths, volumes, URLs and unresolved references are not local.
    if s.is_empty() || s.starts_with('/') || s.contains("://") || s.contains("${") {
        return;
    }
    let file_dir = ctx
        .files
        .get(n.loc.file as usize)
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let Some(rel) = normalize(&file_dir.join(s)) else {
        ctx.error(
            format!("path {s} is outside the bundle root"),
            Some(n.loc),
            path,
        );
        return;
    };
    let abs = ctx.root.join(&rel);
    let rel = match kind {
        Kind::Dir => rel,
        Kind::Notebook => match find_notebook(&abs) {
            Some(found) => {
                if !is_notebook(&found) {
                    let msg = format!("file at {} is not a notebook", slash(&rel));
                    ctx.error(
                        format!("expected a notebook for \"{path}\" but got a file: {msg}"),
                        Some(n.loc),
                        path,
                    );
                    return;
                }
                rel.with_file_name(found.file_name().unwrap_or_default())
            }
            None => {
                ctx.error(
                    format!("notebook {s} not found (looked for {})", slash(&rel)),
                    Some(n.loc),
                    path,
                );
                return;
            }
        },
        Kind::File => {
            if !abs.is_file() {
                ctx.error(
                    format!("file {s} not found (looked for {})", slash(&rel)),
                    Some(n.loc),
                    path,
                );
                return;
            }
            if kind == Kind::File && path.ends_with("python_file") && has_notebook_header(&abs) {
                ctx.error(
                    format!("expected a file for \"{path}\" but got a notebook: {s}"),
                    Some(n.loc),
                    path,
                );
                return;
            }
            rel
        }
    };
    let remote = match kind {
        Kind::Notebook => slash(&rel.with_extension("")),
        _ => slash(&rel),
    };
    n.v = Value::Str(if remote.is_empty() {
        file_path.to_string()
    } else {
        format!("{file_path}/{remote}")
    });
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
