//! Rules that span several keys, or the file system: what the MLOps Stacks
//! template itself never checks (DESIGN §3 "this tool does").

use std::collections::{HashMap, HashSet};

use super::{Ctx, Params, Valid, default_inference_table, rules};
use crate::diag::{Diagnostic, Location};

/// What the file holds, key by key.
pub(super) struct Keys {
    /// Present with a valid value.
    pub valid: HashMap<&'static str, Valid>,
    /// Present with a wrong value (already reported).
    pub broken: HashSet<&'static str>,
}

impl Keys {
    fn absent(&self, key: &str) -> bool {
        !self.valid.contains_key(key) && !self.broken.contains(key)
    }
}

/// Rules that involve more than one key, or the world outside the file. `p`
/// holds the values in force. A rule is skipped when a key it reads has a
/// wrong value: that is reported already, and its default is not what the
/// user meant.
pub(super) fn check(p: &Params, keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    project_name_is_bundle_name(keys, ctx, diags);
    root_dir_is_the_bundle(keys, ctx, diags);
    release_branch_differs(p, keys, ctx, diags);
    recipes_exclude_uc_and_feature_store(p, keys, ctx, diags);
    read_group_given_for_uc(p, keys, ctx, diags);
    if let Some(name) = keys.valid.get("input_project_name") {
        derived_defaults(p, name, keys, ctx, diags);
    }
}

/// Where `key` is written, if it is (with a valid value).
fn at(keys: &Keys, ctx: &Ctx, key: &str) -> Option<Location> {
    keys.valid.get(key).map(|v| ctx.loc(v.pos))
}

/// `value` quoted, marked as the default when the user did not write `key`:
/// else "it is yes" puzzles.
fn given(keys: &Keys, key: &str, value: &str) -> String {
    if keys.valid.contains_key(key) {
        rules::quote(value)
    } else {
        format!("{} (the default)", rules::quote(value))
    }
}

fn project_name_is_bundle_name(keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    if let Some(name) = keys.valid.get("input_project_name")
        && let Some((bundle, bundle_loc)) = &ctx.bundle_name
        && name.value != *bundle
    {
        let summary = format!(
            "input_project_name {} does not match bundle.name {}",
            rules::quote(&name.value),
            rules::quote(bundle)
        );
        diags.push(
            Diagnostic::error(summary)
                .detail("The template names the bundle after the project; change one so that they agree.")
                .path("input_project_name")
                .at(ctx.loc(name.pos))
                .at_opt(bundle_loc.clone()),
        );
    }
}

fn root_dir_is_the_bundle(keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    if let Some(root) = keys.valid.get("input_root_dir")
        && let Err(why) = root_dir_on_disk(&root.value, ctx)
    {
        let summary = format!("input_root_dir {} {why}", rules::quote(&root.value));
        diags.push(
            Diagnostic::error(summary)
                .path("input_root_dir")
                .at(ctx.loc(root.pos)),
        );
    }
}

fn release_branch_differs(p: &Params, keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    if p.input_default_branch == p.input_release_branch
        && !keys.broken.contains("input_default_branch")
        && !keys.broken.contains("input_release_branch")
    {
        let summary = format!(
            "input_release_branch {} is the same as input_default_branch {}; releases need a branch of their own",
            given(keys, "input_release_branch", &p.input_release_branch),
            given(keys, "input_default_branch", &p.input_default_branch),
        );
        diags.push(
            Diagnostic::error(summary)
                .path("input_release_branch")
                .at_opt(at(keys, ctx, "input_release_branch"))
                .at_opt(at(keys, ctx, "input_default_branch")),
        );
    }
}

/// MLflow Recipes cannot be combined with Unity Catalog models or the
/// Feature Store: one error per key that says "yes".
fn recipes_exclude_uc_and_feature_store(
    p: &Params,
    keys: &Keys,
    ctx: &Ctx,
    diags: &mut Vec<Diagnostic>,
) {
    if !p.mlflow_recipes() {
        return;
    }
    let needs_no = [
        (
            "input_include_models_in_unity_catalog",
            &p.input_include_models_in_unity_catalog,
        ),
        (
            "input_include_feature_store",
            &p.input_include_feature_store,
        ),
    ];
    for (key, value) in needs_no
        .into_iter()
        .filter(|(k, v)| *v == "yes" && !keys.broken.contains(k))
    {
        let summary = format!(
            "input_include_mlflow_recipes is \"yes\", which needs {key} to be \"no\", but it is {}",
            given(keys, key, value)
        );
        diags.push(
            Diagnostic::error(summary)
                .path("input_include_mlflow_recipes")
                .at_opt(at(keys, ctx, "input_include_mlflow_recipes"))
                .at_opt(at(keys, ctx, key)),
        );
    }
}

/// Models in Unity Catalog are granted to the read group: it must be named.
fn read_group_given_for_uc(p: &Params, keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    if p.unity_catalog()
        && !keys
            .broken
            .contains("input_include_models_in_unity_catalog")
        && let Some(group) = keys.valid.get("input_unity_catalog_read_user_group")
        && rules::non_blank(&group.value).is_err()
    {
        let summary = format!(
            "input_unity_catalog_read_user_group must not be empty when input_include_models_in_unity_catalog is {}",
            given(keys, "input_include_models_in_unity_catalog", "yes")
        );
        diags.push(
            Diagnostic::error(summary)
                .path("input_unity_catalog_read_user_group")
                .at(ctx.loc(group.pos)),
        );
    }
}

/// The template derives these defaults from the project name without checking
/// them: a project "a-b" silently gets the schema "a-b", which Unity Catalog
/// rejects at deploy time. Say so now, pointing at the project name.
fn derived_defaults(p: &Params, name: &Valid, keys: &Keys, ctx: &Ctx, diags: &mut Vec<Diagnostic>) {
    if p.unity_catalog()
        && !keys
            .broken
            .contains("input_include_models_in_unity_catalog")
        && keys.absent("input_schema_name")
        && let Err(why) = rules::schema_name(&name.value)
    {
        let summary = format!(
            "input_schema_name defaults to the project name {}, which is not a valid schema name: {why}; set input_schema_name",
            rules::quote(&name.value)
        );
        diags.push(
            Diagnostic::error(summary)
                .path("input_schema_name")
                .at(ctx.loc(name.pos)),
        );
    }
    let table = default_inference_table(&name.value);
    if keys.absent("input_inference_table_name")
        && let Err(why) = rules::table_name(&table)
    {
        let summary = format!(
            "input_inference_table_name defaults to {} (from the project name), which is not a valid table name: {why}; set input_inference_table_name",
            rules::quote(&table)
        );
        diags.push(
            Diagnostic::error(summary)
                .path("input_inference_table_name")
                .at(ctx.loc(name.pos)),
        );
    }
}

/// `input_root_dir` names the bundle folder: it must exist in the repository
/// and be the folder being validated.
fn root_dir_on_disk(value: &str, ctx: &Ctx) -> Result<(), String> {
    let dir = ctx.repo_root.join(value);
    if !dir.is_dir() {
        return Err(format!(
            "is not a folder of the repository (no folder at {})",
            dir.display()
        ));
    }
    let bundle = ctx.bundle_dir.canonicalize().ok();
    if dir
        .canonicalize()
        .ok()
        .is_some_and(|d| Some(&d) == bundle.as_ref())
    {
        return Ok(());
    }
    // Name the bundle folder the way the key should spell it.
    let shown = match (bundle, ctx.repo_root.canonicalize().ok()) {
        (Some(b), Some(r)) => match b.strip_prefix(&r) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => b.display().to_string(),
        },
        _ => ctx.bundle_dir.display().to_string(),
    };
    Err(format!(
        "is not the bundle folder; the bundle is {}",
        rules::quote(&shown)
    ))
}
