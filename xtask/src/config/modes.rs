//! Facts filled in before interpolation (current user, git, workspace paths)
//! and the `mode: development` / `mode: production` rules (reference §1.1, §4).

use crate::config::ctx::Ctx;
use crate::config::pattern::{visit, visit_mut};
use crate::config::yaml::{Loc, Map, Node, Value};
use crate::git::GitInfo;

/// The workspace paths of a bundle, `root_path` first: each is expanded,
/// prefixed and checked alike.
const WORKSPACE_PATHS: [&str; 5] = [
    "root_path",
    "file_path",
    "artifact_path",
    "state_path",
    "resource_path",
];

/// The fields of the SDK's `iam.User` besides `userName`: what the CLI
/// keeps of the SCIM `Me` answer.
const USER_FIELDS: [&str; 10] = [
    "active",
    "displayName",
    "emails",
    "entitlements",
    "externalId",
    "groups",
    "id",
    "name",
    "roles",
    "schemas",
];

/// `short_name` as the CLI derives it: the email's local part, lowercased,
/// with every character other than a letter or digit turned into `_`.
pub fn short_name(user: &str) -> String {
    let local = user.split('@').next().unwrap_or(user);
    local
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `domain_friendly_name` as the CLI derives it from the short name
/// (`libs/iamutil`: `GetShortUserDomainFriendlyName`): lowercased, every
/// character other than an ASCII letter or digit turned into `-`. (The CLI
/// first strips accents, `é` → `e`; here an accented letter becomes `-`.)
pub fn domain_friendly_name(user: &str) -> String {
    short_name(user)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn child<'a>(m: &'a mut Map, key: &str, loc: Loc) -> &'a mut Map {
    let needs = !matches!(m.get(key).map(|n| &n.v), Some(Value::Map(_)));
    if needs {
        m.insert(key, loc, Node::map(loc));
    }
    m.get_mut(key)
        .and_then(Node::as_map_mut)
        .expect("just inserted a map")
}

/// `bundle.git.*`, `workspace.current_user`, and the five workspace paths.
pub fn fill_facts(
    ctx: &mut Ctx,
    root: &mut Node,
    (user, scim): (&str, &serde_json::Map<String, serde_json::Value>),
    git: &GitInfo,
    target: &str,
) {
    let Some(m) = root.as_map_mut() else { return };
    let loc = Loc::default();
    let bundle = child(m, "bundle", loc);
    fill_git(child(bundle, "git", loc), git);
    bundle.insert("environment", loc, Node::str(target, loc));
    let bundle_name = m
        .get("bundle")
        .and_then(|b| b.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    let ws = child(m, "workspace", loc);
    fill_current_user(child(ws, "current_user", loc), user, scim);
    fill_workspace_paths(ws, &bundle_name, target, user);
    rewrite_legacy_prefix(ctx, root);
}

/// `bundle.git.*` as the CLI's `LoadGitDetails`: a value written in the
/// configuration wins; `bundle_root_path` is relative to the repository, or
/// "." outside one.
fn fill_git(g: &mut Map, git: &GitInfo) {
    let loc = Loc::default();
    // Written in the configuration, not empty: left as written.
    let unset = |g: &Map, key: &str| g.get(key).and_then(Node::as_str).is_none_or(str::is_empty);
    if !git.branch.is_empty() {
        if unset(g, "branch") {
            g.insert("branch", loc, Node::str(&git.branch, loc));
        }
        g.insert("actual_branch", loc, Node::str(&git.branch, loc));
    }
    if !git.commit.is_empty() && unset(g, "commit") {
        g.insert("commit", loc, Node::str(&git.commit, loc));
    }
    if !git.origin_url.is_empty() && unset(g, "origin_url") {
        g.insert("origin_url", loc, Node::str(&git.origin_url, loc));
    }
    // `${bundle.git.x}` must resolve even outside git, to an empty string
    // (left out of the printed configuration, as the CLI leaves it out).
    for k in ["branch", "commit", "origin_url"] {
        if g.get(k).is_none() {
            g.insert(k, loc, Node::str("", loc));
        }
    }
    let root_path = if git.bundle_root_path.is_empty() {
        "."
    } else {
        &git.bundle_root_path
    };
    g.insert("bundle_root_path", loc, Node::str(root_path, loc));
}

/// `workspace.current_user`: the names derived from the user name, and what
/// else SCIM `Me` told, as the CLI keeps it (empty values left out).
fn fill_current_user(cu: &mut Map, user: &str, scim: &serde_json::Map<String, serde_json::Value>) {
    let loc = Loc::default();
    cu.insert(
        "domain_friendly_name",
        loc,
        Node::str(domain_friendly_name(user), loc),
    );
    cu.insert("short_name", loc, Node::str(short_name(user), loc));
    cu.insert("userName", loc, Node::str(user, loc));
    for (k, v) in scim {
        let empty = v.is_null()
            || v.as_str() == Some("")
            || v.as_array().is_some_and(Vec::is_empty)
            || v.as_object().is_some_and(serde_json::Map::is_empty);
        if USER_FIELDS.contains(&k.as_str()) && !empty && cu.get(k).is_none() {
            cu.insert(k, loc, Node::from_json(v, loc));
        }
    }
}

/// The five workspace paths: `root_path` (by default the CLI's, under the
/// user's home) with `~/` expanded, the others under it unless written, and
/// each given the `/Workspace` prefix the CLI gives a path outside
/// `/Workspace` and `/Volumes`.
fn fill_workspace_paths(ws: &mut Map, bundle_name: &str, target: &str, user: &str) {
    let loc = Loc::default();
    let root_path = match ws.get("root_path").and_then(Node::as_str) {
        Some(r) => r.to_string(),
        // As the CLI's `DefineDefaultWorkspaceRoot`: the values, not references.
        None => format!("~/.bundle/{bundle_name}/{target}"),
    };
    let root_loc = ws.get("root_path").map(|n| n.loc).unwrap_or(loc);
    let expanded = match root_path.strip_prefix("~/") {
        Some(rest) => format!("/Workspace/Users/{user}/{rest}"),
        None => root_path,
    };
    ws.insert("root_path", root_loc, Node::str(expanded, root_loc));
    let root_now = ws
        .get("root_path")
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    for (key, sub) in [
        ("file_path", "files"),
        ("artifact_path", "artifacts"),
        ("state_path", "state"),
        ("resource_path", "resources"),
    ] {
        if ws.get(key).is_none() {
            ws.insert(key, loc, Node::str(format!("{root_now}/{sub}"), loc));
        }
    }
    for key in WORKSPACE_PATHS {
        if let Some(Value::Str(s)) = ws.get_mut(key).map(|n| &mut n.v)
            && s.starts_with('/')
            && !s.starts_with("/Workspace/")
            && !s.starts_with("/Volumes/")
            && s != "/Workspace"
        {
            *s = format!("/Workspace{s}");
        }
    }
}

/// `/Workspace${workspace.root_path}` and friends: the paths already carry
/// `/Workspace`, so the CLI rewrites them and warns.
fn rewrite_legacy_prefix(ctx: &mut Ctx, root: &mut Node) {
    let mut hits = Vec::new();
    walk(root, &mut |n| {
        if let Value::Str(s) = &mut n.v
            && s.contains("/Workspace${workspace.")
        {
            let mut out = s.clone();
            for k in WORKSPACE_PATHS {
                out = out.replace(
                    &format!("/Workspace${{workspace.{k}}}"),
                    &format!("${{workspace.{k}}}"),
                );
            }
            if out != *s {
                hits.push((s.clone(), n.loc));
                *s = out;
            }
        }
    });
    for (s, loc) in hits {
        ctx.warning(
            format!("substring \"/Workspace${{workspace.…}}\" found in \"{s}\": workspace paths already start with /Workspace; rewritten without the prefix"),
            Some(loc),
            "",
        );
    }
}

fn walk(n: &mut Node, f: &mut impl FnMut(&mut Node)) {
    match &mut n.v {
        Value::Seq(v) => v.iter_mut().for_each(|c| walk(c, f)),
        Value::Map(m) => m.0.iter_mut().for_each(|e| walk(&mut e.node, f)),
        _ => f(n),
    }
}

/// Apply and check the target's mode (after interpolation).
pub fn apply_mode(
    ctx: &mut Ctx,
    root: &mut Node,
    user: &str,
    _root_path_explicit: bool,
) -> Option<String> {
    let mode_node = root.at(&["bundle", "mode"]).cloned();
    let mode = match mode_node.as_ref().map(|n| &n.v) {
        None | Some(Value::Null) => {
            apply_presets(root);
            return None;
        }
        Some(Value::Str(s)) => s.clone(),
        Some(_) => {
            ctx.error(
                "expected a string",
                mode_node.as_ref().map(|n| n.loc),
                "bundle.mode",
            );
            return None;
        }
    };
    match mode.as_str() {
        "development" => {
            development(ctx, root, user);
            apply_presets(root);
        }
        "production" => apply_presets(root),
        other => {
            ctx.error(
                format!("unsupported value '{other}' specified for 'mode': must be either 'development' or 'production'"),
                mode_node.map(|n| n.loc),
                "bundle.mode",
            );
            return None;
        }
    }
    Some(mode)
}

fn development(ctx: &mut Ctx, root: &mut Node, user: &str) {
    let short = short_name(user);
    let loc = Loc::default();
    let Some(m) = root.as_map_mut() else { return };
    let presets = child(m, "presets", loc);
    if let Some(p) = presets.get("trigger_pause_status")
        && p.as_str() == Some("UNPAUSED")
    {
        let l = p.loc;
        ctx.error(
            "target with 'mode: development' cannot set trigger pause status to UNPAUSED by default",
            Some(l),
            "presets.trigger_pause_status",
        );
    }
    match presets.get("name_prefix") {
        Some(p) => {
            let text = p.as_str().unwrap_or("");
            if !text.contains(&short) && !text.contains(user) {
                let l = p.loc;
                ctx.error(
                    "name_prefix should contain the current username or ${workspace.current_user.short_name} to ensure uniqueness when using 'mode: development'",
                    Some(l),
                    "presets.name_prefix",
                );
            }
        }
        None => presets.insert(
            "name_prefix",
            loc,
            Node::str(format!("[dev {short}] "), loc),
        ),
    }
    // Presets set by the user win; development mode fills the rest.
    if presets.get("pipelines_development").is_none() {
        presets.insert(
            "pipelines_development",
            loc,
            Node::new(Value::Bool(true), loc),
        );
    }
    if presets.get("trigger_pause_status").is_none() {
        presets.insert("trigger_pause_status", loc, Node::str("PAUSED", loc));
    }
    if presets.get("jobs_max_concurrent_runs").is_none() {
        presets.insert(
            "jobs_max_concurrent_runs",
            loc,
            Node::new(Value::Int(4), loc),
        );
    }
    let tags = child(presets, "tags", loc);
    if tags.get("dev").is_none() {
        tags.insert("dev", loc, Node::str(&short, loc));
    }
    let bundle = child(m, "bundle", loc);
    let deployment = child(bundle, "deployment", loc);
    let lock = child(deployment, "lock", loc);
    if lock.get("enabled").is_none() {
        lock.insert("enabled", loc, Node::new(Value::Bool(false), loc));
    }
    if let Some(ws) = m.get("workspace").and_then(Node::as_map) {
        for key in WORKSPACE_PATHS {
            if let Some(n) = ws.get(key) {
                let s = n.as_str().unwrap_or("");
                if !s.contains(user) && !s.contains(&short) {
                    ctx.error(
                        format!(
                            "{key} must start with '~/' or contain the current username to ensure uniqueness when using 'mode: development'"
                        ),
                        Some(n.loc),
                        &format!("workspace.{key}"),
                    );
                }
            }
        }
    }
}

/// `presets` (set by the user, or by development mode) applied to jobs and
/// pipelines; a value set on the resource itself wins.
pub fn apply_presets(root: &mut Node) {
    let Some(presets) = root
        .get("presets")
        .and_then(Node::as_map)
        .map(Presets::read)
    else {
        return;
    };
    prefix_names(root, &presets.prefix);
    preset_jobs(root, &presets);
    preset_alerts(root, presets.pause.as_deref());
    preset_pipelines(root, &presets);
    preset_other_tags(root, &presets.tags);
}

/// The presets that apply to resources, each kept only when of its type.
struct Presets {
    prefix: String,
    pause: Option<String>,
    max_runs: Option<Node>,
    pipelines_dev: Option<Node>,
    tags: Map,
}

impl Presets {
    fn read(presets: &Map) -> Presets {
        Presets {
            prefix: presets
                .get("name_prefix")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string(),
            pause: presets
                .get("trigger_pause_status")
                .and_then(Node::as_str)
                .map(str::to_string),
            max_runs: presets
                .get("jobs_max_concurrent_runs")
                .filter(|n| matches!(n.v, Value::Int(_)))
                .cloned(),
            pipelines_dev: presets
                .get("pipelines_development")
                .filter(|n| matches!(n.v, Value::Bool(_)))
                .cloned(),
            tags: presets
                .get("tags")
                .and_then(Node::as_map)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// A job's tags, maximum concurrent runs and its triggers' pause status.
fn preset_jobs(root: &mut Node, presets: &Presets) {
    let loc = Loc::default();
    visit_mut(root, "resources.jobs.*", &mut |_, job| {
        let Some(job) = job.as_map_mut() else { return };
        if !presets.tags.0.is_empty() {
            let jt = child(job, "tags", loc);
            for t in presets.tags.iter() {
                if jt.get(&t.key).is_none() {
                    jt.insert(&t.key, loc, t.node.clone());
                }
            }
        }
        if let Some(n) = &presets.max_runs
            && job.get("max_concurrent_runs").is_none()
        {
            job.insert("max_concurrent_runs", loc, n.clone());
        }
        if let Some(p) = &presets.pause {
            for k in ["schedule", "continuous", "trigger"] {
                if let Some(t) = job.get_mut(k).and_then(Node::as_map_mut)
                    && t.get("pause_status").is_none()
                {
                    t.insert("pause_status", loc, Node::str(p, loc));
                }
            }
        }
    });
}

/// An alert's schedule, when it has one and no pause status of its own.
fn preset_alerts(root: &mut Node, pause: Option<&str>) {
    let loc = Loc::default();
    visit_mut(root, "resources.alerts.*.schedule", &mut |_, s| {
        if let (Some(p), Some(m)) = (pause, s.as_map_mut())
            && m.get("quartz_cron_schedule")
                .and_then(Node::as_str)
                .is_some_and(|c| !c.is_empty())
            && m.get("pause_status").is_none()
        {
            m.insert("pause_status", loc, Node::str(p, loc));
        }
    });
}

/// A pipeline's development flag (only ever set to true), its continuous
/// run stopped when triggers are paused, and its tags.
fn preset_pipelines(root: &mut Node, presets: &Presets) {
    let loc = Loc::default();
    visit_mut(root, "resources.pipelines.*", &mut |_, p| {
        let Some(pm) = p.as_map_mut() else { return };
        if let Some(d) = &presets.pipelines_dev
            && d.v == Value::Bool(true)
        {
            pm.insert("development", loc, d.clone());
        }
        if presets.pause.as_deref() == Some("PAUSED") && pm.get("continuous").is_some() {
            pm.insert("continuous", loc, Node::new(Value::Bool(false), loc));
        }
        add_map_tags(pm, "tags", &presets.tags);
    });
}

/// Tags on the other kinds that take them, each in its own shape.
fn preset_other_tags(root: &mut Node, tags: &Map) {
    let loc = Loc::default();
    // Tags as `{key, value}` lists, added in key order where the key is new.
    for pattern in ["resources.experiments.*", "resources.models.*"] {
        visit_mut(root, pattern, &mut |_, r| {
            if let Some(m) = r.as_map_mut() {
                add_list_tags(m, "tags", tags);
            }
        });
    }
    visit_mut(root, "resources.clusters.*", &mut |_, c| {
        if let Some(m) = c.as_map_mut() {
            add_map_tags(m, "custom_tags", tags);
        }
    });
    visit_mut(root, "resources.sql_warehouses.*", &mut |_, w| {
        if let Some(m) = w.as_map_mut()
            && !tags.0.is_empty()
        {
            add_list_tags(child(m, "tags", loc), "custom_tags", tags);
        }
    });
}

/// Preset tags into a map of tags (`tags`, `custom_tags`); written ones win.
fn add_map_tags(m: &mut Map, field: &str, tags: &Map) {
    if tags.0.is_empty() {
        return;
    }
    let loc = Loc::default();
    let t = child(m, field, loc);
    for e in sorted_tags(tags) {
        if t.get(&e.key)
            .and_then(Node::as_str)
            .is_none_or(str::is_empty)
        {
            t.insert(&e.key, loc, e.node.clone());
        }
    }
}

/// Preset tags appended to a `tags:` list of `{key, value}` (experiments,
/// models; `custom_tags` of a SQL warehouse's `tags`).
fn add_list_tags(m: &mut Map, field: &str, tags: &Map) {
    if tags.0.is_empty() {
        return;
    }
    let loc = Loc::default();
    if !matches!(m.get(field).map(|n| &n.v), Some(Value::Seq(_))) {
        m.insert(field, loc, Node::new(Value::Seq(Vec::new()), loc));
    }
    let Some(Value::Seq(list)) = m.get_mut(field).map(|n| &mut n.v) else {
        return;
    };
    for e in sorted_tags(tags) {
        if list
            .iter()
            .any(|t| t.get("key").and_then(Node::as_str) == Some(&e.key))
        {
            continue;
        }
        let mut t = Map::default();
        t.insert("key", loc, Node::str(&e.key, loc));
        t.insert("value", loc, e.node.clone());
        list.push(Node::new(Value::Map(t), loc));
    }
}

fn sorted_tags(tags: &Map) -> Vec<&crate::config::yaml::Entry> {
    let mut v: Vec<_> = tags.iter().collect();
    v.sort_by(|a, b| a.key.cmp(&b.key));
    v
}

/// The name prefix on every kind the CLI renames, each its own way (see
/// `kinds::Prefix`): `[dev jane] job`, `/Users/j/[dev jane] exp`, `dev_jane_model`.
fn prefix_names(root: &mut Node, prefix: &str) {
    if prefix.is_empty() {
        return;
    }
    for kind in crate::config::kinds::KINDS {
        let pattern = format!("resources.{}.*.{}", kind.key, kind.name_field);
        visit_mut(root, &pattern, &mut |_, n| {
            if let Value::Str(s) = &mut n.v {
                *s = kind.prefixed(prefix, s);
            }
        });
    }
}

/// The CLI's `ValidateTargetMode`, after path translation: the rules of
/// `mode: production`.
pub fn validate_mode(ctx: &mut Ctx, root: &Node, mode: Option<&str>, root_path_explicit: bool) {
    if mode == Some("production") {
        production(ctx, root, root_path_explicit);
    }
}

fn production(ctx: &mut Ctx, root: &Node, root_path_explicit: bool) {
    visit(root, "resources.pipelines.*.development", &mut |path, d| {
        if d.v == Value::Bool(true) {
            ctx.error(
                "target with 'mode: production' cannot include a pipeline with 'development: true'",
                Some(d.loc),
                path,
            );
        }
    });
    if root_path_explicit {
        return;
    }
    let jobs: Vec<&Node> = root
        .at(&["resources", "jobs"])
        .and_then(Node::as_map)
        .map(|m| m.iter().map(|e| &e.node).collect())
        .unwrap_or_default();
    let all_run_as = root.get("run_as").is_some()
        || (!jobs.is_empty() && jobs.iter().all(|j| j.get("run_as").is_some()));
    let mode_loc = root.at(&["bundle", "mode"]).map(|n| n.loc);
    let msg = "target with 'mode: production' must set 'workspace.root_path' to make sure only one copy of a bundle is deployed";
    if all_run_as {
        ctx.push(crate::diag::Diagnostic::recommendation(msg), mode_loc, "");
    } else {
        ctx.error(msg, mode_loc, "");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_names() {
        assert_eq!(super::short_name("Jane.Doe+x@example.com"), "jane_doe_x");
        assert_eq!(super::short_name("bob"), "bob");
        assert_eq!(
            super::domain_friendly_name("Jane.Doe+x@example.com"),
            "jane-doe-x"
        );
    }
}
