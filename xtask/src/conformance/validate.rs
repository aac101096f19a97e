//! validate, side by side: `databricks bundle validate -o json` against
//! `xtask validate --json --remote`, and both human outputs.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::normalise::Normaliser;
use super::tools::{self, Run, Session};
use super::{Ctx, diags, diff};

/// How one target of one case compared; empty lists agree.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compared {
    pub target: Option<String>,
    pub document: Vec<String>,
    /// Differences of diagnostics (and exit status) no README row excuses.
    pub diagnostics: Vec<String>,
    /// Differences the README lists as on purpose, each after its class
    /// (`on_purpose.rs`): the case agrees strictly only without them.
    pub on_purpose: Vec<String>,
    /// What the reference reported, for reading a difference in context.
    pub reference_diagnostics: Vec<String>,
}

pub fn compare(ctx: &Ctx, dir: &Path, target: Option<&str>) -> Result<Compared> {
    let t: Vec<&str> = target.map(|t| vec!["-t", t]).unwrap_or_default();
    let cli_json = cli(
        ctx,
        dir,
        &[&["bundle", "validate", "-o", "json"], &t[..]].concat(),
    )?;
    let ours_json = ours(ctx, dir, &[&t[..], &["validate", "--json"]].concat(), None)?;
    let cli_human = cli(ctx, dir, &[&["bundle", "validate"], &t[..]].concat())?;
    let ours_human = ours(ctx, dir, &[&t[..], &["validate"]].concat(), None)?;
    let reference = diags::parse(&cli_human.norm.text(&cli_human.run.text()));
    let mut document = documents(&cli_json, &ours_json);
    if diags::stopped_at_unassigned(&reference) {
        document.retain(|d| !diags::set_before_in_map_order(d));
    }
    let (diagnostics, on_purpose) = diagnostics(&cli_human, &ours_human);
    Ok(Compared {
        target: target.map(str::to_string),
        document,
        diagnostics,
        on_purpose,
        reference_diagnostics: reference.iter().map(|d| d.to_string()).collect(),
    })
}

/// A run's output, normalised by what was particular to it.
pub struct Seen {
    pub run: Run,
    pub norm: Normaliser,
}

pub fn cli(ctx: &Ctx, dir: &Path, args: &[&str]) -> Result<Seen> {
    invoke(
        ctx,
        dir,
        &ctx.tools.cli,
        args,
        &[("DATABRICKS_BUNDLE_ENGINE", "direct")],
        None,
    )
}

/// Ours on `dir`, remote (it asks the workspace who the user is, as the CLI
/// does), its local state kept out of the bundle; on `token`'s workspace, or
/// a fresh one.
pub fn ours(ctx: &Ctx, dir: &Path, args: &[&str], token: Option<&str>) -> Result<Seen> {
    let root = ctx.scratch(".ours-root")?;
    let dir_s = dir.display().to_string();
    let mut all = vec!["--bundle-dir", dir_s.as_str(), "--remote"];
    all.extend_from_slice(args);
    let root_s = root.display().to_string();
    invoke(
        ctx,
        dir,
        &ctx.tools.ours,
        &all,
        &[("XTASK_ROOT", root_s.as_str())],
        token,
    )
}

fn invoke(
    ctx: &Ctx,
    dir: &Path,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    token: Option<&str>,
) -> Result<Seen> {
    let home = ctx.scratch("home")?;
    let token = token.map_or_else(tools::token, str::to_string);
    let session = Session {
        url: &ctx.url,
        token: &token,
        home: &home,
    };
    let run = tools::run(program, args, dir, &session, env)?;
    Ok(Seen {
        run,
        norm: Normaliser::new(dir, &home, &ctx.url, &token),
    })
}

/// What a `--json`/`-o json` run printed.
enum Doc {
    Printed(Value),
    /// Nothing, or (ours) a failure report: the run failed.
    Nothing,
    /// Output that is no JSON: never counted as agreement.
    Unreadable(String),
}

fn document(seen: &Seen) -> Doc {
    let text = seen.run.stdout.trim();
    if text.is_empty() {
        return Doc::Nothing;
    }
    match read_deep(text) {
        Ok(doc) if doc.get("ok") == Some(&Value::Bool(false)) => Doc::Nothing,
        Ok(doc) => Doc::Printed(seen.norm.json(&doc)),
        Err(e) => Doc::Unreadable(format!("{e}")),
    }
}

/// JSON at any depth (on a stack that `documents` makes large enough).
fn read_deep(text: &str) -> serde_json::Result<Value> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let doc = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(doc)
}

/// The differences of both documents. Read, normalised, compared and
/// dropped on a thread of its own with a large stack: each of those recurses
/// once per level, and the CLI nests a cycle of complex variables 2,048
/// levels deep (`variables/complex-cycle`).
fn documents(cli: &Seen, ours: &Seen) -> Vec<String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || compare_documents(cli, ours))
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["comparing the documents panicked".into()])
            })
            .unwrap_or_else(|e| vec![format!("no thread to compare the documents on: {e}")])
    })
}

fn compare_documents(cli: &Seen, ours: &Seen) -> Vec<String> {
    match (document(cli), document(ours)) {
        (Doc::Printed(a), Doc::Printed(b)) => {
            diff::diff(&a, &b).iter().map(|d| d.to_string()).collect()
        }
        (Doc::Nothing, Doc::Nothing) => Vec::new(),
        (Doc::Unreadable(e), _) => vec![format!("the reference's output is no readable JSON: {e}")],
        (_, Doc::Unreadable(e)) => vec![format!("our output is no readable JSON: {e}")],
        (Doc::Printed(_), Doc::Nothing) => {
            vec![format!("ours printed no document: {}", first_line(ours))]
        }
        (Doc::Nothing, Doc::Printed(_)) => vec![format!(
            "the reference printed no document: {}",
            first_line(cli)
        )],
    }
}

fn first_line(seen: &Seen) -> String {
    let text = seen.norm.text(&seen.run.text());
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("(no output)");
    line.chars().take(160).collect()
}

/// The differences no README row excuses, and those it does (with the class).
fn diagnostics(cli: &Seen, ours: &Seen) -> (Vec<String>, Vec<String>) {
    let a = diags::parse(&cli.norm.text(&cli.run.text()));
    let b = diags::parse(&ours.norm.text(&ours.run.text()));
    let mut strict = Vec::new();
    let mut excused = Vec::new();
    for d in diags::compare((&a, cli.run.ok), (&b, ours.run.ok)) {
        match d.on_purpose {
            Some(why) => excused.push(format!("[on purpose: {}] {}", why.name(), d.text)),
            None => strict.push(d.text),
        }
    }
    (strict, excused)
}
