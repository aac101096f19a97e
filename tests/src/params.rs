//! The `project_params.json` case table and schema, shared by the params
//! tests: the validator's unit tests read the same table (see `xtask/src/params`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace_root;

/// One case of `tests/fixtures/params/cases.json`.
pub struct Case {
    pub name: String,
    /// The file's bytes as the validator reads them.
    pub bytes: Vec<u8>,
    /// Keys of the errors the validator must report (`None` for file-level ones).
    pub error_keys: Vec<Option<String>>,
    /// Why JSON Schema cannot see the error the validator reports, if so.
    pub validator_only: Option<String>,
}

impl Case {
    pub fn validator_rejects(&self) -> bool {
        !self.error_keys.is_empty()
    }
}

pub fn cases_path() -> PathBuf {
    workspace_root().join("tests/fixtures/params/cases.json")
}

pub fn schema_path() -> PathBuf {
    workspace_root().join("project_params.schema.json")
}

pub fn read_json(path: &std::path::Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

pub fn load_cases() -> Result<Vec<Case>> {
    let table = read_json(&cases_path())?;
    let Some(cases) = table["cases"].as_array() else {
        bail!("cases.json has no `cases` array")
    };
    cases.iter().map(case).collect()
}

fn case(v: &Value) -> Result<Case> {
    let name = v["name"]
        .as_str()
        .context("a case without a name")?
        .to_string();
    // `doc` cases are written pretty-printed by the unit tests; the bytes
    // only matter for parsing here, so compact is as good.
    let bytes = if let Some(doc) = v.get("doc") {
        serde_json::to_vec(doc)?
    } else if let Some(text) = v["text"].as_str() {
        text.as_bytes().to_vec()
    } else if let Some(hex) = v["hex"].as_str() {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .with_context(|| format!("case {name}: bad hex"))?
    } else {
        bail!("case {name} has no doc, text or hex")
    };
    let errors = v["errors"]
        .as_array()
        .with_context(|| format!("case {name}: no errors list"))?;
    let error_keys = errors
        .iter()
        .map(|e| e["key"].as_str().map(str::to_string))
        .collect();
    let validator_only = v["validator_only"].as_str().map(str::to_string);
    Ok(Case {
        name,
        bytes,
        error_keys,
        validator_only,
    })
}

/// The schema compiled as draft 2020-12, with no remote fetching (the
/// crate's default features, which fetch, are off).
pub fn schema_validator() -> Result<jsonschema::Validator> {
    let schema = read_json(&schema_path())?;
    jsonschema::draft202012::new(&schema).map_err(|e| anyhow::anyhow!("compiling the schema: {e}"))
}
