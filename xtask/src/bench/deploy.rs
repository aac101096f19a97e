//! `cargo xtask bench deploy`: the local deploy against `cp -r` and
//! `rsync -a --delete` on the same synthetic tree, in one run.
//!
//! The tree: `--files` files (default 10,000, ~46 MB in ~1,100 folders) of
//! pseudo-random text. The engine runs in-process with a hand-built bundle;
//! the peers run as processes. Each figure is the median of several runs
//! (3 initial deploys, `REDEPLOYS` redeploys, alternating with the peer's),
//! caches warm.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::config::Bundle;
use crate::deploy::{self, DeployOptions};
use crate::project::Project;

/// Redeploys timed per kind: enough that a noisy neighbour on this kind of
/// machine moves the median little (a redeploy takes well under 0.2 s).
const REDEPLOYS: usize = 7;

pub fn bench_deploy(n: usize) -> Result<()> {
    let tmp = std::env::temp_dir().join(format!("xtask-bench-{}", uuid::Uuid::new_v4()));
    let result = run(&tmp, n);
    let _ = make_writable_and_remove(&tmp);
    result
}

fn make_writable_and_remove(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

/// The times of one run, each a list of samples.
#[derive(Default)]
struct Samples {
    cp: Vec<Duration>,
    ours_initial: Vec<Duration>,
    ours_stage: Vec<Duration>,
    ours_nochange: Vec<Duration>,
    rs_nochange: Vec<Duration>,
    ours_fill: Vec<Duration>,
    ours_one: Vec<Duration>,
    rs_one: Vec<Duration>,
}

fn run(tmp: &Path, n: usize) -> Result<()> {
    let src = tmp.join("src");
    let bytes = generate(&src, n)?;
    let folders = n.div_ceil(9);
    println!(
        "synthetic bundle: {n} files, {:.1} MB, {folders} folders in {}",
        bytes as f64 / 1e6,
        src.display()
    );
    // Files younger than the stat cache's racy window are re-hashed on every
    // run (see deploy/cache.rs); a real tree is older than that.
    std::thread::sleep(Duration::from_millis(1100));
    let rsync = Command::new("rsync")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    // Warm the page cache with one untimed copy.
    sh(Command::new("cp").arg("-r").arg(&src).arg(tmp.join("warm")))?;
    let mut s = Samples::default();
    initial_and_stage(tmp, &src, &mut s)?;
    redeploys(tmp, &src, rsync, &mut s)?;
    let (self_kb, children_kb) = max_rss_kb();
    let fs_costs = fs_costs(&tmp.join("fs"))?;
    print_samples(&s);
    println!(
        "file system here: {fs_costs} (a redeploy rewrites the oldest kept version into the new one: a link or write per path that differs between the two)"
    );
    println!(
        "peak memory (max RSS): xtask {:.1} MB (goal < 100 MB), children {:.1} MB",
        self_kb as f64 / 1024.0,
        children_kb as f64 / 1024.0
    );
    Ok(())
}

/// Three initial deploys beside three `cp -r`, then three promotions of a
/// deployed env into a new one (`stage`'s copy: every file read and
/// checked against the manifest).
fn initial_and_stage(tmp: &Path, src: &Path, s: &mut Samples) -> Result<()> {
    for i in 0..3 {
        s.cp.push(time(|| {
            sh(Command::new("cp")
                .arg("-r")
                .arg(src)
                .arg(tmp.join(format!("cp{i}"))))
        })?);
        let (project, bundle) = setup(tmp, src, &format!("env{i}"));
        s.ours_initial.push(time(|| {
            deploy::deploy(&project, &bundle, &DeployOptions::default()).map(drop)
        })?);
    }
    for i in 0..3 {
        let (project, bundle) = setup(tmp, src, &format!("stage{i}"));
        s.ours_stage.push(time(|| {
            deploy::promote(&project, &bundle, "env1", &DeployOptions::default()).map(drop)
        })?);
    }
    Ok(())
}

/// Redeploys of env0 beside `rsync -a --delete` into its own copy: with no
/// change, while the history fills, then with one file changed.
fn redeploys(tmp: &Path, src: &Path, rsync: bool, s: &mut Samples) -> Result<()> {
    let (project, bundle) = setup(tmp, src, "env0");
    let ours = || time(|| deploy::deploy(&project, &bundle, &DeployOptions::default()).map(drop));
    let rs_dst = tmp.join("rsync");
    let rsync_run = || {
        sh(Command::new("rsync")
            .arg("-a")
            .arg("--delete")
            .arg(format!("{}/", src.display()))
            .arg(&rs_dst))
    };
    if rsync {
        rsync_run()?;
    }
    // The copies above leave some 200 MB for the kernel to write back: flushed
    // now, so that it does not run during the redeploys of either tool.
    flush_to_disk();
    for _ in 0..REDEPLOYS {
        s.ours_nochange.push(ours()?);
        if rsync {
            s.rs_nochange.push(time(rsync_run)?);
        }
    }
    // Until the history is full each new version is a new tree (a link per
    // file); after that the oldest is rewritten in proportion to the change.
    for i in 0..5 {
        std::fs::write(src.join("d0000/f00001.py"), format!("# fill {i}\n"))?;
        s.ours_fill.push(ours()?);
    }
    flush_to_disk();
    for i in 0..REDEPLOYS {
        std::fs::write(src.join("d0000/f00000.py"), format!("# changed {i}\n"))?;
        s.ours_one.push(ours()?);
        if rsync {
            s.rs_one.push(time(rsync_run)?);
        }
    }
    Ok(())
}

fn print_samples(s: &Samples) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let line = |what: &str, ours: &[Duration], peer: &[Duration], peer_name: &str, goal: &str| {
        let (o, p) = (median(ours), median(peer));
        if peer.is_empty() {
            println!(
                "{what:<22} ours {:>8.1} ms   {peer_name}: not installed (apt-get install -y rsync)",
                ms(o)
            );
        } else {
            println!(
                "{what:<22} ours {:>8.1} ms   {peer_name} {:>8.1} ms   ratio {:.2}  (goal {goal})",
                ms(o),
                ms(p),
                ms(o) / ms(p)
            );
        }
    };
    let rsync = "rsync -a --delete";
    line("initial deploy", &s.ours_initial, &s.cp, "cp -r", "<= 1.5");
    line("stage (promote)", &s.ours_stage, &s.cp, "cp -r", "<= 1.5");
    line(
        "no-change redeploy",
        &s.ours_nochange,
        &s.rs_nochange,
        rsync,
        "<= 0.5",
    );
    let fill = "one-file, history filling";
    line(fill, &s.ours_fill, &s.rs_one, rsync, "(once per env)");
    line("one-file redeploy", &s.ours_one, &s.rs_one, rsync, "<= 0.5");
}

fn flush_to_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() }
}

/// Mean cost of link, mkdir and symlink on this file system: what a redeploy is made of.
fn fs_costs(dir: &Path) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("f"), "x")?;
    let n = 500;
    let mut out = Vec::new();
    for (name, op) in [("link", 0), ("mkdir", 1), ("symlink", 2)] {
        let t = Instant::now();
        for i in 0..n {
            let p = dir.join(format!("{name}{i}"));
            match op {
                0 => std::fs::hard_link(dir.join("f"), p)?,
                1 => std::fs::create_dir(p)?,
                _ => std::os::unix::fs::symlink("f", p)?,
            }
        }
        out.push(format!(
            "{name} {:.0} µs",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        ));
    }
    Ok(out.join(", "))
}

fn setup(tmp: &Path, src: &Path, env: &str) -> (Project, Bundle) {
    let project = Project::quiet_local(src, &tmp.join("state"), env);
    let bundle = Bundle {
        root: src.to_path_buf(),
        name: "bench".into(),
        target: env.into(),
        mode: None,
        config: serde_json::json!({"bundle": {"name": "bench", "git": {"commit": "bench"}}}),
        resource_files: Default::default(),
        source: Default::default(),
    };
    (project, bundle)
}

/// Write `n` files of 1–8 KB (mean ~4.6 KB) of pseudo-random text, 9 per folder.
pub fn generate(src: &Path, n: usize) -> Result<u64> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut total = 0;
    for i in 0..n {
        let dir: PathBuf = src.join(format!("d{:04}", i / 9));
        if i % 9 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        let size = 1024 + (next() % 7300) as usize;
        let mut text = String::with_capacity(size + 16);
        while text.len() < size {
            text.push_str(&format!("x_{:016x} = {}\n", next(), i));
        }
        std::fs::write(dir.join(format!("f{i:05}.py")), &text)?;
        total += text.len() as u64;
    }
    Ok(total)
}

fn sh(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn time(f: impl FnOnce() -> Result<()>) -> Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// Max resident set size of this process and of its waited-for children, in KB.
fn max_rss_kb() -> (i64, i64) {
    let get = |who| {
        // SAFETY: getrusage fills the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        u.ru_maxrss
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}
