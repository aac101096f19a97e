//! `cargo xtask validate`: params and config checks, all problems at once,
//! printed the way `databricks bundle validate` prints them.

use std::io::Write;

use anyhow::Result;

use crate::config::Bundle;
use crate::diag::{self, Diagnostic, Severity};
use crate::params;
use crate::project::Project;

pub fn run(project: &Project, strict: bool, include_locations: bool) -> Result<()> {
    // With --remote, resolved for the workspace's user, as the CLI does.
    let opts = crate::deploy::load_options(project, project.settings.env.as_deref());
    let (bundle, config_diags) = crate::deploy::load_config(project, &opts)?;
    let name = bundle
        .as_ref()
        .map(|b| (b.name.as_str(), b.location("bundle.name")));
    let (_, mut diags) = params::check(&project.bundle_dir, &project.repo_root, name);
    // The kinds this tool cannot deploy are reported by `load_config`.
    diags.extend(config_diags);

    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if strict && warnings > 0 {
        let noun = if warnings == 1 {
            "warning was"
        } else {
            "warnings were"
        };
        diags.push(Diagnostic::error(format!(
            "{warnings} {noun} found. Warnings are not allowed in strict mode"
        )));
    }
    let failed = diags.iter().any(Diagnostic::is_error);

    if project.settings.json {
        let mut err = std::io::stderr().lock();
        for d in &diags {
            let _ = writeln!(err, "{d}");
        }
        if let Some(b) = &bundle {
            let mut doc = sorted(&b.config);
            if include_locations && let Some(m) = doc.as_object_mut() {
                m.insert("__locations".into(), b.locations());
            }
            crate::util::print_json(&sorted(&doc))?;
        }
    } else {
        // As the CLI: the diagnostics on stderr as found, the summary on stdout.
        if !project.settings.quiet || failed {
            let mut err = std::io::stderr().lock();
            for d in &diags {
                let _ = writeln!(err, "{d}");
            }
        }
        let mut out = std::io::stdout().lock();
        if !project.settings.quiet {
            if let Some(b) = &bundle {
                write!(out, "{}", summary(b))?;
                if project.settings.verbose {
                    write!(out, "{}", resources(b))?;
                }
            }
            writeln!(out, "\n{}", diag::summary_line(&diags))?;
        }
    }
    if failed {
        diag::note_failure(&diags);
        Err(diag::Failed.into())
    } else {
        Ok(())
    }
}

/// The configuration with every map's keys in order: the CLI prints its
/// typed structs' fields alphabetically, and maps sorted.
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let out = keys
                .into_iter()
                .map(|k| (k.clone(), sorted(&m[k])))
                .collect();
            serde_json::Value::Object(out)
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The CLI's block after the diagnostics.
fn summary(b: &Bundle) -> String {
    // As the CLI's template: each line only when known (a configuration
    // that failed to load has a name only).
    if b.name.is_empty() {
        return String::new();
    }
    let mut s = format!("Name: {}\n", b.name);
    if !b.target.is_empty() {
        s.push_str(&format!("Target: {}\n", b.target));
    }
    let host = b.workspace("host").unwrap_or("");
    let path = b.workspace("root_path").unwrap_or("");
    let lines = [("Host", host), ("User", b.user()), ("Path", path)];
    if lines.iter().any(|(_, v)| !v.is_empty()) {
        s.push_str("Workspace:\n");
        for (k, v) in lines.iter().filter(|(_, v)| !v.is_empty()) {
            s.push_str(&format!("  {k}: {v}\n"));
        }
    }
    s
}

/// With `-v`: the resources, as `databricks bundle summary` lists them, with
/// the file that defines each.
fn resources(b: &Bundle) -> String {
    let mut s = String::new();
    let mut kind = "";
    for r in b.all_resources() {
        if s.is_empty() {
            s.push_str("Resources:\n");
        }
        if r.kind != kind {
            kind = r.kind;
            let mut title = kind.replace('_', " ");
            if let Some(first) = title.get(..1) {
                title = first.to_uppercase() + &title[1..];
            }
            s.push_str(&format!("  {title}:\n"));
        }
        s.push_str(&format!("    {}:\n", r.key));
        if let Some(name) = r.settings["name"].as_str() {
            s.push_str(&format!("      Name: {name}\n"));
        }
        if let Some(file) = b.resource_files.get(&format!("{kind}.{}", r.key)) {
            s.push_str(&format!("      File: {file}\n"));
        }
    }
    s
}
