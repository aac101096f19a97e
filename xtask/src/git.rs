//! Facts about the git repository around the bundle: branch, commit, origin.
//!
//! Read from `.git` directly (HEAD, refs, packed-refs, config), as the
//! Databricks CLI does: no `git` process, so `validate` stays fast and works
//! where git is not installed.

use std::fs;
use std::path::{Path, PathBuf};

/// What `${bundle.git.*}` resolves to. Fields are empty outside a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitInfo {
    /// The checked-out branch; empty on a detached HEAD.
    pub branch: String,
    /// The full commit id of HEAD; empty in a repository without commits.
    pub commit: String,
    /// `remote.origin.url`, empty when there is no origin.
    pub origin_url: String,
    /// The bundle folder relative to the work tree root, `/`-separated (`.` at the root).
    pub bundle_root_path: String,
}

/// Where a work tree keeps its git data.
struct Repo {
    work_tree: PathBuf,
    /// The per-worktree git dir (HEAD lives here).
    git_dir: PathBuf,
    /// The shared git dir (refs, packed-refs, config); `git_dir` outside linked worktrees.
    common_dir: PathBuf,
}

fn find_repo(dir: &Path) -> Option<Repo> {
    for d in dir.ancestors() {
        let dot = d.join(".git");
        if dot.is_dir() {
            return Some(Repo {
                work_tree: d.to_path_buf(),
                git_dir: dot.clone(),
                common_dir: dot,
            });
        }
        if dot.is_file() {
            // A linked worktree or submodule: `gitdir: <path>`.
            let text = fs::read_to_string(&dot).ok()?;
            let target = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
            let git_dir = d.join(target);
            let common_dir = match fs::read_to_string(git_dir.join("commondir")) {
                Ok(c) => git_dir.join(c.trim()),
                Err(_) => git_dir.clone(),
            };
            return Some(Repo {
                work_tree: d.to_path_buf(),
                git_dir,
                common_dir,
            });
        }
    }
    None
}

pub fn info(bundle_dir: &Path) -> GitInfo {
    let Some(repo) = find_repo(bundle_dir) else {
        return GitInfo::default();
    };
    let head = fs::read_to_string(repo.git_dir.join("HEAD")).unwrap_or_default();
    let head = head.trim();
    let (branch, commit) = match head.strip_prefix("ref:") {
        Some(r) => {
            let r = r.trim();
            let branch = r.strip_prefix("refs/heads/").unwrap_or(r).to_string();
            (branch, resolve_ref(&repo, r, 0).unwrap_or_default())
        }
        None => (String::new(), head.to_string()),
    };
    let origin_url = config_value(&repo.common_dir.join("config"), "remote \"origin\"", "url")
        .unwrap_or_default();
    let rel = bundle_dir
        .strip_prefix(&repo.work_tree)
        .unwrap_or(Path::new(""));
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let bundle_root_path = if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    };
    GitInfo {
        branch,
        commit,
        origin_url,
        bundle_root_path,
    }
}

/// A ref to a commit id: loose ref files first (per-worktree, then shared), then packed-refs.
fn resolve_ref(repo: &Repo, name: &str, depth: u8) -> Option<String> {
    if depth > 5 {
        return None;
    }
    for dir in [&repo.git_dir, &repo.common_dir] {
        if let Ok(text) = fs::read_to_string(dir.join(name)) {
            let text = text.trim();
            return match text.strip_prefix("ref:") {
                Some(next) => resolve_ref(repo, next.trim(), depth + 1),
                None => Some(text.to_string()),
            };
        }
    }
    let packed = fs::read_to_string(repo.common_dir.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (id, r) = l.split_once(' ')?;
        (r.trim() == name && !id.starts_with('#')).then(|| id.to_string())
    })
}

/// One value of a git config file: `[section]` or `[section "sub"]` then `key = value`.
/// Enough of git's format for the values we read (no includes).
fn config_value(file: &Path, section: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    let mut in_section = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let header = line
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim();
            in_section = header_matches(header, section);
            continue;
        }
        if !in_section || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            if k.trim().eq_ignore_ascii_case(key) {
                // The last assignment wins, as in git.
                found = Some(unquote(v.trim()));
            }
        }
    }
    found
}

fn header_matches(header: &str, section: &str) -> bool {
    // Section names are case-insensitive, subsection names are not.
    match (header.split_once(' '), section.split_once(' ')) {
        (Some((a, asub)), Some((b, bsub))) => a.eq_ignore_ascii_case(b) && asub.trim() == bsub,
        (None, None) => header.eq_ignore_ascii_case(section),
        _ => false,
    }
}

fn unquote(v: &str) -> String {
    let v = v.split(" #").next().unwrap_or(v).trim();
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .to_string()
}

/// `user.email` from the repository's config, then the global config files.
pub fn user_email(dir: &Path) -> Option<String> {
    let mut files = Vec::new();
    if let Some(repo) = find_repo(dir) {
        files.push(repo.common_dir.join("config"));
    }
    if let Some(f) = std::env::var_os("GIT_CONFIG_GLOBAL") {
        files.push(PathBuf::from(f));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        files.push(home.join(".gitconfig"));
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        files.push(xdg.join("git").join("config"));
    }
    files
        .iter()
        .find_map(|f| config_value(f, "user", "email"))
        .filter(|e| !e.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_config_sections() {
        let dir = std::env::temp_dir().join(format!("xtask-git-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("config");
        fs::write(&f, "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = https://x/y.git\n[User]\n\temail = \"a.b@c.d\"\n")
            .unwrap();
        assert_eq!(
            config_value(&f, "remote \"origin\"", "url").as_deref(),
            Some("https://x/y.git")
        );
        assert_eq!(
            config_value(&f, "user", "email").as_deref(),
            Some("a.b@c.d")
        );
        assert_eq!(config_value(&f, "remote \"other\"", "url"), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
