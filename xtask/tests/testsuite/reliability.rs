//! The figures of the README's "Reliability" section, measured: each test
//! prints one line (`cargo test -p e2e --test reliability -- --nocapture`)
//! and fails if any case was not handled. Bounded in time: fixed counts, a
//! time limit per fuzzed run and for the whole fuzz.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::deploy::{Repo, text};

fn set_source(repo: &Repo, v: u32) {
    for i in 0..30 {
        repo.write(&format!("data/f{i}.txt"), &format!("{i}\n"));
    }
    repo.write("README.md", &format!("version {v}\n"));
    repo.write(&format!("v{v}/only.txt"), "x");
    let _ = std::fs::remove_dir_all(repo.bundle().join(format!("v{}", 1 - v)));
    repo.write("rag/chunk.py", &format!("def chunk(s):\n    return {v}\n"));
}

fn source(repo: &Repo) -> BTreeMap<String, Vec<u8>> {
    crate::support::deploy::files_under(&repo.bundle())
        .into_iter()
        .filter(|(p, _)| !p.starts_with(".git/"))
        .collect()
}

/// Kill a deploy (abort, as `kill -9`) after each of its steps in turn: the
/// env holds exactly the old or the new tree, and the next deploy recovers.
#[test]
fn kills() {
    let repo = Repo::new();
    set_source(&repo, 0);
    repo.deploy("dev");
    let mut trees = vec![repo.deployed("dev")];
    set_source(&repo, 1);
    repo.deploy("dev");
    trees.push(repo.deployed("dev"));
    let (mut tried, mut consistent, mut recovered) = (0, 0, 0);
    let mut cur = 1;
    for step in 1..200 {
        let next = 1 - cur;
        set_source(&repo, next as u32);
        let out = repo
            .xtask(&["deploy", "--env", "dev"])
            .env("XTASK_FAULT_AFTER_STEP", step.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            break;
        }
        tried += 1;
        let seen = repo.deployed("dev");
        consistent += usize::from(seen == trees[cur] || seen == trees[next]);
        let again = repo.run(&["deploy", "--env", "dev"]);
        recovered += usize::from(again.status.success() && repo.deployed("dev") == trees[next]);
        cur = next;
    }
    println!("FIGURE kills tried {tried} / consistent {consistent} / recovered {recovered}");
    assert!(tried > 10);
    assert_eq!((consistent, recovered), (tried, tried));
}

/// Two deploys of the same env at once (one of them `--force-lock` every
/// other run): one may be refused, but the env never ends up corrupted: its
/// files match its manifest and the source tree.
#[test]
fn races() {
    let repo = Repo::new();
    repo.deploy("dev");
    let runs = 20;
    let mut corrupted = 0;
    for i in 0..runs {
        set_source(&repo, i % 2);
        let forced: &[&str] = if i % 2 == 0 { &["--force-lock"] } else { &[] };
        let a = repo
            .xtask(&["deploy", "--env", "dev", "-q"])
            .spawn()
            .unwrap();
        let b = repo
            .xtask(&["deploy", "--env", "dev", "-q"])
            .args(forced)
            .spawn()
            .unwrap();
        let ok = [a, b].map(|mut c| c.wait().unwrap().success());
        let status = repo.json(&["status", "--env", "dev"]);
        let clean =
            status[0]["drift"] == serde_json::json!({"changed": [], "added": [], "missing": []});
        if !ok.iter().any(|s| *s) || !clean || repo.deployed("dev") != source(&repo) {
            corrupted += 1;
            eprintln!("run {i}: ok {ok:?}, status {status}");
        }
    }
    println!("FIGURE races run {runs} / corrupted {corrupted}");
    assert_eq!(corrupted, 0);
}

/// Damaged state, one case at a time: `status` reports and goes on, and the
/// next deploy succeeds with the source deployed.
#[test]
fn corrupted_states() {
    type Damage = fn(&std::path::Path);
    fn put(path: std::path::PathBuf, bytes: &str) {
        let _ = std::fs::remove_file(&path);
        std::fs::write(path, bytes).unwrap();
    }
    let cases: Vec<(&str, Damage)> = vec![
        ("empty lock", |e| put(e.join("state/deploy.lock"), "")),
        ("cut lock", |e| {
            put(e.join("state/deploy.lock"), "{\"ID\":\"x\",")
        }),
        ("garbage metadata", |e| {
            put(e.join("state/metadata.json"), "\0{")
        }),
        ("garbage deployment", |e| {
            put(e.join("state/deployment.json"), "[")
        }),
        ("garbage tfstate", |e| {
            put(e.join("state/terraform.tfstate"), "x")
        }),
        ("garbage history", |e| {
            put(e.join("state/history.json"), "}")
        }),
        ("empty history", |e| put(e.join("state/history.json"), "")),
        ("emptied history and snapshot", |e| {
            put(e.join("state/history.json"), "{\"deployments\":[]}");
            put(e.join("current/state/history.json"), "{\"deployments\":[]}");
        }),
        ("state folder gone", |e| {
            std::fs::remove_dir_all(e.join("state")).unwrap();
        }),
        ("leftover temp files", |e| {
            put(e.join(".current-x.tmp"), "");
            put(e.join("state/.history.json.tmp-1"), "");
        }),
        ("stat cache garbage", |e| {
            std::fs::create_dir_all(e.join(".cache")).unwrap();
            put(e.join(".cache/env-stat"), "\u{1}garbage\n");
        }),
    ];
    let mut handled = 0;
    for (i, (name, damage)) in cases.iter().enumerate() {
        let repo = Repo::new();
        set_source(&repo, 0);
        repo.deploy("dev");
        set_source(&repo, 1);
        repo.deploy("dev");
        damage(&repo.env_dir("dev"));
        let status = repo.run(&["status", "--env", "dev"]);
        set_source(&repo, (i % 2) as u32);
        let deploy = repo.run(&["deploy", "--env", "dev"]);
        let ok = status.status.success()
            && deploy.status.success()
            && repo.deployed("dev") == source(&repo);
        if ok {
            handled += 1;
        } else {
            eprintln!("{name}: status {}\ndeploy {}", text(&status), text(&deploy));
        }
    }
    println!(
        "FIGURE corrupted-state cases {} / handled {handled}",
        cases.len()
    );
    assert_eq!(handled, cases.len());
}

/// A small xorshift generator: reproducible inputs without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "${var.a}",
    "${var.a}${var.a}",
    "${bundle.name}",
    "${",
    "}",
    ":",
    " ",
    "\n",
    "\n  ",
    "- ",
    "&a ",
    "*a",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    "'",
    "\"",
    "#",
    "..",
    "../",
    "/",
    "\0",
    "\t",
    "name: ../x",
    "targets:\n  ",
    "variables:\n  a:\n    default: ",
    "resources:\n  jobs:\n    ",
    "include:\n  - ",
    "!!binary ",
    "~",
    "null",
    "1e999",
    "-1",
    "é",
    "\u{feff}",
];

fn mutate(rng: &mut Rng, seed: &str) -> Vec<u8> {
    let mut s: Vec<u8> = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(6) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(20)).min(s.len());
                s.drain(at..end);
            }
            1 => {
                let byte = rng.next() as u8;
                s.insert(at, byte);
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                s.splice(at..at, t.bytes());
            }
        }
    }
    s
}

/// `validate` on mutated databricks.yml files: no panic (a crash), no run
/// past its time limit (a hang). The seeds are the project's own bundle
/// file and small ones that reach variables, targets and jobs.
#[test]
fn fuzz_validate() {
    let project_yml =
        std::fs::read_to_string(e2e::workspace_root().join("bundle/databricks.yml")).unwrap();
    let seeds = [
        project_yml.as_str(),
        crate::support::deploy::DATABRICKS_YML,
        "bundle:\n  name: f\nvariables:\n  a:\n    default: x\n  b:\n    default: ${var.a}\ntargets:\n  dev:\n    default: true\n    variables:\n      a: y\nresources:\n  jobs:\n    j:\n      name: ${var.b}\n",
    ];
    let limit = Duration::from_secs(10);
    let budget = Duration::from_secs(90);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut iterations, mut crashes, mut hangs) = (0, 0, 0);
    while iterations < 400 && started.elapsed() < budget {
        let seed = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        std::fs::write(dir.path().join("databricks.yml"), &input).unwrap();
        let mut child = crate::xtask()
            .arg("--bundle-dir")
            .arg(dir.path())
            .args(["validate", "--json"])
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let run = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if run.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        iterations += 1;
        match status {
            None => {
                hangs += 1;
                eprintln!("hang on:\n{}", String::from_utf8_lossy(&input));
            }
            Some(s) if !matches!(s.code(), Some(0 | 1)) || err.contains("panicked") => {
                crashes += 1;
                eprintln!(
                    "crash ({s}) on:\n{}\n{err}",
                    String::from_utf8_lossy(&input)
                );
            }
            Some(_) => {}
        }
    }
    println!("FIGURE fuzz iterations {iterations} / crashes {crashes} / hangs {hangs}");
    assert!(iterations >= 50, "only {iterations} runs in {budget:?}");
    assert_eq!((crashes, hangs), (0, 0));
}
