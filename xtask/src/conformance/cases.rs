//! The bundles compared: this repository's, the corpus's, and the CLI's own
//! acceptance cases; each copied to a temp folder whose `workspace.host`
//! points at the test server.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The acceptance groups compared, under `acceptance/bundle/`.
pub const GROUPS: [&str; 10] = [
    "variables",
    "override",
    "includes",
    "validate",
    "targets",
    "paths",
    "presets",
    "resource_deps",
    "resources",
    "apps",
];

/// Groups whose cases are also deployed (the rest test configuration only).
/// Not `apps`: in `job_permissions_warning` the job's permissions after a
/// deploy depend on whether the CLI's parallel engine sets them before or
/// after it creates the app (which grants the app's service principal).
const DEPLOYED_GROUPS: [&str; 2] = ["resource_deps", "resources"];

#[derive(Debug, Clone)]
pub struct Case {
    /// The row of the table: `bundle`, `corpus`, or an acceptance group.
    pub folder: String,
    /// Unique within its folder: the path below it.
    pub name: String,
    pub dir: PathBuf,
    /// `None` is the default target; then each target databricks.yml names.
    pub targets: Vec<Option<String>>,
    pub deploy: bool,
}

/// Where the cases come from; a source that is `None` is left out.
pub struct Sources {
    pub bundle: PathBuf,
    pub corpus: Option<PathBuf>,
    pub acceptance: Option<PathBuf>,
}

pub fn collect(src: &Sources, filter: Option<&str>) -> Result<Vec<Case>> {
    let mut cases = vec![case("bundle", "bundle".into(), &src.bundle, true)];
    if let Some(corpus) = &src.corpus {
        for dir in bundle_dirs(corpus)? {
            cases.push(case("corpus", rel(corpus, &dir), &dir, true));
        }
    }
    if let Some(acc) = &src.acceptance {
        for group in GROUPS {
            let root = acc.join(group);
            if !root.is_dir() {
                continue;
            }
            for dir in bundle_dirs(&root)? {
                let deploy = DEPLOYED_GROUPS.contains(&group);
                cases.push(case(group, rel(&root, &dir), &dir, deploy));
            }
        }
    }
    if let Some(f) = filter {
        cases.retain(|c| format!("{}/{}", c.folder, c.name).contains(f));
    }
    Ok(cases)
}

fn case(folder: &str, name: String, dir: &Path, deploy: bool) -> Case {
    let text = std::fs::read_to_string(dir.join("databricks.yml")).unwrap_or_default();
    let mut targets = vec![None];
    targets.extend(target_names(&text).into_iter().map(Some));
    Case {
        folder: folder.to_string(),
        name,
        dir: dir.to_path_buf(),
        targets,
        deploy,
    }
}

fn rel(root: &Path, dir: &Path) -> String {
    let r = dir
        .strip_prefix(root)
        .unwrap_or(dir)
        .to_string_lossy()
        .into_owned();
    if r.is_empty() { ".".into() } else { r }
}

/// Every folder below `root` (itself included) that holds a databricks.yml, sorted.
fn bundle_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if dir.join("databricks.yml").is_file() {
            out.push(dir.clone());
        }
        let entries =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The keys of the top-level `targets:` mapping, read by indentation: cheap,
/// and enough for the names (targets defined in included files are left out).
pub fn target_names(yaml: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    let mut indent = None;
    for line in yaml.lines() {
        let body = line.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let depth = line.len() - body.len();
        if depth == 0 {
            inside = body.starts_with("targets:");
            continue;
        }
        if !inside || *indent.get_or_insert(depth) != depth {
            continue;
        }
        if let Some((key, _)) = body.split_once(':') {
            let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
            if !key.is_empty() && !key.contains(' ') {
                names.push(key.to_string());
            }
        }
    }
    names
}

/// Copies `from` into `to` (leaving out git, venvs and our state; the
/// CLI's `.databricks/` stays: acceptance cases keep variable files there), then points every
/// `host: http...` line of its YAML at `url`, keeping line numbers.
pub fn prepare(from: &Path, to: &Path, url: &str) -> Result<()> {
    copy_tree(from, to)?;
    let mut stack = vec![to.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let new = point_hosts(&text, url);
                if new != text {
                    std::fs::write(&path, new)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}

pub fn point_hosts(text: &str, url: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let value = body
            .strip_prefix("host:")
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''));
        match value {
            Some(v) if v.starts_with("http") => {
                let indent = &line[..line.len() - body.len()];
                let nl = if line.ends_with('\n') { "\n" } else { "" };
                out.push_str(&format!("{indent}host: {url}{nl}"));
            }
            _ => out.push_str(line),
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some(".bundle" | ".git" | ".venv" | "__pycache__")
        ) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
            // The module cache is read-only; the tools write beside their files.
            let mut perms = std::fs::metadata(&dst)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&dst, perms)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_names_are_the_keys_of_the_top_level_targets() {
        let yaml = "bundle:\n  name: x\ntargets:\n  # a comment\n  dev:\n    default: true\n    workspace:\n      host: h\n  \"prod\":\n    mode: production\nresources: {}\n";
        assert_eq!(target_names(yaml), ["dev", "prod"]);
        assert!(target_names("bundle:\n  name: x\n").is_empty());
    }

    #[test]
    fn hosts_point_at_the_server_and_lines_stay() {
        let yaml = "workspace:\n  host: https://adb-1.azuredatabricks.net # c\n  root_path: /x\n  host: ${var.h}\n";
        let out = point_hosts(yaml, "http://127.0.0.1:9");
        assert_eq!(
            out,
            "workspace:\n  host: http://127.0.0.1:9\n  root_path: /x\n  host: ${var.h}\n"
        );
    }
}
