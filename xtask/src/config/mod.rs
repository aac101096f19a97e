//! `databricks.yml`: load with includes, targets, variables and interpolation
//! into a resolved model, with diagnostics located at `file:line:col`.
//!
//! CONTRACT (other modules build on this; the config module owns the body):
//! `load` never panics and never writes; it returns every diagnostic it found,
//! and a `Bundle` whenever the configuration could be resolved far enough to
//! be useful (it may still carry errors: callers that act check `has_errors`).
//!
//! The stages, in the CLI's order (reference §4), each in its own module:
//! `files` (root file, `include:` globs, size/encoding checks) → `yaml`
//! (located tree) → `check` (known keys, types) → `targets` (select, merge)
//! → `merge` (tasks by key) → `modes::fill_facts` (user, git, workspace
//! paths) → `vars` (values by precedence) → `interp` (`${...}`) →
//! `modes::apply_mode` (presets, development/production rules) →
//! `defaults::apply` (the CLI's resource defaults) → `paths` (local paths
//! checked and translated) → `defaults::annotate` (deployment, edit mode).
//! Every node keeps the file it came from, so paths are relative to the file
//! that names them even after merges.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::diag::Location;

mod app_checks;
mod check;
mod ctx;
mod defaults;
mod files;
mod gojson;
mod interp;
pub mod kinds;
mod locations;
mod merge;
mod modes;
mod names;
mod paths;
pub mod pattern;
mod perm_checks;
mod resource_files;
pub mod schema;
mod targets;
mod vars;
mod view;

/// `${...}` references in a string, by the CLI's grammar (the deploy resolves
/// `${resources...}` ones).
pub use interp::find_refs;
pub use vars::split_var_flags;
pub mod yaml;

use crate::diag::Diagnostic;

/// What the caller knows before loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The bundle folder (holds `databricks.yml`).
    pub bundle_dir: PathBuf,
    /// `--env` / `-t`; `None` picks the default target per the CLI's rules.
    pub target: Option<String>,
    /// `--var NAME=VALUE`, in command-line order.
    pub vars: Vec<String>,
    /// The current user's name (an email) when known, e.g. from SCIM `Me` on
    /// the remote backend; `None` means the local rule: git `user.email`, else `$USER`.
    pub current_user: Option<String>,
}

/// The current user as the workspace told it (SCIM `Me`): the user name, and
/// the answer's other fields, which the CLI keeps in `workspace.current_user`
/// (`populate_current_user.go`: the SDK's `iam.User`).
#[derive(Clone, Default)]
pub struct CurrentUser {
    pub name: String,
    pub scim: serde_json::Map<String, Value>,
    /// Answers `lookup:` variables against the same workspace, when given.
    pub lookups: Option<vars::Resolver>,
}

impl std::fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentUser")
            .field("name", &self.name)
            .field("scim", &self.scim)
            .field("lookups", &self.lookups.is_some())
            .finish()
    }
}

impl CurrentUser {
    /// From the user name and the SCIM `Me` answer, when there is one.
    pub fn from_scim(name: String, me: Option<Value>) -> CurrentUser {
        let scim = match me {
            Some(Value::Object(m)) => m,
            _ => Default::default(),
        };
        CurrentUser {
            name,
            scim,
            lookups: None,
        }
    }

    /// With `lookup:` variables answered by `resolve(kind, name)`: the id,
    /// or the workspace's error text.
    pub fn with_lookups(
        mut self,
        resolve: impl Fn(&str, &str) -> Result<String, String> + Send + Sync + 'static,
    ) -> CurrentUser {
        self.lookups = Some(std::sync::Arc::new(resolve));
        self
    }
}

impl From<&str> for CurrentUser {
    fn from(name: &str) -> CurrentUser {
        CurrentUser::from_scim(name.to_string(), None)
    }
}

impl From<String> for CurrentUser {
    fn from(name: String) -> CurrentUser {
        CurrentUser::from_scim(name, None)
    }
}

/// The resolved configuration of one target.
// Deploy, package and runner read the fields this module does not.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle folder, absolute.
    pub root: PathBuf,
    pub name: String,
    pub target: String,
    /// `development`, `production`, or `None`.
    pub mode: Option<String>,
    /// The resolved configuration in the shape of `databricks bundle validate
    /// -o json`: `bundle`, `workspace`, `variables`, `resources`, `sync`,
    /// `artifacts`, `presets`, ... Paths are translated as the CLI does:
    /// `notebook_path: ../training/Train.py` becomes
    /// `<workspace.file_path>/training/Train` (extension stripped for
    /// notebooks, kept for files). `${resources.*}` references stay as text.
    pub config: Value,
    /// For each resource `"<type>.<key>"` (e.g. `"jobs.training"`), the YAML
    /// file that defined it, relative to the bundle root, `/`-separated.
    pub resource_files: BTreeMap<String, String>,
    /// Where each value of `config` was written; see [`Bundle::location`].
    pub source: Source,
}

/// The resolved tree with its locations, and the files they point into.
#[derive(Debug, Clone, Default)]
pub struct Source {
    tree: Option<yaml::Node>,
    files: Vec<PathBuf>,
    /// The trees merged into `tree`, in merge order.
    sources: Vec<yaml::Node>,
}

#[allow(dead_code)] // the API of the later stages (files, package, deploy)
impl Bundle {
    /// `resources.<kind>` as (key, settings) pairs, e.g. `kind = "jobs"`.
    pub fn resources<'a>(&'a self, kind: &str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.config["resources"][kind]
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// A string under `workspace`, e.g. `root_path`, `file_path`, `artifact_path`, `state_path`.
    pub fn workspace(&self, key: &str) -> Option<&str> {
        self.config["workspace"][key].as_str()
    }

    /// Where the value at `config_path` (e.g. `bundle.name`,
    /// `resources.jobs.train.tasks[0].notebook_task.notebook_path`) was written:
    /// `file:line:col` with the file relative to the bundle root. For a map
    /// key that does not exist, `None`.
    pub fn location(&self, config_path: &str) -> Option<Location> {
        let mut node = self.source.tree.as_ref()?;
        let mut loc = node.loc;
        for seg in config_path.split('.') {
            let (key, mut rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
            if !key.is_empty() {
                let entry = node.as_map()?.entry(key)?;
                node = &entry.node;
                // A value created by the loader (no line) points at its key.
                loc = if node.loc.line == 0 {
                    entry.key_loc
                } else {
                    node.loc
                };
            }
            while let Some(r) = rest.strip_prefix('[') {
                let close = r.find(']')?;
                node = node.as_seq()?.get(r[..close].parse::<usize>().ok()?)?;
                loc = node.loc;
                rest = &r[close + 1..];
            }
        }
        if loc.line == 0 {
            return None;
        }
        let file = self.source.files.get(loc.file as usize)?.clone();
        Some(Location {
            file,
            line: loc.line as usize,
            col: loc.col as usize,
        })
    }

    /// `__locations` of `validate --include-locations`: where each top-level
    /// key, resource kind, resource, job task list and task was written.
    pub fn locations(&self) -> Value {
        match &self.source.tree {
            Some(tree) => {
                locations::build(tree, &self.source.sources, &self.source.files, &self.config)
            }
            None => Value::Null,
        }
    }

    /// The current user the configuration was resolved for (`workspace.current_user.userName`).
    pub fn user(&self) -> &str {
        self.config["workspace"]["current_user"]["userName"]
            .as_str()
            .unwrap_or("")
    }

    /// `sync.include` / `sync.exclude` patterns, relative to the bundle root
    /// (patterns written in an included file are rebased, as the CLI does).
    pub fn sync_patterns(&self, which: &str) -> Vec<String> {
        self.config["sync"][which]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Load `databricks.yml` from `opts.bundle_dir` and resolve `opts.target`.
pub fn load(opts: &LoadOptions) -> (Option<Bundle>, Vec<Diagnostic>) {
    let mut ctx = new_ctx(&opts.bundle_dir);
    let bundle = resolve(&mut ctx, opts, None).unwrap_or(None);
    (bundle, ctx.diags)
}

/// The target's `workspace.*` as written, before the user is known: what
/// authentication needs (auth fields are never interpolated, so the written
/// value is the resolved one).
pub struct Unresolved<'a>(&'a yaml::Node);

impl Unresolved<'_> {
    pub fn workspace(&self, key: &str) -> Option<&str> {
        self.0.at(&["workspace", key]).and_then(yaml::Node::as_str)
    }
}

/// [`load`] for a user that only the workspace knows (the remote backend):
/// once the target is merged, `ask` gets its workspace settings and returns
/// the user, and the configuration is resolved once, for that user. `ask`
/// is not called when the configuration already has errors; its own error
/// (an unreachable workspace) is the result.
pub fn load_asking_user(
    opts: &LoadOptions,
    ask: &mut dyn FnMut(&Unresolved) -> anyhow::Result<CurrentUser>,
) -> anyhow::Result<(Option<Bundle>, Vec<Diagnostic>)> {
    let mut ctx = new_ctx(&opts.bundle_dir);
    let bundle = resolve(&mut ctx, opts, Some(ask))?;
    Ok((bundle, ctx.diags))
}

fn new_ctx(bundle_dir: &Path) -> ctx::Ctx {
    let root = std::path::absolute(bundle_dir).unwrap_or_else(|_| bundle_dir.to_path_buf());
    ctx::Ctx {
        root,
        ..Default::default()
    }
}

/// `bundle.name` alone, with no target selected: what a command over every
/// env of the bundle (`status` without `--env`) needs, even where no target
/// is the default.
pub fn load_name(bundle_dir: &Path) -> (Option<String>, Vec<Diagnostic>) {
    let mut ctx = new_ctx(bundle_dir);
    let name = files::read_all(&mut ctx).map(|mut tree| bundle_name(&mut ctx, &mut tree));
    (name.filter(|n| !n.is_empty()), ctx.diags)
}

type AskUser<'a> = &'a mut dyn FnMut(&Unresolved) -> anyhow::Result<CurrentUser>;

fn resolve(
    ctx: &mut ctx::Ctx,
    opts: &LoadOptions,
    ask: Option<AskUser>,
) -> anyhow::Result<Option<Bundle>> {
    let Some(mut tree) = files::read_all(ctx) else {
        return Ok(None);
    };
    // As the CLI: an error of its load phase (the files, the target) ends
    // it, and validate prints the configuration as loaded so far.
    let load_failed = has_errors(ctx);
    check_loaded(ctx, &mut tree);
    if load_failed {
        restore_written_include(ctx, &mut tree);
        return Ok(Some(as_loaded(ctx, tree)));
    }
    let Some(target) = targets::select(ctx, &tree, opts.target.as_deref()) else {
        return Ok(Some(as_loaded(ctx, tree)));
    };
    if let Some(loaded) = apply_target(ctx, &mut tree, &target) {
        return Ok(Some(as_loaded(ctx, loaded)));
    }
    merge::keyed_merges_before_references(&mut tree);

    let name = bundle_name(ctx, &mut tree);
    auth_interpolation_warnings(ctx, &tree);
    // The CLI checks the engine before it asks who the user is.
    schema::check_engine(ctx, &tree);
    if has_errors(ctx) {
        return Ok(Some(as_selected(ctx, tree, target, false)));
    }
    let asked = match ask {
        Some(ask) if opts.current_user.is_none() && !has_errors(ctx) => {
            if host_unusable(ctx, &tree) {
                return Ok(Some(as_selected(ctx, tree, target, true)));
            }
            Some(ask(&Unresolved(&tree))?)
        }
        _ => None,
    };
    let mode = complete(ctx, &mut tree, opts, asked, &target);
    Ok(Some(finished(ctx, tree, (name, target), mode)))
}

/// The checks on the tree as loaded, and the drop of what they reject.
fn check_loaded(ctx: &mut ctx::Ctx, tree: &mut yaml::Node) {
    targets::legacy_alias(ctx, tree);
    check::check_root(ctx, tree);
    names::check(ctx, tree);
    check::drop_unknown(tree);
    check::drop_mistyped(ctx, tree);
}

/// The CLI had not replaced `include` by the files it matched yet when its
/// load phase failed: the root file's `include` as written.
fn restore_written_include(ctx: &ctx::Ctx, tree: &mut yaml::Node) {
    let written = ctx.sources.first().and_then(|r| r.get("include")).cloned();
    if let (Some(w), Some(m)) = (written, tree.as_map_mut())
        && let Some(e) = m.get_mut("include")
    {
        *e = w;
    }
}

/// Apply `target` to the tree; the tree as it was before, when that added
/// an error (the CLI then prints the configuration as loaded).
fn apply_target(ctx: &mut ctx::Ctx, tree: &mut yaml::Node, target: &str) -> Option<yaml::Node> {
    let errors_before = ctx.diags.iter().filter(|d| d.is_error()).count();
    let loaded = tree.clone();
    targets::apply(ctx, tree, target);
    let failed = ctx.diags.iter().filter(|d| d.is_error()).count() > errors_before;
    failed.then_some(loaded)
}

/// Whether `workspace.host` cannot be asked (an error noted if so).
fn host_unusable(ctx: &mut ctx::Ctx, tree: &yaml::Node) -> bool {
    let Some(host) = unusable_host(tree) else {
        return false;
    };
    // The CLI fails here, at its first request, and prints the target as
    // selected; no request goes anywhere.
    ctx.error(
        format!("failed during request visitor: parse \"https://{host}\": invalid character \"{{\" in host name"),
        None,
        "",
    );
    true
}

/// The user's facts filled in, then every later stage and the local paths;
/// the bundle's mode.
fn complete(
    ctx: &mut ctx::Ctx,
    tree: &mut yaml::Node,
    opts: &LoadOptions,
    asked: Option<CurrentUser>,
    target: &str,
) -> Option<String> {
    let scim = asked.as_ref().map(|u| u.scim.clone()).unwrap_or_default();
    let resolver = asked.as_ref().and_then(|u| u.lookups.clone());
    let user = asked
        .map(|u| u.name)
        .or_else(|| opts.current_user.clone())
        .or_else(|| crate::git::user_email(&ctx.root))
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".to_string());
    let git = crate::git::info(&ctx.root);
    let root_path_explicit = tree.at(&["workspace", "root_path"]).is_some();
    modes::fill_facts(ctx, tree, (&user, &scim), &git, target);
    let mode = stages(
        ctx,
        tree,
        (opts, resolver.as_ref()),
        (&user, target),
        root_path_explicit,
    );
    paths::rebase_local(ctx, tree);
    paths::check_sync_patterns(ctx, tree);
    mode
}

/// The bundle from the finished tree.
fn finished(
    ctx: &mut ctx::Ctx,
    tree: yaml::Node,
    (name, target): (String, String),
    mode: Option<String>,
) -> Bundle {
    let resource_files = resource_files(ctx, &tree);
    let config = to_config_json(&tree);
    Bundle {
        root: ctx.root.clone(),
        name,
        target,
        mode,
        config,
        resource_files,
        source: Source {
            tree: Some(tree),
            files: ctx.files.clone(),
            sources: std::mem::take(&mut ctx.sources),
        },
    }
}

/// A `workspace.host` written as a reference: auth fields are never
/// interpolated, so it names no host.
fn unusable_host(tree: &yaml::Node) -> Option<String> {
    let host = tree
        .at(&["workspace", "host"])
        .and_then(yaml::Node::as_str)?;
    let host = host
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    host.contains("${").then(|| host.to_string())
}

/// The configuration as the CLI prints it when it stops right after
/// selecting the target: merged, `bundle.target` and `environment` set,
/// nothing resolved; `sync.paths` defaulted when it stopped after that step.
fn as_selected(ctx: &mut ctx::Ctx, tree: yaml::Node, target: String, synced: bool) -> Bundle {
    let written_sync = tree.get("sync").is_some();
    let mut config = to_config_json(&tree);
    if let Some(m) = config.as_object_mut() {
        if !synced && !written_sync {
            m.remove("sync");
        }
        if let Some(bundle) = m.get_mut("bundle").and_then(Value::as_object_mut) {
            bundle.insert("environment".into(), Value::String(target.clone()));
        }
    }
    let mut b = as_loaded(ctx, tree);
    b.config = config;
    b.target = target;
    b
}

fn has_errors(ctx: &ctx::Ctx) -> bool {
    ctx.diags.iter().any(Diagnostic::is_error)
}

/// The configuration as the load phase left it when that phase failed: no
/// target applied, `targets` and `include` kept, nothing defaulted (what
/// the CLI prints then). It carries errors, so nothing acts on it.
fn as_loaded(ctx: &mut ctx::Ctx, tree: yaml::Node) -> Bundle {
    let name = tree
        .at(&["bundle", "name"])
        .and_then(yaml::Node::as_str)
        .unwrap_or("")
        .to_string();
    let mut config = tree.to_json();
    if let Some(m) = config.as_object_mut() {
        m.retain(|_, v| !v.is_null());
    }
    target_variable_shorthands(&ctx.sources, &mut config);
    Bundle {
        root: ctx.root.clone(),
        name,
        target: String::new(),
        mode: None,
        config,
        resource_files: resource_files(ctx, &tree),
        source: Source {
            tree: Some(tree),
            files: ctx.files.clone(),
            sources: std::mem::take(&mut ctx.sources),
        },
    }
}

/// The CLI's `rewriteShorthands`, done per file as it loads each: a target's
/// `variables.<name>: value` becomes `{default: value}` (with `type:
/// complex` when the same file declares the variable complex), unless the
/// value is a full override (`default`/`lookup`, with `type`/`description`).
fn target_variable_shorthands(files: &[yaml::Node], config: &mut Value) {
    const FULL: [&[&str]; 6] = [
        &["default", "type", "description"],
        &["default", "type"],
        &["default", "description"],
        &["lookup", "description"],
        &["default"],
        &["lookup"],
    ];
    let full = |v: &Value| {
        v.as_object().is_some_and(|m| {
            FULL.iter()
                .any(|keys| keys.len() == m.len() && keys.iter().all(|k| m.contains_key(*k)))
        })
    };
    for file in files {
        let Some(targets) = file.get("targets").and_then(yaml::Node::as_map) else {
            continue;
        };
        for t in targets.iter() {
            let Some(vars) = t.node.get("variables").and_then(yaml::Node::as_map) else {
                continue;
            };
            for v in vars.iter() {
                let Some(slot) =
                    config.pointer_mut(&format!("/targets/{}/variables/{}", t.key, v.key))
                else {
                    continue;
                };
                if slot.is_null() || full(slot) {
                    continue;
                }
                let complex = file
                    .at(&["variables", &v.key, "type"])
                    .and_then(yaml::Node::as_str)
                    == Some("complex");
                let value = slot.take();
                *slot = if complex && (value.is_object() || value.is_array()) {
                    serde_json::json!({"type": "complex", "default": value})
                } else {
                    serde_json::json!({ "default": value })
                };
            }
        }
    }
}

/// The CLI's initialize phase from variables on. As the CLI, the first
/// stage that finds an error ends it (what is printed is the configuration
/// as it stood), and a stage that fails changes nothing: interpolation and
/// path translation are undone when they report an error.
fn stages(
    ctx: &mut ctx::Ctx,
    tree: &mut yaml::Node,
    (opts, resolver): (&LoadOptions, Option<&vars::Resolver>),
    (user, target): (&str, &str),
    root_path_explicit: bool,
) -> Option<String> {
    let failed = |ctx: &ctx::Ctx| ctx.diags.iter().any(Diagnostic::is_error);
    let mode = tree
        .at(&["bundle", "mode"])
        .and_then(yaml::Node::as_str)
        .map(str::to_string);
    let mut lookups = vars::assign(ctx, tree, &opts.vars, target);
    if failed(ctx) {
        return mode;
    }
    if let Some(resolve) = resolver {
        vars::resolve_lookups(ctx, tree, &mut lookups, resolve.as_ref());
        if failed(ctx) {
            return mode;
        }
    }
    let before = tree.clone();
    interp::resolve(ctx, tree, &lookups);
    if failed(ctx) {
        *tree = before;
        return mode;
    }
    schema::normalize_resources(ctx, tree);
    // Keys written as references (`job_cluster_key: ${var.k}`) merge now.
    merge::keyed_merges(tree);
    defaults::capture_uc_dependencies(tree);
    // Settings kept in files (dashboards, alerts) are read before any
    // default, as the CLI reads them; a failure ends the phase there.
    resource_files::dashboards(ctx, tree);
    if !failed(ctx) {
        resource_files::alerts(ctx, tree);
    }
    if failed(ctx) {
        return mode;
    }
    let mode = modes::apply_mode(ctx, tree, user, root_path_explicit);
    defaults::apply(ctx, tree, user);
    if failed(ctx) {
        return mode;
    }
    schema::check_required_and_enums(ctx, tree);
    if failed(ctx) {
        return mode;
    }
    perm_checks::current_identity_included(ctx, tree);
    paths::expand_pipeline_globs(ctx, tree);
    let before = tree.clone();
    if paths::translate(ctx, tree) {
        *tree = before;
        paths::normalize_only(ctx, tree);
        return mode;
    }
    // Paths found only through the CLI's fallback: errors, yet translated.
    if failed(ctx) {
        return mode;
    }
    paths::prepare_artifacts(ctx, tree);
    app_checks::validate(ctx, tree);
    // As the CLI's sequence: an app error ends the phase before the mode's rules.
    if failed(ctx) {
        return mode;
    }
    modes::validate_mode(ctx, tree, mode.as_deref(), root_path_explicit);
    perm_checks::shared_root(ctx, tree);
    if failed(ctx) {
        return mode;
    }
    defaults::annotate(tree);
    mode
}

/// `bundle.name`, required and taken literally (no interpolation).
fn bundle_name(ctx: &mut ctx::Ctx, tree: &mut yaml::Node) -> String {
    let name_node = tree.at(&["bundle", "name"]);
    let (name, loc) = (
        name_node.and_then(yaml::Node::as_str).map(str::to_string),
        name_node.map(|n| n.loc),
    );
    match name {
        Some(name) => {
            if name.contains("${") {
                // The CLI's text (`no_interpolation_in_bundle_name.go`).
                ctx.warning(
                    "Please do not use variable interpolation in the name of your bundle. The name of your bundle\nis a part of the path at which your bundle state is stored at by default. Parameterizing it at\nruntime can have unexpected consequences like duplicate deployments or resources not being\ncleaned up during bundle destroy.",
                    loc,
                    "bundle.name",
                );
            }
            name
        }
        None => {
            if loc.is_none() {
                let key_loc = tree
                    .as_map()
                    .and_then(|m| m.entry("bundle"))
                    .map(|e| e.key_loc);
                ctx.error("missing required field: name", key_loc, "bundle");
                // An empty name keeps `${bundle.name}` (in the default
                // root_path) from being reported a second time.
                if let Some(b) = tree
                    .as_map_mut()
                    .and_then(|m| m.get_mut("bundle"))
                    .and_then(yaml::Node::as_map_mut)
                {
                    b.insert(
                        "name",
                        yaml::Loc::default(),
                        yaml::Node::str("", yaml::Loc::default()),
                    );
                }
            }
            String::new()
        }
    }
}

/// Auth settings are read before any interpolation could happen, so a
/// reference there is never what the user meant (the CLI warns the same way).
fn auth_interpolation_warnings(ctx: &mut ctx::Ctx, tree: &yaml::Node) {
    let Some(ws) = tree.get("workspace").and_then(yaml::Node::as_map) else {
        return;
    };
    for e in ws.iter() {
        let auth = matches!(
            e.key.as_str(),
            "host"
                | "profile"
                | "auth_type"
                | "client_id"
                | "account_id"
                | "google_service_account"
        ) || e.key.starts_with("azure_");
        if auth && e.node.as_str().is_some_and(|s| s.contains("${")) {
            let d = crate::diag::Diagnostic::warning("Variable interpolation is not supported for fields that configure authentication")
                .detail(format!(
                    "Interpolation is not supported for the field workspace.{}. Please set the corresponding DATABRICKS_ environment variable if you wish to configure this field at runtime.",
                    e.key
                ));
            ctx.push(d, Some(e.node.loc), &format!("workspace.{}", e.key));
        }
    }
}

fn resource_files(ctx: &ctx::Ctx, tree: &yaml::Node) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(res) = tree.get("resources").and_then(yaml::Node::as_map) else {
        return out;
    };
    for kind in res.iter() {
        let Some(items) = kind.node.as_map() else {
            continue;
        };
        for item in items.iter() {
            let file = ctx
                .files
                .get(item.key_loc.file as usize)
                .cloned()
                .unwrap_or_default();
            let file: Vec<String> = file
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.insert(format!("{}.{}", kind.key, item.key), file.join("/"));
        }
    }
    out
}

/// The tree in the shape of `databricks bundle validate -o json`: the CLI's
/// key order, `targets` and `include` gone, `sync.paths` defaulted.
fn to_config_json(tree: &yaml::Node) -> Value {
    const ORDER: [&str; 14] = [
        "bundle",
        "definitions",
        "include",
        "workspace",
        "variables",
        "artifacts",
        "presets",
        "resources",
        "sync",
        "permissions",
        "run_as",
        "experimental",
        "python",
        "scripts",
    ];
    let mut out = serde_json::Map::new();
    let Some(m) = tree.as_map() else {
        return Value::Object(out);
    };
    for key in ORDER {
        if let Some(n) = m.get(key)
            && !n.is_null()
        {
            out.insert(key.to_string(), n.to_json());
        }
    }
    // A variable's empty `type` is not printed (the CLI's `omitempty`).
    if let Some(vars) = out.get_mut("variables").and_then(Value::as_object_mut) {
        for v in vars.values_mut().filter_map(Value::as_object_mut) {
            if v.get("type").and_then(Value::as_str) == Some("") {
                v.remove("type");
            }
            // Nor a `default:` with nothing after it.
            if v.get("default").is_some_and(Value::is_null) {
                v.remove("default");
            }
        }
    }
    // Empty git facts resolve `${bundle.git.*}` but are not printed.
    if let Some(g) = out
        .get_mut("bundle")
        .and_then(|b| b.get_mut("git"))
        .and_then(Value::as_object_mut)
    {
        g.retain(|_, v| v.as_str() != Some(""));
    }
    if out
        .get("include")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.remove("include");
    }
    let sync = out
        .entry("sync")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(s) = sync.as_object_mut() {
        s.entry("paths").or_insert_with(|| serde_json::json!(["."]));
    }
    Value::Object(out)
}

#[allow(dead_code)]
/// The path of a file for diagnostics: relative to the bundle root when inside it.
pub fn display_path(root: &Path, file: &Path) -> PathBuf {
    file.strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.to_path_buf())
}

/// Test support: load a bundle written from `files` in a temp folder; the
/// resolved configuration and each diagnostic as printed, the folder as `[ROOT]`.
#[cfg(test)]
pub(crate) fn load_files(files: &[(&str, &str)]) -> (serde_json::Value, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let opts = LoadOptions {
        bundle_dir: dir.path().to_path_buf(),
        current_user: Some("u@example.com".into()),
        ..Default::default()
    };
    let (bundle, diags) = load(&opts);
    let root = dir.path().to_string_lossy().into_owned();
    let texts = diags
        .iter()
        .map(|d| format!("{d}").trim_end().replace(&root, "[ROOT]"))
        .collect();
    (bundle.map(|b| b.config).unwrap_or_default(), texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_asked_once_with_the_targets_workspace_and_resolves_everything() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("databricks.yml"),
            "bundle:\n  name: asked\nworkspace:\n  host: https://one.example.com\ntargets:\n  dev:\n    workspace:\n      host: https://two.example.com\n",
        )
        .unwrap();
        let opts = LoadOptions {
            bundle_dir: dir.path().to_path_buf(),
            target: Some("dev".into()),
            ..Default::default()
        };
        let mut hosts = Vec::new();
        let (bundle, diags) = load_asking_user(&opts, &mut |ws| {
            hosts.push(ws.workspace("host").unwrap_or("").to_string());
            Ok("jane.doe@example.com".into())
        })
        .unwrap();
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            hosts,
            ["https://two.example.com"],
            "asked once, for the merged target"
        );
        let b = bundle.unwrap();
        assert_eq!(b.user(), "jane.doe@example.com");
        assert_eq!(
            b.workspace("root_path"),
            Some("/Workspace/Users/jane.doe@example.com/.bundle/asked/dev")
        );
        // A configuration with errors never reaches the workspace.
        std::fs::write(dir.path().join("databricks.yml"), "bundle: {}\n").unwrap();
        let mut asked = 0;
        let (_, diags) = load_asking_user(&opts, &mut |_| {
            asked += 1;
            Ok("x".into())
        })
        .unwrap();
        assert!(diags.iter().any(Diagnostic::is_error), "{diags:?}");
        assert_eq!(asked, 0);
        // The workspace's own failure is the result.
        let yml = "bundle:\n  name: n\ntargets:\n  dev: {}\n";
        std::fs::write(dir.path().join("databricks.yml"), yml).unwrap();
        let err = load_asking_user(&opts, &mut |_| anyhow::bail!("host unreachable")).unwrap_err();
        assert!(err.to_string().contains("unreachable"), "{err}");
    }

    #[test]
    fn locations_and_resource_files_point_at_the_defining_file() {
        let dir = std::env::temp_dir().join(format!("xtask-config-loc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("resources")).unwrap();
        std::fs::write(
            dir.join("databricks.yml"),
            "bundle:\n  name: loc\ninclude:\n  - resources/*.yml\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("resources/jobs.yml"),
            "resources:\n  jobs:\n    train:\n      tasks:\n        - task_key: t\n          notebook_task:\n            notebook_path: ../nb.py\n",
        )
        .unwrap();
        std::fs::write(dir.join("nb.py"), "# Databricks notebook source\n").unwrap();
        let opts = LoadOptions {
            bundle_dir: dir.clone(),
            current_user: Some("a.b@c.d".into()),
            ..Default::default()
        };
        let (bundle, diags) = load(&opts);
        assert!(diags.is_empty(), "{diags:?}");
        let b = bundle.unwrap();
        assert_eq!(
            b.location("bundle.name").unwrap().to_string(),
            "databricks.yml:2:9"
        );
        let nb = b
            .location("resources.jobs.train.tasks[0].notebook_task.notebook_path")
            .unwrap();
        assert_eq!(nb.to_string(), "resources/jobs.yml:7:28");
        assert_eq!(
            b.location("resources.jobs.train").unwrap().file,
            PathBuf::from("resources/jobs.yml")
        );
        assert!(b.location("resources.jobs.nope").is_none());
        assert_eq!(b.resource_files["jobs.train"], "resources/jobs.yml");
        assert_eq!(b.user(), "a.b@c.d");
        assert_eq!(
            b.resources("jobs").next().unwrap().1["tasks"][0]["notebook_task"]["notebook_path"],
            "/Workspace/Users/a.b@c.d/.bundle/loc/default/files/nb"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
