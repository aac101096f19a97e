//! Runs the validator over the case table it shares with the schema test
//! (`tests/fixtures/params/cases.json`), on real files in a temporary
//! repository, plus the lookup and location rules the table cannot express.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::*;
use crate::diag::Severity;

const CASES: &str = include_str!("../../../tests/fixtures/params/cases.json");
const REPO_FILE: &str = include_str!("../../../project_params.json");

/// A throwaway repository: `bundle/` (the bundle) and `other/`.
struct Repo {
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let root = std::env::temp_dir().join(format!("xtask-params-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(root.join("bundle")).unwrap();
        std::fs::create_dir_all(root.join("other")).unwrap();
        Repo { root }
    }
    fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    fn check(&self, bundle_name: Option<&str>) -> (Params, Vec<Diagnostic>) {
        let loc = Location {
            file: "databricks.yml".into(),
            line: 2,
            col: 9,
        };
        check(
            &self.bundle(),
            &self.root,
            bundle_name.map(|n| (n, Some(loc))),
        )
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn field<'a>(p: &'a Params, key: &str) -> Option<&'a str> {
    Some(match key {
        "input_project_name" => p.input_project_name.as_deref()?,
        "input_root_dir" => p.input_root_dir.as_deref()?,
        "input_cloud" => &p.input_cloud,
        "input_cicd_platform" => &p.input_cicd_platform,
        "input_databricks_staging_workspace_host" => &p.input_databricks_staging_workspace_host,
        "input_databricks_prod_workspace_host" => &p.input_databricks_prod_workspace_host,
        "input_default_branch" => &p.input_default_branch,
        "input_release_branch" => &p.input_release_branch,
        "input_read_user_group" => &p.input_read_user_group,
        "input_include_models_in_unity_catalog" => &p.input_include_models_in_unity_catalog,
        "input_schema_name" => &p.input_schema_name,
        "input_unity_catalog_read_user_group" => &p.input_unity_catalog_read_user_group,
        "input_include_feature_store" => &p.input_include_feature_store,
        "input_include_mlflow_recipes" => &p.input_include_mlflow_recipes,
        "input_inference_table_name" => &p.input_inference_table_name,
        _ => panic!("no Params field {key}"),
    })
}

/// Where the value of `key` starts in the pretty-printed text, found by
/// reading the text itself rather than with the parser under test.
fn value_pos(text: &str, key: &str) -> String {
    let prefix = format!("{}: ", rules::quote(key));
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(&prefix) {
            let indent = line.chars().count() - trimmed.chars().count();
            return format!("{}:{}", i + 1, indent + prefix.chars().count() + 1);
        }
    }
    panic!("key {key} not in {text}")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_case_of_the_shared_table() {
    let table: Json = serde_json::from_str(CASES).unwrap();
    let cases = table["cases"].as_array().unwrap();
    assert!(cases.len() >= 40, "the table should cover every rule");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (bytes, text) = if let Some(doc) = case.get("doc") {
            let text = serde_json::to_string_pretty(doc).unwrap();
            (text.clone().into_bytes(), text)
        } else if let Some(text) = case["text"].as_str() {
            (text.as_bytes().to_vec(), text.to_string())
        } else {
            (hex(case["hex"].as_str().unwrap()), String::new())
        };
        let repo = Repo::new();
        let dir = if case["file_at"] == "root" {
            repo.root.clone()
        } else {
            repo.bundle()
        };
        std::fs::write(dir.join(FILE_NAME), &bytes).unwrap();

        let (params, diags) = repo.check(case["bundle_name"].as_str());

        assert_eq!(
            params.file.as_deref(),
            Some(dir.join(FILE_NAME).as_path()),
            "{name}"
        );
        let mut unmatched: Vec<&Diagnostic> = diags.iter().collect();
        for want in case["errors"].as_array().unwrap() {
            let key = want["key"].as_str();
            let message = want["message"].as_str().unwrap();
            let at = match (want["at"].as_str(), want["at_value_of"].as_str().or(key)) {
                (Some(at), _) => at.to_string(),
                (None, Some(k)) => value_pos(&text, k),
                (None, None) => panic!("{name}: a file-level error needs `at`"),
            };
            let found = unmatched.iter().position(|d| {
                d.severity == Severity::Error
                    && d.path.as_deref() == key
                    && d.summary.contains(message)
                    && d.locations.first().map(|l| format!("{}:{}", l.line, l.col))
                        == Some(at.clone())
            });
            match found {
                Some(i) => {
                    unmatched.remove(i);
                }
                None => panic!(
                    "{name}: no error {key:?} {message:?} at {at}; got:\n{}",
                    render(&diags)
                ),
            }
        }
        assert!(
            unmatched.is_empty(),
            "{name}: unexpected diagnostics:\n{}",
            render(&diags)
        );
        for d in &diags {
            assert!(!d.locations.is_empty(), "{name}: {d}");
            assert_eq!(d.locations[0].file, Path::new(FILE_NAME), "{name}: {d}");
        }
        if let Some(expected) = case.get("params").and_then(Json::as_object) {
            for (key, value) in expected {
                assert_eq!(field(&params, key), value.as_str(), "{name}: {key}");
            }
        }
    }
}

fn render(diags: &[Diagnostic]) -> String {
    diags.iter().map(|d| d.to_string()).collect()
}

#[test]
fn the_repository_file_passes() {
    let repo = Repo::new();
    std::fs::write(repo.root.join(FILE_NAME), REPO_FILE).unwrap();
    let (params, diags) = repo.check(Some("my_mlops_project_luv_v6"));
    assert!(diags.is_empty(), "{}", render(&diags));
    assert_eq!(
        params.input_project_name.as_deref(),
        Some("my_mlops_project_luv_v6")
    );
    assert_eq!(params.input_root_dir.as_deref(), Some("bundle"));
    assert_eq!(
        (
            params.input_default_branch.as_str(),
            params.input_release_branch.as_str()
        ),
        ("main", "release")
    );
    assert!(params.unity_catalog() && !params.feature_store() && !params.mlflow_recipes());
    assert_eq!(params.input_schema_name, "my_mlops_project_luv_v6");
    assert_eq!(
        params.input_inference_table_name,
        "dev.my_mlops_project_luv_v6.predictions"
    );
}

#[test]
fn no_file_means_defaults_and_no_diagnostics() {
    let repo = Repo::new();
    let (params, diags) = repo.check(Some("rag_bot"));
    assert!(diags.is_empty());
    assert_eq!(params.file, None);
    assert_eq!(params.input_default_branch, "main");
    assert_eq!(params.input_release_branch, "release");
    // Derived defaults follow the bundle's name, as the template's follow the project's.
    assert_eq!(params.input_schema_name, "rag_bot");
    assert_eq!(params.input_inference_table_name, "dev.rag_bot.predictions");
    assert_eq!(Params::default().input_release_branch, "release");
}

#[test]
fn the_bundle_folder_file_wins_over_the_repository_one() {
    let repo = Repo::new();
    std::fs::write(repo.bundle().join(FILE_NAME), r#"{"input_cloud": "aws"}"#).unwrap();
    std::fs::write(repo.root.join(FILE_NAME), r#"{"input_cloud": "nope"}"#).unwrap();
    let (params, diags) = repo.check(None);
    assert!(diags.is_empty(), "{}", render(&diags));
    assert_eq!(params.input_cloud, "aws");
    assert_eq!(params.file, Some(repo.bundle().join(FILE_NAME)));
}

#[test]
fn a_name_mismatch_points_at_both_files() {
    let repo = Repo::new();
    std::fs::write(
        repo.bundle().join(FILE_NAME),
        "{\n  \"input_project_name\": \"abc\"\n}",
    )
    .unwrap();
    let (_, diags) = repo.check(Some("xyz"));
    assert_eq!(diags.len(), 1, "{}", render(&diags));
    assert_eq!(
        diags[0].to_string(),
        "Error: input_project_name \"abc\" does not match bundle.name \"xyz\"\n  at input_project_name\n  in project_params.json:2:25\n     databricks.yml:2:9\n\nThe template names the bundle after the project; change one so that they agree.\n"
    );
    // Without a location for bundle.name, the error still names the file's value.
    let (_, diags) = check(&repo.bundle(), &repo.root, Some(("xyz", None)));
    assert_eq!(diags[0].locations.len(), 1);
}

#[test]
fn duplicate_keys_point_at_both_occurrences() {
    let repo = Repo::new();
    std::fs::write(
        repo.bundle().join(FILE_NAME),
        "{\"input_cloud\": \"aws\",\n \"input_cloud\": \"aws\"}",
    )
    .unwrap();
    let (_, diags) = repo.check(None);
    let lines: Vec<String> = diags[0].locations.iter().map(|l| l.to_string()).collect();
    assert_eq!(
        lines,
        ["project_params.json:2:2", "project_params.json:1:2"]
    );
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let repo = Repo::new();
    std::fs::write(
        repo.bundle().join(FILE_NAME),
        "\u{feff}{\"input_cloud\": \"gcp\"}",
    )
    .unwrap();
    let (params, diags) = repo.check(None);
    assert!(diags.is_empty(), "{}", render(&diags));
    assert_eq!(params.input_cloud, "gcp");
}

#[test]
fn an_unreadable_file_is_an_error_not_a_panic() {
    let repo = Repo::new();
    std::fs::create_dir(repo.bundle().join(FILE_NAME)).unwrap();
    let (params, diags) = repo.check(None);
    assert_eq!(diags.len(), 1);
    assert!(diags[0].summary.starts_with("cannot read "), "{}", diags[0]);
    assert_eq!(params.input_release_branch, "release");
}

#[test]
fn invalid_values_fall_back_to_defaults() {
    let repo = Repo::new();
    std::fs::write(
        repo.bundle().join(FILE_NAME),
        r#"{"input_release_branch": "a b", "input_cloud": 3}"#,
    )
    .unwrap();
    let (params, diags) = repo.check(None);
    assert_eq!(diags.len(), 2);
    assert_eq!(params.input_release_branch, "release");
    assert_eq!(params.input_cloud, "azure");
}

#[test]
fn type_errors_say_what_the_key_takes() {
    let repo = Repo::new();
    std::fs::write(
        repo.bundle().join(FILE_NAME),
        r#"{"input_include_feature_store": false}"#,
    )
    .unwrap();
    let (_, diags) = repo.check(None);
    assert_eq!(
        diags[0].summary,
        "input_include_feature_store must be a string, found a boolean"
    );
    assert_eq!(
        diags[0].detail.as_deref(),
        Some(
            "All values of project_params.json are JSON strings; input_include_feature_store takes one of \"yes\", \"no\", in double quotes."
        )
    );
}
