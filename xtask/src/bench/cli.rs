//! `cargo xtask bench cli`: this tool beside the reference Databricks CLI, in
//! the same run, both as whole processes against one instance of the CLI
//! team's fake workspace server (`tests/cliref`): `validate` of this
//! repository's bundle and of each corpus bundle, then deploy of this bundle
//! and of a synthetic bundle of `--files` files: initial, no change, one file
//! changed, and from a fresh checkout (what CI does: nothing local).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::conformance::{cases, tools};

use crate::project::Project;
use crate::util::TempDir;

/// One tool, as a process with its own empty HOME and its own workspace
/// (token) on the server.
struct Tool<'a> {
    name: &'static str,
    exe: &'a Path,
    validate: &'static [&'static str],
    deploy: &'static [&'static str],
}

const RUNS: usize = 5;

fn run(
    tool: &Tool,
    args: &[&str],
    dir: &Path,
    url: &str,
    token: &str,
    home: &Path,
) -> Result<Duration> {
    let mut cmd = Command::new(tool.exe);
    if tool.name == "xtask" {
        cmd.arg("--bundle-dir")
            .arg(dir)
            .arg("--root")
            .arg(home.join("root"));
    }
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("DATABRICKS_HOST", url)
        .env("DATABRICKS_TOKEN", token)
        .env("DATABRICKS_BUNDLE_ENGINE", "direct")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("running {}", tool.name))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "{} {} failed: {}",
            tool.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(took)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn bench_cli(project: &Project, files: usize) -> Result<()> {
    let refs = tools::locate(&project.repo_root)?;
    let server = tools::Server::start(&refs.server)?;
    let exe = std::env::current_exe().context("finding this executable")?;
    let tools = [
        Tool {
            name: "databricks",
            exe: &refs.cli,
            validate: &["bundle", "validate"],
            deploy: &["bundle", "deploy"],
        },
        Tool {
            name: "xtask",
            exe: &exe,
            validate: &["-q", "--remote", "validate"],
            deploy: &["-q", "--remote", "deploy"],
        },
    ];
    let tmp = TempDir::new("xtask-bench-cli")?;
    println!("reference: {} ; server {}", refs.cli.display(), server.url);
    // Both tools read it, and both default to the SDKs' 15 a second: a big
    // first upload measures the limit more than either tool.
    println!(
        "request rate limit of both tools: {} a second (DATABRICKS_RATE_LIMIT)",
        std::env::var("DATABRICKS_RATE_LIMIT").unwrap_or_else(|_| "15".into())
    );
    let mut bundles = vec![("this bundle".to_string(), project.bundle_dir.clone())];
    bundles.extend(corpus_bundles(project));
    println!(
        "\nvalidate, whole process, median of {RUNS} (the CLI asks the server who the user is; so does xtask --remote):"
    );
    for (label, dir) in &bundles {
        let copy = tmp.path().join(format!("v-{}", label.replace(' ', "_")));
        cases::prepare(dir, &copy, &server.url)?;
        let t = tools
            .iter()
            .map(|tool| validate_median(tool, &copy, &server.url, tmp.path()))
            .collect::<Result<Vec<_>>>();
        let t = match t {
            Ok(t) => t,
            Err(e) => {
                println!("  {label:<40} not compared: {}", first_line(&e));
                continue;
            }
        };
        println!(
            "  {label:<40} CLI {:>7.1} ms  xtask {:>6.1} ms  {:>5.1}x faster",
            ms(t[0]),
            ms(t[1]),
            ms(t[0]) / ms(t[1])
        );
    }
    let synthetic = tmp.path().join("synthetic");
    synthetic_bundle(&synthetic, files)?;
    let this = tmp.path().join("this");
    cases::prepare(&project.bundle_dir, &this, &server.url)?;
    for (label, src) in [
        ("this bundle", &this),
        (&*format!("{files} files"), &synthetic),
    ] {
        println!("\ndeploy of {label} to the test server, whole process:");
        let figures = tools
            .iter()
            .map(|tool| deploy_figures(tool, src, &server.url, tmp.path()))
            .collect::<Result<Vec<_>>>();
        let figures = match figures {
            Ok(f) => f,
            Err(e) => {
                println!("  not compared: {}", first_line(&e));
                continue;
            }
        };
        for (i, case) in ["initial", "no change", "one file changed", "fresh checkout"]
            .iter()
            .enumerate()
        {
            let (c, x) = (figures[0][i], figures[1][i]);
            println!(
                "  {case:<18} CLI {:>8.1} ms  xtask {:>8.1} ms  ratio {:.2}",
                ms(c),
                ms(x),
                ms(x) / ms(c)
            );
        }
    }
    Ok(())
}

fn validate_median(tool: &Tool, dir: &Path, url: &str, tmp: &Path) -> Result<Duration> {
    let home = TempDir::new_in(tmp, "home")?;
    let token = tools::token();
    run(tool, tool.validate, dir, url, &token, home.path())?;
    let v = (0..RUNS)
        .map(|_| run(tool, tool.validate, dir, url, &token, home.path()))
        .collect::<Result<Vec<_>>>()?;
    Ok(median(v))
}

/// Initial, no change (median of 3), one file changed (median of 3), and a
/// deploy of the same content from a fresh copy with nothing local.
fn deploy_figures(tool: &Tool, src: &Path, url: &str, tmp: &Path) -> Result<[Duration; 4]> {
    let dir = tmp.join(format!("d-{}", tool.name));
    let _ = std::fs::remove_dir_all(&dir);
    super::copy_tree(src, &dir)?;
    let home = TempDir::new_in(tmp, "home")?;
    let token = tools::token();
    let deploy = || run(tool, tool.deploy, &dir, url, &token, home.path());
    let initial = deploy()?;
    let nochange = median((0..3).map(|_| deploy()).collect::<Result<_>>()?);
    let mut one = Vec::new();
    for i in 0..3 {
        std::fs::write(dir.join("changed_by_bench.py"), format!("# change {i}\n"))?;
        one.push(deploy()?);
    }
    let fresh_dir = tmp.join(format!("fresh-{}", tool.name));
    let _ = std::fs::remove_dir_all(&fresh_dir);
    super::copy_tree(src, &fresh_dir)?;
    std::fs::write(fresh_dir.join("changed_by_bench.py"), "# change 2\n")?;
    let fresh_home = TempDir::new_in(tmp, "home")?;
    let fresh = run(
        tool,
        tool.deploy,
        &fresh_dir,
        url,
        &token,
        fresh_home.path(),
    )?;
    Ok([initial, nochange, median(one), fresh])
}

/// A bundle of `n` small files with a minimal `databricks.yml`.
fn synthetic_bundle(dir: &Path, n: usize) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    super::deploy::generate(dir, n)?;
    std::fs::write(
        dir.join("databricks.yml"),
        "bundle:\n  name: bench_cli\n\ntargets:\n  dev:\n    default: true\n",
    )?;
    Ok(())
}

fn corpus_bundles(project: &Project) -> Vec<(String, PathBuf)> {
    let Some(corpus) = crate::conformance::corpus_dir(&project.repo_root) else {
        eprintln!("note: no corpus (XTASK_CORPUS_DIR or ../shared/corpus): this bundle only");
        return Vec::new();
    };
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(&corpus)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("databricks.yml").is_file())
        .map(|p| {
            (
                format!(
                    "corpus {}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                ),
                p,
            )
        })
        .collect();
    v.sort();
    v
}

/// The first line of an error's chain, for a one-line table cell.
fn first_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    text.lines().next().unwrap_or_default().to_string()
}
