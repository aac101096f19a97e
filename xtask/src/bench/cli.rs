//! `cargo xtask bench cli`: whole-process medians of this tool and the
//! reference Databricks CLI (tests/cliref), side by side on the CLI team's
//! test server: validate of each corpus bundle, and deploy of this
//! repository's bundle (initial, no change, one file changed).

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use crate::conformance::{cases, corpus_dir, tools};
use crate::project::Project;
use crate::util::TempDir;

const VALIDATE_RUNS: usize = 11;
const DEPLOY_RUNS: usize = 5;

/// Which tool, and how to call it.
#[derive(Clone, Copy)]
enum Tool {
    Cli,
    Ours,
}

pub fn bench_cli(project: &Project) -> Result<()> {
    let repo = crate::project::this_repository();
    let t = tools::locate(&repo)?;
    let server = tools::Server::start(&t.server)?;
    let tmp = TempDir::new("xtask-bench-cli")?;
    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "whole process, median", "CLI ms", "ours ms", "CLI/ours"
    );
    let mut bundles = Vec::new();
    if let Some(corpus) = corpus_dir(&repo) {
        let mut dirs: Vec<_> = std::fs::read_dir(&corpus)?
            .flatten()
            .map(|e| e.path())
            .collect();
        dirs.retain(|d| d.join("databricks.yml").is_file());
        dirs.sort();
        bundles = dirs;
    }
    for src in &bundles {
        let dir = tmp.path().join(src.file_name().unwrap_or_default());
        cases::prepare(src, &dir, &server.url)?;
        let label = format!(
            "validate {}",
            src.file_name().unwrap_or_default().to_string_lossy()
        );
        let cli = median(VALIDATE_RUNS, || {
            once(&t, &server.url, &dir, Tool::Cli, &["validate"], None)
        })?;
        let ours = median(VALIDATE_RUNS, || {
            once(&t, &server.url, &dir, Tool::Ours, &["validate"], None)
        })?;
        row(&label, cli, ours);
    }
    deploys(&t, &server.url, &project.bundle_dir, tmp.path())
}

/// Deploys of `bundle`: each sample on a fresh workspace and copy, so
/// "initial" is a first deploy; then a redeploy with no change, then one
/// with one file changed.
fn deploys(t: &tools::Tools, url: &str, bundle: &Path, tmp: &Path) -> Result<()> {
    let mut results = Vec::new();
    for tool in [Tool::Cli, Tool::Ours] {
        let mut samples: [Vec<Option<Duration>>; 3] = Default::default();
        for i in 0..DEPLOY_RUNS {
            let dir = tmp.join(format!("deploy-{}-{i}", name(tool)));
            cases::prepare(bundle, &dir, url)?;
            let token = tools::token();
            samples[0].push(once(t, url, &dir, tool, &["deploy"], Some(&token))?);
            samples[1].push(once(t, url, &dir, tool, &["deploy"], Some(&token))?);
            let readme = dir.join("README.md");
            let mut text = std::fs::read_to_string(&readme).unwrap_or_default();
            text.push_str(&format!("\nchanged {i}\n"));
            std::fs::write(&readme, text)?;
            samples[2].push(once(t, url, &dir, tool, &["deploy"], Some(&token))?);
        }
        results.push(samples.map(mid));
    }
    for (i, what) in ["initial", "no change", "one file changed"]
        .iter()
        .enumerate()
    {
        row(
            &format!("deploy this bundle, {what}"),
            results[0][i],
            results[1][i],
        );
    }
    Ok(())
}

fn name(tool: Tool) -> &'static str {
    match tool {
        Tool::Cli => "cli",
        Tool::Ours => "ours",
    }
}

/// One run; `None` when a deploy failed (a failed deploy is no speed). A
/// validate that reports errors did its whole work: it counts.
fn once(
    t: &tools::Tools,
    url: &str,
    dir: &Path,
    tool: Tool,
    cmd: &[&str],
    token: Option<&str>,
) -> Result<Option<Duration>> {
    let home = TempDir::new("xtask-bench-home")?;
    let token = token.map_or_else(tools::token, str::to_string);
    let session = tools::Session {
        url,
        token: &token,
        home: home.path(),
    };
    let dir_s = dir.display().to_string();
    let root = home.path().join("root").display().to_string();
    let run = match tool {
        Tool::Cli => {
            let args = [&["bundle"], cmd].concat();
            tools::run(
                &t.cli,
                &args,
                dir,
                &session,
                &[("DATABRICKS_BUNDLE_ENGINE", "direct")],
            )?
        }
        Tool::Ours => {
            let args = [&["--bundle-dir", dir_s.as_str(), "--remote", "-q"], cmd].concat();
            tools::run(
                &t.ours,
                &args,
                dir,
                &session,
                &[("XTASK_ROOT", root.as_str())],
            )?
        }
    };
    Ok((run.ok || cmd == ["validate"]).then_some(run.elapsed))
}

fn median(n: usize, mut f: impl FnMut() -> Result<Option<Duration>>) -> Result<Option<Duration>> {
    f()?;
    let v = (0..n).map(|_| f()).collect::<Result<Vec<_>>>()?;
    Ok(mid(v))
}

/// The median of successful samples; `None` if any failed.
fn mid(v: Vec<Option<Duration>>) -> Option<Duration> {
    let mut ok: Vec<Duration> = v.into_iter().collect::<Option<Vec<_>>>()?;
    ok.sort();
    ok.get(ok.len() / 2).copied()
}

fn row(label: &str, cli: Option<Duration>, ours: Option<Duration>) {
    let f =
        |d: Option<Duration>| d.map_or("failed".to_string(), |d| format!("{:.1}", super::ms(d)));
    let ratio = match (cli, ours) {
        (Some(c), Some(o)) => format!("{:.2}x", super::ms(c) / super::ms(o)),
        _ => "-".to_string(),
    };
    println!("{label:<44} {:>10} {:>10} {:>8}", f(cli), f(ours), ratio);
}
