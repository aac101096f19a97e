//! `cargo xtask conformance` end to end: the real runner, with the real
//! Databricks CLI and the CLI team's test server (tests/cliref), on small
//! hand-made cases in temp folders. Skipped, saying why, where the CLI is not
//! built (a fresh clone without Go); `XTASK_REQUIRE_CLI=1` makes it required.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

const BUNDLE: &str = "\
bundle:
  name: conf-e2e
workspace:
  host: https://example.cloud.databricks.com
resources:
  jobs:
    hello:
      name: hello
      tasks:
        - task_key: main
          notebook_task:
            notebook_path: ./nb.py
targets:
  dev:
    default: true
    mode: development
  other:
    variables: {}
";

/// An unknown field: the CLI warns with its location (line 7, column 7).
const UNKNOWN_FIELD: &str = "\
bundle:
  name: conf-unknown
resources:
  jobs:
    j:
      name: j
      colour: blue
";

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

fn conformance(root: &Path, args: &[&str]) -> Output {
    let mut cmd = crate::xtask();
    cmd.arg("--bundle-dir")
        .arg(root.join("bundle"))
        .arg("conformance")
        .arg("--out")
        .arg(root.join("out"))
        .arg("--floors")
        .arg(root.join("floors.json"))
        .args(args)
        .env("XTASK_CORPUS_DIR", root.join("no-corpus"))
        .env("XTASK_ACCEPTANCE_DIR", root.join("acceptance"));
    cmd.output().expect("running xtask conformance")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_runner_compares_validate_and_deploy_with_the_real_cli() {
    if !e2e::cli_reference_available("the_runner_compares_validate_and_deploy_with_the_real_cli") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(
        root,
        &[
            ("bundle/databricks.yml", BUNDLE),
            ("bundle/nb.py", "# Databricks notebook source\nprint(1)\n"),
        ],
    );
    write(
        root,
        &[("acceptance/validate/unknown/databricks.yml", UNKNOWN_FIELD)],
    );
    let job = BUNDLE
        .split("targets:")
        .next()
        .unwrap()
        .replace("conf-e2e", "conf-job");
    let notebook = "# Databricks notebook source\nx = 1\n";
    write(
        root,
        &[
            ("acceptance/resources/job/databricks.yml", job.as_str()),
            ("acceptance/resources/job/nb.py", notebook),
        ],
    );

    let out = conformance(root, &["--json", "--record-floors"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "conformance failed: {stderr}");
    let scores: Value = serde_json::from_slice(&out.stdout).expect("--json prints the scores");
    assert_eq!(
        scores,
        read_json(&root.join("out/scores.json")),
        "stdout and scores.json differ"
    );

    // Totals: one comparison per case and target; deploys only where asked.
    assert_eq!(
        scores["bundle"]["validate_documents"]["total"], 3,
        "{scores}"
    );
    assert_eq!(scores["validate"]["diagnostics"]["total"], 1, "{scores}");
    assert_eq!(
        scores["resources"]["validate_documents"]["total"], 1,
        "{scores}"
    );
    assert_eq!(
        scores["validate"]["deploy_end_states"]["total"], 0,
        "{scores}"
    );
    for folder in ["bundle", "resources"] {
        let f = &scores[folder];
        let deployed = f["deploy_end_states"]["total"].as_u64().unwrap()
            + f["deploy_skipped"].as_u64().unwrap();
        assert_eq!(
            deployed, 1,
            "{folder}: one deploy, compared or skipped: {scores}"
        );
        assert_eq!(
            f["deploy_end_states"]["total"], 1,
            "the CLI deploys this simple bundle: {scores}"
        );
    }

    // The scores are the cases' own differences counted.
    let cases = read_json(&root.join("out/cases.json"));
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 3);
    // Strict diagnostics: no difference at all; excused: none but the
    // README's on-purpose ones.
    let agreeing = |folder: &str, keys: &[&str]| {
        let c = cases.iter().find(|c| c["folder"] == folder).unwrap();
        c["validate"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| keys.iter().all(|k| v[k].as_array().unwrap().is_empty()))
            .count()
    };
    for folder in ["bundle", "validate", "resources"] {
        assert_eq!(
            scores[folder]["validate_documents"]["agree"],
            agreeing(folder, &["document"])
        );
        assert_eq!(
            scores[folder]["diagnostics"]["agree"],
            agreeing(folder, &["diagnostics", "on_purpose"])
        );
        assert_eq!(
            scores[folder]["diagnostics_excused"]["agree"],
            agreeing(folder, &["diagnostics"])
        );
    }

    // The CLI reached the test server (the bundle's host was pointed at it):
    // it printed a document for every target of the bundle.
    let bundle = cases.iter().find(|c| c["folder"] == "bundle").unwrap();
    for v in bundle["validate"].as_array().unwrap() {
        let doc = v["document"].to_string();
        assert!(!doc.contains("the reference printed no document"), "{doc}");
    }
    // Its warning was read from its human output, with the location.
    let unknown = cases.iter().find(|c| c["folder"] == "validate").unwrap();
    assert_eq!(
        unknown["validate"][0]["reference_diagnostics"],
        serde_json::json!(["Warning: unknown field: colour (in databricks.yml:7:7)"])
    );

    // No token anywhere (each run's token is normalised away).
    let all = format!("{}{stderr}{cases:?}", String::from_utf8_lossy(&out.stdout));
    assert!(!all.contains("dbapi"), "a token leaked: {all}");

    // The recorded floors are this run's agree counts; one raised above it fails.
    let mut floors = read_json(&root.join("floors.json"));
    assert_eq!(
        floors["validate"]["diagnostics"],
        scores["validate"]["diagnostics"]["agree"]
    );
    assert_eq!(
        floors["validate"]["diagnostics_excused"],
        scores["validate"]["diagnostics_excused"]["agree"]
    );
    // A floors file from before the excused metric is still read (and holds
    // that metric to the strict floor).
    for folder in floors.as_object_mut().unwrap().values_mut() {
        folder
            .as_object_mut()
            .unwrap()
            .remove("diagnostics_excused");
    }
    floors["validate"]["diagnostics"] = Value::from(2);
    std::fs::write(root.join("floors.json"), floors.to_string()).unwrap();
    let out = conformance(root, &["--check-floors"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a score below its floor must fail");
    assert!(stderr.contains("validate.diagnostics: "), "{stderr}");
    assert!(stderr.contains("below the floor of 2"), "{stderr}");
    assert!(
        !stderr.contains("bundle.validate_documents"),
        "only the raised floor fails: {stderr}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("folder"),
        "the table is printed"
    );
}
