//! Resources whose settings live in a file beside the YAML: a dashboard's
//! `file_path` (its JSON becomes `serialized_dashboard`) and an alert's
//! `.dbalert.json`, read as the CLI reads them while it normalises resources
//! (`ConfigureDashboardSerializedDashboard`, `LoadDBAlertFiles`), before any
//! default is set.

use std::path::Path;

use crate::config::ctx::Ctx;
use crate::config::files::{normalize, normalize_up};
use crate::config::pattern::visit_mut;
use crate::config::yaml::{Loc, Map, Node};

/// The folder of the file a value was written in, relative to the root.
fn file_dir(ctx: &Ctx, loc: Loc) -> std::path::PathBuf {
    ctx.files
        .get(loc.file as usize)
        .and_then(|f| f.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// A local path relative to its file, made relative to the bundle root
/// without `./` (the CLI's `NormalizePaths`); `None` for a workspace path, a
/// URL or an empty value (left as written).
fn rebased(ctx: &Ctx, n: &Node) -> Option<(String, Option<String>)> {
    let s = n.as_str()?;
    if s.is_empty() || s.starts_with('/') || s.contains("://") || s.contains("${") {
        return None;
    }
    let joined = file_dir(ctx, n.loc).join(s);
    let inside = normalize(&joined).map(|p| slash(&p));
    let up = normalize_up(&joined).map(|p| slash(&p))?;
    Some((up, inside))
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Each dashboard's `file_path` relative to the bundle root (the CLI's
/// `TranslateModeLocalRelative`), its contents as `serialized_dashboard`.
pub fn dashboards(ctx: &mut Ctx, root: &mut Node) {
    let mut errors = Vec::new();
    visit_mut(root, "resources.dashboards.*", &mut |path, d| {
        let Some(fp) = d.get("file_path") else { return };
        let (loc, at) = (fp.loc, format!("{path}.file_path"));
        let Some((_, inside)) = rebased(ctx, fp) else {
            return;
        };
        let Some(rel) = inside else {
            let s = fp.as_str().unwrap_or_default().to_string();
            errors.push((
                format!("path {s} is outside the bundle root"),
                Some(loc),
                at,
            ));
            return;
        };
        let Some(m) = d.as_map_mut() else { return };
        m.insert("file_path", loc, Node::str(rel.clone(), loc));
        match std::fs::read(ctx.root.join(&rel)) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                m.insert("serialized_dashboard", loc, Node::str(text, loc));
            }
            // The CLI's text, with the key named (it gives no place).
            Err(e) => errors.push((
                format!(
                    "failed to read serialized dashboard from file_path {rel}: open {rel}: {}",
                    io_text(&e)
                ),
                None,
                at,
            )),
        }
    });
    for (msg, loc, at) in errors {
        ctx.error(msg, loc, &at);
    }
}

/// Go's wording of the common I/O errors.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// What an alert may hold beside its `.dbalert.json` (the CLI's
/// `allowedInYAML`).
const ALLOWED_IN_YAML: [&str; 5] = [
    "warehouse_id",
    "display_name",
    "file_path",
    "permissions",
    "lifecycle",
];

/// Fields taken from the file as they are (the rest of `AlertV2`).
const FROM_FILE: [&str; 12] = [
    "custom_summary",
    "schedule",
    "evaluation",
    "effective_run_as",
    "run_as",
    "run_as_user_name",
    "parent_path",
    "create_time",
    "owner_user_name",
    "update_time",
    "lifecycle_state",
    "id",
];

/// Each alert with a `file_path`: the path relative to the bundle root, and
/// the alert's settings those of the file. As the CLI, the first problem
/// ends the step: a field the YAML may not set beside the file, a file that
/// cannot be read or parsed, or one holding `${...}`.
pub fn alerts(ctx: &mut Ctx, root: &mut Node) {
    let mut error: Option<(String, Loc, String)> = None;
    visit_mut(root, "resources.alerts.*", &mut |path, a| {
        if error.is_some() {
            return;
        }
        let Some(fp) = a.get("file_path") else { return };
        let loc = fp.loc;
        let written = fp.as_str().unwrap_or_default().to_string();
        let rel = rebased(ctx, fp).map_or(written, |(up, _)| up);
        if rel.is_empty() {
            return;
        }
        let Some(m) = a.as_map_mut() else { return };
        m.insert("file_path", loc, Node::str(rel.clone(), loc));
        error = load_alert(ctx, m, &rel, loc)
            .err()
            .map(|(msg, at, key)| (msg, at, format!("{path}.{key}")));
    });
    if let Some((msg, loc, path)) = error {
        ctx.error(msg, Some(loc), &path);
    }
}

/// An error: its text, its place and the key (below the alert) it is about.
type AlertError = (String, Loc, String);

fn load_alert(ctx: &Ctx, m: &mut Map, rel: &str, loc: Loc) -> Result<(), AlertError> {
    let fp = "file_path".to_string();
    if let Some(e) = m
        .iter()
        .find(|e| !ALLOWED_IN_YAML.contains(&e.key.as_str()) && !e.node.is_null())
    {
        let msg = format!(
            "field {} is not allowed in the bundle configuration.",
            e.key
        );
        return Err((msg, e.node.loc, e.key.clone()));
    }
    let text = std::fs::read_to_string(ctx.root.join(rel)).map_err(|e| {
        let msg = format!(
            "failed to read .dbalert.json file {rel}: open {rel}: {}",
            io_text(&e)
        );
        (msg, loc, fp.clone())
    })?;
    let file: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let msg = format!("failed to parse .dbalert.json file {rel}: {e}");
        (msg, loc, fp.clone())
    })?;
    if has_reference(&text) {
        let msg = format!(".alert file {rel} must not contain variable interpolations.");
        return Err((msg, loc, fp));
    }
    let lines = |key: &str| -> Option<String> {
        let l = file.get(key)?.as_array()?;
        let joined: String = l
            .iter()
            .map(|s| format!("{}\n", s.as_str().unwrap_or_default()))
            .collect();
        (!l.is_empty()).then_some(joined)
    };
    // The YAML's own fields stay; every other field is the file's.
    m.0.retain(|e| ALLOWED_IN_YAML.contains(&e.key.as_str()));
    for (key, value) in [
        ("custom_description", lines("custom_description_lines")),
        ("query_text", lines("query_lines")),
    ] {
        if let Some(v) = value {
            m.insert(key, loc, Node::str(v, loc));
        }
    }
    for key in FROM_FILE {
        let Some(v) = file.get(key).filter(|v| !is_empty(v)) else {
            continue;
        };
        m.insert(key, loc, Node::from_json(v, loc));
    }
    Ok(())
}

/// A value Go's `omitempty` leaves out.
fn is_empty(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `dynvar.ContainsVariableReference`: `${` then a key path and `}`.
fn has_reference(text: &str) -> bool {
    text.match_indices("${").any(|(i, _)| {
        let rest = &text[i + 2..];
        let end = rest.find('}');
        end.is_some_and(|end| {
            let inner = &rest[..end];
            !inner.is_empty()
                && inner
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && inner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-[]".contains(c))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;

    fn ctx(dir: &Path) -> Ctx {
        Ctx {
            root: dir.to_path_buf(),
            files: vec!["databricks.yml".into(), "resources/r.yml".into()],
            ..Default::default()
        }
    }

    fn diags(ctx: &Ctx) -> Vec<String> {
        ctx.diags.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn a_dashboards_file_becomes_its_serialized_dashboard() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("resources")).unwrap();
        std::fs::write(
            dir.path().join("resources/d.lvdash.json"),
            "{\"pages\":[]}\n",
        )
        .unwrap();
        let mut c = ctx(dir.path());
        // Written in resources/r.yml (file 1): relative to that folder.
        let yaml = "resources:\n  dashboards:\n    d:\n      file_path: ./d.lvdash.json\n    e:\n      file_path: gone.lvdash.json\n    f:\n      serialized_dashboard: x\n";
        let mut root = parse(yaml, 1).unwrap();
        dashboards(&mut c, &mut root);
        let d = root.to_json()["resources"]["dashboards"].clone();
        assert_eq!(d["d"]["file_path"], "resources/d.lvdash.json");
        assert_eq!(d["d"]["serialized_dashboard"], "{\"pages\":[]}\n");
        assert_eq!(d["f"], serde_json::json!({"serialized_dashboard": "x"}));
        assert_eq!(
            diags(&c),
            [
                "Error: failed to read serialized dashboard from file_path resources/gone.lvdash.json: open resources/gone.lvdash.json: no such file or directory\n  at resources.dashboards.e.file_path\n"
            ]
        );
    }

    const ALERT: &str = "{\"display_name\": \"ignored\", \"query_lines\": [\"select 1\", \"from t\"], \"custom_summary\": \"s\", \"evaluation\": {\"comparison_operator\": \"GREATER_THAN\"}, \"schedule\": {\"quartz_cron_schedule\": \"0 0 * * * ?\", \"timezone_id\": \"UTC\"}, \"parent_path\": \"\"}";

    #[test]
    fn an_alerts_file_gives_its_settings_and_the_yaml_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.dbalert.json"), ALERT).unwrap();
        let mut c = ctx(dir.path());
        let yaml = "resources:\n  alerts:\n    a:\n      display_name: mine\n      warehouse_id: w\n      file_path: ./a.dbalert.json\n";
        let mut root = parse(yaml, 0).unwrap();
        alerts(&mut c, &mut root);
        assert!(c.diags.is_empty(), "{:?}", c.diags);
        assert_eq!(
            root.to_json()["resources"]["alerts"]["a"],
            serde_json::json!({
                "display_name": "mine",
                "warehouse_id": "w",
                "file_path": "a.dbalert.json",
                "query_text": "select 1\nfrom t\n",
                "custom_summary": "s",
                "evaluation": {"comparison_operator": "GREATER_THAN"},
                "schedule": {"quartz_cron_schedule": "0 0 * * * ?", "timezone_id": "UTC"}
            })
        );
    }

    #[test]
    fn an_alerts_file_refuses_what_the_cli_refuses() {
        // acceptance/bundle/resources/alerts/with_file_not_allowed_field_error
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.dbalert.json"), ALERT).unwrap();
        let yaml = "resources:\n  alerts:\n    a:\n      file_path: ./a.dbalert.json\n      query_text: \"select 3\"\n";
        let mut c = ctx(dir.path());
        alerts(&mut c, &mut parse(yaml, 0).unwrap());
        assert_eq!(
            diags(&c),
            [
                "Error: field query_text is not allowed in the bundle configuration.\n  at resources.alerts.a.query_text\n  in databricks.yml:5:19\n"
            ]
        );
        // ...with_file_variable_interpolation_error
        std::fs::write(
            dir.path().join("a.dbalert.json"),
            "{\"query_lines\": [\"select ${var.x}\"]}",
        )
        .unwrap();
        let yaml = "resources:\n  alerts:\n    a:\n      file_path: ./a.dbalert.json\n";
        let mut c = ctx(dir.path());
        alerts(&mut c, &mut parse(yaml, 0).unwrap());
        assert_eq!(
            diags(&c),
            [
                "Error: .alert file a.dbalert.json must not contain variable interpolations.\n  at resources.alerts.a.file_path\n  in databricks.yml:4:18\n"
            ]
        );
        // A file that is not there.
        let yaml = "resources:\n  alerts:\n    a:\n      file_path: gone.json\n";
        let mut c = ctx(dir.path());
        alerts(&mut c, &mut parse(yaml, 0).unwrap());
        assert_eq!(
            diags(&c),
            [
                "Error: failed to read .dbalert.json file gone.json: open gone.json: no such file or directory\n  at resources.alerts.a.file_path\n  in databricks.yml:4:18\n"
            ]
        );
    }

    #[test]
    fn references_are_found_as_the_cli_finds_them() {
        assert!(has_reference("x ${var.a} y"));
        assert!(has_reference("${resources.jobs.j.id}"));
        assert!(!has_reference("$ {x}"));
        assert!(!has_reference("${}"));
        assert!(!has_reference("${1x}"));
    }
}
