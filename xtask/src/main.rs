//! `cargo xtask`: the build and delivery system of this Databricks bundle.
//!
//! This file parses the command line and hands it to `commands`; each concern
//! lives in its own module (see DESIGN §1). Data flows one way: params +
//! config → resolved bundle → file set + artifacts → plan → apply to a
//! workspace → state.
//!
//! Layers, bottom first. A module may use only the modules listed before it
//! (the `layers` test reads this list and every `crate::` path in `src/`):
//!
//! - util, diag, progress, project: plain tools and the resolved settings
//! - git, params, config: what the user wrote, loaded and checked
//! - files, package: what gets deployed, and its manifest
//! - workspace: where it goes (a local folder or a Databricks workspace)
//! - deploy: plan and apply, state, history
//! - pyenv, runner: the bundle's Python and its jobs
//! - flow, watch, validate: the gates and the loops
//! - conformance: this tool beside the reference Databricks CLI
//! - bench: measurements of the layers below
//! - cli, commands: the command line, turned into settings and requests

mod bench;
mod cli;
mod commands;
mod config;
mod conformance;
mod deploy;
mod diag;
mod files;
mod flow;
mod git;
mod package;
mod params;
mod progress;
mod project;
mod pyenv;
mod runner;
mod util;
mod validate;
mod watch;
mod workspace;

#[cfg(test)]
mod layers;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;

fn main() -> ExitCode {
    // A closed pipe (`plan | head -1`) ends the process quietly, as it ends
    // other command-line tools, instead of a panic in `println!`.
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    util::parallel::grow_heaps_in_large_steps();
    let cli = Cli::parse();
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A command that already explained its failure (validation errors, a
            // refused gate) returns `Failed`; anything else is reported here.
            let explained = err.downcast_ref::<diag::Failed>().is_some();
            if !explained {
                eprintln!("Error: {err:#}");
            }
            if json && !util::output::json_printed() {
                // `--json` promises one document on stdout, failures included.
                let doc = serde_json::json!({
                    "ok": false,
                    "error": if explained { "failed; see the diagnostics".to_string() } else { format!("{err:#}") },
                    "diagnostics": diag::failures(),
                });
                let _ = util::print_json(&doc);
            }
            ExitCode::from(1)
        }
    }
}
