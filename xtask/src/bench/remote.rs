//! `cargo xtask bench remote`: a remote deploy against the fake workspace on
//! loopback (the `fake-workspace` binary of the e2e crate, run as a
//! process), next to the tools people used before bundles, in the same run:
//! the legacy `databricks-cli==0.18.0` (`databricks workspace import_dir`)
//! and `dbx==0.8.19` (`dbx sync workspace`), each pip-installed into its own
//! temp venv. A peer that cannot be installed or cannot talk to the fake is
//! reported with the reason and skipped.
//!
//! Every tool runs as a process with the same tree of `--files` small files
//! (default 10,000) and writes into its own folder of the fake: initial
//! deploy, no change, one file changed. The legacy CLI builds its URLs from
//! the host name alone (its port is dropped), so the fake listens on port 80
//! when it can; otherwise the legacy CLI is skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project::Project;
use crate::util::TempDir;

const USER: &str = "tester@example.com";

/// The fake server process; killed when dropped.
struct Fake {
    child: Child,
    host: String,
    token: String,
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_binary(project: &Project) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let bin = exe.with_file_name("fake-workspace");
    if bin.is_file() {
        return Ok(bin);
    }
    eprintln!("building the fake workspace server (cargo build -p e2e --bin fake-workspace)");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args(["build", "-q", "-p", "e2e", "--bin", "fake-workspace"])
        .current_dir(&project.repo_root);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build")?;
    if !status.success() || !bin.is_file() {
        bail!("could not build {}", bin.display());
    }
    Ok(bin)
}

/// Starts the fake on `port` (0: any); `None` if it could not listen there.
fn start_fake(bin: &Path, port: u16) -> Result<Option<Fake>> {
    let mut child = Command::new(bin)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let out = child.stdout.take().context("fake stdout")?;
    let mut lines = BufReader::new(out).lines();
    let mut host = None;
    let mut token = None;
    for line in lines.by_ref().take(2) {
        let line = line?;
        if let Some(h) = line.strip_prefix("DATABRICKS_HOST=") {
            host = Some(h.to_string());
        } else if let Some(t) = line.strip_prefix("DATABRICKS_TOKEN=") {
            token = Some(t.to_string());
        }
    }
    match (host, token) {
        (Some(host), Some(token)) => Ok(Some(Fake { child, host, token })),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(None)
        }
    }
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    let took = start.elapsed();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(5).collect();
        bail!(
            "{:?} failed ({}): {}",
            cmd.get_program(),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    Ok(took)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Which figure of a tool a row shows.
type Pick = fn(&Figures) -> Option<Duration>;

/// Initial, no-change and one-change times of one tool.
#[derive(Default)]
struct Figures {
    initial: Option<Duration>,
    nochange: Option<Duration>,
    one: Option<Duration>,
    note: String,
}

pub fn bench_remote(project: &Project, n: usize) -> Result<()> {
    let tmp = TempDir::new("xtask-bench-remote")?;
    let bin = fake_binary(project)?;
    let fake = match start_fake(&bin, 80)? {
        Some(f) => f,
        None => start_fake(&bin, 0)?.context("the fake workspace did not start")?,
    };
    let on_80 = fake.host.ends_with(":80");
    println!("fake workspace at {}", fake.host);

    let src = tmp.path().join("src");
    let bytes = super::deploy::generate(&src, n)?;
    let targets: String = (0..3)
        .map(|i| format!("  t{i}:\n    default: {}\n", i == 0))
        .collect();
    std::fs::write(
        src.join("databricks.yml"),
        format!("bundle:\n  name: bench\ntargets:\n{targets}"),
    )?;
    println!(
        "synthetic bundle: {n} files, {:.1} MB, {} folders",
        bytes as f64 / 1e6,
        n.div_ceil(9)
    );
    // Files younger than the stat cache's racy window are re-hashed on every
    // run (see deploy/cache.rs); a real tree is older than that.
    std::thread::sleep(Duration::from_millis(1100));
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home)?;
    std::fs::write(
        home.join(".databrickscfg"),
        format!("[DEFAULT]\nhost = {}\ntoken = {}\n", fake.host, fake.token),
    )?;

    let ours = ours(tmp.path(), &src, &fake, &home)?;
    println!("{:<10} {}", "xtask", line(&ours));
    let mut peers: Vec<(&str, Figures)> = Vec::new();
    let legacy = if on_80 {
        legacy(tmp.path(), &src, &fake).unwrap_or_else(|e| Figures {
            note: format!("skipped: {e:#}"),
            ..Default::default()
        })
    } else {
        Figures {
            note: "skipped: it drops the port of DATABRICKS_HOST and the fake could not listen on port 80".into(),
            ..Default::default()
        }
    };
    println!("{:<10} {}", "legacy", line(&legacy));
    peers.push(("databricks-cli 0.18.0 import_dir", legacy));
    let dbx = dbx(tmp.path(), &src, &home).unwrap_or_else(|e| Figures {
        note: format!("skipped: {e:#}"),
        ..Default::default()
    });
    println!("{:<10} {}", "dbx", line(&dbx));
    peers.push(("dbx 0.8.19 sync", dbx));

    println!();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let fastest = |f: Pick| {
        peers
            .iter()
            .filter_map(|(name, p)| f(p).map(|d| (*name, d)))
            .min_by_key(|(_, d)| *d)
    };
    let rows: [(&str, Pick, &str); 3] = [
        ("initial deploy", |f| f.initial, "ours >= 5x faster"),
        ("no-change redeploy", |f| f.nochange, "-"),
        ("one-file redeploy", |f| f.one, "ours < 200 ms"),
    ];
    for (what, get, goal) in rows {
        let o = get(&ours).unwrap_or_default();
        match fastest(get) {
            Some((name, p)) => println!(
                "{what:<20} ours {:>9.1} ms   fastest peer ({name}) {:>9.1} ms   {:.1}x faster  (goal {goal})",
                ms(o),
                ms(p),
                ms(p) / ms(o)
            ),
            None => println!(
                "{what:<20} ours {:>9.1} ms   no peer measured  (goal {goal})",
                ms(o)
            ),
        }
    }
    drop(fake);
    Ok(())
}

fn line(f: &Figures) -> String {
    let s = |d: Option<Duration>| {
        d.map(|d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_else(|| "-".into())
    };
    format!(
        "initial {:>10}   no change {:>10}   one change {:>10}   {}",
        s(f.initial),
        s(f.nochange),
        s(f.one),
        f.note
    )
}

fn change(src: &Path, i: usize) -> Result<()> {
    std::fs::write(src.join("d0000/f00000.py"), format!("# changed {i}\n"))?;
    Ok(())
}

/// xtask as a process: `deploy --remote`, three fresh targets for the
/// initial figure, then no change and one change on the first, 3 runs each.
fn ours(tmp: &Path, src: &Path, fake: &Fake, home: &Path) -> Result<Figures> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let state = tmp.join("state");
    let deploy = |target: &str| {
        let mut cmd = Command::new(&exe);
        cmd.arg("--bundle-dir")
            .arg(src)
            .arg("--root")
            .arg(&state)
            .args(["-q", "--remote", "deploy", "--env", target])
            .env("DATABRICKS_HOST", &fake.host)
            .env("DATABRICKS_TOKEN", &fake.token)
            .env("HOME", home)
            .env_remove("DATABRICKS_CONFIG_PROFILE");
        timed(&mut cmd)
    };
    let mut initial = (0..3)
        .map(|i| deploy(&format!("t{i}")))
        .collect::<Result<Vec<_>>>()?;
    let mut nochange = (0..3).map(|_| deploy("t0")).collect::<Result<Vec<_>>>()?;
    let mut one = Vec::new();
    for i in 0..3 {
        change(src, i)?;
        one.push(deploy("t0")?);
    }
    Ok(Figures {
        initial: Some(median(&mut initial)),
        nochange: Some(median(&mut nochange)),
        one: Some(median(&mut one)),
        note: "(median of 3, as processes)".into(),
    })
}

/// A venv in `dir` with `packages` installed; the path of its `bin/`.
fn venv(dir: &Path, packages: &[&str]) -> Result<PathBuf> {
    let python = if Command::new("python3").arg("--version").output().is_ok() {
        "python3"
    } else {
        bail!("python3 is not installed")
    };
    let out = Command::new(python)
        .args(["-m", "venv"])
        .arg(dir)
        .output()
        .context("python3 -m venv")?;
    if !out.status.success() {
        bail!(
            "python3 -m venv failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let bin = dir.join("bin");
    eprintln!("installing {} (pip, into a temp venv)", packages.join(" "));
    let out = Command::new(bin.join("pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .args(packages)
        .output()
        .context("pip install")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "pip install {} failed: {}",
            packages.join(" "),
            err.lines().last().unwrap_or_default()
        );
    }
    Ok(bin)
}

/// `databricks workspace import_dir -o`: one request per file, in sequence,
/// and no notion of "unchanged", so each run re-imports everything.
fn legacy(tmp: &Path, src: &Path, fake: &Fake) -> Result<Figures> {
    let bin = venv(&tmp.join("venv-legacy"), &["databricks-cli==0.18.0"])?;
    let tree = tmp.join("src-legacy");
    super::copy_tree(src, &tree)?;
    let run = |dest: &str| {
        timed(
            Command::new(bin.join("databricks"))
                .args(["workspace", "import_dir", "-o"])
                .arg(&tree)
                .arg(format!("/Users/{USER}/{dest}"))
                .env("DATABRICKS_HOST", fake.host.trim_end_matches(":80"))
                .env("DATABRICKS_TOKEN", &fake.token)
                .env("HOME", tmp)
                .current_dir(tmp),
        )
    };
    let initial = run("legacy")?;
    let nochange = run("legacy")?;
    change(&tree, 0)?;
    let one = run("legacy")?;
    Ok(Figures {
        initial: Some(initial),
        nochange: Some(nochange),
        one: Some(one),
        note: "(1 run each; import_dir re-imports every file every time)".into(),
    })
}

/// `dbx sync workspace --no-watch`: mtime snapshot in `<source>/.dbx`.
fn dbx(tmp: &Path, src: &Path, home: &Path) -> Result<Figures> {
    let bin = venv(&tmp.join("venv-dbx"), &["dbx==0.8.19", "click==8.1.7"])?;
    let tree = tmp.join("src-dbx");
    super::copy_tree(src, &tree)?;
    let run = || {
        timed(
            Command::new(bin.join("dbx"))
                .args(["sync", "workspace", "-s"])
                .arg(&tree)
                .args(["-d", &format!("/Users/{USER}/dbx"), "--no-watch"])
                .env("HOME", home)
                .env_remove("DATABRICKS_HOST")
                .env_remove("DATABRICKS_TOKEN")
                .current_dir(&tree),
        )
    };
    let initial = run()?;
    let mut nochange = (0..3).map(|_| run()).collect::<Result<Vec<_>>>()?;
    let mut one = Vec::new();
    for i in 0..3 {
        change(&tree, i)?;
        one.push(run()?);
    }
    Ok(Figures {
        initial: Some(initial),
        nochange: Some(median(&mut nochange)),
        one: Some(median(&mut one)),
        note: "(initial: 1 run; others median of 3)".into(),
    })
}
