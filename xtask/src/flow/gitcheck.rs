//! The git facts the release gate checks: branch, clean tree, and that HEAD
//! comes from the default branch (a merged pull request).

use std::path::Path;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

fn shell(repo: &Path) -> Result<Shell> {
    let sh = Shell::new().context("starting a shell")?;
    sh.change_dir(repo);
    Ok(sh)
}

pub fn current_branch(repo: &Path) -> Result<String> {
    let sh = shell(repo)?;
    let branch = cmd!(sh, "git symbolic-ref --quiet --short HEAD")
        .quiet()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    if branch.is_empty() {
        bail!(
            "HEAD is detached in {}: check out the release branch",
            repo.display()
        );
    }
    Ok(branch)
}

pub fn head(repo: &Path) -> Result<String> {
    let sh = shell(repo)?;
    cmd!(sh, "git rev-parse HEAD")
        .quiet()
        .read()
        .context("reading HEAD")
}

/// `Some("a.py, b.py")` when the work tree has changes git would commit.
pub fn dirty_files(repo: &Path) -> Result<Option<String>> {
    let sh = shell(repo)?;
    let out = cmd!(sh, "git status --porcelain")
        .quiet()
        .read()
        .context("running git status")?;
    let files: Vec<&str> = out.lines().map(|l| l.get(3..).unwrap_or(l)).collect();
    Ok(match files.len() {
        0 => None,
        n if n > 5 => Some(format!("{} and {} more", files[..5].join(", "), n - 5)),
        _ => Some(files.join(", ")),
    })
}

/// HEAD must be on the default branch's history, or be a merge whose content
/// is exactly that of a commit on it (release branch merged from main).
pub fn from_default_branch(repo: &Path, default: &str) -> Result<(), String> {
    let sh = shell(repo).map_err(|e| e.to_string())?;
    let candidates = [
        format!("refs/heads/{default}"),
        format!("refs/remotes/origin/{default}"),
    ];
    let default_ref = candidates
        .iter()
        .find(|r| cmd!(sh, "git rev-parse --verify --quiet {r}").quiet().ignore_stdout().run().is_ok())
        .ok_or_else(|| format!("the default branch `{default}` is not known here: fetch it (`git fetch origin {default}`)"))?;
    let is_ancestor = |c: &str| {
        cmd!(sh, "git merge-base --is-ancestor {c} {default_ref}")
            .quiet()
            .run()
            .is_ok()
    };
    if is_ancestor("HEAD") {
        return Ok(());
    }
    let parents = cmd!(sh, "git rev-list --parents -n 1 HEAD")
        .quiet()
        .read()
        .unwrap_or_default();
    let same_tree = |c: &str| cmd!(sh, "git diff --quiet {c} HEAD").quiet().run().is_ok();
    let merged = parents
        .split_whitespace()
        .skip(1)
        .any(|p| is_ancestor(p) && same_tree(p));
    if parents.split_whitespace().count() > 2 && merged {
        return Ok(());
    }
    Err(format!(
        "HEAD is not on `{default}`'s history: releases must come from merged pull requests (merge `{default}` into the release branch, with nothing else)"
    ))
}
