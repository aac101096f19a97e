//! `cargo xtask bench cli`: this tool beside the reference Databricks CLI, in
//! the same run, both as whole processes against one instance of the CLI
//! team's fake workspace server (`tests/cliref`): `validate` of this
//! repository's bundle and of each corpus bundle, then deploy of this bundle
//! and of a synthetic bundle of `--files` files: initial, no change, one file
//! changed, and from a fresh checkout (what CI does: nothing local).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project::Project;
use crate::util::TempDir;

/// The reference CLI and the test server, built by `tests/cliref/build.sh`.
pub struct RefTools {
    pub cli: PathBuf,
    pub server: PathBuf,
}

/// `XTASK_CLI_BIN`/`XTASK_TESTSERVER_BIN`, else `target/cliref/bin/`, else a
/// build by `tests/cliref/build.sh` when Go is there.
pub fn find_tools(repo_root: &Path) -> Result<RefTools> {
    let dir = repo_root.join("target/cliref/bin");
    let pick = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join(name))
    };
    let tools = RefTools {
        cli: pick("XTASK_CLI_BIN", "databricks"),
        server: pick("XTASK_TESTSERVER_BIN", "testserver"),
    };
    if tools.cli.is_file() && tools.server.is_file() {
        return Ok(tools);
    }
    let script = repo_root.join("tests/cliref/build.sh");
    eprintln!(
        "building the reference CLI and its test server ({})",
        script.display()
    );
    let status = Command::new("bash")
        .arg(&script)
        .stdout(Stdio::null())
        .status()
        .context("running tests/cliref/build.sh (it needs Go and the Go module proxy)")?;
    if !status.success() || !tools.cli.is_file() || !tools.server.is_file() {
        bail!(
            "the reference CLI is not built: {} failed (it needs Go and the Go module proxy)",
            script.display()
        );
    }
    Ok(tools)
}

/// A running test server; stopped when dropped (its stdin closes too).
pub struct TestServer {
    child: Child,
    pub url: String,
}

impl TestServer {
    pub fn start(bin: &Path) -> Result<Self> {
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("test server stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line.trim().to_string();
        if !url.starts_with("http://") {
            let _ = child.kill();
            bail!("{} printed no URL", bin.display());
        }
        Ok(TestServer { child, url })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Point every `host:` of the bundle's YAML files at `url` (a bundle names
/// its workspace, which the tools would otherwise call).
pub fn point_hosts(dir: &Path, url: &str) -> Result<()> {
    for entry in ignore::WalkBuilder::new(dir).hidden(false).build() {
        let entry = entry?;
        let path = entry.path();
        let yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if !yaml || !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let text = std::fs::read_to_string(path)?;
        let mut changed = false;
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.trim_start().strip_prefix("host:") {
                Some(v) if !v.trim().is_empty() => {
                    changed = true;
                    format!("{}host: {url}", &l[..l.len() - l.trim_start().len()])
                }
                _ => l.to_string(),
            })
            .collect();
        if changed {
            std::fs::write(path, lines.join("\n") + "\n")?;
        }
    }
    Ok(())
}

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
    let refs = find_tools(&project.repo_root)?;
    let server = TestServer::start(&refs.server)?;
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
    let mut bundles = vec![("this bundle".to_string(), project.bundle_dir.clone())];
    bundles.extend(corpus_bundles(project));
    println!(
        "\nvalidate, whole process, median of {RUNS} (the CLI asks the server who the user is; so does xtask --remote):"
    );
    for (label, dir) in &bundles {
        let copy = tmp.path().join(format!("v-{}", label.replace(' ', "_")));
        super::copy_tree(dir, &copy)?;
        point_hosts(&copy, &server.url)?;
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
    super::copy_tree(&project.bundle_dir, &this)?;
    point_hosts(&this, &server.url)?;
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
    let token = format!("dbapi0{}", uuid::Uuid::new_v4().simple());
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
    let token = format!("dbapi0{}", uuid::Uuid::new_v4().simple());
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
    let corpus = std::env::var_os("XTASK_CORPUS_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            let p = project.repo_root.join("../shared/corpus");
            p.is_dir().then_some(p)
        });
    let Some(corpus) = corpus else {
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
