//! `project_params.json`: load and validate (DESIGN §3).
//!
//! CONTRACT (the params module owns the body): `check` never panics and never
//! writes; it reports every problem as a located diagnostic.

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location};

/// The project parameters with defaults filled in for keys a short-form file omits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Where the file was read from; `None` when the project has none.
    pub file: Option<PathBuf>,
    pub input_project_name: Option<String>,
    pub input_default_branch: String,
    pub input_release_branch: String,
}

/// Find `project_params.json` (the bundle folder first, then the repository
/// root), load and validate it. `bundle_name` is `bundle.name` of the
/// configuration with its location, for the cross-check; `None` skips it.
pub fn check(
    bundle_dir: &Path,
    repo_root: &Path,
    bundle_name: Option<(&str, Option<Location>)>,
) -> (Params, Vec<Diagnostic>) {
    let _ = (bundle_dir, repo_root, bundle_name);
    (Params::default(), Vec::new())
}
