//! Diagnostics read from a tool's human output, as the CLI prints them:
//!
//! ```text
//! Warning: unknown field: description
//!   at resources.experiments.experiment
//!   in resources/ml-artifacts-resource.yml:20:7
//! ```
//!
//! and their comparison: severity, summary and first location.

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Diagnostic {
    pub severity: String,
    pub summary: String,
    /// `file:line:col` of the first `in` line, if any.
    pub location: Option<String>,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.severity, self.summary)?;
        if let Some(loc) = &self.location {
            write!(f, " (in {loc})")?;
        }
        Ok(())
    }
}

const SEVERITIES: [&str; 3] = ["Error", "Warning", "Recommendation"];

/// Every diagnostic in `text` (stdout and stderr of one run), in order.
pub fn parse(text: &str) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut current: Option<usize> = None;
    for line in text.lines() {
        if let Some((severity, summary)) = header(line) {
            out.push(Diagnostic {
                severity: severity.to_string(),
                summary: summary.trim().to_string(),
                location: None,
            });
            current = Some(out.len() - 1);
            continue;
        }
        let Some(i) = current else { continue };
        if !line.starts_with(' ') {
            current = None;
            continue;
        }
        if let Some(loc) = line.trim_start().strip_prefix("in ")
            && out[i].location.is_none()
        {
            out[i].location = Some(loc.trim().to_string());
        }
    }
    out
}

fn header(line: &str) -> Option<(&str, &str)> {
    SEVERITIES.iter().find_map(|s| {
        line.strip_prefix(s)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(|summary| (*s, summary))
    })
}

/// The CLI stops at the first variable with no value, and which one is first
/// is Go's random map order (two runs name different variables); we name them
/// all. One of ours matching the CLI's makes the rest of ours no difference.
const UNASSIGNED: &str = "no value assigned to required variable ";

/// Whether the reference stopped at a variable with no value. It then
/// prints the variables it had set before that one, in Go's random map
/// order: two runs print different sets of values.
pub fn stopped_at_unassigned(reference: &[Diagnostic]) -> bool {
    reference
        .iter()
        .any(|d| d.severity == "Error" && d.summary.starts_with(UNASSIGNED))
}

/// A document difference that is only that order: a variable's `value` the
/// reference had not set yet when it stopped (ours sets every one it can).
pub fn set_before_in_map_order(difference: &str) -> bool {
    difference
        .strip_prefix("Extra variables.")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(path, detail)| {
            path.ends_with(".value")
                && !path[..path.len() - 6].contains('.')
                && detail.trim_start().starts_with("(absent)")
        })
}

/// How two lists of diagnostics differ, each line one difference; empty when
/// they agree (as multisets: the order of diagnostics is not compared).
pub fn compare(reference: &[Diagnostic], ours: &[Diagnostic]) -> Vec<String> {
    let mut missing: Vec<Diagnostic> = reference.to_vec();
    let mut extra: Vec<Diagnostic> = Vec::new();
    for d in ours {
        match missing.iter().position(|m| m == d) {
            Some(i) => {
                missing.remove(i);
            }
            None => extra.push(d.clone()),
        }
    }
    let unassigned = |d: &Diagnostic| d.severity == "Error" && d.summary.starts_with(UNASSIGNED);
    let picked_one =
        reference.iter().filter(|d| unassigned(d)).count() == 1 && !missing.iter().any(unassigned);
    if picked_one {
        extra.retain(|d| !unassigned(d));
    }
    let mut out = Vec::new();
    // Same severity and summary, another place: one difference, named as such.
    missing.retain(|m| {
        let same = extra
            .iter()
            .position(|e| e.severity == m.severity && e.summary == m.summary);
        match same {
            Some(j) => {
                let e = extra.remove(j);
                out.push(format!(
                    "location of {}: {}: reference {} ≠ ours {}",
                    m.severity,
                    m.summary,
                    m.location.as_deref().unwrap_or("(none)"),
                    e.location.as_deref().unwrap_or("(none)")
                ));
                false
            }
            None => true,
        }
    });
    out.extend(missing.iter().map(|m| format!("missing: {m}")));
    out.extend(extra.iter().map(|e| format!("extra: {e}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_reference_had_not_set_when_it_stopped_are_no_difference() {
        let stop = Diagnostic {
            severity: "Error".into(),
            summary: format!("{UNASSIGNED}b. Variables are usually assigned ..."),
            location: None,
        };
        assert!(stopped_at_unassigned(std::slice::from_ref(&stop)));
        assert!(!stopped_at_unassigned(&[]));
        assert!(set_before_in_map_order(
            "Extra variables.a.value: (absent) ≠ \"abc\""
        ));
        // Anything else still counts: a wrong value, a missing one, a nested path.
        assert!(!set_before_in_map_order(
            "Value variables.a.value: \"x\" ≠ \"abc\""
        ));
        assert!(!set_before_in_map_order(
            "Missing variables.a.value: \"abc\" ≠ (absent)"
        ));
        assert!(!set_before_in_map_order(
            "Extra variables.a.default.value: (absent) ≠ 1"
        ));
    }

    const CLI: &str = "Warning: unknown field: description\n  at resources.experiments.experiment\n  in resources/ml.yml:20:7\n\nName: x\nError: no such target\n\nFound 1 error and 1 warning\n";

    #[test]
    fn parses_severity_summary_and_first_location() {
        let d = parse(CLI);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d[0].to_string(),
            "Warning: unknown field: description (in resources/ml.yml:20:7)"
        );
        assert_eq!(d[1].to_string(), "Error: no such target");
        // A log line is no diagnostic; a second location is not the first.
        let two = "Warn: [hostmetadata] x\nWarning: dup\n  in a.yml:1:1\n     b.yml:2:2\n";
        assert_eq!(parse(two)[0].location.as_deref(), Some("a.yml:1:1"));
        assert_eq!(parse(two).len(), 1);
    }

    #[test]
    fn the_same_diagnostics_in_another_order_agree() {
        let a = parse(CLI);
        let mut b = a.clone();
        b.reverse();
        assert!(compare(&a, &b).is_empty());
    }

    #[test]
    fn a_location_off_by_one_line_is_one_difference() {
        let ours = CLI.replace("ml.yml:20:7", "ml.yml:21:7");
        assert_eq!(
            compare(&parse(CLI), &parse(&ours)),
            [
                "location of Warning: unknown field: description: reference resources/ml.yml:20:7 ≠ ours resources/ml.yml:21:7"
            ]
        );
    }

    #[test]
    fn the_clis_random_pick_of_unassigned_variables_is_one_of_ours() {
        let var = |n: &str| format!("Error: {UNASSIGNED}{n}. Variables are usually assigned\n");
        let ours = parse(&(var("a") + &var("b")));
        assert!(compare(&parse(&var("b")), &ours).is_empty());
        assert!(compare(&parse(&var("a")), &ours).is_empty());
        // Not one of ours: a difference, and then ours all count as extra.
        assert_eq!(compare(&parse(&var("c")), &ours).len(), 3);
        // Ours naming none is still a difference.
        assert_eq!(compare(&parse(&var("a")), &[]).len(), 1);
    }

    #[test]
    fn missing_and_extra_diagnostics_are_named() {
        let ours = "Warning: something else\n";
        assert_eq!(
            compare(&parse(CLI), &parse(ours)),
            [
                "missing: Warning: unknown field: description (in resources/ml.yml:20:7)",
                "missing: Error: no such target",
                "extra: Warning: something else"
            ]
        );
    }
}
