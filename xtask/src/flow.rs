//! The delivery gates: `test`, `stage`, `release` (DESIGN §7).

use anyhow::{Result, bail};

use crate::cli::{DeployArgs, ReleaseArgs};
use crate::project::Project;

pub fn test_cmd(_project: &Project, _args: &DeployArgs) -> Result<()> {
    bail!("test is not implemented yet")
}

pub fn stage_cmd(_project: &Project, _args: &DeployArgs) -> Result<()> {
    bail!("stage is not implemented yet")
}

pub fn release_cmd(_project: &Project, _args: &ReleaseArgs) -> Result<()> {
    bail!("release is not implemented yet")
}
