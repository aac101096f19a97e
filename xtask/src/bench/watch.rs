//! `cargo xtask bench watch`: save-to-landed latency of `watch`, measured by
//! this process (separate from the watcher): write a file, wait for its new
//! content in `test/files`. The peer, in the same run, is what the
//! Databricks CLI does: a full sync once a second (`rsync -a --delete` in a
//! 1 s loop, or `cp -r` where rsync is missing).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench::ms;
use crate::project::Project;
use crate::util::TempDir;

const SAVES: usize = 100;
const DEADLINE: Duration = Duration::from_secs(30);

pub fn bench(project: &Project, files: usize) -> Result<()> {
    let tmp = TempDir::new("xtask-bench-watch")?;
    let tmp = tmp.path();
    // This repository's bundle, copied so the benchmark never touches it.
    let ours = tmp.join("repo-bundle");
    super::copy_tree(&project.bundle_dir, &ours)?;
    measure(
        "this repository's bundle",
        tmp,
        &ours,
        "rag_code_files/bench_probe.py",
    )?;

    let synthetic = tmp.join("synthetic");
    super::deploy::generate(&synthetic, files)?;
    std::fs::write(
        synthetic.join("databricks.yml"),
        "bundle:\n  name: bench\ntargets:\n  test:\n    default: true\n",
    )?;
    measure(
        &format!("synthetic bundle, {files} files"),
        tmp,
        &synthetic,
        "d0000/bench_probe.py",
    )?;
    Ok(())
}

/// Start `watch` on `bundle`, then time `SAVES` saves of `probe`; then the
/// peer on the same tree. Prints p50/p95 of both and their ratio.
fn measure(label: &str, tmp: &Path, bundle: &Path, probe: &str) -> Result<()> {
    let root = tmp.join(format!("state-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&root)?;
    std::fs::write(bundle.join(probe), "# probe 0\n")?;
    let name = bundle_name(bundle)?;
    let landed = root
        .join(".bundle")
        .join(&name)
        .join("test")
        .join("files")
        .join(probe);

    let exe = std::env::current_exe().context("finding this executable")?;
    let mut watcher = Child2(
        Command::new(exe)
            .arg("--bundle-dir")
            .arg(bundle)
            .arg("--root")
            .arg(&root)
            .args(["-q", "watch", "--env", "test"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting watch")?,
    );
    let ours = saves(bundle, probe, &landed, &mut watcher.0)?;
    drop(watcher);

    let peer_dir = tmp.join(format!("peer-{}", uuid::Uuid::new_v4().simple()));
    let mut peer = Child2(start_peer(bundle, &peer_dir)?);
    let theirs = saves(bundle, probe, &peer_dir.join(probe), &mut peer.0)?;
    drop(peer);

    let (p50, p95) = percentiles(&ours);
    let (q50, q95) = percentiles(&theirs);
    println!("watch, {label}: {SAVES} saves");
    println!(
        "  xtask watch   p50 {:>7.1} ms   p95 {:>7.1} ms   (goal p50 <= 80 ms, p95 <= 150 ms)",
        ms(p50),
        ms(p95)
    );
    println!(
        "  1 s full sync p50 {:>7.1} ms   p95 {:>7.1} ms   (the Databricks CLI's polling)",
        ms(q50),
        ms(q95)
    );
    println!(
        "  ratio (xtask / peer): p50 {:.3}x, p95 {:.3}x",
        ms(p50) / ms(q50),
        ms(p95) / ms(q95)
    );
    Ok(())
}

/// Save `probe` with new content `SAVES` times; each time wait until
/// `landed` holds it, and record the latency.
fn saves(bundle: &Path, probe: &str, landed: &Path, child: &mut Child) -> Result<Vec<Duration>> {
    // The initial state: the first content must land before timing.
    std::fs::write(bundle.join(probe), "# probe 0\n")?;
    wait_for(landed, "# probe 0\n", child)?;
    let mut out = Vec::with_capacity(SAVES);
    for i in 1..=SAVES {
        let content = format!("# probe {i}\n");
        let start = Instant::now();
        std::fs::write(bundle.join(probe), &content)?;
        wait_for(landed, &content, child)?;
        out.push(start.elapsed());
        // Space the saves like a person does, so each is its own batch.
        std::thread::sleep(Duration::from_millis(30));
    }
    Ok(out)
}

fn wait_for(path: &Path, content: &str, child: &mut Child) -> Result<()> {
    let start = Instant::now();
    loop {
        if std::fs::read(path).is_ok_and(|b| b == content.as_bytes()) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the synchronizer exited ({status}) before {} landed",
                path.display()
            );
        }
        if start.elapsed() > DEADLINE {
            bail!(
                "{} did not receive {content:?} within {DEADLINE:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// A full one-way sync once a second, as `databricks bundle sync --watch` does.
fn start_peer(src: &Path, dst: &Path) -> Result<Child> {
    std::fs::create_dir_all(dst)?;
    let rsync = Command::new("rsync")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let sync = if rsync {
        // --checksum: saves land within the same second, which rsync's
        // mtime-and-size check would miss.
        format!(
            "rsync -a --delete --checksum '{}/' '{}/'",
            src.display(),
            dst.display()
        )
    } else {
        format!("cp -r '{}/.' '{}/'", src.display(), dst.display())
    };
    Command::new("sh")
        .arg("-c")
        .arg(format!("while :; do {sync}; sleep 1; done"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the peer")
}

/// Kills the child when dropped, so an error never leaves one running.
struct Child2(Child);

impl Drop for Child2 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bundle_name(bundle: &Path) -> Result<String> {
    match crate::config::load_name(bundle) {
        (Some(name), diags) if !diags.iter().any(|d| d.is_error()) => Ok(name),
        _ => bail!("{} has no valid bundle.name", bundle.display()),
    }
}

fn percentiles(v: &[Duration]) -> (Duration, Duration) {
    let mut v = v.to_vec();
    v.sort();
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    (at(0.50), at(0.95))
}
