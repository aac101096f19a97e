//! The CLI's `apps.Validate` (`bundle/apps/validate.go`), after artifacts
//! are prepared: each app has exactly one source (`source_code_path` or
//! `git_source`), no two apps share a source code path, and a warning when
//! an app's `resources` name a bundle resource whose `permissions` leave the
//! app's service principal out (the next deploy would take away what the
//! app was granted).
//!
//! The CLI walks apps in Go's map order (random); we walk them as written, so
//! a run repeats itself. Each app's diagnostics come in the CLI's order.

use std::collections::HashMap;

use crate::config::ctx::Ctx;
use crate::config::yaml::{Loc, Node};
use crate::diag::{Diagnostic, Location};

pub fn validate(ctx: &mut Ctx, root: &Node) {
    let Some(apps) = root.at(&["resources", "apps"]).and_then(Node::as_map) else {
        return;
    };
    // Source code path -> the first app that used it. Apps with only a
    // `git_source` share the path "" here, as in the CLI.
    let mut used: HashMap<&str, &str> = HashMap::new();
    for entry in apps.iter() {
        let (key, app) = (entry.key.as_str(), &entry.node);
        let source = app
            .get("source_code_path")
            .and_then(Node::as_str)
            .unwrap_or("");
        let git = app.get("git_source").is_some_and(|g| !g.is_null());
        let app_path = ["resources", "apps", key];
        if source.is_empty() && !git {
            let d =
                Diagnostic::error("Missing app source code path or git source").detail(format!(
                    "app resource '{key}' should have either source_code_path or git_source field"
                ));
            push(ctx, d, &app_path, false);
            continue;
        }
        if !source.is_empty() && git {
            let d = Diagnostic::error("Both source_code_path and git_source fields are set").detail(
                format!("app resource '{key}' should have either source_code_path or git_source field, not both"),
            );
            push(ctx, d, &app_path, false);
            continue;
        }
        if let Some(first) = used.get(source) {
            let d = Diagnostic::error("Duplicate app source code path").detail(format!(
                "app resource '{key}' has the same source code path as app resource '{first}', \
                 this will lead to the app configuration being overridden by each other"
            ));
            push(
                ctx,
                d,
                &["resources", "apps", key, "source_code_path"],
                true,
            );
        }
        used.insert(source, key);
        permission_warnings(ctx, root, key, app);
    }
}

/// The CLI's `GetLocations`, as measured: every place the value was written,
/// in merge order for an app (a mapping); for a scalar a target overrides,
/// the overriding place first.
fn push(ctx: &mut Ctx, mut d: Diagnostic, path: &[&str], scalar: bool) {
    let mut locs: Vec<Loc> = ctx
        .sources
        .iter()
        .filter_map(|s| s.at(path))
        .filter(|n| !n.is_null() && n.loc.line > 0)
        .map(|n| n.loc)
        .collect();
    if scalar {
        locs.reverse();
    }
    let located: Vec<Location> = locs.into_iter().map(|l| ctx.location(l)).collect();
    d.locations.extend(located);
    ctx.diags.push(d);
}

/// One warning per entry of the app's `resources` that references a bundle
/// resource with `permissions` but without the app's service principal.
fn permission_warnings(ctx: &mut Ctx, root: &Node, key: &str, app: &Node) {
    let Some(entries) = app.get("resources").and_then(Node::as_seq) else {
        return;
    };
    let app_sp = format!("${{resources.apps.{key}.service_principal_client_id}}");
    for entry in entries {
        let Some((value, level)) = referenced(entry) else {
            continue;
        };
        let Some((kind, target)) = resource_reference(value) else {
            continue;
        };
        let perms = root
            .at(&["resources", kind, target, "permissions"])
            .and_then(Node::as_seq)
            .filter(|p| !p.is_empty());
        let Some(perms) = perms else {
            continue;
        };
        let granted = perms.iter().any(|p| {
            p.get("service_principal_name").and_then(Node::as_str) == Some(app_sp.as_str())
        });
        if granted {
            continue;
        }
        let summary = format!(
            "app \"{key}\" references {kind} \"{target}\" which has permissions set. \
             To prevent permission override after deploying the app, please add the app \
             service principal to the {kind} permissions"
        );
        let detail = format!(
            "Add the following section to the {kind} permissions:\n\n  resources:\n    {kind}:\n      \
             {target}:\n        permissions:\n          - level: {level}\n            \
             service_principal_name: {app_sp}\n"
        );
        let d = Diagnostic::warning(summary)
            .detail(detail)
            .path(format!("resources.apps.{key}"));
        push(ctx, d, &["resources", "apps", key], false);
    }
}

/// The field of an app resource entry that names another resource, and the
/// permission asked for, checked in the CLI's order (`appResourceRef`).
fn referenced(entry: &Node) -> Option<(&str, &str)> {
    let fields = [
        ("job", "id"),
        ("sql_warehouse", "id"),
        ("serving_endpoint", "name"),
        ("experiment", "experiment_id"),
    ];
    let set = |f: &str| entry.get(f).filter(|n| !n.is_null());
    for (kind, field) in fields {
        if let Some(n) = set(kind) {
            return Some((n.text(field), n.text("permission")));
        }
    }
    if let Some(n) = set("postgres") {
        let branch = n.text("branch");
        let value = if branch.is_empty() {
            n.text("database")
        } else {
            branch
        };
        return Some((value, n.text("permission")));
    }
    let n = set("uc_securable")?;
    Some((n.text("securable_full_name"), n.text("permission")))
}

/// The first `${resources.<kind>.<key>.<field>}` in `s`, as the CLI's
/// pattern `\$\{resources\.(\w+)\.([^.]+)\.\w+\}` finds it (not anchored):
/// the kind and the key.
fn resource_reference(s: &str) -> Option<(&str, &str)> {
    const OPEN: &str = "${resources.";
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = s[from..].find(OPEN) {
        let start = from + i + OPEN.len();
        from = from + i + 1;
        let rest = &s[start..];
        let kind_len = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
        let Some(after_kind) = rest[kind_len..].strip_prefix('.') else {
            continue;
        };
        let key_len = after_kind.find('.').unwrap_or(after_kind.len());
        let Some(after_key) = after_kind[key_len..].strip_prefix('.') else {
            continue;
        };
        let field_len = after_key
            .find(|c: char| !word(c))
            .unwrap_or(after_key.len());
        if kind_len == 0 || key_len == 0 || field_len == 0 {
            continue;
        }
        if after_key[field_len..].starts_with('}') {
            return Some((&rest[..kind_len], &after_kind[..key_len]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_files;

    fn diags(apps: &str) -> Vec<String> {
        let yml = format!("bundle:\n  name: a\nresources:\n{apps}");
        let files = [
            ("databricks.yml", yml.as_str()),
            ("app/app.py", ""),
            ("other/app.py", ""),
        ];
        load_files(&files).1
    }

    #[test]
    fn an_app_without_a_source_is_an_error_at_the_app() {
        let d = diags("  apps:\n    a:\n      name: a\n");
        assert_eq!(
            d,
            [
                "Error: Missing app source code path or git source\n  in databricks.yml:6:7\n\n\
              app resource 'a' should have either source_code_path or git_source field"
            ]
        );
    }

    #[test]
    fn an_app_with_both_sources_is_an_error() {
        let d = diags(
            "  apps:\n    a:\n      name: a\n      source_code_path: ./app\n      git_source: {branch: main}\n",
        );
        assert_eq!(
            d,
            [
                "Error: Both source_code_path and git_source fields are set\n  in databricks.yml:6:7\n\n\
              app resource 'a' should have either source_code_path or git_source field, not both"
            ]
        );
    }

    #[test]
    fn two_apps_on_one_folder_are_an_error_at_the_second_path() {
        let d = diags(
            "  apps:\n    a:\n      name: a\n      source_code_path: ./app\n    b:\n      name: b\n      source_code_path: ./app\n    c:\n      name: c\n      source_code_path: ./other\n",
        );
        assert_eq!(
            d,
            [
                "Error: Duplicate app source code path\n  in databricks.yml:10:25\n\n\
              app resource 'b' has the same source code path as app resource 'a', \
              this will lead to the app configuration being overridden by each other"
            ]
        );
    }

    #[test]
    fn an_app_a_target_adds_to_is_located_at_both_places() {
        let d = diags(
            "  apps:\n    a:\n      name: a\n      description: d\ntargets:\n  t:\n    default: true\n    resources:\n      apps:\n        a:\n          description: e\n",
        );
        assert_eq!(
            d,
            [
                "Error: Missing app source code path or git source\n  in databricks.yml:6:7\n     databricks.yml:14:11\n\n\
              app resource 'a' should have either source_code_path or git_source field"
            ]
        );
    }

    #[test]
    fn two_git_source_apps_share_the_empty_path_as_in_the_cli() {
        let d = diags(
            "  apps:\n    a:\n      name: a\n      git_source: {branch: main}\n    b:\n      name: b\n      git_source: {branch: main}\n",
        );
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].starts_with("Error: Duplicate app source code path\n\napp resource 'b'"),
            "{d:?}"
        );
    }

    const JOB: &str = "  jobs:\n    j:\n      name: j\n      permissions:\n        - level: CAN_VIEW\n          group_name: g\n";

    #[test]
    fn a_referenced_resource_with_permissions_without_the_app_is_a_warning() {
        let apps = "  apps:\n    a:\n      name: a\n      source_code_path: ./app\n      resources:\n        - name: r\n          job:\n            id: ${resources.jobs.j.id}\n            permission: CAN_MANAGE_RUN\n";
        let d = diags(&format!("{JOB}{apps}"));
        assert_eq!(
            d,
            [
                "Warning: app \"a\" references jobs \"j\" which has permissions set. To prevent permission override after deploying the app, please add the app service principal to the jobs permissions\n  \
              at resources.apps.a\n  in databricks.yml:12:7\n\n\
              Add the following section to the jobs permissions:\n\n  resources:\n    jobs:\n      j:\n        permissions:\n          - level: CAN_MANAGE_RUN\n            service_principal_name: ${resources.apps.a.service_principal_client_id}"
            ]
        );
    }

    #[test]
    fn no_warning_when_the_app_is_granted_or_nothing_is_set() {
        let granted = "  jobs:\n    j:\n      name: j\n      permissions:\n        - level: CAN_MANAGE_RUN\n          service_principal_name: ${resources.apps.a.service_principal_client_id}\n";
        let bare = "  jobs:\n    j:\n      name: j\n";
        let apps = "  apps:\n    a:\n      name: a\n      source_code_path: ./app\n      resources:\n        - name: r\n          job:\n            id: ${resources.jobs.j.id}\n            permission: CAN_MANAGE_RUN\n        - name: w\n          sql_warehouse:\n            id: literal-id\n            permission: CAN_USE\n";
        for jobs in [granted, bare] {
            let d = diags(&format!("{jobs}{apps}"));
            assert!(d.is_empty(), "{d:?}");
        }
    }

    #[test]
    fn references_are_found_as_the_clis_pattern_finds_them() {
        assert_eq!(
            resource_reference("${resources.jobs.my_job.id}"),
            Some(("jobs", "my_job"))
        );
        assert_eq!(
            resource_reference("x-${resources.a}${resources.experiments.e.experiment_id}"),
            Some(("experiments", "e"))
        );
        assert_eq!(resource_reference("${resources.jobs.j}"), None);
        assert_eq!(resource_reference("${resources.jobs.j.a.b}"), None);
        assert_eq!(resource_reference("${var.x}"), None);
        assert_eq!(resource_reference(""), None);
    }

    #[test]
    fn the_entry_kinds_are_read_in_the_clis_order() {
        let node = |y: &str| Node::from_json(&serde_saphyr::from_str(y).unwrap(), Loc::default());
        let pg = node("postgres: {branch: b, database: d, permission: CAN_CONNECT}");
        assert_eq!(referenced(&pg), Some(("b", "CAN_CONNECT")));
        let db = node("postgres: {database: d}");
        assert_eq!(referenced(&db), Some(("d", "")));
        let uc = node("uc_securable: {securable_full_name: c.s.v, permission: READ_VOLUME}");
        assert_eq!(referenced(&uc), Some(("c.s.v", "READ_VOLUME")));
        let ep = node("serving_endpoint: {name: n}\njob: {id: i}");
        assert_eq!(referenced(&ep), Some(("i", "")), "job comes first");
        assert_eq!(referenced(&node("secret: {scope: s}")), None);
    }
}
