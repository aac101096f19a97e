//! deploy, side by side: the CLI (direct engine) and ours each deploy the
//! bundle to a fresh workspace of the test server; both workspaces are read
//! back and compared. Then interop: one tool deploys, the other redeploys the
//! same bundle on the same workspace, both ways.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use super::readback::{self, Api};
use super::tools::{self, Run, Session};
use super::validate::{Seen, ours};
use super::{Ctx, diff};

/// `None`: the CLI itself failed to deploy the bundle, so nothing is compared.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployed {
    pub skipped: Option<String>,
    pub end_state: Vec<String>,
    pub interop: Vec<String>,
}

pub fn compare(ctx: &Ctx, src: &Path) -> Result<Deployed> {
    let a = ctx.copy_of(src)?;
    let config = reference_config(ctx, &a)?;
    let token_a = tools::token();
    let cli_run = cli_deploy(ctx, &a, &token_a)?;
    if !cli_run.ok {
        let why = format!(
            "the CLI's own deploy failed: {}",
            first_line(&cli_run.stderr)
        );
        return Ok(Deployed {
            skipped: Some(why),
            end_state: Vec::new(),
            interop: Vec::new(),
        });
    }
    let reference = readback::read(&Api::new(&ctx.url, &token_a)?, &a, &config)?;
    let b = ctx.copy_of(src)?;
    let token_b = tools::token();
    let ours_run = ours_deploy(ctx, &b, &token_b)?;
    let mut end_state = Vec::new();
    if !ours_run.run.ok {
        end_state.push(format!("ours failed: {}", last_line(&ours_run)));
    }
    let mine = readback::read(&Api::new(&ctx.url, &token_b)?, &b, &config)?;
    end_state.extend(diff::diff(&reference, &mine).iter().map(|d| d.to_string()));
    let mut interop = Vec::new();
    for cli_first in [true, false] {
        interop.extend(interop_once(ctx, src, &config, &reference, cli_first)?);
    }
    Ok(Deployed {
        skipped: None,
        end_state,
        interop,
    })
}

/// One tool then the other on one workspace: both succeed, no resource is
/// doubled, no file the CLI deploys is lost or left twice.
fn interop_once(
    ctx: &Ctx,
    src: &Path,
    config: &Value,
    reference: &Value,
    cli_first: bool,
) -> Result<Vec<String>> {
    let dir = ctx.copy_of(src)?;
    let token = tools::token();
    let order = if cli_first {
        "CLI then ours"
    } else {
        "ours then CLI"
    };
    let mut problems = Vec::new();
    let mut step = |name: &str, ok: bool, line: String| {
        if !ok {
            problems.push(format!("{order}: {name} failed: {line}"));
        }
    };
    if cli_first {
        let r = cli_deploy(ctx, &dir, &token)?;
        step("the CLI", r.ok, first_line(&r.stderr));
        let r = ours_deploy(ctx, &dir, &token)?;
        step("ours", r.run.ok, last_line(&r));
    } else {
        let r = ours_deploy(ctx, &dir, &token)?;
        step("ours", r.run.ok, last_line(&r));
        let r = cli_deploy(ctx, &dir, &token)?;
        step("the CLI", r.ok, first_line(&r.stderr));
    }
    let state = readback::read(&Api::new(&ctx.url, &token)?, &dir, config)?;
    for key in state["jobs"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        if key.contains('#') {
            problems.push(format!("{order}: duplicated job {key}"));
        }
    }
    for (rel, was) in reference["files"].as_object().into_iter().flatten() {
        let now = &state["files"][rel];
        if was != "absent" && now == "absent" {
            problems.push(format!("{order}: lost file {rel}"));
        } else if now.as_str().is_some_and(|s| s.contains(" + ")) {
            problems.push(format!("{order}: stale file beside {rel}: {now}"));
        }
    }
    Ok(problems)
}

/// The reference's resolved configuration: where files go and the names of
/// the resources to read back (`Null` if the CLI cannot resolve it).
fn reference_config(ctx: &Ctx, dir: &Path) -> Result<Value> {
    let seen = super::validate::cli(ctx, dir, &["bundle", "validate", "-o", "json"])?;
    Ok(serde_json::from_str(&seen.run.stdout).unwrap_or(Value::Null))
}

fn cli_deploy(ctx: &Ctx, dir: &Path, token: &str) -> Result<Run> {
    let home = ctx.scratch("home")?;
    let session = Session {
        url: &ctx.url,
        token,
        home: &home,
    };
    let env = [("DATABRICKS_BUNDLE_ENGINE", "direct")];
    tools::run(
        &ctx.tools.cli,
        &["bundle", "deploy", "--auto-approve"],
        dir,
        &session,
        &env,
    )
}

/// `--force`: a target named like a gated env (`prod`, `staging`) is
/// deployed as the CLI deploys it; the gates are this tool's addition,
/// tested on their own (`flow`), not a difference from the CLI.
fn ours_deploy(ctx: &Ctx, dir: &Path, token: &str) -> Result<Seen> {
    ours(ctx, dir, &["deploy", "--force"], Some(token))
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with("Error:"))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("(no output)");
    line.chars().take(200).collect()
}

fn last_line(seen: &Seen) -> String {
    first_line(&seen.norm.text(&seen.run.stderr))
}
