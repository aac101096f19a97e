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
//! - bench: measurements of the layers below
//! - cli, commands: the command line, turned into settings and requests

mod bench;
mod cli;
mod commands;
mod config;
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
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A command that already explained its failure (validation errors, a
            // refused gate) returns `Failed`; anything else is reported here.
            if err.downcast_ref::<diag::Failed>().is_none() {
                eprintln!("Error: {err:#}");
            }
            ExitCode::from(1)
        }
    }
}
