//! The top layer (cargo's `commands`): turn the parsed command line into
//! settings and plain requests, once, and call the domain modules. Nothing
//! below this file sees a clap type.

use std::time::Duration;

use anyhow::Result;

use crate::cli::{BenchKind, Cli, Command, Global};
use crate::project::{Paths, Project, Settings};
use crate::{bench, deploy, flow, runner, validate, watch};

pub fn run(cli: Cli) -> Result<()> {
    let project = project(cli.global)?;
    crate::progress::enable(project.human());
    let p = &project;
    match cli.command {
        Command::Validate(args) => validate::run(p, args.strict),
        Command::Plan => deploy::plan_cmd(p),
        Command::Deploy(args) => deploy::deploy_cmd(
            p,
            &deploy::DeployRequest {
                force_lock: args.deploy.force_lock,
                force: args.force,
            },
        ),
        Command::Status => deploy::status_cmd(p),
        Command::Rollback(args) => deploy::rollback_cmd(p, args.to.as_deref()),
        Command::Test(args) => flow::test_cmd(p, &gate(args.force_lock, false)),
        Command::Stage(args) => flow::stage_cmd(p, &gate(args.force_lock, false)),
        Command::Release(args) => flow::release_cmd(p, &gate(args.deploy.force_lock, args.dry_run)),
        Command::Watch(args) => watch::run(
            p,
            &watch::WatchOptions {
                poll: args.poll,
                debounce: Duration::from_millis(args.debounce_ms),
            },
        ),
        Command::Run(args) => runner::run_cmd(p, &args.job),
        Command::Bench(args) => {
            if cfg!(debug_assertions) {
                eprintln!(
                    "note: this is a debug build; for figures run `cargo run --release -p xtask -- bench ...`"
                );
            }
            match args.kind {
                BenchKind::Validate => bench::validate(p),
                BenchKind::Deploy => bench::deploy::bench_deploy(args.files),
                BenchKind::Watch => bench::watch::bench(p, args.files),
                BenchKind::Remote => bench::remote::bench_remote(p, args.files),
            }
        }
    }
}

/// The settings of this invocation, resolved once from the global options
/// (clap has already folded in `XTASK_REMOTE` and `XTASK_ROOT`).
fn project(g: Global) -> Result<Project> {
    let paths = Paths {
        bundle_dir: g.bundle_dir,
        root: g.root,
    };
    let settings = Settings {
        env: g.env,
        vars: g.vars,
        json: g.json,
        remote: g.remote,
        quiet: g.quiet,
        verbose: g.verbose,
    };
    Project::resolve(paths, settings)
}

fn gate(force_lock: bool, dry_run: bool) -> flow::GateOptions {
    flow::GateOptions {
        force_lock,
        dry_run,
    }
}
