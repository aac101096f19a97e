//! The bottom layer (rust-analyzer's `stdx`): small tools every other module
//! may use and that use nothing of this crate: a thread pool, fault
//! injection for tests, JSON read fast, the clock, temporary folders, the stop flag,
//! opening files without following links.

pub mod fault;
pub mod json;
pub mod nofollow;
pub mod output;
pub mod parallel;
pub mod stop;
pub mod tempdir;
pub mod time;
pub mod workers;

pub use output::print_json;
pub use parallel::parallel;
pub use tempdir::TempDir;
pub use time::{Timer, now_rfc3339};
