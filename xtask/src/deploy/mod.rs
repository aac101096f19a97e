//! Plan and apply a deployment: lock, diff, upload, delete, state files,
//! atomic switch, history, rollback.

use anyhow::{Result, bail};

use crate::cli::{BenchArgs, DeployArgs, RollbackArgs};
use crate::project::Project;

pub fn plan_cmd(_project: &Project) -> Result<()> {
    bail!("plan is not implemented yet")
}

pub fn deploy_cmd(_project: &Project, _args: &DeployArgs) -> Result<()> {
    bail!("deploy is not implemented yet")
}

pub fn status_cmd(_project: &Project) -> Result<()> {
    bail!("status is not implemented yet")
}

pub fn rollback_cmd(_project: &Project, _args: &RollbackArgs) -> Result<()> {
    bail!("rollback is not implemented yet")
}

pub fn bench_cmd(_project: &Project, _args: &BenchArgs) -> Result<()> {
    bail!("bench is not implemented yet")
}
