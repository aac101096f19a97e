//! `project_params.schema.json` against the validator: the schema and the
//! validator agree on every case of the shared table
//! (`tests/fixtures/params/cases.json`), which the validator's own unit tests
//! run through `params::check` on real files. Cases marked `validator_only`
//! are errors a JSON Schema cannot express (a value equal to `bundle.name` in
//! another file, folders on disk, two values that must differ, defaults
//! derived from another key, duplicate keys); for those the schema must accept
//! the document, so that the marking stays honest.

use e2e::params::{load_cases, read_json, schema_path, schema_validator};
use e2e::workspace_root;
use serde_json::Value;

#[test]
fn the_schema_is_a_valid_draft_2020_12_schema() {
    let schema = read_json(&schema_path()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("project_params.schema.json is not a valid schema: {e}");
    }
}

#[test]
fn the_schema_and_the_validator_agree_on_every_case() {
    let schema = schema_validator().unwrap();
    let cases = load_cases().unwrap();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let (mut agreed, mut unparsable, mut validator_only) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let Ok(doc) = serde_json::from_slice::<Value>(&case.bytes) else {
            // Not JSON at all: no schema can accept it, so the validator must reject it too.
            if !case.validator_rejects() {
                failures.push(format!(
                    "{}: not JSON, yet the validator expects no error",
                    case.name
                ));
            }
            unparsable += 1;
            continue;
        };
        let schema_accepts = schema.is_valid(&doc);
        let why_not: Vec<String> = schema
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        match &case.validator_only {
            Some(reason) => {
                validator_only += 1;
                if !case.validator_rejects() {
                    failures.push(format!(
                        "{}: marked validator-only ({reason}) but expects no error",
                        case.name
                    ));
                }
                if !schema_accepts {
                    failures.push(format!(
                        "{}: marked validator-only ({reason}), but the schema rejects it too: {why_not:?}",
                        case.name
                    ));
                }
            }
            None if schema_accepts != case.validator_rejects() => agreed += 1, // accepts exactly when no error
            None => failures.push(format!(
                "{}: the validator expects errors on {:?}, the schema {}",
                case.name,
                case.error_keys,
                if schema_accepts {
                    "accepts it".to_string()
                } else {
                    format!("rejects it: {why_not:?}")
                }
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{agreed} cases agreed, {unparsable} not JSON, {validator_only} validator-only");
    assert!(agreed >= 40 && validator_only > 0 && unparsable > 0);
}

#[test]
fn the_repository_file_fills_every_key_and_passes_its_schema() {
    let file = read_json(&workspace_root().join("project_params.json")).unwrap();
    let schema = read_json(&schema_path()).unwrap();
    // The `$schema` reference resolves, from the file, to the schema we ship.
    let reference = file["$schema"]
        .as_str()
        .expect("project_params.json references its schema");
    assert_eq!(
        workspace_root().join(reference).canonicalize().unwrap(),
        schema_path().canonicalize().unwrap()
    );

    let mut keys: Vec<&String> = file.as_object().unwrap().keys().collect();
    let mut known: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    keys.sort();
    known.sort();
    assert_eq!(
        keys, known,
        "the repository's file sets every key the schema knows"
    );

    let validator = schema_validator().unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&file)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(file["input_project_name"], "my_mlops_project_luv_v6");
    assert_eq!(file["input_root_dir"], "bundle");
}

#[test]
fn the_schema_rejects_a_value_of_each_wrong_type_for_every_key() {
    // The type rule, checked key by key rather than by sample: all values are strings.
    let validator = schema_validator().unwrap();
    let schema = read_json(&schema_path()).unwrap();
    for key in schema["properties"].as_object().unwrap().keys() {
        for wrong in [
            serde_json::json!(1),
            serde_json::json!(true),
            Value::Null,
            serde_json::json!([]),
            serde_json::json!({}),
        ] {
            let doc = serde_json::json!({ key: wrong });
            assert!(!validator.is_valid(&doc), "{key} accepts {wrong}");
        }
    }
}
