//! The differences from the Databricks CLI this tool keeps on purpose, in
//! one place: each class points at its row of the README table "Where
//! validate differs from the CLI on purpose" (a test checks the rows are
//! there). The comparator excuses a difference only when it is one of these
//! and the CLI's own output is contained in ours: the same diagnostic with a
//! place added, or a diagnostic added beside everything the CLI said.

use super::diags::Diagnostic;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPurpose {
    /// The CLI's diagnostic, same severity and summary, with no place; ours
    /// names `file:line:col`.
    Located,
    /// The CLI stops at its first path error; ours reports them all.
    EveryPathError,
    /// The CLI names one variable with no value (Go's map order); ours all.
    EveryUnassignedVariable,
    /// A key written twice in one mapping: ours warns where the CLI is silent.
    DuplicateKeyWarned,
    /// A reference cycle: ours names the same cycle in its own words.
    CycleText,
    /// A resource kind (or field) this tool cannot deploy yet: an error with
    /// `--remote`, where the CLI goes on.
    NotDeployableYet,
}

impl OnPurpose {
    pub const ALL: [OnPurpose; 6] = [
        OnPurpose::Located,
        OnPurpose::EveryPathError,
        OnPurpose::EveryUnassignedVariable,
        OnPurpose::DuplicateKeyWarned,
        OnPurpose::CycleText,
        OnPurpose::NotDeployableYet,
    ];

    /// The name printed beside an excused difference.
    pub fn name(self) -> &'static str {
        match self {
            OnPurpose::Located => "located",
            OnPurpose::EveryPathError => "every path error",
            OnPurpose::EveryUnassignedVariable => "every unassigned variable",
            OnPurpose::DuplicateKeyWarned => "duplicate key warned",
            OnPurpose::CycleText => "cycle text",
            OnPurpose::NotDeployableYet => "not deployable yet",
        }
    }

    /// How the README row's first cell starts.
    pub fn readme_row(self) -> &'static str {
        match self {
            OnPurpose::Located => {
                "| Errors from reference resolution, variables, includes and path translation |"
            }
            OnPurpose::EveryPathError => "| Several path errors |",
            OnPurpose::EveryUnassignedVariable => "| Several variables with no value |",
            OnPurpose::DuplicateKeyWarned => "| A key written twice in one mapping |",
            OnPurpose::CycleText => "| Cycle messages |",
            OnPurpose::NotDeployableYet => "| Resource kinds this tool cannot deploy yet",
        }
    }
}

/// `Located`: the README row covers errors of reference resolution,
/// variables, includes and path translation; a warning or another error placed
/// elsewhere than the CLI places it stays a difference.
pub fn located(reference: &Diagnostic, ours: &Diagnostic) -> bool {
    reference.severity == "Error"
        && reference.severity == ours.severity
        && reference.summary == ours.summary
        && reference.location.is_none()
        && ours.location.is_some()
        && (is_path_error(&reference.summary)
            || is_reference_error(&reference.summary)
            || is_include_error(&reference.summary))
}

/// An `include:` glob that matches nothing (the CLI's `process_include.go`).
fn is_include_error(summary: &str) -> bool {
    summary.ends_with(" defined in 'include' section does not match any files")
}

/// The errors of path translation (the CLI's `translate_paths.go` texts and
/// ours for a path outside the bundle).
pub fn is_path_error(summary: &str) -> bool {
    let s = summary;
    (s.starts_with("file ") && s.ends_with(" not found"))
        || (s.starts_with("notebook ") && s.contains(" not found"))
        || (s.starts_with("directory ") && s.ends_with(" not found"))
        || (s.starts_with("stat ") && s.ends_with(": no such file or directory"))
        || s.ends_with(" is not a directory")
        || (s.starts_with("expected a ") && s.contains(" but got a "))
        || (s.starts_with("path ") && s.ends_with(" is outside the bundle root"))
        || (s.starts_with("path ") && s.ends_with(" is not contained in sync root path"))
}

/// The errors of reference resolution and of variables (the CLI's
/// `resolve_variable_references.go`, `set_variables.go` texts).
fn is_reference_error(summary: &str) -> bool {
    const STARTS: [&str; 6] = [
        "reference does not exist: ",
        "failed to parse variables file ",
        "expected a map to index ",
        "no value assigned to required variable ",
        "failed to resolve ",
        "cycle detected in field resolution: ",
    ];
    STARTS.iter().any(|p| summary.starts_with(p))
        || summary.contains("variable") && summary.contains("is not defined")
}

pub fn is_unassigned(d: &Diagnostic) -> bool {
    d.severity == "Error" && d.summary.starts_with(UNASSIGNED)
}

pub const UNASSIGNED: &str = "no value assigned to required variable ";

/// Ours, for a key written twice (`config/files.rs`).
pub fn is_duplicate_key(d: &Diagnostic) -> bool {
    d.severity == "Warning"
        && d.summary.starts_with("key ")
        && d.summary.ends_with(
            " is written twice in one mapping; the last value is used, as the Databricks CLI does",
        )
}

/// Ours, for a kind or field not deployed yet (`config/kinds.rs`).
pub fn is_not_deployable(d: &Diagnostic) -> bool {
    d.severity == "Error" && d.summary.contains(" are not deployed by this tool yet")
}

const CYCLE: &str = "cycle detected in field resolution: ";

/// The same cycle: both are cycle errors, and every reference on our chain
/// (`${a} -> ${b} -> ${a}`) is a step of the CLI's (`a -> b -> a`).
pub fn same_cycle(reference: &Diagnostic, ours: &Diagnostic) -> bool {
    let (Some(theirs), Some(mine)) = (
        reference.summary.strip_prefix(CYCLE),
        ours.summary.strip_prefix(CYCLE),
    ) else {
        return false;
    };
    let steps = |chain: &str| -> Vec<String> {
        chain
            .split(" -> ")
            .map(|s| {
                let s = s.trim();
                s.strip_prefix("${")
                    .and_then(|s| s.strip_suffix('}'))
                    .unwrap_or(s)
                    .to_string()
            })
            .collect()
    };
    let theirs = steps(theirs);
    let mine = steps(mine);
    reference.severity == "Error"
        && ours.severity == "Error"
        && mine.len() >= 2
        && mine.iter().all(|m| theirs.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_points_at_a_row_of_the_readme_table() {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("### Where validate differs from the CLI on purpose")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("the README has the table");
        for class in OnPurpose::ALL {
            assert!(
                table.lines().any(|l| l.starts_with(class.readme_row())),
                "{}: no README row starting {:?}",
                class.name(),
                class.readme_row()
            );
        }
    }

    fn diag(severity: &str, summary: &str, location: Option<&str>) -> Diagnostic {
        Diagnostic {
            severity: severity.into(),
            summary: summary.into(),
            location: location.map(String::from),
        }
    }

    #[test]
    fn a_place_added_to_the_clis_include_and_sync_root_errors_is_excused_and_nothing_else() {
        for summary in [
            "../include.yml defined in 'include' section does not match any files",
            "path /tmp/src is not contained in sync root path",
            "expected a map to index \"variables.a.value.b\", found string",
            "failed to parse variables file /b/v.json: error decoding JSON at /b/v.json:1:1: unexpected EOF",
        ] {
            let theirs = diag("Error", summary, None);
            assert!(located(
                &theirs,
                &diag("Error", summary, Some("databricks.yml:5:5"))
            ));
            // Another text, a warning, or a place where the CLI has one: a difference.
            assert!(!located(
                &theirs,
                &diag("Error", "other", Some("databricks.yml:5:5"))
            ));
            let warning = diag("Warning", summary, None);
            assert!(!located(
                &warning,
                &diag("Warning", summary, Some("a.yml:1:1"))
            ));
            let placed = diag("Error", summary, Some("b.yml:2:2"));
            assert!(!located(
                &placed,
                &diag("Error", summary, Some("a.yml:1:1"))
            ));
        }
        let unrelated = diag("Error", "something else failed", None);
        assert!(!located(
            &unrelated,
            &diag("Error", "something else failed", Some("a.yml:1:1"))
        ));
    }
}
