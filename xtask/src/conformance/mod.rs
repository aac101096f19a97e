//! `cargo xtask conformance`: this tool beside the reference Databricks CLI,
//! on this repository's bundle, the corpus and the CLI's own acceptance
//! cases, against the CLI team's fake workspace (see `tests/cliref/`).
//! validate documents and diagnostics, deploy end states and interop are
//! scored per folder; `conformance/floors.json` holds the floors.

pub mod cases;
mod deploy;
mod diags;
mod diff;
mod normalise;
mod on_purpose;
mod readback;
mod report;
pub mod tools;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

use crate::util::TempDir;

pub struct Options {
    pub floors: PathBuf,
    pub out: PathBuf,
    pub filter: Option<String>,
    pub verbose: bool,
    pub json: bool,
    pub check_floors: bool,
    pub record_floors: bool,
}

/// What every comparison shares: the tools, the one server, a scratch folder.
pub struct Ctx {
    pub tools: tools::Tools,
    pub url: String,
    scratch: TempDir,
}

impl Ctx {
    /// A new empty folder of this run (an empty HOME, a state root).
    pub fn scratch(&self, prefix: &str) -> Result<PathBuf> {
        let dir = self
            .scratch
            .path()
            .join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// A fresh copy of the bundle in `src`, its hosts pointed at the server.
    pub fn copy_of(&self, src: &Path) -> Result<PathBuf> {
        let dir = self.scratch("case")?.join("bundle");
        cases::prepare(src, &dir, &self.url)?;
        Ok(dir)
    }
}

pub fn run(repo: &Path, bundle_dir: &Path, opts: &Options) -> Result<()> {
    if opts.filter.is_some() && (opts.check_floors || opts.record_floors) {
        bail!("--check-floors and --record-floors need every case: drop --filter");
    }
    let tools = tools::locate(repo)?;
    let server = tools::Server::start(&tools.server)?;
    let ctx = Ctx {
        tools,
        url: server.url.clone(),
        scratch: TempDir::new("xtask-conformance")?,
    };
    let sources = cases::Sources {
        bundle: bundle_dir.to_path_buf(),
        corpus: corpus_dir(repo),
        acceptance: acceptance_dir(repo),
    };
    let cases = cases::collect(&sources, opts.filter.as_deref())?;
    let results = run_cases(&ctx, &cases)?;
    drop(server);
    let rows = report::scores(&results);
    let scores = report::to_json(&rows);
    let out = &opts.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    write_json(&out.join("scores.json"), &scores)?;
    write_json(&out.join("cases.json"), &serde_json::to_value(&results)?)?;
    if opts.verbose {
        print_cases(&results);
    }
    if opts.json {
        crate::util::print_json(&scores)?;
    } else {
        print!("{}", report::table(&rows));
    }
    let floors_path = &opts.floors;
    if opts.record_floors {
        write_json(
            floors_path,
            &serde_json::to_value(report::floors_of(&rows))?,
        )?;
        eprintln!("recorded the floors in {}", floors_path.display());
    }
    if opts.check_floors {
        let below = report::below_floors(&rows, &report::read_floors(floors_path)?);
        if !below.is_empty() {
            bail!(
                "conformance below its floors ({}):\n  {}",
                floors_path.display(),
                below.join("\n  ")
            );
        }
    }
    Ok(())
}

fn run_cases(ctx: &Ctx, cases: &[cases::Case]) -> Result<Vec<report::CaseResult>> {
    let slots: Mutex<Vec<Option<report::CaseResult>>> = Mutex::new(vec![None; cases.len()]);
    crate::util::parallel(cases.len(), |i| {
        let case = &cases[i];
        let result = run_case(ctx, case);
        let line = summary_line(&result);
        eprintln!("{}/{}: {line}", case.folder, case.name);
        slots.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
        Ok(())
    })?;
    Ok(slots
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect())
}

/// One case: every target validated, then (where asked) deployed. A failure
/// of the runner itself (a tool that hung) counts against the case.
fn run_case(ctx: &Ctx, case: &cases::Case) -> report::CaseResult {
    let mut validate = Vec::new();
    let failed = |target: Option<&String>, e: anyhow::Error| validate::Compared {
        target: target.cloned(),
        document: vec![format!("runner error: {e:#}")],
        diagnostics: vec![format!("runner error: {e:#}")],
        on_purpose: Vec::new(),
        reference_diagnostics: Vec::new(),
    };
    let dir = ctx.copy_of(&case.dir);
    for target in &case.targets {
        let compared = match &dir {
            Ok(dir) => validate::compare(ctx, dir, target.as_deref()),
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
        };
        validate.push(compared.unwrap_or_else(|e| failed(target.as_ref(), e)));
    }
    let deploy = case.deploy.then(|| {
        deploy::compare(ctx, &case.dir).unwrap_or_else(|e| deploy::Deployed {
            skipped: None,
            end_state: vec![format!("runner error: {e:#}")],
            interop: vec![format!("runner error: {e:#}")],
        })
    });
    report::CaseResult {
        folder: case.folder.clone(),
        case: case.name.clone(),
        validate,
        deploy,
    }
}

fn summary_line(r: &report::CaseResult) -> String {
    let docs = r.validate.iter().filter(|c| c.document.is_empty()).count();
    let diags = r
        .validate
        .iter()
        .filter(|c| c.diagnostics.is_empty() && c.on_purpose.is_empty())
        .count();
    let excused = r
        .validate
        .iter()
        .filter(|c| c.diagnostics.is_empty())
        .count();
    let n = r.validate.len();
    let deploy = match &r.deploy {
        None => String::new(),
        Some(d) if d.skipped.is_some() => ", deploy skipped (the CLI failed)".into(),
        Some(d) => format!(
            ", deploy {}, interop {}",
            if d.end_state.is_empty() {
                "agrees"
            } else {
                "differs"
            },
            if d.interop.is_empty() {
                "passes"
            } else {
                "fails"
            }
        ),
    };
    format!(
        "documents {docs}/{n}, diagnostics {diags}/{n} ({excused}/{n} with on-purpose differences excused){deploy}"
    )
}

fn print_cases(results: &[report::CaseResult]) {
    let excused = results
        .iter()
        .any(|r| r.validate.iter().any(|c| !c.on_purpose.is_empty()));
    if excused {
        println!(
            "differences marked [on purpose: ...] are rows of the README table \"Where validate differs from the CLI on purpose\":"
        );
        for class in on_purpose::OnPurpose::ALL {
            println!("  {}: {}", class.name(), class.readme_row());
        }
    }
    for r in results {
        for c in &r.validate {
            let t = c.target.as_deref().unwrap_or("(default)");
            for d in &c.document {
                println!("{}/{} -t {t}: document: {d}", r.folder, r.case);
            }
            for d in c.diagnostics.iter().chain(&c.on_purpose) {
                println!("{}/{} -t {t}: diagnostics: {d}", r.folder, r.case);
            }
        }
        if let Some(d) = &r.deploy {
            for line in d.skipped.iter().chain(&d.end_state).chain(&d.interop) {
                println!("{}/{}: deploy: {line}", r.folder, r.case);
            }
        }
    }
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let text = serde_json::to_string_pretty(value)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `XTASK_CORPUS_DIR`, else `shared/corpus` beside the repository (or the
/// folder holding a worktree of it); none is fine (left out, said so).
pub fn corpus_dir(repo: &Path) -> Option<PathBuf> {
    let found = match std::env::var_os("XTASK_CORPUS_DIR") {
        Some(dir) => Some(PathBuf::from(dir)).filter(|p| p.is_dir()),
        None => repo
            .ancestors()
            .map(|a| a.join("shared/corpus"))
            .find(|p| p.is_dir()),
    };
    if found.is_none() {
        eprintln!(
            "note: no shared/corpus beside the repository (nor XTASK_CORPUS_DIR): corpus left out"
        );
    }
    found
}

/// The CLI's acceptance cases, from the module cache, at the version
/// `tests/cliref/go.mod` pins (`XTASK_ACCEPTANCE_DIR` overrides).
fn acceptance_dir(repo: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XTASK_ACCEPTANCE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let gomod = std::fs::read_to_string(repo.join("tests/cliref/go.mod")).ok()?;
    let version = gomod.lines().find_map(|l| {
        let rest = l.trim().trim_start_matches("require ").trim();
        rest.strip_prefix("github.com/databricks/cli ")
            .map(|v| v.trim().to_string())
    })?;
    let cache = std::process::Command::new("go")
        .args(["env", "GOMODCACHE"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join("go/pkg/mod")))?;
    let dir = cache.join(format!(
        "github.com/databricks/cli@{version}/acceptance/bundle"
    ));
    if !dir.is_dir() {
        eprintln!(
            "note: {} not found (run tests/cliref/build.sh): acceptance cases left out",
            dir.display()
        );
        return None;
    }
    Some(dir)
}
