//! `cargo xtask validate`: params and config checks, all problems at once.

use anyhow::{Result, bail};

use crate::cli::ValidateArgs;
use crate::project::Project;

pub fn run(_project: &Project, _args: &ValidateArgs) -> Result<()> {
    bail!("validate is not implemented yet")
}
