//! Diagnostics shared by every checker: errors, warnings and recommendations
//! with `file:line:col` locations, rendered the way the Databricks CLI does.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Recommendation,
}

/// A place in a source file. `file` is shown as given (relative to the bundle
/// root where possible); `line` and `col` are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub summary: String,
    /// A longer explanation, printed after a blank line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The configuration path the problem is about, e.g. `resources.jobs.x`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub locations: Vec<Location>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>) -> Self {
        Self::new(Severity::Error, summary)
    }
    pub fn warning(summary: impl Into<String>) -> Self {
        Self::new(Severity::Warning, summary)
    }
    pub fn recommendation(summary: impl Into<String>) -> Self {
        Self::new(Severity::Recommendation, summary)
    }
    fn new(severity: Severity, summary: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            summary: summary.into(),
            detail: None,
            path: None,
            locations: Vec::new(),
        }
    }
    pub fn at(mut self, location: Location) -> Self {
        self.locations.push(location);
        self
    }
    pub fn at_opt(self, location: Option<Location>) -> Self {
        match location {
            Some(l) => self.at(l),
            None => self,
        }
    }
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// The CLI's text template: `Error: summary`, then `  at path`, then one
    /// `  in file:line:col` per location, then the detail after a blank line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Recommendation => "Recommendation",
        };
        writeln!(f, "{prefix}: {}", self.summary)?;
        if let Some(path) = &self.path {
            writeln!(f, "  at {path}")?;
        }
        for (i, loc) in self.locations.iter().enumerate() {
            // The CLI names `in` once and aligns the other places under it.
            let lead = if i == 0 { "  in " } else { "     " };
            writeln!(f, "{lead}{loc}")?;
        }
        if let Some(detail) = &self.detail {
            writeln!(f, "\n{detail}")?;
        }
        Ok(())
    }
}

/// Counts as the CLI's closing line: `Found 2 errors and 1 warning` or
/// `Validation OK!`.
pub fn summary_line(diags: &[Diagnostic]) -> String {
    let count = |s| diags.iter().filter(|d| d.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let (errors, warnings, recs) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Recommendation),
    );
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(plural(errors, "error"));
    }
    if warnings > 0 {
        parts.push(plural(warnings, "warning"));
    }
    if recs > 0 {
        parts.push(plural(recs, "recommendation"));
    }
    match parts.len() {
        0 => "Validation OK!".to_string(),
        1 => format!("Found {}", parts[0]),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("Found {} and {last}", parts.join(", "))
        }
    }
}

/// Levenshtein distance between two strings, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The error a command returns after it has already printed why it failed:
/// `main` exits 1 without printing it again.
#[derive(Debug)]
pub struct Failed;

static FAILURES: std::sync::Mutex<Vec<Diagnostic>> = std::sync::Mutex::new(Vec::new());

/// Keep the diagnostics a command failed on (already printed on stderr), so
/// a `--json` run can still put them in its one JSON document.
pub fn note_failure(diags: &[Diagnostic]) {
    let mut kept = FAILURES.lock().unwrap_or_else(|p| p.into_inner());
    kept.extend(diags.iter().filter(|d| d.is_error()).cloned());
}

/// The diagnostics noted by [`note_failure`].
pub fn failures() -> Vec<Diagnostic> {
    FAILURES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_the_cli() {
        let d = Diagnostic::error("unknown target")
            .path("targets.x")
            .at(Location {
                file: "databricks.yml".into(),
                line: 12,
                col: 3,
            });
        assert_eq!(
            d.to_string(),
            "Error: unknown target\n  at targets.x\n  in databricks.yml:12:3\n"
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("catalg", "catalog"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn summary_counts() {
        assert_eq!(summary_line(&[]), "Validation OK!");
        let e = Diagnostic::error("a");
        let w = Diagnostic::warning("b");
        assert_eq!(summary_line(std::slice::from_ref(&e)), "Found 1 error");
        assert_eq!(
            summary_line(&[e.clone(), e.clone(), w.clone()]),
            "Found 2 errors and 1 warning"
        );
        assert_eq!(summary_line(&[w]), "Found 1 warning");
    }
}
