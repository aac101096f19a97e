//! `cargo xtask watch`: keep `test` in sync with the working tree.

use anyhow::{Result, bail};

use crate::cli::WatchArgs;
use crate::project::Project;

pub fn run(_project: &Project, _args: &WatchArgs) -> Result<()> {
    bail!("watch is not implemented yet")
}
