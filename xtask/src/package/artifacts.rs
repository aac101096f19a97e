//! `artifacts:` of the configuration: run each `build` command in the
//! artifact's `path` (through `sh -c`, as the CLI's shell executor does) and
//! collect the files its `files[].source` globs name (reference §5).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use globset::GlobBuilder;

use crate::config::Bundle;

/// One `artifacts.<key>` entry, paths resolved against the bundle root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ArtifactSpec {
    pub name: String,
    pub path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Absolute glob patterns.
    pub files: Vec<String>,
}

/// `build` commands run through `sh -c` with variable values spliced in as
/// they are, unquoted: what the Databricks CLI does, so kept. A value that
/// holds shell metacharacters then runs as shell: a warning per such value
/// found in a build command (README, "Artifacts and --var").
pub fn unquoted_var_warnings(bundle: &Bundle) -> Vec<String> {
    const META: &[char] = &[
        ';', '&', '|', '$', '`', '(', ')', '<', '>', '\'', '"', '\\', '\n', '*', '?', '~', '#',
        '{', '}', '[', ']',
    ];
    let (Some(arts), Some(vars)) = (
        bundle.config["artifacts"].as_object(),
        bundle.config["variables"].as_object(),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (art, spec) in arts {
        let Some(build) = spec["build"].as_str() else {
            continue;
        };
        for (var, decl) in vars {
            let Some(value) = decl["value"].as_str() else {
                continue;
            };
            if value.contains(META) && build.contains(value) {
                out.push(format!(
                    "artifacts.{art}.build: the value of variable {var} holds shell \
                     metacharacters and is passed to `sh -c` unquoted (as the Databricks CLI \
                     does): quote it in the command, or keep such characters out of the value"
                ));
            }
        }
    }
    out
}

/// The artifacts the configuration declares, checked: every path stays inside the bundle root.
pub fn specs(bundle: &Bundle) -> Result<Vec<ArtifactSpec>> {
    let Some(map) = bundle.config["artifacts"].as_object() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, art) in map {
        let path = match art["path"].as_str() {
            Some(p) => inside(
                &bundle.root,
                &bundle.root.join(p),
                &format!("artifacts.{name}.path"),
            )?,
            None => bundle.root.clone(),
        };
        let build = art["build"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string);
        let mut files = Vec::new();
        for file in art["files"].as_array().into_iter().flatten() {
            let Some(source) = file["source"].as_str() else {
                bail!("artifacts.{name}.files: every entry needs a `source`");
            };
            let abs = inside(
                &bundle.root,
                &path.join(source),
                &format!("artifacts.{name}.files"),
            )?;
            files.push(abs.to_string_lossy().into_owned());
        }
        if files.is_empty() {
            if art["type"].as_str().unwrap_or("whl") != "whl" {
                bail!("artifacts.{name}: `files` is required for artifacts other than wheels");
            }
            files.push(path.join("dist/*.whl").to_string_lossy().into_owned());
        }
        if build.is_none() && art["files"].as_array().is_none_or(|a| a.is_empty()) {
            bail!("artifacts.{name}: neither `build` nor `files` is set");
        }
        out.push(ArtifactSpec {
            name: name.clone(),
            path,
            build,
            files,
        });
    }
    Ok(out)
}

/// `path` normalised lexically; an error naming `key` if it leaves `root`.
fn inside(root: &Path, path: &Path, key: &str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    if !out.starts_with(root) {
        bail!(
            "{key}: {} escapes the bundle root {}",
            path.display(),
            root.display()
        );
    }
    Ok(out)
}

/// Run the build command of `spec` (if any), then return the files it produced, sorted.
pub fn build(spec: &ArtifactSpec, verbose: bool) -> Result<Vec<PathBuf>> {
    if let Some(cmd) = &spec.build {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(&spec.path)
            .output()
            .with_context(|| {
                format!(
                    "artifact {}: running `{cmd}` in {}",
                    spec.name,
                    spec.path.display()
                )
            })?;
        if verbose {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
        }
        if !out.status.success() {
            bail!(
                "artifact {}: `{cmd}` failed ({}) in {}\n{}{}",
                spec.name,
                out.status,
                spec.path.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let mut found = Vec::new();
    for pattern in &spec.files {
        let matches = expand(pattern)?;
        if matches.is_empty() {
            bail!("artifact {}: no files match {pattern}", spec.name);
        }
        found.extend(matches);
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// Files matching an absolute glob: walk from the longest literal prefix.
fn expand(pattern: &str) -> Result<Vec<PathBuf>> {
    let glob = GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .with_context(|| format!("invalid glob {pattern:?}"))?
        .compile_matcher();
    let literal: PathBuf = Path::new(pattern)
        .components()
        .take_while(|c| {
            !c.as_os_str()
                .to_string_lossy()
                .contains(['*', '?', '[', '{'])
        })
        .collect();
    if literal.is_file() {
        return Ok(vec![literal]);
    }
    let mut out = Vec::new();
    let mut stack = vec![literal];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if ft.is_file() && glob.is_match(&path) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_var_with_shell_metacharacters_in_a_build_is_warned_about() {
        let bundle = |value: &str| Bundle {
            config: serde_json::json!({
                "artifacts": {"w": {"build": format!("python -m build --outdir {value}")}},
                "variables": {"out": {"value": value}, "unused": {"value": "a;b"}},
            }),
            root: "/b".into(),
            name: "b".into(),
            target: "dev".into(),
            mode: None,
            resource_files: Default::default(),
            source: Default::default(),
        };
        assert!(unquoted_var_warnings(&bundle("dist")).is_empty());
        let w = unquoted_var_warnings(&bundle("dist; rm -rf ~"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("variable out") && w[0].contains("sh -c"),
            "{w:?}"
        );
    }

    #[test]
    fn paths_must_stay_inside() {
        let root = Path::new("/b/root");
        assert!(inside(root, &root.join("../x"), "k").is_err());
        assert_eq!(
            inside(root, &root.join("./a/../c"), "k").unwrap(),
            root.join("c")
        );
    }
}
