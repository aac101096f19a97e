//! Running a bundle job locally: tasks in dependency order, from the deployed copy.

use anyhow::{Result, bail};

use crate::cli::RunArgs;
use crate::project::Project;

pub fn run_cmd(_project: &Project, _args: &RunArgs) -> Result<()> {
    bail!("run is not implemented yet")
}
