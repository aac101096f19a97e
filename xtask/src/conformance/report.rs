//! Scores per folder (agree / total for each metric), the table, and the
//! floors: the agree counts recorded in `conformance/floors.json` that a run
//! must not fall below.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::deploy::Deployed;
use super::validate::Compared;

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub folder: String,
    pub case: String,
    pub validate: Vec<Compared>,
    pub deploy: Option<Deployed>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub agree: usize,
    pub total: usize,
}

impl Score {
    fn add(&mut self, agrees: bool) {
        self.total += 1;
        self.agree += usize::from(agrees);
    }
}

pub const METRICS: [&str; 5] = [
    "validate_documents",
    "diagnostics",
    "diagnostics_excused",
    "deploy_end_states",
    "interop",
];

#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub validate_documents: Score,
    /// Strict: the CLI's diagnostics and exit status, exactly.
    pub diagnostics: Score,
    /// The same, with the differences the README lists as on purpose
    /// excused (`on_purpose.rs`); never below `diagnostics`.
    pub diagnostics_excused: Score,
    pub deploy_end_states: Score,
    pub interop: Score,
    /// Cases the CLI itself could not deploy: not compared.
    pub deploy_skipped: usize,
}

impl Row {
    fn metric(&self, name: &str) -> Option<Score> {
        match name {
            "validate_documents" => Some(self.validate_documents),
            "diagnostics" => Some(self.diagnostics),
            "diagnostics_excused" => Some(self.diagnostics_excused),
            "deploy_end_states" => Some(self.deploy_end_states),
            "interop" => Some(self.interop),
            _ => None,
        }
    }

    fn add(&mut self, r: &CaseResult) {
        for c in &r.validate {
            self.validate_documents.add(c.document.is_empty());
            self.diagnostics
                .add(c.diagnostics.is_empty() && c.on_purpose.is_empty());
            self.diagnostics_excused.add(c.diagnostics.is_empty());
        }
        match &r.deploy {
            Some(d) if d.skipped.is_some() => self.deploy_skipped += 1,
            Some(d) => {
                self.deploy_end_states.add(d.end_state.is_empty());
                self.interop.add(d.interop.is_empty());
            }
            None => {}
        }
    }
}

/// Rows in the order folders first appear, then `total`.
pub fn scores(results: &[CaseResult]) -> Vec<(String, Row)> {
    let mut rows: Vec<(String, Row)> = Vec::new();
    let mut total = Row::default();
    for r in results {
        let i = match rows.iter().position(|(f, _)| *f == r.folder) {
            Some(i) => i,
            None => {
                rows.push((r.folder.clone(), Row::default()));
                rows.len() - 1
            }
        };
        rows[i].1.add(r);
        total.add(r);
    }
    rows.push(("total".to_string(), total));
    rows
}

pub fn to_json(rows: &[(String, Row)]) -> serde_json::Value {
    let map: serde_json::Map<String, serde_json::Value> = rows
        .iter()
        .map(|(f, r)| (f.clone(), serde_json::to_value(r).unwrap_or_default()))
        .collect();
    serde_json::Value::Object(map)
}

pub fn table(rows: &[(String, Row)]) -> String {
    let mut out = format!(
        "{:<16} {:>14} {:>12} {:>12} {:>14} {:>10} {:>15}\n",
        "folder",
        "validate docs",
        "diagnostics",
        "+on purpose",
        "deploy state",
        "interop",
        "deploy skipped"
    );
    let s = |s: Score| format!("{}/{}", s.agree, s.total);
    for (folder, r) in rows {
        out.push_str(&format!(
            "{:<16} {:>14} {:>12} {:>12} {:>14} {:>10} {:>15}\n",
            folder,
            s(r.validate_documents),
            s(r.diagnostics),
            s(r.diagnostics_excused),
            s(r.deploy_end_states),
            s(r.interop),
            r.deploy_skipped
        ));
    }
    out
}

/// Floors: folder → metric → the agree count a run must reach.
pub type Floors = BTreeMap<String, BTreeMap<String, usize>>;

pub fn read_floors(path: &Path) -> Result<Floors> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a map of folder → metric → count", path.display()))
}

pub fn floors_of(rows: &[(String, Row)]) -> Floors {
    rows.iter()
        .filter(|(f, _)| f != "total")
        .map(|(f, r)| {
            let m = METRICS
                .iter()
                .map(|m| (m.to_string(), r.metric(m).unwrap_or_default().agree))
                .collect();
            (f.clone(), m)
        })
        .collect()
}

/// Each metric below its floor, named; a folder missing from the run scores 0.
/// A floors file recorded before `diagnostics_excused` existed holds that
/// metric to the strict `diagnostics` floor (it can only be higher).
pub fn below_floors(rows: &[(String, Row)], floors: &Floors) -> Vec<String> {
    let mut out = Vec::new();
    for (folder, metrics) in floors {
        let row = rows.iter().find(|(f, _)| f == folder).map(|(_, r)| r);
        let mut metrics = metrics.clone();
        if let Some(&strict) = metrics.get("diagnostics") {
            metrics
                .entry("diagnostics_excused".into())
                .or_insert(strict);
        }
        for (metric, &floor) in &metrics {
            if !METRICS.contains(&metric.as_str()) {
                out.push(format!(
                    "{folder}.{metric}: not a metric (one of {})",
                    METRICS.join(", ")
                ));
                continue;
            }
            let agree = row.and_then(|r| r.metric(metric)).map_or(0, |s| s.agree);
            if agree < floor {
                out.push(format!(
                    "{folder}.{metric}: {agree} agree, below the floor of {floor}"
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(folder: &str, doc_agrees: bool, deploy: Option<Deployed>) -> CaseResult {
        let problems = if doc_agrees {
            vec![]
        } else {
            vec!["x".to_string()]
        };
        CaseResult {
            folder: folder.into(),
            case: "c".into(),
            validate: vec![Compared {
                target: None,
                document: problems,
                diagnostics: vec![],
                on_purpose: vec![],
                reference_diagnostics: vec![],
            }],
            deploy,
        }
    }

    fn with_diags(mut c: CaseResult, strict: &[&str], on_purpose: &[&str]) -> CaseResult {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        c.validate[0].diagnostics = owned(strict);
        c.validate[0].on_purpose = owned(on_purpose);
        c
    }

    #[test]
    fn on_purpose_differences_count_against_strict_only() {
        let rows = scores(&[
            case("a", true, None),
            with_diags(case("a", true, None), &[], &["[on purpose: located] x"]),
            with_diags(case("a", true, None), &["y"], &["[on purpose: located] x"]),
        ]);
        let a = &rows[0].1;
        assert_eq!(a.diagnostics, Score { agree: 1, total: 3 });
        assert_eq!(a.diagnostics_excused, Score { agree: 2, total: 3 });
        // A floors file without the new metric holds it to the strict floor.
        let mut floors: Floors =
            [("a".to_string(), [("diagnostics".to_string(), 1)].into())].into();
        assert!(below_floors(&rows, &floors).is_empty());
        floors.get_mut("a").unwrap().insert("diagnostics".into(), 3);
        assert_eq!(
            below_floors(&rows, &floors),
            [
                "a.diagnostics: 1 agree, below the floor of 3",
                "a.diagnostics_excused: 2 agree, below the floor of 3"
            ]
        );
        // Its own floor, once recorded, is what counts.
        floors.get_mut("a").unwrap().insert("diagnostics".into(), 1);
        floors
            .get_mut("a")
            .unwrap()
            .insert("diagnostics_excused".into(), 2);
        assert!(below_floors(&rows, &floors).is_empty());
        assert_eq!(floors_of(&rows)["a"]["diagnostics_excused"], 2);
    }

    #[test]
    fn scores_count_per_folder_and_skipped_deploys_apart() {
        let skipped = Deployed {
            skipped: Some("cli failed".into()),
            end_state: vec![],
            interop: vec![],
        };
        let agreed = Deployed {
            skipped: None,
            end_state: vec![],
            interop: vec!["dup".into()],
        };
        let rows = scores(&[
            case("a", true, Some(skipped)),
            case("a", false, Some(agreed)),
            case("b", true, None),
        ]);
        let a = &rows[0].1;
        assert_eq!(a.validate_documents, Score { agree: 1, total: 2 });
        assert_eq!(a.diagnostics, Score { agree: 2, total: 2 });
        assert_eq!(a.deploy_end_states, Score { agree: 1, total: 1 });
        assert_eq!(a.interop, Score { agree: 0, total: 1 });
        assert_eq!(a.deploy_skipped, 1);
        assert_eq!(rows[2].0, "total");
        assert_eq!(rows[2].1.validate_documents, Score { agree: 2, total: 3 });
    }

    #[test]
    fn each_metric_below_its_floor_is_named() {
        let rows = scores(&[case("a", true, None)]);
        let mut floors = floors_of(&rows);
        assert!(below_floors(&rows, &floors).is_empty());
        floors.get_mut("a").unwrap().insert("diagnostics".into(), 2);
        floors.insert("gone".into(), [("interop".to_string(), 1)].into());
        floors.get_mut("a").unwrap().insert("speed".into(), 0);
        assert_eq!(
            below_floors(&rows, &floors),
            [
                "a.diagnostics: 1 agree, below the floor of 2",
                "a.speed: not a metric (one of validate_documents, diagnostics, diagnostics_excused, deploy_end_states, interop)",
                "gone.interop: 0 agree, below the floor of 1"
            ]
        );
    }
}
