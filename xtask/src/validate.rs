//! `cargo xtask validate`: params and config checks, all problems at once,
//! printed the way `databricks bundle validate` prints them.

use std::io::Write;

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::config::{self, Bundle, LoadOptions};
use crate::diag::{self, Diagnostic, Severity};
use crate::params;
use crate::project::Project;

pub fn run(project: &Project, args: &ValidateArgs) -> Result<()> {
    let opts = LoadOptions {
        bundle_dir: project.bundle_dir.clone(),
        target: project.global.env.clone(),
        vars: project.global.vars.clone(),
        current_user: None,
    };
    let (bundle, config_diags) = config::load(&opts);
    let name = bundle
        .as_ref()
        .map(|b| (b.name.as_str(), b.location("bundle.name")));
    let (_, mut diags) = params::check(&project.bundle_dir, &project.repo_root, name);
    diags.extend(config_diags);

    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    if args.strict && warnings > 0 {
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

    if project.global.json {
        let mut err = std::io::stderr().lock();
        for d in &diags {
            let _ = write!(err, "{d}\n");
        }
        if let Some(b) = &bundle {
            let text = serde_json::to_string_pretty(&b.config)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
        }
    } else {
        let mut out = std::io::stdout().lock();
        if !project.global.quiet || failed {
            for d in &diags {
                writeln!(out, "{d}")?;
            }
        }
        if !project.global.quiet {
            if let Some(b) = &bundle {
                write!(out, "{}", summary(b))?;
            }
            writeln!(out, "\n{}", diag::summary_line(&diags))?;
        }
    }
    if failed {
        Err(diag::Failed.into())
    } else {
        Ok(())
    }
}

/// The CLI's block after the diagnostics.
fn summary(b: &Bundle) -> String {
    let mut s = format!("Name: {}\nTarget: {}\nWorkspace:\n", b.name, b.target);
    if let Some(host) = b.workspace("host") {
        s.push_str(&format!("  Host: {host}\n"));
    }
    s.push_str(&format!(
        "  User: {}\n  Path: {}\n",
        b.user(),
        b.workspace("root_path").unwrap_or("")
    ));
    s
}
