//! Helpers of the test suite that drive the real binary (the generic ones,
//! such as the fake workspace and temp git repositories, are in the `e2e`
//! test-support crate).

pub mod cli_remote;
pub mod deploy;
pub mod drift_case;
pub mod runner;
pub mod validate;
