//! Command-line definitions. Nothing but clap types lives here: parsing is
//! declarative, and every command's behaviour lives in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Build and delivery system of a Databricks bundle: validate, test, package,
/// deploy, promote and watch, locally or against a Databricks workspace.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    propagate_version = true,
    term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts. Spelled as DESIGN §2 says: scripts and CI rely on them.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The bundle folder [default: bundle/ of this repository]
    #[arg(long, global = true, value_name = "DIR")]
    pub bundle_dir: Option<PathBuf>,

    /// The environment: a target of databricks.yml
    #[arg(
        long = "env",
        short = 't',
        visible_alias = "target",
        global = true,
        value_name = "NAME"
    )]
    pub env: Option<String>,

    /// A variable value, repeatable
    #[arg(long = "var", global = true, value_name = "NAME=VALUE")]
    pub vars: Vec<String>,

    /// Print one JSON document on stdout instead of human output
    #[arg(long, global = true)]
    pub json: bool,

    /// Use the Databricks workspace backend instead of the local folder
    #[arg(long, global = true, env = "XTASK_REMOTE", value_parser = clap::builder::FalseyValueParser::new())]
    pub remote: bool,

    /// The local folder that holds .bundle/ [default: the repository root]
    #[arg(long, global = true, env = "XTASK_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print less
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

/// How to authenticate to a workspace (kept apart from [`Global`], which
/// commands build by hand for their internal runs).
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The profile of ~/.databrickscfg to authenticate with (replaces workspace.profile)
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check project_params.json and databricks.yml; report every problem at once
    Validate(ValidateArgs),
    /// Show what a deploy would do, writing nothing
    Plan,
    /// Deploy the working tree to an environment, without gates
    Deploy(DeployCmdArgs),
    /// Validate, unit-test, package, deploy to `test`, run the integration tests, record the result
    Test(DeployArgs),
    /// Promote what passed in `test` to `staging` (runs `test` first if needed)
    Stage(DeployArgs),
    /// Promote what `staging` holds to `prod`, from the release branch only
    Release(ReleaseArgs),
    /// Keep `test` in sync with the working tree on every save
    Watch(WatchArgs),
    /// Run a job of the bundle locally from the deployed copy in an environment
    Run(RunArgs),
    /// Show what is deployed where, and drift of each environment from its manifest
    Status,
    /// Switch an environment back to an earlier deployment
    Rollback(RollbackArgs),
    /// Delete the resources recorded in an environment, then its files and state
    Destroy(DestroyArgs),
    /// List the resources deployed in an environment, with their ids and URLs
    Summary,
    /// Measure deploy speed against peers (cp, rsync) on a synthetic bundle
    Bench(BenchArgs),
    /// Compare validate and deploy with the reference Databricks CLI (tests/cliref)
    Conformance(ConformanceArgs),
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Only the cases whose `folder/case` contains this text
    #[arg(long, value_name = "SUBSTR")]
    pub filter: Option<String>,
    /// Fail when a score falls below its floor in conformance/floors.json
    #[arg(long)]
    pub check_floors: bool,
    /// Write this run's agree counts to the floors file
    #[arg(long, conflicts_with = "check_floors")]
    pub record_floors: bool,
    /// The floors file [default: conformance/floors.json of this repository]
    #[arg(long, value_name = "FILE")]
    pub floors: Option<PathBuf>,
    /// Where scores.json and cases.json go [default: target/conformance]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,
    /// With --json: add `__locations`, where each top-level key, resource and job task was written
    #[arg(long)]
    pub include_locations: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Take the deploy lock even if another deploy holds it (recorded in the state)
    #[arg(long)]
    pub force_lock: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask (needed where there is no terminal to ask on)
    #[arg(long)]
    pub auto_approve: bool,
    /// Take the deploy lock even if another deploy holds it
    #[arg(long)]
    pub force_lock: bool,
}

#[derive(Debug, Args)]
pub struct DeployCmdArgs {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Deploy to an env that a gate feeds (staging: `stage`, prod: `release`) outside the
    /// gate; recorded as ungated
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Show what would be released, writing nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Poll and compare contents instead of using file-system events
    #[arg(long)]
    pub poll: bool,
    /// Debounce window for file-system events, in milliseconds
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job's key under resources.jobs
    pub job: String,
    /// Job parameters for a remote run, comma-separated: --params k=v,k2=v2
    #[arg(long, value_name = "K=V,...", value_delimiter = ',')]
    pub params: Vec<String>,
    /// Parameters of Python tasks for a remote run, comma-separated
    #[arg(long, value_name = "P,...", value_delimiter = ',')]
    pub python_params: Vec<String>,
    /// Remote: print the run URL and return without waiting for the run
    #[arg(long)]
    pub no_wait: bool,
    /// Remote: stop waiting after this long (e.g. 90s, 20m, 1h); the run goes on
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Remote: cancel the job's active runs before starting
    #[arg(long)]
    pub restart: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The deployment to switch back to [default: the one before the current]
    #[arg(long, value_name = "ID")]
    pub to: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark to run
    #[arg(value_enum, default_value_t = BenchKind::Deploy)]
    pub kind: BenchKind,
    /// Number of files in the synthetic bundle
    #[arg(long, default_value_t = 10_000)]
    pub files: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchKind {
    /// validate on this repository's bundle and the largest corpus bundle
    Validate,
    /// local deploy against cp -r and rsync
    Deploy,
    /// save-to-landed latency of watch
    Watch,
    /// remote deploy against the fake workspace server
    Remote,
    /// validate and deploy beside the reference Databricks CLI, on its test server
    Cli,
}
