//! What every loading step shares: the files read so far (for locations) and
//! the diagnostics found so far (all problems are collected in one run).

use std::path::PathBuf;

use crate::config::yaml::Loc;
use crate::diag::{Diagnostic, Location};

#[derive(Debug, Clone, Default)]
pub struct Ctx {
    /// The bundle folder, absolute.
    pub root: PathBuf,
    /// Every file read, relative to the bundle root; `Loc::file` indexes this.
    pub files: Vec<PathBuf>,
    pub diags: Vec<Diagnostic>,
    /// Config paths of values of the wrong shape, reported and to be left out.
    pub mistyped: Vec<String>,
    /// The trees merged into the configuration, in merge order (the root
    /// file, each include, the selected target's settings): where each value
    /// was written, for `--include-locations`.
    pub sources: Vec<crate::config::yaml::Node>,
}

impl Ctx {
    pub fn location(&self, loc: Loc) -> Location {
        let file = self
            .files
            .get(loc.file as usize)
            .cloned()
            .unwrap_or_default();
        Location {
            file,
            line: loc.line.max(1) as usize,
            col: loc.col.max(1) as usize,
        }
    }
    pub fn error(&mut self, summary: impl Into<String>, loc: Option<Loc>, path: &str) {
        self.push(Diagnostic::error(summary), loc, path);
    }
    pub fn warning(&mut self, summary: impl Into<String>, loc: Option<Loc>, path: &str) {
        self.push(Diagnostic::warning(summary), loc, path);
    }
    pub fn push(&mut self, d: Diagnostic, loc: Option<Loc>, path: &str) {
        let mut d = d.at_opt(loc.map(|l| self.location(l)));
        if !path.is_empty() {
            d = d.path(path);
        }
        self.diags.push(d);
    }
}
