//! Diagnostics read from a tool's human output, as the CLI prints them:
//!
//! ```text
//! Warning: unknown field: description
//!   at resources.experiments.experiment
//!   in resources/ml-artifacts-resource.yml:20:7
//! ```
//!
//! and their comparison: severity, summary and first location, each
//! difference classed as on purpose (`on_purpose.rs`) or not.

use super::on_purpose::{self, OnPurpose};

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

/// Whether the reference stopped at a variable with no value. It then
/// prints the variables it had set before that one, in Go's random map
/// order: two runs print different sets of values.
pub fn stopped_at_unassigned(reference: &[Diagnostic]) -> bool {
    reference.iter().any(on_purpose::is_unassigned)
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

/// One difference between the two tools' diagnostics; `on_purpose` when it
/// is one the README lists as deliberate (then excused, not hidden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub text: String,
    pub on_purpose: Option<OnPurpose>,
}

impl Difference {
    fn new(text: String, on_purpose: Option<OnPurpose>) -> Difference {
        Difference { text, on_purpose }
    }
}

/// How two runs' diagnostics and exit statuses differ; empty when they agree
/// (as multisets: the order of diagnostics is not compared).
pub fn compare(
    (reference, reference_ok): (&[Diagnostic], bool),
    (ours, ours_ok): (&[Diagnostic], bool),
) -> Vec<Difference> {
    let (mut missing, mut extra) = unmatched(reference, ours);
    let mut out = Vec::new();
    pair_moved(&mut missing, &mut extra, &mut out);
    pair_cycles(&mut missing, &mut extra, &mut out);
    let excuses = Excuses::new(reference, &missing);
    out.extend(
        missing
            .iter()
            .map(|m| Difference::new(format!("missing: {m}"), None)),
    );
    let extra: Vec<Difference> = extra
        .iter()
        .map(|e| Difference::new(format!("extra: {e}"), excuses.of(e)))
        .collect();
    if reference_ok != ours_ok {
        // Decided before the extras join `out`: the excuse looks at the
        // other differences and at the extras apart.
        let why = only_not_deployable(reference_ok, &extra, &out, ours)
            .then_some(OnPurpose::NotDeployableYet);
        out.extend(extra);
        out.push(Difference::new(
            format!(
                "exit: reference {} ≠ ours {}",
                status(reference_ok),
                status(ours_ok)
            ),
            why,
        ));
    } else {
        out.extend(extra);
    }
    out
}

/// The reference's diagnostics ours lacks and ours the reference lacks,
/// matched one for one (a multiset difference), each in its input order.
fn unmatched(reference: &[Diagnostic], ours: &[Diagnostic]) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
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
    (missing, extra)
}

/// Same severity and summary, another place: one difference, named as such,
/// rather than one missing and one extra.
fn pair_moved(
    missing: &mut Vec<Diagnostic>,
    extra: &mut Vec<Diagnostic>,
    out: &mut Vec<Difference>,
) {
    missing.retain(|m| {
        let same = extra
            .iter()
            .position(|e| e.severity == m.severity && e.summary == m.summary);
        let Some(j) = same else { return true };
        let e = extra.remove(j);
        let why = on_purpose::located(m, &e).then_some(OnPurpose::Located);
        out.push(Difference::new(
            format!(
                "location of {}: {}: reference {} ≠ ours {}",
                m.severity,
                m.summary,
                m.location.as_deref().unwrap_or("(none)"),
                e.location.as_deref().unwrap_or("(none)")
            ),
            why,
        ));
        false
    });
}

/// The same cycle in other words: one difference, excused.
fn pair_cycles(
    missing: &mut Vec<Diagnostic>,
    extra: &mut Vec<Diagnostic>,
    out: &mut Vec<Difference>,
) {
    missing.retain(|m| {
        let Some(j) = extra.iter().position(|e| on_purpose::same_cycle(m, e)) else {
            return true;
        };
        let e = extra.remove(j);
        out.push(Difference::new(
            format!("cycle text: reference {m} ≠ ours {e}"),
            Some(OnPurpose::CycleText),
        ));
        false
    });
}

/// What the reference said that lets an extra diagnostic of ours pass as
/// deliberate: the CLI stops at the first of some kinds, ours reports all.
struct Excuses {
    /// The CLI's pick among the variables with no value is one of ours.
    picked_one: bool,
    /// The CLI's first path error is one of ours.
    first_path_error: bool,
}

impl Excuses {
    fn new(reference: &[Diagnostic], missing: &[Diagnostic]) -> Excuses {
        let said_all = |pred: &dyn Fn(&Diagnostic) -> bool| {
            reference.iter().any(pred) && !missing.iter().any(pred)
        };
        Excuses {
            picked_one: reference
                .iter()
                .filter(|d| on_purpose::is_unassigned(d))
                .count()
                == 1
                && said_all(&on_purpose::is_unassigned),
            first_path_error: said_all(&is_path_error),
        }
    }

    /// Why an extra diagnostic of ours is on purpose, if it is.
    fn of(&self, e: &Diagnostic) -> Option<OnPurpose> {
        if on_purpose::is_duplicate_key(e) {
            Some(OnPurpose::DuplicateKeyWarned)
        } else if on_purpose::is_not_deployable(e) {
            Some(OnPurpose::NotDeployableYet)
        } else if self.picked_one && on_purpose::is_unassigned(e) {
            Some(OnPurpose::EveryUnassignedVariable)
        } else if self.first_path_error && is_path_error(e) {
            Some(OnPurpose::EveryPathError)
        } else {
            None
        }
    }
}

fn is_path_error(d: &Diagnostic) -> bool {
    d.severity == "Error" && on_purpose::is_path_error(&d.summary)
}

/// Ours failing where the CLI passed, only for a kind it cannot deploy yet:
/// that error is the whole difference.
fn only_not_deployable(
    reference_ok: bool,
    extra: &[Difference],
    others: &[Difference],
    ours: &[Diagnostic],
) -> bool {
    reference_ok
        && !extra.is_empty()
        && extra
            .iter()
            .all(|d| d.on_purpose == Some(OnPurpose::NotDeployableYet))
        && others.iter().all(|d| d.on_purpose.is_some())
        && !ours
            .iter()
            .any(|d| d.severity == "Error" && !on_purpose::is_not_deployable(d))
}

fn status(ok: bool) -> &'static str {
    if ok { "success" } else { "failure" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::on_purpose::UNASSIGNED;

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

    /// Each difference, with the class that excuses it when one does.
    fn diff(reference: &str, ours: &str) -> Vec<(String, Option<&'static str>)> {
        diff_exit((reference, true), (ours, true))
    }

    fn diff_exit(
        (reference, r_ok): (&str, bool),
        (ours, o_ok): (&str, bool),
    ) -> Vec<(String, Option<&'static str>)> {
        compare((&parse(reference), r_ok), (&parse(ours), o_ok))
            .into_iter()
            .map(|d| (d.text, d.on_purpose.map(OnPurpose::name)))
            .collect()
    }

    /// Whether every difference is excused, and there is at least one.
    fn all_excused(d: &[(String, Option<&str>)]) -> bool {
        !d.is_empty() && d.iter().all(|(_, w)| w.is_some())
    }

    #[test]
    fn the_same_diagnostics_in_another_order_agree() {
        let a = parse(CLI);
        let mut b = a.clone();
        b.reverse();
        assert!(compare((&a, false), (&b, false)).is_empty());
    }

    #[test]
    fn a_location_off_by_one_line_is_one_difference_never_excused() {
        let ours = CLI.replace("ml.yml:20:7", "ml.yml:21:7");
        assert_eq!(
            diff(CLI, &ours),
            [(
                "location of Warning: unknown field: description: reference resources/ml.yml:20:7 ≠ ours resources/ml.yml:21:7".to_string(),
                None
            )]
        );
        // A path error placed elsewhere than the CLI places it: not excused either.
        let e = |loc: &str| format!("Error: file a.py not found\n  in {loc}\n");
        assert_eq!(diff(&e("x.yml:1:1"), &e("x.yml:2:1"))[0].1, None);
        // Nor one the CLI places where ours does not.
        assert_eq!(
            diff(&e("x.yml:1:1"), "Error: file a.py not found\n")[0].1,
            None
        );
    }

    #[test]
    fn a_place_added_to_an_error_of_the_listed_kinds_is_excused() {
        for summary in [
            "file test1.py not found",
            "notebook ./nb not found",
            "reference does not exist: ${var.x}",
            "no value assigned to required variable a. Variables are usually assigned",
            "cycle detected in field resolution: ${var.a} -> ${var.a}",
        ] {
            let d = diff(
                &format!("Error: {summary}\n"),
                &format!("Error: {summary}\n  in databricks.yml:3:5\n"),
            );
            assert_eq!(d.len(), 1, "{summary}");
            assert_eq!(d[0].1, Some("located"), "{summary}");
        }
        // Another summary, another severity, or an error of no listed kind:
        // differences.
        let placed = "Error: file a.py not found\n  in databricks.yml:3:5\n";
        assert!(!all_excused(&diff("Error: file b.py not found\n", placed)));
        assert!(!all_excused(&diff(
            "Warning: file a.py not found\n",
            "Warning: file a.py not found\n  in databricks.yml:3:5\n"
        )));
        assert!(!all_excused(&diff(
            "Error: no such target\n",
            "Error: no such target\n  in databricks.yml:3:5\n"
        )));
    }

    #[test]
    fn every_path_error_is_excused_only_beside_the_clis_first() {
        let cli = "Error: file test1.py not found\n";
        let ours = "Error: file test1.py not found\n  in databricks.yml:13:26\nError: file test2.py not found\n  in databricks.yml:18:26\n";
        let d = diff_exit((cli, false), (ours, false));
        assert_eq!(
            d.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            [Some("located"), Some("every path error")]
        );
        // The CLI's first path error not among ours: nothing is excused.
        let other = "Error: file test9.py not found\n";
        let d = diff_exit((other, false), (ours, false));
        assert!(d.iter().all(|(_, w)| w.is_none()), "{d:?}");
        // Ours adding a path error where the CLI had none: a difference.
        let d = diff_exit(("", true), ("Error: file a.py not found\n", false));
        assert!(d.iter().all(|(_, w)| w.is_none()), "{d:?}");
    }

    #[test]
    fn the_clis_random_pick_of_unassigned_variables_is_one_of_ours_on_purpose() {
        let var = |n: &str| format!("Error: {UNASSIGNED}{n}. Variables are usually assigned\n");
        let ours = var("a") + &var("b");
        for pick in ["a", "b"] {
            let d = diff_exit((&var(pick), false), (&ours, false));
            assert_eq!(d.len(), 1);
            assert_eq!(d[0].1, Some("every unassigned variable"));
        }
        // Not one of ours: a difference, and then ours all count as extra.
        let d = diff_exit((&var("c"), false), (&ours, false));
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|(_, w)| w.is_none()));
        // Ours naming none is still a difference.
        assert_eq!(diff_exit((&var("a"), false), ("", true)).len(), 2);
    }

    #[test]
    fn a_duplicate_key_warning_is_the_only_addition_excused_as_such() {
        let dup = "Warning: key name is written twice in one mapping; the last value is used, as the Databricks CLI does\n  in databricks.yml:4:3\n";
        assert_eq!(diff("", dup)[0].1, Some("duplicate key warned"));
        // As an error it would change the outcome: not excused.
        let as_error = dup.replace("Warning:", "Error:");
        assert!(!all_excused(&diff_exit(("", true), (&as_error, false))));
        // Any other added warning is a difference.
        assert_eq!(diff("", "Warning: something else\n")[0].1, None);
    }

    #[test]
    fn the_same_cycle_in_other_words_is_excused_another_is_not() {
        let cli =
            "Error: cycle detected in field resolution: variables.a.default -> var.b -> var.a\n";
        let ours = "Error: cycle detected in field resolution: ${var.b} -> ${var.a} -> ${var.b}\n  in databricks.yml:5:14\n";
        let d = diff_exit((cli, false), (ours, false));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].1, Some("cycle text"));
        let other = "Error: cycle detected in field resolution: ${var.c} -> ${var.a} -> ${var.c}\n";
        assert!(!all_excused(&diff_exit((cli, false), (other, false))));
    }

    #[test]
    fn a_kind_not_deployable_yet_excuses_its_error_and_the_failure_it_causes() {
        let not_yet = "Error: resources.models.m: models are not deployed by this tool yet (it deploys jobs); remove it from this target or deploy it with the Databricks CLI\n  in databricks.yml:6:7\n";
        let d = diff_exit(("", true), (not_yet, false));
        assert_eq!(
            d.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
            [Some("not deployable yet"), Some("not deployable yet")]
        );
        // Beside another error of ours, the failure is no longer only that.
        let more = format!("{not_yet}Error: something else\n");
        let d = diff_exit(("", true), (&more, false));
        assert!(!all_excused(&d));
        assert_eq!(d.last().unwrap().1, None, "{d:?}");
        // With a diagnostic of the CLI's missing from ours: not excused.
        let d = diff_exit(("Warning: unknown field: x\n", true), (not_yet, false));
        assert!(!all_excused(&d));
        // An exit that differs with no listed cause is never excused.
        assert_eq!(diff_exit(("", true), ("", false))[0].1, None);
    }

    #[test]
    fn missing_and_extra_diagnostics_are_named_and_never_excused() {
        let ours = "Warning: something else\n";
        assert_eq!(
            diff(CLI, ours),
            [
                (
                    "missing: Warning: unknown field: description (in resources/ml.yml:20:7)"
                        .to_string(),
                    None
                ),
                ("missing: Error: no such target".to_string(), None),
                ("extra: Warning: something else".to_string(), None)
            ]
        );
        // A missing path error is a difference even beside ours.
        let d = diff_exit(
            (
                "Error: file a.py not found\nError: file b.py not found\n",
                false,
            ),
            ("Error: file a.py not found\n", false),
        );
        assert_eq!(
            d,
            [("missing: Error: file b.py not found".to_string(), None)]
        );
    }
}
