//! `project_params.json`: load and validate (DESIGN §3).
//!
//! The file uses the MLOps Stacks template's parameter names, so one file
//! serves both that template and this tool. `check` never panics and never
//! writes; it reports every problem at once as a located diagnostic, and fills
//! in the template's defaults for whatever a short-form file leaves out.

// `validate` (and later the delivery flow) call `check`; until that lands on
// this branch the items look unused.
#![allow(dead_code)]

mod cross;
mod json;
mod rules;

#[cfg(test)]
mod cases_test;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Location};
use json::{Located, Member, Pos, Value};
use rules::Rule;

pub const FILE_NAME: &str = "project_params.json";

/// The project parameters with defaults filled in for keys a short-form file
/// omits (the MLOps Stacks template's defaults; those it derives from the
/// project name are derived the same way). A key whose value is invalid also
/// gets its default, so callers always have something usable; the
/// diagnostics say what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Where the file was read from; `None` when the project has none.
    pub file: Option<PathBuf>,
    /// As written in the file; `None` when absent (or invalid).
    pub input_project_name: Option<String>,
    /// As written in the file; `None` when absent (or invalid).
    pub input_root_dir: Option<String>,
    pub input_cloud: String,
    pub input_cicd_platform: String,
    pub input_databricks_staging_workspace_host: String,
    pub input_databricks_prod_workspace_host: String,
    pub input_default_branch: String,
    pub input_release_branch: String,
    pub input_read_user_group: String,
    /// `"yes"` or `"no"`; see [`Params::unity_catalog`].
    pub input_include_models_in_unity_catalog: String,
    pub input_schema_name: String,
    pub input_unity_catalog_read_user_group: String,
    pub input_include_feature_store: String,
    pub input_include_mlflow_recipes: String,
    pub input_inference_table_name: String,
}

/// The template's name for a project that does not say.
const DEFAULT_PROJECT_NAME: &str = "my_mlops_project";

impl Default for Params {
    fn default() -> Self {
        Params::with_defaults("azure", DEFAULT_PROJECT_NAME)
    }
}

impl Params {
    /// Models go to Unity Catalog.
    pub fn unity_catalog(&self) -> bool {
        self.input_include_models_in_unity_catalog == "yes"
    }
    pub fn feature_store(&self) -> bool {
        self.input_include_feature_store == "yes"
    }
    pub fn mlflow_recipes(&self) -> bool {
        self.input_include_mlflow_recipes == "yes"
    }

    /// The template's defaults; hosts depend on the cloud and the schema and
    /// inference table on the project name, as the template derives them.
    fn with_defaults(cloud: &str, project_name: &str) -> Params {
        let (staging, prod) = match cloud {
            "azure" => (
                "https://adb-xxxx.xx.azuredatabricks.net",
                "https://adb-xxxx.xx.azuredatabricks.net",
            ),
            _ => (
                "https://your-staging-workspace.cloud.databricks.com",
                "https://your-prod-workspace.cloud.databricks.com",
            ),
        };
        Params {
            file: None,
            input_project_name: None,
            input_root_dir: None,
            input_cloud: cloud.to_string(),
            input_cicd_platform: "github_actions".into(),
            input_databricks_staging_workspace_host: staging.into(),
            input_databricks_prod_workspace_host: prod.into(),
            input_default_branch: "main".into(),
            input_release_branch: "release".into(),
            input_read_user_group: "users".into(),
            input_include_models_in_unity_catalog: "yes".into(),
            input_schema_name: project_name.to_string(),
            input_unity_catalog_read_user_group: "account users".into(),
            input_include_feature_store: "no".into(),
            input_include_mlflow_recipes: "no".into(),
            input_inference_table_name: default_inference_table(project_name),
        }
    }
}

pub(crate) fn default_inference_table(project_name: &str) -> String {
    format!("dev.{project_name}.predictions")
}

/// Find `project_params.json` (the bundle folder first, then the repository
/// root), load and validate it. `bundle_name` is `bundle.name` of the
/// configuration with its location, for the cross-check; `None` skips it.
pub fn check(
    bundle_dir: &Path,
    repo_root: &Path,
    bundle_name: Option<(&str, Option<Location>)>,
) -> (Params, Vec<Diagnostic>) {
    let Some((path, shown)) = find(bundle_dir, repo_root) else {
        let name = bundle_name.map_or(DEFAULT_PROJECT_NAME, |(n, _)| n);
        return (Params::with_defaults("azure", name), Vec::new());
    };
    let ctx = Ctx {
        shown,
        bundle_dir,
        repo_root,
        bundle_name,
    };
    let (mut params, diags) = match std::fs::read(&path) {
        Ok(bytes) => check_bytes(&bytes, &ctx),
        Err(err) => {
            let d = Diagnostic::error(format!("cannot read {}: {err}", path.display()));
            (ctx.defaults("azure", None), vec![d])
        }
    };
    params.file = Some(path);
    (params, diags)
}

/// The file to read and the name to show in locations: the bundle folder's own
/// (as generated projects carry it) is shown relative to the bundle, the
/// repository's relative to the repository, as the user would type them.
fn find(bundle_dir: &Path, repo_root: &Path) -> Option<(PathBuf, PathBuf)> {
    [bundle_dir, repo_root]
        .into_iter()
        .map(|dir| dir.join(FILE_NAME))
        .find(|p| p.exists())
        .map(|p| (p, PathBuf::from(FILE_NAME)))
}

pub(crate) struct Ctx<'a> {
    /// The file name used in locations.
    shown: PathBuf,
    pub bundle_dir: &'a Path,
    pub repo_root: &'a Path,
    pub bundle_name: Option<(&'a str, Option<Location>)>,
}

impl Ctx<'_> {
    pub fn loc(&self, pos: Pos) -> Location {
        Location {
            file: self.shown.clone(),
            line: pos.line,
            col: pos.col,
        }
    }

    /// The template's defaults; without a project name, the bundle's, as the
    /// template names the bundle after the project.
    fn defaults(&self, cloud: &str, project_name: Option<&str>) -> Params {
        let name = project_name
            .or(self.bundle_name.as_ref().map(|(n, _)| *n))
            .unwrap_or(DEFAULT_PROJECT_NAME);
        Params::with_defaults(cloud, name)
    }
}

fn check_bytes(bytes: &[u8], ctx: &Ctx) -> (Params, Vec<Diagnostic>) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let valid = &bytes[..err.valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let col = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            let byte = bytes[err.valid_up_to()];
            let d = Diagnostic::error(format!(
                "{FILE_NAME} is not valid UTF-8 (byte 0x{byte:02X}); save it as UTF-8"
            ))
            .at(ctx.loc(Pos { line, col }));
            return (ctx.defaults("azure", None), vec![d]);
        }
    };
    // Editors on Windows may write a byte order mark; it carries no meaning.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match json::parse(text) {
        Ok(doc) => check_doc(&doc, ctx),
        Err(err) => {
            let d = Diagnostic::error(format!("invalid JSON in {FILE_NAME}: {}", err.message))
                .at(ctx.loc(err.pos));
            (ctx.defaults("azure", None), vec![d])
        }
    }
}

/// A string value that passed its own rule, with where it is.
pub(crate) struct Valid {
    pub value: String,
    pub pos: Pos,
}

fn check_doc(doc: &Located, ctx: &Ctx) -> (Params, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let Value::Object(members) = &doc.value else {
        let d = Diagnostic::error(format!(
            "{FILE_NAME} must hold a JSON object of parameters, found {}",
            doc.value.kind()
        ))
        .at(ctx.loc(doc.pos));
        return (ctx.defaults("azure", None), vec![d]);
    };

    let mut first: HashMap<&str, &Member> = HashMap::new();
    let mut valid: HashMap<&'static str, Valid> = HashMap::new();
    // Keys present with a wrong value: already reported, and neither their
    // value nor their default may feed a cross-field rule.
    let mut broken: HashSet<&'static str> = HashSet::new();
    for m in members {
        if let Some(earlier) = first.get(m.key.as_str()) {
            diags.push(
                Diagnostic::error(format!(
                    "duplicate key {} in {FILE_NAME}",
                    rules::quote(&m.key)
                ))
                .detail(format!(
                    "It is first set at {}; keep one of the two.",
                    earlier.key_pos
                ))
                .path(m.key.clone())
                .at(ctx.loc(m.key_pos))
                .at(ctx.loc(earlier.key_pos)),
            );
            continue;
        }
        first.insert(&m.key, m);
        let Some((key, rule)) = rules::KEYS.iter().find(|(k, _)| *k == m.key).copied() else {
            diags.push(unknown_key(m, ctx));
            continue;
        };
        let Value::String(s) = &m.value.value else {
            broken.insert(key);
            diags.push(
                Diagnostic::error(format!(
                    "{key} must be a string, found {}",
                    m.value.value.kind()
                ))
                .detail(value_help(key, rule))
                .path(key)
                .at(ctx.loc(m.value.pos)),
            );
            continue;
        };
        match rules::check(key, rule, s) {
            Ok(()) => {
                valid.insert(
                    key,
                    Valid {
                        value: s.clone(),
                        pos: m.value.pos,
                    },
                );
            }
            Err(why) => {
                broken.insert(key);
                diags.push(Diagnostic::error(why).path(key).at(ctx.loc(m.value.pos)));
            }
        }
    }

    let params = effective(&valid, ctx);
    cross::check(&params, &cross::Keys { valid, broken }, ctx, &mut diags);
    (params, diags)
}

fn unknown_key(m: &Member, ctx: &Ctx) -> Diagnostic {
    let name = rules::quote(&m.key);
    let summary = match rules::suggest(&m.key) {
        Some(s) => format!("unknown key {name} in {FILE_NAME}; did you mean \"{s}\"?"),
        None => format!("unknown key {name} in {FILE_NAME}"),
    };
    let known: Vec<&str> = rules::KEYS.iter().map(|(k, _)| *k).collect();
    Diagnostic::error(summary)
        .detail(format!("Known keys: {}", known.join(", ")))
        .path(m.key.clone())
        .at(ctx.loc(m.key_pos))
}

/// What a key accepts, for a value of the wrong type.
fn value_help(key: &str, rule: Rule) -> String {
    let what = match rule {
        Rule::OneOf(allowed) => format!(
            "one of {}",
            allowed
                .iter()
                .map(|a| rules::quote(a))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Rule::ProjectName => {
            "a project name of at least 3 characters without \" \", \".\", \"\\\" or \"/\"".into()
        }
        Rule::RootDir => "the bundle folder relative to the repository, e.g. \"bundle\"".into(),
        Rule::Host => "an \"https://\" URL or \"\"".into(),
        Rule::Branch => "a git branch name".into(),
        Rule::NonBlank => "a group name".into(),
        Rule::SchemaName => "a schema name".into(),
        Rule::TableName => "\"catalog.schema.table\"".into(),
        Rule::AnyString => "a string".into(),
    };
    format!("All values of {FILE_NAME} are JSON strings; {key} takes {what}, in double quotes.")
}

/// The values in force: the file's valid ones over the template's defaults.
fn effective(valid: &HashMap<&'static str, Valid>, ctx: &Ctx) -> Params {
    let get = |key: &str| valid.get(key).map(|v| v.value.clone());
    let project_name = get("input_project_name");
    let cloud = get("input_cloud").unwrap_or_else(|| "azure".into());
    let mut p = ctx.defaults(&cloud, project_name.as_deref());
    p.input_project_name = project_name;
    p.input_root_dir = get("input_root_dir");
    let fields: [(&str, &mut String); 13] = [
        ("input_cloud", &mut p.input_cloud),
        ("input_cicd_platform", &mut p.input_cicd_platform),
        (
            "input_databricks_staging_workspace_host",
            &mut p.input_databricks_staging_workspace_host,
        ),
        (
            "input_databricks_prod_workspace_host",
            &mut p.input_databricks_prod_workspace_host,
        ),
        ("input_default_branch", &mut p.input_default_branch),
        ("input_release_branch", &mut p.input_release_branch),
        ("input_read_user_group", &mut p.input_read_user_group),
        (
            "input_include_models_in_unity_catalog",
            &mut p.input_include_models_in_unity_catalog,
        ),
        ("input_schema_name", &mut p.input_schema_name),
        (
            "input_unity_catalog_read_user_group",
            &mut p.input_unity_catalog_read_user_group,
        ),
        (
            "input_include_feature_store",
            &mut p.input_include_feature_store,
        ),
        (
            "input_include_mlflow_recipes",
            &mut p.input_include_mlflow_recipes,
        ),
        (
            "input_inference_table_name",
            &mut p.input_inference_table_name,
        ),
    ];
    for (key, field) in fields {
        if let Some(v) = get(key) {
            *field = v;
        }
    }
    p
}
