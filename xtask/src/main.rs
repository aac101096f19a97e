//! `cargo xtask`: the build and delivery system of this Databricks bundle.
//!
//! This file parses the command line and dispatches; each concern lives in its
//! own module (see DESIGN §1). Data flows one way: params + config → resolved
//! bundle → file set + artifacts → plan → apply to a workspace → state.

mod bench;
mod cli;
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
mod validate;
mod watch;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::project::Project;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
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

fn run(cli: Cli) -> anyhow::Result<()> {
    workspace::remote::auth::set_profile_flag(cli.auth.profile.clone());
    let project = Project::from_global(cli.global)?;
    progress::enable(project.human());
    match cli.command {
        Command::Validate(args) => validate::run(&project, &args),
        Command::Plan => deploy::plan_cmd(&project),
        Command::Deploy(args) => deploy::deploy_cmd(&project, &args),
        Command::Status => deploy::status_cmd(&project),
        Command::Rollback(args) => deploy::rollback_cmd(&project, &args),
        Command::Test(args) => flow::test_cmd(&project, &args),
        Command::Stage(args) => flow::stage_cmd(&project, &args),
        Command::Release(args) => flow::release_cmd(&project, &args),
        Command::Watch(args) => watch::run(&project, &args),
        Command::Run(args) => runner::run_cmd(&project, &args),
        Command::Bench(args) => bench::run(&project, &args),
    }
}
