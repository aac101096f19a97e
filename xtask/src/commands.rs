//! The top layer (cargo's `commands`): turn the parsed command line into
//! settings and plain requests, once, and call the domain modules. Nothing
//! below this file sees a clap type.

use std::time::Duration;

use anyhow::Result;

use crate::cli::{BenchKind, Cli, Command, Global};
use crate::project::{Paths, Project, Settings};
use crate::workspace::Backend;
use crate::{bench, conformance, deploy, flow, runner, validate, watch};

pub fn run(cli: Cli) -> Result<()> {
    let project = project(cli.global, cli.auth.profile)?;
    crate::progress::enable(project.human());
    let p = &project;
    match cli.command {
        Command::Validate(args) => validate::run(p, args.strict, args.include_locations),
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
        Command::Destroy(args) => deploy::destroy_cmd(p, args.auto_approve, args.force_lock),
        Command::Summary => deploy::summary_cmd(p),
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
        Command::Run(args) if deploy::env::backend(p) == Backend::Remote => {
            runner::remote::run_remote(p, &args.job, &run_options(&args)?)
        }
        Command::Run(args) => {
            if run_options(&args)?.is_remote_only() {
                anyhow::bail!(
                    "--params, --python-params, --no-wait, --timeout and --restart are for a run \
                     in the workspace: add --remote"
                );
            }
            runner::run_cmd(p, &args.job)
        }
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
                BenchKind::Cli => bench::cli::bench_cli(p, args.files),
            }
        }
        Command::Conformance(args) => {
            let repo = crate::project::this_repository();
            let options = conformance::Options {
                floors: args
                    .floors
                    .unwrap_or_else(|| repo.join("conformance/floors.json")),
                out: args.out.unwrap_or_else(|| repo.join("target/conformance")),
                filter: args.filter,
                verbose: p.settings.verbose,
                json: p.settings.json,
                check_floors: args.check_floors,
                record_floors: args.record_floors,
            };
            conformance::run(&repo, &p.bundle_dir, &options)
        }
    }
}

/// The settings of this invocation, resolved once from the global options
/// (clap has already folded in `XTASK_REMOTE` and `XTASK_ROOT`).
fn project(g: Global, profile: Option<String>) -> Result<Project> {
    let paths = Paths {
        bundle_dir: g.bundle_dir,
        root: g.root,
    };
    let settings = Settings {
        env: g.env,
        // `--var a=1,b=2` is two values, as with the CLI's string-slice flag.
        vars: crate::config::split_var_flags(&g.vars),
        json: g.json,
        remote: g.remote,
        profile,
        quiet: g.quiet,
        verbose: g.verbose,
    };
    Project::resolve(paths, settings)
}

fn run_options(args: &crate::cli::RunArgs) -> Result<runner::remote::RunOptions> {
    let params = args
        .params
        .iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(anyhow::anyhow!("--params: `{p}` is not NAME=VALUE")),
        })
        .collect::<Result<Vec<_>>>()?;
    let timeout = match &args.timeout {
        Some(t) => Some(parse_duration(t)?),
        None => None,
    };
    Ok(runner::remote::RunOptions {
        params,
        python_params: args.python_params.clone(),
        no_wait: args.no_wait,
        timeout,
        restart: args.restart,
    })
}

/// `90s`, `20m`, `1h`, `1h30m`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || anyhow::anyhow!("--timeout: `{text}` is not a duration such as 90s, 20m or 1h30m");
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(bad()),
        };
    }
    if !num.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn gate(force_lock: bool, dry_run: bool) -> flow::GateOptions {
    flow::GateOptions {
        force_lock,
        dry_run,
    }
}
