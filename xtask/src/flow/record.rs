//! The record of a `test` run: digest, commit, branch, times, and each step's
//! outcome and log. Kept in `test`'s state, and in its metadata.json when the
//! run got as far as deploying.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Bundle;
use crate::project::Project;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub outcome: Outcome,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestRecord {
    pub id: String,
    pub passed: bool,
    /// The digest deployed to `test`; `None` when the run stopped before.
    pub digest: Option<String>,
    pub commit: String,
    pub branch: String,
    pub started_at: String,
    pub finished_at: String,
    pub steps: Vec<StepRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    pub logs: PathBuf,
}

impl TestRecord {
    pub fn start(repo: &Path, env_dir: &Path) -> Result<TestRecord> {
        let started_at = crate::util::now_rfc3339();
        // Sortable and short: the start second, then a random tail.
        let second = started_at
            .split('.')
            .next()
            .unwrap_or(&started_at)
            .trim_end_matches('Z');
        let id = format!(
            "{}Z-{}",
            second.replace([':', '-'], ""),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let records = env_dir.join("state").join("test-runs");
        crate::runner::keep_newest(&records, crate::runner::RUNS_KEPT - 1)?;
        let logs = records.join(&id);
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let git = crate::git::info(repo);
        Ok(TestRecord {
            id,
            passed: false,
            digest: None,
            commit: git.commit,
            branch: git.branch,
            started_at,
            finished_at: String::new(),
            steps: Vec::new(),
            failed_step: None,
            logs,
        })
    }

    /// Where step `name` writes its output.
    pub fn log_path(&self, name: &str) -> PathBuf {
        let file: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        self.logs.join(format!("{file}.log"))
    }

    /// Close the record and keep it: in the run's log folder, as the env's
    /// latest record, and in metadata.json when this run deployed.
    pub fn finish(
        mut self,
        project: &Project,
        bundle: &Bundle,
        passed: bool,
    ) -> Result<TestRecord> {
        self.passed = passed;
        self.finished_at = crate::util::now_rfc3339();
        self.failed_step = self
            .steps
            .iter()
            .find(|s| s.outcome == Outcome::Failed)
            .map(|s| s.name.clone());
        let json = serde_json::to_vec_pretty(&self)?;
        std::fs::write(self.logs.join("record.json"), &json).context("writing the test record")?;
        let latest = self.logs.parent().map(|p| p.join("latest.json"));
        if let Some(latest) = latest {
            crate::workspace::local::atomic_write(&latest, &json)?;
        }
        if self.digest.is_some() {
            let value = serde_json::to_value(&self)?;
            crate::deploy::update_metadata(project, bundle, |m| m.test = Some(value))?;
        }
        if project.human() {
            let verdict = if passed { "PASSED" } else { "FAILED" };
            eprintln!(
                "test {verdict}: record in {}",
                self.logs.join("record.json").display()
            );
        }
        Ok(self)
    }

    pub fn summary_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
