//! The `plan`, `deploy`, `status` and `rollback` commands: load the
//! configuration (refusing to act on errors), call the engine, print.

use anyhow::Result;

use anyhow::bail;
use serde_json::json;

use super::{DeployOptions, DeployReport, EnvStatus, GATED_ENVS, RollbackReport};
use crate::project::Project;

pub fn plan_cmd(project: &Project) -> Result<()> {
    let bundle = super::load_target(project, project.settings.env.as_deref())?;
    let report = super::plan(project, &bundle, &DeployOptions::default())?;
    if project.settings.json {
        return crate::util::print_json(&report);
    }
    print_report(&report, project.settings.verbose);
    Ok(())
}

/// What `deploy` was asked (plain data: the commands layer fills it).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeployRequest {
    /// Take the deploy lock even if another deploy holds it (recorded).
    pub force_lock: bool,
    /// Deploy to an env a gate feeds, outside the gate (recorded as ungated).
    pub force: bool,
}

pub fn deploy_cmd(project: &Project, req: &DeployRequest) -> Result<()> {
    let bundle = super::load_target(project, project.settings.env.as_deref())?;
    let mut metadata = serde_json::Map::new();
    if let Some((env, gate)) = GATED_ENVS.iter().find(|(env, _)| *env == bundle.target) {
        if !req.force {
            bail!(
                "env {env} is written by `cargo xtask {gate}`, which copies only tested bytes; \
                 run that gate, or pass --force to deploy the working tree there (recorded as ungated)"
            );
        }
        metadata.insert(
            "ungated".into(),
            json!({"by": super::current_user(&bundle), "bypassed": gate}),
        );
    }
    let opts = DeployOptions {
        force_lock: req.force_lock,
        verbose: project.settings.verbose,
        metadata,
        ..Default::default()
    };
    let report = super::deploy(project, &bundle, &opts)?;
    if project.settings.json {
        return crate::util::print_json(&report);
    }
    if !project.settings.quiet {
        print_report(&report, project.settings.verbose);
    }
    Ok(())
}

fn print_report(r: &DeployReport, verbose: bool) {
    for w in &r.warnings {
        eprintln!("Warning: {w}");
    }
    let head = if r.dry_run { "Plan for" } else { "Deployed to" };
    println!("{head} env {} ({})", r.env, r.location);
    if r.noop {
        println!("  no changes");
    }
    let f = &r.files;
    println!(
        "  files: {} to put, {} to delete, {} unchanged",
        f.put.len(),
        f.delete.len(),
        f.unchanged
    );
    let limit = if verbose { usize::MAX } else { 50 };
    for p in f.put.iter().take(limit) {
        println!("    put     {p}");
    }
    for p in f.delete.iter().take(limit) {
        println!("    delete  {p}");
    }
    if f.put.len().max(f.delete.len()) > limit {
        println!("    ... (-v lists all)");
    }
    for p in &f.repaired {
        println!("    repair  {p} (changed in the env out of band)");
    }
    for a in &r.artifacts {
        let what = a
            .path
            .as_deref()
            .or(a.command.as_deref())
            .unwrap_or_default();
        println!("  artifact {:<9} {} {what}", a.action, a.name);
    }
    for c in &r.resources {
        let id =
            c.id.as_deref()
                .map(|i| format!(" (id {i})"))
                .unwrap_or_default();
        println!("  resource {:<9} {}.{}{id}", c.action, c.kind, c.key);
        if !c.drift.is_empty() {
            println!("    changed in the workspace: {}", c.drift.join(", "));
        }
    }
    if let Some(id) = &r.deployment_id {
        println!("  deployment {id}");
    }
    println!("  digest {}", r.digest);
}

pub fn status_cmd(project: &Project) -> Result<()> {
    let env = project.settings.env.as_deref();
    let (name, statuses) = if !super::env::backend(project).lists_envs() {
        // A workspace cannot be listed for envs: the selected target only.
        let bundle = super::load_target(project, env)?;
        let ws = super::open(project, &bundle)?;
        let one = vec![super::ops::env_status(&*ws, &bundle.target)?];
        (bundle.name, one)
    } else if env.is_some() {
        let bundle = super::load_target(project, env)?;
        let one = super::status(project, &bundle.name, env)?;
        (bundle.name, one)
    } else {
        // Every local env of the bundle: no target needs to be selectable.
        let name = super::load_name(project)?;
        let all = super::status(project, &name, None)?;
        (name, all)
    };
    if project.settings.json {
        return crate::util::print_json(&statuses);
    }
    if statuses.is_empty() {
        println!(
            "nothing deployed for bundle {} under {}",
            name,
            project.state_root.display()
        );
    }
    for s in &statuses {
        print_status(s);
    }
    Ok(())
}

fn print_status(s: &EnvStatus) {
    for w in &s.warnings {
        eprintln!("Warning: {}: {w}", s.env);
    }
    if !s.deployed {
        println!("{}: not deployed ({})", s.env, s.location);
        return;
    }
    let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!(
        "{}: deployment {} ({})",
        s.env,
        o(&s.deployment_id),
        s.location
    );
    println!("  digest {}", o(&s.digest));
    println!("  commit {} on {}", o(&s.commit), o(&s.branch));
    println!("  at {} by {}", o(&s.deployed_at), o(&s.deployed_by));
    if let Some(l) = &s.lock {
        println!(
            "  locked by {} since {} (pid {} on {})",
            l.user, l.acquisition_time, l.pid, l.host
        );
    }
    if s.drift.unknown {
        println!("  drift unknown (the workspace does not list its folders)");
    } else if s.drift.is_empty() {
        println!("  no drift");
    } else {
        println!("  drift (the next deploy repairs it):");
        for p in &s.drift.changed {
            println!("    changed {p}");
        }
        for p in &s.drift.added {
            println!("    added   {p}");
        }
        for p in &s.drift.missing {
            println!("    missing {p}");
        }
    }
    for d in &s.resource_drift {
        match d.gone {
            true => println!("  resource {}.{} deleted in the workspace", d.kind, d.key),
            false => println!(
                "  resource {}.{} changed in the workspace: {}",
                d.kind,
                d.key,
                d.fields.join(", ")
            ),
        }
    }
    let kept: Vec<&str> = s.kept.iter().map(|e| e.id.as_str()).collect();
    if kept.is_empty() {
        println!("  kept for rollback: none");
    } else {
        println!("  kept for rollback: {}", kept.join(", "));
    }
}

pub fn rollback_cmd(project: &Project, to: Option<&str>) -> Result<()> {
    let bundle = super::load_target(project, project.settings.env.as_deref())?;
    let opts = DeployOptions::default();
    let r: RollbackReport = super::rollback(project, &bundle, to, &opts)?;
    if project.settings.json {
        return crate::util::print_json(&r);
    }
    for w in &r.warnings {
        eprintln!("Warning: {w}");
    }
    println!(
        "Rolled back env {} from {} to {} (digest {})",
        r.env,
        r.from.as_deref().unwrap_or("-"),
        r.to,
        r.digest
    );
    Ok(())
}

pub fn summary_cmd(project: &Project) -> Result<()> {
    let bundle = super::load_target(project, project.settings.env.as_deref())?;
    let s = super::destroy::summary(project, &bundle)?;
    if project.settings.json {
        return crate::util::print_json(&s);
    }
    println!("Name: {}", s.name);
    println!("Target: {}", s.target);
    println!("Location: {}", s.location);
    println!("Resources:");
    let mut kind = "";
    for r in &s.resources {
        if r.kind != kind {
            kind = &r.kind;
            println!("  {kind}:");
        }
        println!("    {}:", r.key);
        if let Some(n) = &r.name {
            println!("      Name: {n}");
        }
        println!("      ID:   {}", r.id);
        if let Some(u) = &r.url {
            println!("      URL:  {u}");
        }
    }
    Ok(())
}

pub fn destroy_cmd(project: &Project, auto_approve: bool, force_lock: bool) -> Result<()> {
    let bundle = super::load_target(project, project.settings.env.as_deref())?;
    let r = super::destroy::destroy(project, &bundle, auto_approve, force_lock)?;
    if project.settings.json {
        return crate::util::print_json(&r);
    }
    for w in &r.warnings {
        eprintln!("Warning: {w}");
    }
    if !r.destroyed {
        println!(
            "No active deployment found to destroy in env {} ({})",
            r.env, r.location
        );
        return Ok(());
    }
    for d in &r.resources {
        println!("Deleted {}.{} ({})", d.kind, d.key, d.id);
    }
    println!("Destroy complete: env {} ({}) deleted", r.env, r.location);
    Ok(())
}
