//! The values the Databricks CLI adds to resources while it resolves a
//! bundle, so `validate --json` (and what deploy sends) carries them too.
//!
//! Two steps, at the CLI's places in the pipeline:
//! - [`apply`] after the presets (`ApplyPresets` runs first, so a preset
//!   wins over a default): the CLI's `applyInitializeMutators` in
//!   `bundle/config/mutator/resourcemutator/resource_mutator.go` (its
//!   `defaults` table, set only where the parent exists and the key does not,
//!   as `bundle.SetDefault` does), then `default_queueing.go`.
//! - [`annotate`] after path translation: `bundle/deploy/metadata/
//!   annotate_jobs.go` and `annotate_pipelines.go`, which overwrite.
//!
//! Then, as the CLI does next, the top-level `permissions` are copied onto
//! each resource kind that has permissions, with its level name
//! (`apply_bundle_permissions.go`), and the current user's own entries are
//! dropped, since the deployer owns what it deploys (`filter_current_user.go`).
//!
//! Confirmed against the CLI's recorded output
//! `acceptance/bundle/validate/empty_resources/empty_dict/output.txt`
//! (an empty job gets `deployment`, `edit_mode`, `format`,
//! `max_concurrent_runs: 1`, `name: Untitled`, `queue`; an empty pipeline
//! `channel`, `deployment`, `edition`).

use crate::config::ctx::Ctx;
use crate::config::pattern::visit_mut;
use crate::config::yaml::{Loc, Map, Node, Value};

/// `(parent pattern, key, value)`: the CLI's defaults table, for the kinds it
/// lists (the dbt `schema` rows name a `task` key that does not exist, so
/// they never apply and are left out).
fn table(resource_path: &str) -> Vec<(&'static str, &'static str, Value)> {
    let s = |v: &str| Value::Str(v.to_string());
    vec![
        ("resources.dashboards.*", "parent_path", s(resource_path)),
        (
            "resources.dashboards.*",
            "embed_credentials",
            Value::Bool(false),
        ),
        ("resources.volumes.*", "volume_type", s("MANAGED")),
        ("resources.jobs.*", "name", s("Untitled")),
        ("resources.jobs.*", "max_concurrent_runs", Value::Int(1)),
        ("resources.jobs.*.schedule", "pause_status", s("UNPAUSED")),
        ("resources.jobs.*.trigger", "pause_status", s("UNPAUSED")),
        ("resources.jobs.*.continuous", "pause_status", s("UNPAUSED")),
        (
            "resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients",
            "notebooks",
            Value::Bool(true),
        ),
        (
            "resources.jobs.*.job_clusters[*].new_cluster.workload_type.clients",
            "jobs",
            Value::Bool(true),
        ),
        ("resources.alerts.*", "parent_path", s(resource_path)),
        ("resources.pipelines.*", "edition", s("ADVANCED")),
        ("resources.pipelines.*", "channel", s("CURRENT")),
        (
            "resources.sql_warehouses.*",
            "auto_stop_mins",
            Value::Int(120),
        ),
        (
            "resources.sql_warehouses.*",
            "enable_photon",
            Value::Bool(true),
        ),
        (
            "resources.sql_warehouses.*",
            "max_num_clusters",
            Value::Int(1),
        ),
        (
            "resources.sql_warehouses.*",
            "spot_instance_policy",
            s("COST_OPTIMIZED"),
        ),
        ("resources.apps.*", "description", s("")),
        (
            "resources.clusters.*",
            "autotermination_minutes",
            Value::Int(60),
        ),
        (
            "resources.clusters.*.workload_type.clients",
            "notebooks",
            Value::Bool(true),
        ),
        (
            "resources.clusters.*.workload_type.clients",
            "jobs",
            Value::Bool(true),
        ),
    ]
}

/// The CLI's resource defaults, default queueing, bundle permissions and
/// the current user's removal from resource permissions.
pub fn apply(ctx: &mut Ctx, root: &mut Node, user: &str) {
    undefined_resources(ctx, root);
    set_defaults(root);
    job_cluster_workers(root);
    instance_pool_fixups(root);
    served_models_to_entities(ctx, root);
    dashboard_workspace_prefix(root);
    bundle_permissions(ctx, root);
    fix_permissions(root, user);
}

/// A resource written as `name:` with nothing under it stays null and is an
/// error, as the CLI reports it
/// (acceptance/bundle/validate/empty_resources/null/output.txt).
fn undefined_resources(ctx: &mut Ctx, root: &Node) {
    let Some(resources) = root.get("resources").and_then(Node::as_map) else {
        return;
    };
    for kind in resources.iter() {
        let Some(items) = kind.node.as_map() else {
            continue;
        };
        let singular = kind.key.strip_suffix('s').unwrap_or(&kind.key);
        for item in items.iter().filter(|i| i.node.is_null()) {
            let loc = if item.node.loc.line == 0 {
                item.key_loc
            } else {
                item.node.loc
            };
            ctx.error(
                format!("{singular} {} is not defined", item.key),
                Some(loc),
                &format!("resources.{}.{}", kind.key, item.key),
            );
        }
    }
}

fn set_defaults(root: &mut Node) {
    let resource_path = root
        .at(&["workspace", "resource_path"])
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    for (parent, key, value) in table(&resource_path) {
        visit_mut(root, parent, &mut |_, n| {
            if let Some(m) = n.as_map_mut()
                && m.get(key).is_none()
            {
                insert_sorted(m, key, Node::new(value.clone(), Loc::default()));
            }
        });
    }
    // Queueing is on unless the job says anything about it (`queue` present).
    visit_mut(root, "resources.jobs.*", &mut |_, job| {
        if let Some(m) = job.as_map_mut()
            && m.get("queue").is_none()
        {
            let mut q = Map::default();
            q.insert(
                "enabled",
                Loc::default(),
                Node::new(Value::Bool(true), Loc::default()),
            );
            insert_sorted(m, "queue", Node::new(Value::Map(q), Loc::default()));
        }
    });
}

/// The CLI's `ClusterFixups` and `JobClustersFixups`
/// (`resourcemutator/cluster_fixups.go`, from Terraform's provider): a
/// cluster on an instance pool takes its nodes from the pool, so the node
/// types, elastic disk and cloud attributes (but the instance profile and
/// the service account) are dropped; a cluster on no pool has no driver pool.
/// Every job cluster has a `new_cluster` (a value in the CLI's typed
/// model, not a pointer), whose `num_workers` is sent even when 0 unless it
/// autoscales (the CLI's `JobClustersFixups`, `initializeNumWorkers`).
fn job_cluster_workers(root: &mut Node) {
    visit_mut(root, "resources.jobs.*.job_clusters[*]", &mut |_, jc| {
        let Some(m) = jc.as_map_mut() else { return };
        if m.get("new_cluster").is_none_or(Node::is_null) {
            insert_sorted(m, "new_cluster", Node::map(Loc::default()));
        }
        let Some(nc) = m.get_mut("new_cluster").and_then(Node::as_map_mut) else {
            return;
        };
        if nc.get("autoscale").is_none() && nc.get("num_workers").is_none() {
            insert_sorted(nc, "num_workers", Node::new(Value::Int(0), Loc::default()));
        }
    });
}

fn instance_pool_fixups(root: &mut Node) {
    for pattern in [
        "resources.clusters.*",
        "resources.jobs.*.tasks[*].new_cluster",
        "resources.jobs.*.job_clusters[*].new_cluster",
    ] {
        visit_mut(root, pattern, &mut |_, cluster| {
            let Some(m) = cluster.as_map_mut() else {
                return;
            };
            let pooled = m
                .get("instance_pool_id")
                .and_then(Node::as_str)
                .is_some_and(|id| !id.is_empty());
            if !pooled {
                m.remove("driver_instance_pool_id");
                return;
            }
            for (attrs, kept) in [
                ("aws_attributes", Some("instance_profile_arn")),
                ("azure_attributes", None),
                ("gcp_attributes", Some("google_service_account")),
            ] {
                if let Some(a) = m.get_mut(attrs).and_then(Node::as_map_mut) {
                    a.0.retain(|e| Some(e.key.as_str()) == kept);
                }
            }
            for key in ["enable_elastic_disk", "node_type_id", "driver_node_type_id"] {
                m.remove(key);
            }
        });
    }
}

/// The CLI's `CaptureUCDependencies`: a catalog or schema named by its
/// name where the bundle defines it becomes a reference to that resource
/// (`${resources.schemas.<key>.name}`), so deploy orders them.
/// Runs before the presets (among the CLI's normalize mutators), while
/// names are as written.
pub fn capture_uc_dependencies(root: &mut Node) {
    let names = |kind: &str, fields: &[&str]| -> Vec<(String, Vec<String>)> {
        root.at(&["resources", kind])
            .and_then(Node::as_map)
            .into_iter()
            .flat_map(|m| m.iter())
            .map(|e| {
                let vals = fields
                    .iter()
                    .map(|f| {
                        e.node
                            .get(f)
                            .and_then(Node::as_str)
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect();
                (e.key.clone(), vals)
            })
            .collect()
    };
    // (key, [name]) and (key, [catalog_name, name]).
    let catalogs = names("catalogs", &["name"]);
    let schemas = names("schemas", &["catalog_name", "name"]);
    let catalog = |c: &str| -> Option<String> {
        (!c.is_empty()).then_some(())?;
        let (k, _) = catalogs.iter().find(|(_, v)| v[0] == c)?;
        Some(format!("${{resources.catalogs.{k}.name}}"))
    };
    let schema = |c: &str, s: &str| -> Option<String> {
        (!c.is_empty() && !s.is_empty()).then_some(())?;
        let (k, _) = schemas.iter().find(|(_, v)| v[0] == c && v[1] == s)?;
        Some(format!("${{resources.schemas.{k}.name}}"))
    };
    let set = |n: &mut Node, field: &str, to: Option<String>| {
        if let (Some(to), Some(m)) = (to, n.as_map_mut())
            && let Some(v) = m.get_mut(field)
        {
            v.v = Value::Str(to);
        }
    };
    // (pattern, catalog field, schema fields)
    for (pattern, cat, schema_fields) in [
        ("resources.volumes.*", "catalog_name", &["schema_name"][..]),
        (
            "resources.registered_models.*",
            "catalog_name",
            &["schema_name"][..],
        ),
        (
            "resources.pipelines.*",
            "catalog",
            &["schema", "target"][..],
        ),
        (
            "resources.model_serving_endpoints.*.ai_gateway.inference_table_config",
            "catalog_name",
            &["schema_name"][..],
        ),
        (
            "resources.model_serving_endpoints.*.config.auto_capture_config",
            "catalog_name",
            &["schema_name"][..],
        ),
        ("resources.schemas.*", "catalog_name", &[][..]),
    ] {
        visit_mut(root, pattern, &mut |_, n| {
            let c = n.text(cat).to_string();
            for f in schema_fields {
                let s = n.text(f).to_string();
                set(n, f, schema(&c, &s));
            }
            set(n, cat, catalog(&c));
        });
    }
    visit_mut(root, "resources.quality_monitors.*", &mut |_, n| {
        let out = n.text("output_schema_name").to_string();
        let Some((c, s)) = out.split_once('.') else {
            return;
        };
        let resolved = format!(
            "{}.{}",
            catalog(c).unwrap_or_else(|| c.to_string()),
            schema(c, s).unwrap_or_else(|| s.to_string())
        );
        if resolved != out {
            set(n, "output_schema_name", Some(resolved));
        }
    });
}

/// The CLI's `DashboardFixups`: a dashboard's `parent_path` is a workspace
/// path, `/Workspace` prefixed unless it is there (`path.Join`: cleaned).
fn dashboard_workspace_prefix(root: &mut Node) {
    visit_mut(root, "resources.dashboards.*.parent_path", &mut |_, n| {
        let Some(p) = n.as_str() else { return };
        if p == "/Workspace" || p.starts_with("/Workspace/") {
            return;
        }
        n.v = Value::Str(clean_path(&format!("/Workspace/{p}")));
    });
}

/// Go's `path.Clean` of an absolute path: no empty or `.` segments, `..`
/// taken back.
fn clean_path(p: &str) -> String {
    let mut segs: Vec<&str> = Vec::new();
    for s in p.split('/') {
        match s {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("/{}", segs.join("/"))
}

/// The CLI's `ModelServingEndpointFixups`: the deprecated `served_models`
/// become `served_entities` (with a warning), field by field as its
/// `servedModelToServedEntity`; both at once is an error.
fn served_models_to_entities(ctx: &mut Ctx, root: &mut Node) {
    const KEPT: [&str; 11] = [
        "environment_vars",
        "instance_profile_arn",
        "max_provisioned_throughput",
        "min_provisioned_throughput",
        "name",
        "provisioned_model_units",
        "scale_to_zero_enabled",
        "workload_size",
        "workload_type",
        "max_provisioned_concurrency",
        "min_provisioned_concurrency",
    ];
    let Some(endpoints) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("resources"))
        .and_then(|r| r.as_map_mut())
        .and_then(|r| r.get_mut("model_serving_endpoints"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    for e in endpoints.0.iter_mut() {
        let key_loc = e.node.loc;
        let Some(config) = e
            .node
            .as_map_mut()
            .and_then(|m| m.get_mut("config"))
            .and_then(Node::as_map_mut)
        else {
            continue;
        };
        let non_empty = |n: Option<&Node>| n.and_then(Node::as_seq).is_some_and(|s| !s.is_empty());
        if !non_empty(config.get("served_models")) {
            continue;
        }
        let path = format!("resources.model_serving_endpoints.{}", e.key);
        if non_empty(config.get("served_entities")) {
            let d = crate::diag::Diagnostic::error("Cannot use both served_models and served_entities").detail(
                "Model serving endpoint cannot specify both served_models and served_entities at the same time.",
            );
            ctx.push(d, Some(key_loc), &path);
            continue;
        }
        let Some(models) = config.remove("served_models") else {
            continue;
        };
        let d = crate::diag::Diagnostic::warning("Using served_models is deprecated")
            .detail("The served_models field is deprecated. Please use served_entities instead.");
        ctx.push(
            d,
            Some(models.node.loc),
            &format!("{path}.config.served_models"),
        );
        let entities: Vec<Node> = models
            .node
            .as_seq()
            .into_iter()
            .flatten()
            .map(|model| {
                let mut out = Map::default();
                for (from, to) in [
                    ("model_name", "entity_name"),
                    ("model_version", "entity_version"),
                ] {
                    if let Some(v) = model.get(from) {
                        out.insert(to, v.loc, v.clone());
                    }
                }
                for e in model.as_map().into_iter().flat_map(|m| m.iter()) {
                    if KEPT.contains(&e.key.as_str()) {
                        out.insert(&e.key, e.key_loc, e.node.clone());
                    }
                }
                Node::new(Value::Map(out), model.loc)
            })
            .collect();
        insert_sorted(
            config,
            "served_entities",
            Node::new(Value::Seq(entities), models.node.loc),
        );
    }
}

/// The bundle-level levels and what each is called on a resource kind;
/// a level a kind lacks is not applied to it.
fn level_for(kind: &str, level: &str) -> Option<&'static str> {
    let names: &[(&str, &'static str)] = match kind {
        "jobs" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_VIEW"),
            ("CAN_RUN", "CAN_MANAGE_RUN"),
        ],
        "pipelines" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_VIEW"),
            ("CAN_RUN", "CAN_RUN"),
        ],
        "experiments" | "models" | "dashboards" => {
            &[("CAN_MANAGE", "CAN_MANAGE"), ("CAN_VIEW", "CAN_READ")]
        }
        "model_serving_endpoints" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_VIEW"),
            ("CAN_RUN", "CAN_QUERY"),
        ],
        "apps" | "database_instances" | "postgres_projects" | "vector_search_endpoints" => {
            &[("CAN_MANAGE", "CAN_MANAGE"), ("CAN_VIEW", "CAN_USE")]
        }
        "secret_scopes" => &[("CAN_MANAGE", "MANAGE"), ("CAN_VIEW", "READ")],
        "alerts" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_READ"),
            ("CAN_RUN", "CAN_RUN"),
        ],
        "sql_warehouses" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_VIEW"),
            ("CAN_RUN", "CAN_MONITOR"),
        ],
        "clusters" => &[
            ("CAN_MANAGE", "CAN_MANAGE"),
            ("CAN_VIEW", "CAN_ATTACH_TO"),
            ("CAN_RUN", "CAN_RESTART"),
        ],
        _ => return None,
    };
    names.iter().find(|(l, _)| *l == level).map(|(_, n)| *n)
}

const PRINCIPALS: [&str; 3] = ["user_name", "group_name", "service_principal_name"];

/// Top-level `permissions` onto every resource of a kind that takes them,
/// unless the resource already names the same principal.
fn bundle_permissions(ctx: &mut Ctx, root: &mut Node) {
    let Some(perms) = root.get("permissions").and_then(Node::as_seq).cloned() else {
        return;
    };
    for p in &perms {
        let level = p.get("level");
        let text = level.and_then(Node::as_str).unwrap_or("");
        if !matches!(text, "CAN_MANAGE" | "CAN_VIEW" | "CAN_RUN") {
            ctx.error(
                format!("invalid permission level: {text}, allowed values: [CAN_MANAGE, CAN_VIEW, CAN_RUN]"),
                Some(level.map_or(p.loc, |l| l.loc)),
                "permissions",
            );
            return;
        }
    }
    let Some(resources) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("resources"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    for kind in resources.0.iter_mut() {
        let Some(items) = kind.node.as_map_mut() else {
            continue;
        };
        for item in items.0.iter_mut() {
            let Some(m) = item.node.as_map_mut() else {
                continue;
            };
            let own: Vec<Node> = m
                .get("permissions")
                .and_then(Node::as_seq)
                .cloned()
                .unwrap_or_default();
            let mut added = Vec::new();
            for p in &perms {
                let level = p.get("level").and_then(Node::as_str).unwrap_or("");
                let Some(name) = level_for(&kind.key, level) else {
                    continue;
                };
                let overlaps = own.iter().any(|o| {
                    PRINCIPALS.iter().any(|k| {
                        let mine = o.get(k).and_then(Node::as_str).unwrap_or("");
                        !mine.is_empty() && Some(mine) == p.get(k).and_then(Node::as_str)
                    })
                });
                if overlaps {
                    continue;
                }
                let mut e = Map::default();
                e.insert("level", Loc::default(), Node::str(name, Loc::default()));
                for k in PRINCIPALS {
                    if let Some(v) = p
                        .get(k)
                        .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
                    {
                        e.insert(k, v.loc, v.clone());
                    }
                }
                added.push(Node::new(Value::Map(e), p.loc));
            }
            if added.is_empty() {
                continue;
            }
            match m.get_mut("permissions").map(|n| &mut n.v) {
                Some(Value::Seq(v)) => v.extend(added),
                _ => insert_sorted(
                    m,
                    "permissions",
                    Node::new(Value::Seq(added), Loc::default()),
                ),
            }
        }
    }
}

/// The deployer must keep managing what it deploys (the CLI's
/// `FixPermissions`): wherever a resource lists permissions, the current
/// user is added as `IS_OWNER` (jobs, pipelines, SQL warehouses, unless
/// someone already owns it; a `CAN_MANAGE` entry of the user is raised) or
/// `CAN_MANAGE` (other kinds), then each principal is kept once, at its
/// highest level, in the order first named.
fn fix_permissions(root: &mut Node, user: &str) {
    // `permissions: []` is no list by then (the CLI's typed configuration
    // leaves an empty one out): nothing is added, nothing printed.
    visit_mut(root, "resources.*.*", &mut |_, r| {
        if let Some(m) = r.as_map_mut()
            && matches!(m.get("permissions").map(|n| &n.v), Some(Value::Seq(v)) if v.is_empty())
        {
            m.remove("permissions");
        }
    });
    visit_mut(root, "resources.*.*.permissions", &mut |path, n| {
        let kind = path.split('.').nth(1).unwrap_or("");
        if kind == "secret_scopes" {
            return;
        }
        if let Value::Seq(v) = &mut n.v {
            ensure_owner(v, user, kind);
            *v = max_levels(v);
        }
    });
}

fn ensure_owner(perms: &mut Vec<Node>, user: &str, kind: &str) {
    let person = |p: &Node| match p.text("user_name") {
        "" => p.text("service_principal_name").to_string(),
        u => u.to_string(),
    };
    let mut can_add_owner = matches!(kind, "jobs" | "pipelines" | "sql_warehouses");
    let mut manage_at = None;
    for (i, p) in perms.iter().enumerate() {
        let Some(level) = p.get("level").and_then(Node::as_str) else {
            continue;
        };
        if level == "IS_OWNER" {
            can_add_owner = false;
            if person(p) == user {
                return;
            }
        }
        if person(p) == user && level == "CAN_MANAGE" {
            manage_at = Some(i);
        }
    }
    let level = if can_add_owner {
        "IS_OWNER"
    } else {
        "CAN_MANAGE"
    };
    match manage_at {
        Some(i) if can_add_owner => {
            if let Some(m) = perms[i].as_map_mut() {
                m.insert("level", Loc::default(), Node::str(level, Loc::default()));
            }
        }
        Some(_) => {}
        None => {
            // A service principal is named by its application id (a UUID).
            let field = if is_service_principal(user) {
                "service_principal_name"
            } else {
                "user_name"
            };
            let mut e = Map::default();
            e.insert("level", Loc::default(), Node::str(level, Loc::default()));
            e.insert(field, Loc::default(), Node::str(user, Loc::default()));
            perms.push(Node::new(Value::Map(e), Loc::default()));
        }
    }
}

/// `libs/iamutil.IsServicePrincipalName`: the name is a UUID.
pub fn is_service_principal(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The CLI's permission level order (`resources.PermissionOrder`): a level
/// not listed ranks as its longest listed prefix.
fn level_score(level: &str) -> i32 {
    const ORDER: [(&str, i32); 18] = [
        ("", -1),
        ("CAN_VIEW", 2),
        ("CAN_READ", 3),
        ("CAN_VIEW_METADATA", 4),
        ("CAN_RUN", 5),
        ("CAN_QUERY", 6),
        ("CAN_USE", 7),
        ("CAN_EDIT", 8),
        ("CAN_EDIT_METADATA", 9),
        ("CAN_CREATE", 10),
        ("CAN_ATTACH_TO", 11),
        ("CAN_RESTART", 12),
        ("CAN_MONITOR", 13),
        ("CAN_MANAGE_RUN", 14),
        ("CAN_MANAGE_STAGING_VERSIONS", 15),
        ("CAN_MANAGE_PRODUCTION_VERSIONS", 16),
        ("CAN_MANAGE", 17),
        ("IS_OWNER", 18),
    ];
    if let Some((_, s)) = ORDER.iter().find(|(l, _)| *l == level) {
        return *s;
    }
    ORDER
        .iter()
        .filter(|(l, _)| level.starts_with(l))
        .max_by_key(|(l, _)| l.len())
        .map_or(0, |(_, s)| *s)
}

fn max_levels(perms: &[Node]) -> Vec<Node> {
    let mut out: Vec<(&'static str, String, String)> = Vec::new();
    for p in perms {
        let level = p.text("level");
        if level.is_empty() {
            continue;
        }
        let Some(field) = PRINCIPAL_ORDER
            .iter()
            .copied()
            .find(|k| !p.text(k).is_empty())
        else {
            continue;
        };
        let who = p.text(field).to_string();
        match out.iter_mut().find(|(f, w, _)| *f == field && *w == who) {
            Some((_, _, have)) => {
                let better = match level_score(level).cmp(&level_score(have)) {
                    std::cmp::Ordering::Equal => level > have.as_str(),
                    o => o.is_gt(),
                };
                if better {
                    *have = level.to_string();
                }
            }
            None => out.push((field, who, level.to_string())),
        }
    }
    out.into_iter()
        .map(|(field, who, level)| {
            let mut e = Map::default();
            e.insert("level", Loc::default(), Node::str(level, Loc::default()));
            e.insert(field, Loc::default(), Node::str(who, Loc::default()));
            Node::new(Value::Map(e), Loc::default())
        })
        .collect()
}

/// Which principal field names an entry, in the CLI's order of reading.
const PRINCIPAL_ORDER: [&str; 3] = ["user_name", "service_principal_name", "group_name"];

/// What the CLI writes on every job and pipeline so the workspace knows a
/// bundle owns it; a value written by the user is overwritten, as the CLI does.
pub fn annotate(root: &mut Node) {
    let Some(state) = root
        .at(&["workspace", "state_path"])
        .and_then(Node::as_str)
        .map(str::to_string)
    else {
        return;
    };
    let metadata = format!("{}/metadata.json", state.trim_end_matches('/'));
    let deployment = || {
        let mut d = Map::default();
        d.insert("kind", Loc::default(), Node::str("BUNDLE", Loc::default()));
        d.insert(
            "metadata_file_path",
            Loc::default(),
            Node::str(&metadata, Loc::default()),
        );
        Node::new(Value::Map(d), Loc::default())
    };
    visit_mut(root, "resources.jobs.*", &mut |_, job| {
        if let Some(m) = job.as_map_mut() {
            set_sorted(m, "deployment", deployment());
            set_sorted(m, "edit_mode", Node::str("UI_LOCKED", Loc::default()));
            set_sorted(m, "format", Node::str("MULTI_TASK", Loc::default()));
        }
    });
    visit_mut(root, "resources.pipelines.*", &mut |_, p| {
        if let Some(m) = p.as_map_mut() {
            set_sorted(m, "deployment", deployment());
        }
    });
}

/// Overwrite in place, or add in key order.
fn set_sorted(m: &mut Map, key: &str, node: Node) {
    match m.get_mut(key) {
        Some(n) => *n = Node::new(node.v, n.loc),
        None => insert_sorted(m, key, node),
    }
}

/// The CLI prints resource settings in the field order of its typed structs,
/// which is alphabetical: a new key goes before the first key that sorts
/// after it, so a bundle written in that order prints as the CLI prints it.
fn insert_sorted(m: &mut Map, key: &str, node: Node) {
    let at =
        m.0.iter()
            .position(|e| e.key.as_str() > key)
            .unwrap_or(m.0.len());
    m.insert(key, Loc::default(), node);
    let last = m.0.pop().expect("just inserted");
    m.0.insert(at, last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    fn capture(text: &str) -> serde_json::Value {
        let mut root = parse(text, 0).unwrap();
        capture_uc_dependencies(&mut root);
        root.to_json()["resources"].clone()
    }

    fn run(text: &str) -> serde_json::Value {
        let mut root = parse(text, 0).unwrap();
        apply(&mut Ctx::default(), &mut root, "me@x.com");
        annotate(&mut root);
        root.to_json()["resources"].clone()
    }

    const WS: &str = "workspace:\n  state_path: /Workspace/Users/u/.bundle/b/dev/state\n  resource_path: /Workspace/r\n";

    #[test]
    fn an_empty_job_and_pipeline_get_what_the_cli_records() {
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j: {{}}\n  pipelines:\n    p: {{}}\n"
        ));
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"jobs":{"j":{"deployment":{"kind":"BUNDLE","metadata_file_path":"/Workspace/Users/u/.bundle/b/dev/state/metadata.json"},"#,
                r#""edit_mode":"UI_LOCKED","format":"MULTI_TASK","max_concurrent_runs":1,"name":"Untitled","queue":{"enabled":true}}},"#,
                r#""pipelines":{"p":{"channel":"CURRENT","deployment":{"kind":"BUNDLE","metadata_file_path":"/Workspace/Users/u/.bundle/b/dev/state/metadata.json"},"edition":"ADVANCED"}}}"#
            )
        );
    }

    #[test]
    fn written_values_win_except_the_annotations() {
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j:\n      name: n\n      max_concurrent_runs: 3\n      queue:\n        enabled: false\n      edit_mode: EDITABLE\n      schedule:\n        quartz_cron_expression: x\n      job_clusters:\n        - job_cluster_key: c\n          new_cluster:\n            spark_version: s\n"
        ));
        let j = &r["jobs"]["j"];
        assert_eq!(j["name"], "n");
        assert_eq!(j["max_concurrent_runs"], 3);
        assert_eq!(j["queue"]["enabled"], false);
        assert_eq!(j["edit_mode"], "UI_LOCKED");
        assert_eq!(j["schedule"]["pause_status"], "UNPAUSED");
        assert_eq!(j["job_clusters"][0]["new_cluster"]["num_workers"], 0);
        // No `trigger` or `continuous` written: none created.
        assert!(j.get("trigger").is_none() && j.get("continuous").is_none());
        assert!(
            j["job_clusters"][0]["new_cluster"]
                .get("workload_type")
                .is_none()
        );
    }

    #[test]
    fn a_cluster_on_an_instance_pool_loses_what_the_pool_decides() {
        let c = run(&format!(
            "{WS}resources:\n  clusters:\n    c:\n      instance_pool_id: p\n      node_type_id: i3\n      driver_node_type_id: i3\n      enable_elastic_disk: true\n      aws_attributes:\n        availability: ON_DEMAND\n        instance_profile_arn: arn\n    d:\n      node_type_id: i3\n      driver_instance_pool_id: dp\n      azure_attributes:\n        spot_bid_max_price: 20\n  jobs:\n    j:\n      job_clusters:\n        - job_cluster_key: k\n          new_cluster:\n            instance_pool_id: p\n            gcp_attributes:\n              local_ssd_count: 2\n              google_service_account: sa\n"
        ));
        let pooled = &c["clusters"]["c"];
        assert_eq!(
            pooled["aws_attributes"],
            serde_json::json!({"instance_profile_arn": "arn"})
        );
        for gone in ["node_type_id", "driver_node_type_id", "enable_elastic_disk"] {
            assert!(pooled.get(gone).is_none(), "{gone}: {pooled}");
        }
        let unpooled = &c["clusters"]["d"];
        assert_eq!(unpooled["node_type_id"], "i3");
        assert_eq!(unpooled["azure_attributes"]["spot_bid_max_price"], 20);
        assert!(unpooled.get("driver_instance_pool_id").is_none());
        let job = &c["jobs"]["j"]["job_clusters"][0]["new_cluster"];
        assert_eq!(
            job["gcp_attributes"],
            serde_json::json!({"google_service_account": "sa"})
        );
    }

    #[test]
    fn served_models_become_served_entities_with_a_warning() {
        let text = format!(
            "{WS}resources:\n  model_serving_endpoints:\n    e:\n      config:\n        served_models:\n          - model_name: m\n            model_version: '1'\n            scale_to_zero_enabled: true\n            workload_size: Small\n"
        );
        let mut root = parse(&text, 0).unwrap();
        let mut ctx = Ctx::default();
        apply(&mut ctx, &mut root, "me@x.com");
        let config = &root.to_json()["resources"]["model_serving_endpoints"]["e"]["config"];
        assert_eq!(
            config,
            &serde_json::json!({"served_entities": [{"entity_name": "m", "entity_version": "1", "scale_to_zero_enabled": true, "workload_size": "Small"}]})
        );
        assert_eq!(ctx.diags.len(), 1, "{:?}", ctx.diags);
        assert!(
            ctx.diags[0]
                .to_string()
                .starts_with("Warning: Using served_models is deprecated"),
            "{}",
            ctx.diags[0]
        );
        // Both at once: an error, nothing converted.
        let both = text.replace(
            "        served_models:",
            "        served_entities:\n          - entity_name: x\n        served_models:",
        );
        let mut root = parse(&both, 0).unwrap();
        let mut ctx = Ctx::default();
        apply(&mut ctx, &mut root, "me@x.com");
        assert!(
            ctx.diags[0]
                .to_string()
                .starts_with("Error: Cannot use both served_models and served_entities"),
            "{:?}",
            ctx.diags
        );
        assert!(
            root.to_json()["resources"]["model_serving_endpoints"]["e"]["config"]["served_models"]
                .is_array()
        );
    }

    #[test]
    fn a_dashboards_parent_path_is_a_workspace_path() {
        let d = run(&format!(
            "{WS}resources:\n  dashboards:\n    a:\n      parent_path: ''\n    b:\n      parent_path: already-set\n    c:\n      parent_path: /Workspace/x\n    d:\n      parent_path: /Users/u/./y//z\n    e: {{display_name: e}}\n"
        ));
        let p = |k: &str| d["dashboards"][k]["parent_path"].clone();
        assert_eq!(p("a"), "/Workspace");
        assert_eq!(p("b"), "/Workspace/already-set");
        assert_eq!(p("c"), "/Workspace/x");
        assert_eq!(p("d"), "/Workspace/Users/u/y/z");
        assert_eq!(p("e"), "/Workspace/r", "the default, prefixed too");
    }

    #[test]
    fn catalogs_and_schemas_the_bundle_defines_are_named_by_reference() {
        let r = capture(&format!(
            "{WS}resources:\n  catalogs:\n    cat:\n      name: c1\n  schemas:\n    sch:\n      catalog_name: c1\n      name: s1\n  volumes:\n    v:\n      catalog_name: c1\n      schema_name: s1\n    other:\n      catalog_name: c2\n      schema_name: s1\n  quality_monitors:\n    q:\n      output_schema_name: c1.s1\n"
        ));
        assert_eq!(
            r["schemas"]["sch"]["catalog_name"],
            "${resources.catalogs.cat.name}"
        );
        assert_eq!(
            r["volumes"]["v"]["catalog_name"],
            "${resources.catalogs.cat.name}"
        );
        assert_eq!(
            r["volumes"]["v"]["schema_name"],
            "${resources.schemas.sch.name}"
        );
        assert_eq!(
            r["volumes"]["other"]["catalog_name"], "c2",
            "not a bundle catalog"
        );
        assert_eq!(r["volumes"]["other"]["schema_name"], "s1");
        assert_eq!(
            r["quality_monitors"]["q"]["output_schema_name"],
            "${resources.catalogs.cat.name}.${resources.schemas.sch.name}"
        );
    }

    #[test]
    fn other_kinds_get_the_cli_defaults() {
        let r = run(&format!(
            "{WS}resources:\n  volumes:\n    v:\n      name: v\n  dashboards:\n    d:\n      display_name: d\n  experiments:\n    e:\n      name: /x\n"
        ));
        assert_eq!(r["volumes"]["v"]["volume_type"], "MANAGED");
        assert_eq!(r["dashboards"]["d"]["parent_path"], "/Workspace/r");
        assert_eq!(r["dashboards"]["d"]["embed_credentials"], false);
        assert_eq!(r["experiments"]["e"], serde_json::json!({"name": "/x"}));
    }

    #[test]
    fn bundle_permissions_go_onto_resources_by_their_level_names() {
        let r = run(&format!(
            "{WS}permissions:\n  - level: CAN_VIEW\n    group_name: users\n  - level: CAN_RUN\n    user_name: a@x.com\n  - level: CAN_MANAGE\n    user_name: me@x.com\nresources:\n  jobs:\n    j:\n      permissions:\n        - level: CAN_MANAGE\n          group_name: users\n        - level: CAN_VIEW\n          group_name: users\n  experiments:\n    e:\n      name: /x\n  registered_models:\n    m:\n      name: m\n"
        ));
        // `users` already on the job: not added again (the CLI's overlap
        // rule); the current user's CAN_MANAGE raised to IS_OWNER on a job
        // (`FixPermissions`). Measured against `databricks bundle validate`
        // v0.298.0 on this configuration.
        assert_eq!(
            r["jobs"]["j"]["permissions"],
            serde_json::json!([
                {"level": "CAN_MANAGE", "group_name": "users"},
                {"level": "CAN_MANAGE_RUN", "user_name": "a@x.com"},
                {"level": "IS_OWNER", "user_name": "me@x.com"}
            ])
        );
        // Experiments have no run level; CAN_VIEW is CAN_READ there; an
        // experiment has no owner level, so the user keeps CAN_MANAGE.
        assert_eq!(
            r["experiments"]["e"]["permissions"],
            serde_json::json!([
                {"level": "CAN_READ", "group_name": "users"},
                {"level": "CAN_MANAGE", "user_name": "me@x.com"}
            ])
        );
        // Unity Catalog models take grants, not permissions.
        assert!(r["registered_models"]["m"].get("permissions").is_none());
    }

    #[test]
    fn a_job_cluster_has_a_new_cluster_whose_workers_are_sent_unless_it_autoscales() {
        // acceptance/bundle/resources/jobs/create-error: no `new_cluster`.
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j:\n      job_clusters:\n        - job_cluster_key: a\n        - job_cluster_key: b\n          new_cluster:\n            autoscale:\n              min_workers: 1\n              max_workers: 2\n        - job_cluster_key: c\n          new_cluster:\n            num_workers: 3\n"
        ));
        let jc = &r["jobs"]["j"]["job_clusters"];
        assert_eq!(jc[0]["new_cluster"], serde_json::json!({"num_workers": 0}));
        assert!(jc[1]["new_cluster"].get("num_workers").is_none(), "{jc}");
        assert_eq!(jc[2]["new_cluster"]["num_workers"], 3);
    }

    #[test]
    fn an_empty_permissions_list_is_left_out_not_given_an_owner() {
        // acceptance/bundle/resources/permissions/{jobs,pipelines}/empty_list
        let r = run(&format!(
            "{WS}resources:\n  jobs:\n    j:\n      name: j\n      permissions: []\n  pipelines:\n    p:\n      name: p\n      permissions: []\n"
        ));
        assert!(r["jobs"]["j"].get("permissions").is_none(), "{r}");
        assert!(r["pipelines"]["p"].get("permissions").is_none(), "{r}");
        // With bundle permissions, the resource gets them and its owner.
        let r = run(&format!(
            "{WS}permissions:\n  - level: CAN_VIEW\n    group_name: users\nresources:\n  jobs:\n    j:\n      name: j\n      permissions: []\n"
        ));
        assert_eq!(
            r["jobs"]["j"]["permissions"],
            serde_json::json!([
                {"level": "CAN_VIEW", "group_name": "users"},
                {"level": "IS_OWNER", "user_name": "me@x.com"}
            ])
        );
    }

    #[test]
    fn an_unknown_bundle_permission_level_is_an_error() {
        let mut root = parse("permissions:\n  - level: CAN_EAT\n    user_name: a\n", 0).unwrap();
        let mut ctx = Ctx::default();
        apply(&mut ctx, &mut root, "me");
        assert_eq!(ctx.diags.len(), 1);
        assert!(ctx.diags[0].is_error());
        assert!(
            ctx.diags[0]
                .to_string()
                .contains("invalid permission level: CAN_EAT")
        );
    }

    #[test]
    fn a_resource_with_nothing_under_it_is_an_error_and_stays_null() {
        let mut root = parse("resources:\n  jobs:\n    rname:\n", 0).unwrap();
        let mut ctx = Ctx::default();
        apply(&mut ctx, &mut root, "me");
        assert_eq!(ctx.diags.len(), 1, "{:?}", ctx.diags);
        let d = ctx.diags[0].to_string();
        assert!(
            d.starts_with("Error: job rname is not defined\n  at resources.jobs.rname\n"),
            "{d}"
        );
        assert!(root.to_json()["resources"]["jobs"]["rname"].is_null());
    }
}
