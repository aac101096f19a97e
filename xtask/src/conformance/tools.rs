//! The two programs under comparison and the server they talk to: the
//! reference Databricks CLI and the CLI team's fake workspace, built by
//! `tests/cliref/build.sh`, and this very executable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct Tools {
    pub cli: PathBuf,
    pub server: PathBuf,
    pub ours: PathBuf,
}

/// `XTASK_CLI_BIN`/`XTASK_TESTSERVER_BIN`, else `target/cliref/bin/`, else a
/// build by `tests/cliref/build.sh` when Go is on PATH.
pub fn locate(repo: &Path) -> Result<Tools> {
    let ours = std::env::current_exe().context("finding this executable")?;
    let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    if let (Some(cli), Some(server)) = (env("XTASK_CLI_BIN"), env("XTASK_TESTSERVER_BIN")) {
        return Ok(Tools { cli, server, ours });
    }
    let bin = repo.join("target/cliref/bin");
    let found = |dir: &Path| dir.join("databricks").is_file() && dir.join("testserver").is_file();
    if !found(&bin) {
        build(repo)?;
    }
    if !found(&bin) {
        bail!(
            "tests/cliref/build.sh ran but {} lacks databricks or testserver",
            bin.display()
        );
    }
    Ok(Tools {
        cli: env("XTASK_CLI_BIN").unwrap_or_else(|| bin.join("databricks")),
        server: env("XTASK_TESTSERVER_BIN").unwrap_or_else(|| bin.join("testserver")),
        ours,
    })
}

fn build(repo: &Path) -> Result<()> {
    let has_go = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_go {
        bail!(
            "the reference Databricks CLI is not built (no {}/target/cliref/bin/{{databricks,testserver}}, \
             XTASK_CLI_BIN/XTASK_TESTSERVER_BIN unset) and Go is not on PATH to build it with \
             tests/cliref/build.sh",
            repo.display()
        );
    }
    eprintln!("building the reference CLI and test server (tests/cliref/build.sh)...");
    let status = Command::new("bash")
        .arg(repo.join("tests/cliref/build.sh"))
        .stdout(Stdio::null())
        .status()
        .context("running tests/cliref/build.sh")?;
    if !status.success() {
        bail!("tests/cliref/build.sh failed ({status})");
    }
    Ok(())
}

/// The fake workspace server: one process for the whole run; each token is
/// its own workspace. Ends when dropped (its stdin closes, then a kill).
pub struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
}

impl Server {
    pub fn start(bin: &Path) -> Result<Server> {
        let mut child = Command::new(bin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's URL")?;
        let url = line.trim().to_string();
        if !url.starts_with("http://127.0.0.1:") {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} printed `{url}`, not a loopback URL", bin.display());
        }
        Ok(Server { child, stdin, url })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh workspace of the server: a token it has not seen.
pub fn token() -> String {
    format!("dbapi0{}", uuid::Uuid::new_v4().simple())
}

/// What one run of a tool did.
#[derive(Debug, Clone)]
pub struct Run {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Both streams, as a user sees them.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Who runs, where: the workspace (server URL and token) and an empty HOME.
pub struct Session<'a> {
    pub url: &'a str,
    pub token: &'a str,
    pub home: &'a Path,
}

const TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `program args` in `dir` with only the environment a session needs
/// (nothing of the caller's credentials), output captured via files so a
/// chatty tool never blocks on a full pipe.
pub fn run(
    program: &Path,
    args: &[&str],
    dir: &Path,
    s: &Session,
    env: &[(&str, &str)],
) -> Result<Run> {
    let out = crate::util::TempDir::new("xtask-conf-out")?;
    let (o, e) = (out.path().join("out"), out.path().join("err"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", s.home)
        .env("DATABRICKS_HOST", s.url)
        .env("DATABRICKS_TOKEN", s.token)
        // Both tools keep the SDKs' 15 requests a second by default; on
        // loopback that is waiting for nothing (the end states compared do
        // not depend on it).
        .env("DATABRICKS_RATE_LIMIT", "1000")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o)?)
        .stderr(std::fs::File::create(&e)?);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{} {} took over {TIMEOUT:?}; stopped",
                program.display(),
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    };

    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Ok(Run {
        ok: status.success(),
        stdout: read(&o),
        stderr: read(&e),
    })
}
