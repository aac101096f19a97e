//! Reading configuration files: the root file, `include:` globs, and the
//! checks that keep bad input from reaching the parser (size, encoding).

use std::path::{Component, Path, PathBuf};

use crate::config::ctx::Ctx;
use crate::config::merge;
use crate::config::yaml::{self, Loc, Node, Value};

/// The names the CLI accepts for the root file, in its order.
pub const ROOT_NAMES: [&str; 4] = [
    "databricks.yml",
    "databricks.yaml",
    "bundle.yml",
    "bundle.yaml",
];

/// Read the root file and every include, merged into one tree. `None` when
/// nothing usable could be read (the reason is in `ctx.diags`).
pub fn read_all(ctx: &mut Ctx) -> Option<Node> {
    let name = root_file_name(ctx)?;
    let mut root = read_root(ctx, name)?;
    if glob_in_root_path(ctx) {
        return None;
    }
    ctx.sources.push(root.clone());
    let included = includes(ctx, &root);
    // The CLI keeps the expanded list in `include` (`ProcessRootIncludes`).
    if let Some(m) = root.as_map_mut()
        && let Some(e) = m.0.iter_mut().find(|e| e.key == "include")
    {
        let loc = e.node.loc;
        let items = included
            .iter()
            .map(|p| Node::str(slash_path(p), loc))
            .collect();
        e.node = Node::new(Value::Seq(items), loc);
    }
    for rel in included {
        if let Some(node) = read_file(ctx, &rel) {
            merge_included(ctx, &mut root, node);
        }
    }
    Some(root)
}

/// The one root file of the bundle folder; none or several is an error.
fn root_file_name(ctx: &mut Ctx) -> Option<&'static str> {
    let found: Vec<&str> = ROOT_NAMES
        .iter()
        .copied()
        .filter(|n| ctx.root.join(n).is_file())
        .collect();
    match found.as_slice() {
        [] => {
            ctx.error(
                "unable to locate bundle root: databricks.yml not found".to_string(),
                None,
                "",
            );
            None
        }
        [one] => Some(*one),
        many => {
            ctx.error(
                format!(
                    "multiple bundle root configuration files found in {}: {}",
                    ctx.root.display(),
                    many.join(", ")
                ),
                None,
                "",
            );
            None
        }
    }
}

/// The root file, which must be a map (at least `bundle: {name: ...}`).
fn read_root(ctx: &mut Ctx, name: &str) -> Option<Node> {
    let root = read_file(ctx, Path::new(name))?;
    if root.is_null() {
        ctx.error(
            format!("{name} is empty: a bundle needs at least `bundle: {{name: ...}}`"),
            Some(root.loc),
            "",
        );
        return None;
    }
    if root.as_map().is_none() {
        ctx.error(
            format!(
                "expected a map at the top level of {name}, found a {}",
                root.kind()
            ),
            Some(root.loc),
            "",
        );
        return None;
    }
    Some(root)
}

/// The CLI refuses a root whose path holds a glob character, since its
/// include globs are joined to that path (bundle/config/loader/
/// process_root_includes.go; acceptance/bundle/includes/glob_in_root_path).
/// True, with the error in `ctx`, for such a root.
fn glob_in_root_path(ctx: &mut Ctx) -> bool {
    let root_text = ctx.root.to_string_lossy().into_owned();
    let Some(c) = root_text.chars().find(|c| matches!(c, '*' | '?' | '[')) else {
        return false;
    };
    let d = crate::diag::Diagnostic::error("Bundle root path contains glob pattern characters")
        .detail(format!(
            "The path to the bundle root {root_text} contains glob pattern character \"{c}\". Please remove the character from this path to use bundle commands."
        ));
    ctx.push(d, None, "");
    true
}

/// Merge an included file into `root`: an empty one is a warning, one that
/// is not a map an error; its own `include` is ignored, as the CLI ignores it.
fn merge_included(ctx: &mut Ctx, root: &mut Node, node: Node) {
    match &node.v {
        Value::Null => ctx.warning("included file is empty", Some(node.loc), ""),
        Value::Map(m) => {
            if let Some(e) = m.entry("include") {
                // The CLI warns and ignores it, located at the value
                // (acceptance/bundle/includes/include_outside_root/output.txt).
                let d = crate::diag::Diagnostic::warning(
                    "Include section is defined outside root file",
                )
                .detail("An include section is defined in a file that is not databricks.yml.\nOnly includes defined in databricks.yml are applied.")
                .path("include")
                .at(ctx.location(e.node.loc));
                ctx.diags.push(d);
            }
            ctx.sources.push(node.clone());
            merge::merge_file(ctx, root, node);
        }
        _ => ctx.error(
            format!("expected a map at the top level, found a {}", node.kind()),
            Some(node.loc),
            "",
        ),
    }
}

/// A relative path with `/` separators, as the CLI prints it.
fn slash_path(p: &Path) -> String {
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Read and parse one file (relative to the bundle root), registering it in `ctx.files`.
fn read_file(ctx: &mut Ctx, rel: &Path) -> Option<Node> {
    let id = ctx.files.len() as u32;
    ctx.files.push(rel.to_path_buf());
    let at = |line, col| {
        Some(Loc {
            file: id,
            line,
            col,
        })
    };
    let path = ctx.root.join(rel);
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => {
            ctx.error(format!("cannot read {}: {e}", rel.display()), None, "");
            return None;
        }
    };
    if size > yaml::MAX_FILE_BYTES {
        ctx.error(
            format!(
                "file is too large: {size} bytes (the limit for a configuration file is {} bytes)",
                yaml::MAX_FILE_BYTES
            ),
            at(1, 1),
            "",
        );
        return None;
    }
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            ctx.error(format!("cannot read {}: {e}", rel.display()), None, "");
            return None;
        }
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            let line_start = good
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            let col = String::from_utf8_lossy(&good[line_start..]).chars().count() as u32 + 1;
            ctx.error(
                format!(
                    "file is not valid UTF-8: invalid byte 0x{:02x}",
                    bytes[e.valid_up_to()]
                ),
                at(line, col),
                "",
            );
            return None;
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if rel.extension().is_some_and(|e| e == "json") && text.trim().is_empty() {
        return Some(Node::new(
            Value::Null,
            Loc {
                file: id,
                line: 1,
                col: 1,
            },
        ));
    }
    match yaml::parse_noting_duplicates(text, id) {
        Ok((mut node, dups)) => {
            crate::config::schema::normalize_file(ctx, &mut node, text);
            for d in dups {
                ctx.warning(
                    format!("key {} is written twice in one mapping; the last value is used, as the Databricks CLI does", d.key),
                    Some(d.loc),
                    "",
                );
            }
            Some(node)
        }
        Err(e) => {
            ctx.error(e.message, at(e.line, e.col), "");
            None
        }
    }
}

/// Expand `include:` of the root file: paths relative to the bundle root.
fn includes(ctx: &mut Ctx, root: &Node) -> Vec<PathBuf> {
    let Some(inc) = root.get("include") else {
        return Vec::new();
    };
    let entries = match &inc.v {
        Value::Null => return Vec::new(),
        Value::Seq(s) => s.clone(),
        _ => {
            ctx.error(
                format!("expected a sequence, found a {}", inc.kind()),
                Some(inc.loc),
                "include",
            );
            return Vec::new();
        }
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("include[{i}]");
        let Some(pattern) = entry.as_str() else {
            ctx.error(
                format!("expected a string, found a {}", entry.kind()),
                Some(entry.loc),
                &path,
            );
            continue;
        };
        // A file above the root is accepted, as the CLI accepts it, and
        // known by its path from the root (`../common.yml`), as the CLI
        // records it (acceptance/bundle/includes/yml_outside_root).
        let Some(clean) = normalize_up(Path::new(pattern)) else {
            ctx.error(
                format!("include {pattern} must be a path relative to the bundle root"),
                Some(entry.loc),
                &path,
            );
            continue;
        };
        let is_glob = pattern.contains(['*', '?', '[']);
        let mut matches = match glob(&ctx.root, &clean) {
            Ok(m) => m,
            Err(e) => {
                ctx.error(
                    format!("invalid glob pattern {pattern}: {e}"),
                    Some(entry.loc),
                    &path,
                );
                continue;
            }
        };
        matches.sort();
        if matches.is_empty() && !is_glob {
            ctx.error(
                format!("{pattern} defined in 'include' section does not match any files"),
                Some(entry.loc),
                &path,
            );
            continue;
        }
        for m in matches {
            let ok = m
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yml" | "yaml" | "json"));
            if !ok {
                let d = crate::diag::Diagnostic::error(
                    "Files in the 'include' configuration section must be YAML or JSON files.",
                )
                .detail(format!(
                    "The file {} in the 'include' configuration section is not a YAML or JSON file, and only such files are supported. To include files to sync, specify them in the 'sync.include' configuration section instead.",
                    m.display()
                ));
                ctx.push(d, Some(entry.loc), "");
                continue;
            }
            if ROOT_NAMES.iter().any(|n| Path::new(n) == m) || out.contains(&m) {
                continue;
            }
            out.push(m);
        }
    }
    out
}

/// Lexically clean a relative path; `None` if it leaves the root (or is absolute).
pub fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(x) => out.push(x),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Like [`normalize`], but a path may climb above the root: the `..` that
/// leave it are kept in front (`a/../../x.yml` → `../x.yml`).
pub fn normalize_up(p: &Path) -> Option<PathBuf> {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                _ => out.push(c),
            },
            Component::Normal(_) => out.push(c),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out.iter().collect())
}

/// `filepath.Glob` semantics: `*`, `?` and `[...]` within one path element
/// (`**` is just `*`); returns paths relative to `root` that exist as files.
pub(crate) fn glob(root: &Path, pattern: &Path) -> Result<Vec<PathBuf>, globset::Error> {
    let mut current = vec![PathBuf::new()];
    let parts: Vec<String> = pattern
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        if !part.contains(['*', '?', '[']) {
            for c in current {
                let p = c.join(part);
                let full = root.join(&p);
                if (last && full.is_file()) || (!last && full.is_dir()) {
                    next.push(p);
                }
            }
        } else {
            let m = globset::GlobBuilder::new(part)
                .literal_separator(true)
                .build()?;
            let m = m.compile_matcher();
            for c in current {
                let Ok(rd) = std::fs::read_dir(root.join(&c)) else {
                    continue;
                };
                for e in rd.flatten() {
                    let name = e.file_name();
                    let Ok(ft) = e.file_type() else { continue };
                    let wanted = if last {
                        !ft.is_dir()
                    } else {
                        ft.is_dir() || ft.is_symlink()
                    };
                    if wanted && m.is_match(&name) {
                        next.push(c.join(name));
                    }
                }
            }
        }
        current = next;
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_refuses_escapes() {
        assert_eq!(
            normalize(Path::new("./a/../b/c.yml")),
            Some(PathBuf::from("b/c.yml"))
        );
        assert_eq!(normalize(Path::new("../x.yml")), None);
        assert_eq!(normalize(Path::new("/etc/x.yml")), None);
    }

    #[test]
    fn normalize_up_keeps_the_climb() {
        assert_eq!(
            normalize_up(Path::new("a/../../x.yml")),
            Some(PathBuf::from("../x.yml"))
        );
        assert_eq!(
            normalize_up(Path::new("./../../c/./d.yml")),
            Some(PathBuf::from("../../c/d.yml"))
        );
        assert_eq!(normalize_up(Path::new("/etc/x.yml")), None);
    }
}
