//! `cargo xtask bench <kind>`: measurements that print ratios against a peer
//! measured in the same run. Run them on a release build:
//! `cargo run --release -p xtask -- bench <kind>`.

pub mod cli;
pub mod deploy;
pub mod remote;
pub mod watch;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::project::Project;

const RUNS: usize = 21;

/// `validate` as a whole process, median of `RUNS`, on this repository's
/// bundle and on the largest corpus bundle. The peer is the cost of starting
/// a process at all (`git --version`): what no CLI can go below.
pub fn validate(project: &Project) -> Result<()> {
    let exe = std::env::current_exe().context("finding this executable")?;
    // The corpus lies in `shared/` beside the repository (or a worktree of it).
    let corpus = project
        .repo_root
        .ancestors()
        .map(|a| a.join("shared/corpus/mlops-stacks-azure-uc"))
        .find(|p| p.is_dir());
    let mut bundles = vec![("this repository's bundle", project.bundle_dir.clone())];
    match corpus {
        Some(dir) => bundles.push(("corpus mlops-stacks-azure-uc (largest)", dir)),
        None => eprintln!("note: shared/corpus not found; measuring this repository's bundle only"),
    }
    let spawn = median_of(|| timed(Command::new("git").arg("--version")))?;
    println!("process start (git --version): {:.2} ms", ms(spawn));
    for (label, dir) in bundles {
        let t = median_of(|| {
            timed(
                Command::new(&exe)
                    .arg("--bundle-dir")
                    .arg(&dir)
                    .args(["-q", "validate"]),
            )
        })?;
        println!(
            "validate, {label}: median {:.2} ms of {RUNS} runs (goal < 20 ms), {:.1}x a bare process start",
            ms(t),
            ms(t) / ms(spawn)
        );
    }
    Ok(())
}

fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {cmd:?}"))?;
    let took = start.elapsed();
    if !status.success() {
        bail!("{cmd:?} failed ({status})");
    }
    Ok(took)
}

/// The median of `RUNS` measurements, after one untimed warm-up.
pub fn median_of(mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
    f()?;
    let mut v = (0..RUNS).map(|_| f()).collect::<Result<Vec<_>>>()?;
    v.sort();
    Ok(v[v.len() / 2])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
