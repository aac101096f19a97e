//! The bundle's typed model, as the Databricks CLI checks a configuration
//! against its Go types: every file is normalized when it is read (unknown
//! fields, wrong types: warnings, the value left out; scalars converted to
//! the field's type), and the resolved tree is checked for required fields
//! and enum values (`validate.Required`, `validate.Enum`).
//!
//! The types and the two check lists are data, `schema.txt`, derived from
//! the CLI's sources by `schema_gen.py` (its header says which version and
//! the format). The rules are those of the CLI's `libs/dyn/convert/
//! normalize.go`: a pure `${...}` reference stands for any type; a null
//! struct, map or list is kept; an unknown key whose value is a YAML anchor
//! (`new_cluster: &cluster ...`, an anchor holder) is dropped in silence.

use crate::config::ctx::Ctx;
use crate::config::pattern::visit;
use crate::config::yaml::{Loc, Node, Value};
use crate::diag::Diagnostic;

// `TYPES`, `REQUIRED` and `ENUMS`: `schema.txt` as static tables, written by
// `build.rs` (a type is its index in `TYPES`).
include!(concat!(env!("OUT_DIR"), "/schema_table.rs"));

#[derive(Debug)]
enum Ty {
    Str,
    Int,
    Float,
    Bool,
    Any,
    /// A string enum: normalized as a string; its values are checked by the `E` lines.
    Enum,
    List(usize),
    Map(usize),
    Object(&'static [(&'static str, usize)]),
}

struct Schema {
    types: &'static [Ty],
    required: &'static [(&'static str, &'static [&'static str])],
    enums: &'static [(&'static str, &'static [&'static str])],
}

fn schema() -> &'static Schema {
    static S: Schema = Schema {
        types: TYPES,
        required: REQUIRED,
        enums: ENUMS,
    };
    &S
}

/// What a field holds, as a state file's shape needs to know it: Terraform
/// records a struct as a list of one element, a map as a map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A struct: its type, for [`field`].
    Struct(usize),
    Map,
    /// A list: its elements' type.
    List(usize),
    Scalar,
}

/// The type of one resource of `kind` (`jobs`, `pipelines`, ...).
pub fn resource_type(kind: &str) -> Option<usize> {
    let resources = field(0, "resources")?;
    match schema().types.get(field(resources, kind)?)? {
        Ty::Map(elem) => Some(*elem),
        _ => None,
    }
}

/// The type of field `key` of struct type `ty`.
pub fn field(ty: usize, key: &str) -> Option<usize> {
    match schema().types.get(ty)? {
        Ty::Object(fields) => fields.iter().find(|(k, _)| *k == key).map(|(_, t)| *t),
        _ => None,
    }
}

/// True if type `ty` is an integer (a job id in `run_job_task.job_id`, ...).
pub fn is_int(ty: usize) -> bool {
    matches!(schema().types.get(ty), Some(Ty::Int))
}

pub fn shape(ty: usize) -> Shape {
    match schema().types.get(ty) {
        Some(Ty::Object(_)) => Shape::Struct(ty),
        Some(Ty::Map(_)) => Shape::Map,
        Some(Ty::List(elem)) => Shape::List(*elem),
        _ => Shape::Scalar,
    }
}

/// The CLI's name of a value's kind, in its messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Str(_) => "string",
        Value::Seq(_) => "sequence",
        Value::Map(_) => "map",
    }
}

/// `${a.b}` and nothing else: stands for a value of any type.
pub(crate) fn is_pure_ref(v: &Value) -> bool {
    let Value::Str(s) = v else { return false };
    s.starts_with("${")
        && s.ends_with('}')
        && s[2..s.len() - 1]
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '[' | ']'))
}

/// Normalize one file's tree (read from `text`) against the configuration's
/// root type, as the CLI does when it loads each file.
pub fn normalize_file(ctx: &mut Ctx, root: &mut Node, text: &str) {
    let mut n = Normalizer {
        ctx,
        text,
        s: schema(),
    };
    if !n.s.types.is_empty() {
        n.node(0, root, "");
    }
}

/// Normalize `resources` again once references are resolved, as the CLI
/// does when it converts the resolved configuration to its types: a value
/// that came in through a variable (`spark_conf: ${var.conf}`) gets the
/// field's type too (`true` → `"true"` in a map of strings).
pub fn normalize_resources(ctx: &mut Ctx, root: &mut Node) {
    let s = schema();
    let Some(Ty::Object(fields)) = s.types.first() else {
        return;
    };
    let Some((_, ty)) = fields.iter().find(|(k, _)| *k == "resources") else {
        return;
    };
    let Some(resources) = root.as_map_mut().and_then(|m| m.get_mut("resources")) else {
        return;
    };
    let mut n = Normalizer { ctx, text: "", s };
    n.node(*ty, resources, "resources");
}

struct Normalizer<'a> {
    ctx: &'a mut Ctx,
    text: &'a str,
    s: &'static Schema,
}

impl Normalizer<'_> {
    /// `false`: the value is left out of its parent.
    fn node(&mut self, ty: usize, n: &mut Node, path: &str) -> bool {
        let Some(t) = self.s.types.get(ty) else {
            return true;
        };
        match t {
            Ty::Any => true,
            Ty::Object(fields) => match &mut n.v {
                Value::Map(m) => {
                    let mut keep = Vec::with_capacity(m.0.len());
                    for mut e in std::mem::take(&mut m.0) {
                        // `definitions:` at the top: a place for YAML anchors, kept as written.
                        if ty == 0 && e.key == "definitions" {
                            keep.push(e);
                            continue;
                        }
                        let Some((_, fty)) = fields.iter().find(|(k, _)| *k == e.key) else {
                            if !self.anchored(e.key_loc) {
                                let hint = e.key == "valueFrom"
                                    && fields.iter().any(|(k, _)| *k == "value_from");
                                self.unknown_field(&e.key, hint, e.key_loc, path);
                            }
                            continue;
                        };
                        let p = join(path, &e.key);
                        if self.node(*fty, &mut e.node, &p) {
                            keep.push(e);
                        }
                    }
                    m.0 = keep;
                    true
                }
                v => self.container_mismatch(v, n.loc, path, "map"),
            },
            Ty::Map(ety) => match &mut n.v {
                Value::Map(m) => {
                    let ety = *ety;
                    m.0.retain_mut(|e| {
                        let p = join(path, &e.key);
                        self.node(ety, &mut e.node, &p)
                    });
                    true
                }
                v => self.container_mismatch(v, n.loc, path, "map"),
            },
            Ty::List(ety) => match &mut n.v {
                Value::Seq(items) => {
                    let ety = *ety;
                    let mut keep = Vec::with_capacity(items.len());
                    for mut item in std::mem::take(items) {
                        let p = format!("{path}[{}]", keep.len());
                        if self.node(ety, &mut item, &p) {
                            keep.push(item);
                        }
                    }
                    *items = keep;
                    true
                }
                v => self.container_mismatch(v, n.loc, path, "sequence"),
            },
            Ty::Str | Ty::Enum => self.string(n, path),
            Ty::Bool => self.boolean(n, path),
            Ty::Int => self.int(n, path),
            Ty::Float => self.float(n, path),
        }
    }

    fn container_mismatch(&mut self, v: &Value, loc: Loc, path: &str, want: &str) -> bool {
        if matches!(v, Value::Null) || is_pure_ref(v) {
            return true;
        }
        self.warn(format!("expected {want}, found {}", kind(v)), loc, path);
        false
    }

    fn null(&mut self, want: &str, loc: Loc, path: &str) -> bool {
        self.warn(format!("expected a {want} value, found null"), loc, path);
        false
    }

    fn string(&mut self, n: &mut Node, path: &str) -> bool {
        let text = match &n.v {
            Value::Str(_) => return true,
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Null => return self.null("string", n.loc, path),
            v => {
                let k = kind(v);
                self.warn(format!("expected string, found {k}"), n.loc, path);
                return false;
            }
        };
        n.v = Value::Str(text);
        true
    }

    fn boolean(&mut self, n: &mut Node, path: &str) -> bool {
        let b = match &n.v {
            Value::Bool(_) => return true,
            Value::Str(s) => match s.as_str() {
                "true" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => true,
                "false" | "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => false,
                _ if is_pure_ref(&n.v) => return true,
                _ => {
                    self.warn("expected bool, found string", n.loc, path);
                    return false;
                }
            },
            Value::Null => return self.null("bool", n.loc, path),
            v => {
                let k = kind(v);
                self.warn(format!("expected bool, found {k}"), n.loc, path);
                return false;
            }
        };
        n.v = Value::Bool(b);
        true
    }

    fn int(&mut self, n: &mut Node, path: &str) -> bool {
        let i = match &n.v {
            Value::Int(_) => return true,
            Value::Float(f) => {
                if f.fract() != 0.0 || !f.is_finite() {
                    let msg = format!(
                        "cannot accurately represent \"{f}\" as integer due to precision loss"
                    );
                    self.warn(msg, n.loc, path);
                    return false;
                }
                *f as i64
            }
            Value::Str(s) => match s.parse::<i64>() {
                Ok(i) => i,
                Err(_) if is_pure_ref(&n.v) => return true,
                Err(_) => {
                    self.warn(format!("cannot parse {s:?} as an integer"), n.loc, path);
                    return false;
                }
            },
            Value::Null => return self.null("int", n.loc, path),
            v => {
                let k = kind(v);
                self.warn(format!("expected int, found {k}"), n.loc, path);
                return false;
            }
        };
        n.v = Value::Int(i);
        true
    }

    fn float(&mut self, n: &mut Node, path: &str) -> bool {
        let f = match &n.v {
            Value::Float(_) => return true,
            Value::Int(i) => *i as f64,
            Value::Str(s) => match s.parse::<f64>() {
                Ok(f) => f,
                Err(_) if is_pure_ref(&n.v) => return true,
                Err(_) => {
                    let msg = format!("cannot parse {s:?} as a floating point number");
                    self.warn(msg, n.loc, path);
                    return false;
                }
            },
            Value::Null => return self.null("float", n.loc, path),
            v => {
                let k = kind(v);
                self.warn(format!("expected float, found {k}"), n.loc, path);
                return false;
            }
        };
        n.v = Value::Float(f);
        true
    }

    /// Whether the key at `loc` holds an anchored value (`key: &name ...`).
    fn anchored(&self, loc: Loc) -> bool {
        let Some(line) = self.text.lines().nth((loc.line as usize).saturating_sub(1)) else {
            return false;
        };
        let from = line
            .char_indices()
            .nth((loc.col as usize).saturating_sub(1))
            .map_or(line.len(), |(i, _)| i);
        let rest = &line[from..];
        rest.split_once(':')
            .is_some_and(|(_, v)| v.trim_start().starts_with('&'))
    }

    /// "unknown field", or the CLI's one spelling hint (`normalize.go`):
    /// `valueFrom` where `value_from` is meant.
    fn unknown_field(&mut self, key: &str, value_from_hint: bool, loc: Loc, path: &str) {
        if !value_from_hint {
            return self.warn(format!("unknown field: {key}"), loc, path);
        }
        let d = Diagnostic::warning("Use 'value_from' instead of 'valueFrom'").detail(
            "The field 'valueFrom' should be 'value_from' (snake_case). The 'valueFrom' field will be ignored.",
        );
        self.ctx.push(d, Some(loc), path);
    }
    fn warn(&mut self, summary: impl Into<String>, loc: Loc, path: &str) {
        self.ctx.warning(summary, Some(loc), path);
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `bundle.engine`, when set, names a deployment engine (the CLI's
/// `ValidateEngine`, at the start of its initialize phase).
pub fn check_engine(ctx: &mut Ctx, root: &Node) {
    if let Some(n) = root.at(&["bundle", "engine"])
        && let Some(v) = n.as_str().filter(|v| !v.is_empty())
        && !matches!(v, "terraform" | "direct")
    {
        let msg =
            format!("invalid value {v:?} for bundle.engine (expected \"terraform\" or \"direct\")");
        ctx.error(msg, Some(n.loc), "");
    }
}

/// A dashboard needs `display_name` and `warehouse_id` (errors, one per
/// field for all dashboards, as the CLI's `validate.Required` reports them).
fn dashboards_required(ctx: &mut Ctx, root: &Node) {
    for (field, what) in [
        ("display_name", "display_name"),
        ("warehouse_id", "warehouse_id"),
    ] {
        let mut at = Vec::new();
        visit(root, "resources.dashboards.*", &mut |path, n| {
            if n.get(field)
                .and_then(Node::as_str)
                .is_none_or(str::is_empty)
            {
                at.push((path.to_string(), n.loc));
            }
        });
        if let Some((path, loc)) = at.first() {
            let mut d =
                Diagnostic::error(format!("dashboard {what} is required")).path(path.clone());
            for (_, l) in &at {
                d = d.at(ctx.location(*l));
            }
            let _ = loc;
            ctx.diags.push(d);
        }
    }
}

/// `validate.Required` then `validate.Enum` on the resolved tree: warnings,
/// each group sorted by message, then location, as the CLI sorts them.
pub fn check_required_and_enums(ctx: &mut Ctx, root: &Node) {
    dashboards_required(ctx, root);
    if ctx.diags.iter().any(Diagnostic::is_error) {
        return;
    }
    let s = schema();
    let mut found: Vec<(String, Loc, String)> = Vec::new();
    for (pattern, fields) in s.required {
        visit(root, pattern, &mut |path, n| {
            for f in fields.iter() {
                if n.get(f).is_none_or(Node::is_null) {
                    found.push((
                        format!("required field {f:?} is not set"),
                        n.loc,
                        path.to_string(),
                    ));
                }
            }
        });
    }
    emit_sorted(ctx, found);
    let mut found = Vec::new();
    for (pattern, values) in s.enums {
        visit(root, pattern, &mut |path, n| {
            // `validate.Enum` checks an empty string too (`volume_type: ""`),
            // but a variable's empty `type` is gone by then (`omitempty`
            // when the CLI sets its variables: acceptance validate/enum).
            if let Value::Str(v) = &n.v
                && !(v.is_empty() && path.starts_with("variables."))
                && !v.contains("${")
                && !values.contains(&v.as_str())
            {
                found.push((
                    format!(
                        "invalid value {v:?} for enum field. Valid values are [{}]",
                        values.join(" ")
                    ),
                    n.loc,
                    path.to_string(),
                ));
            }
        });
    }
    emit_sorted(ctx, found);
    // `ValidateDashboardEtags`: the first dashboard with an etag.
    // It names the dashboard's own place and path, not the `etag` key's.
    let mut etag = None;
    visit(root, "resources.dashboards.*", &mut |path, n| {
        if etag.is_none()
            && n.get("etag")
                .and_then(Node::as_str)
                .is_some_and(|e| !e.is_empty())
        {
            let name = n
                .get("display_name")
                .and_then(Node::as_str)
                .unwrap_or("")
                .to_string();
            etag = Some((name, n.loc, path.to_string()));
        }
    });
    if let Some((name, loc, path)) = etag {
        let msg = format!(
            "dashboard {name:?} has an etag set. Etags must not be set in bundle configuration"
        );
        ctx.error(msg, Some(loc), &path);
    }
}

fn emit_sorted(ctx: &mut Ctx, mut found: Vec<(String, Loc, String)>) {
    let key = |ctx: &Ctx, l: Loc| ctx.location(l).to_string();
    found.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| key(ctx, a.1).cmp(&key(ctx, b.1)))
    });
    for (msg, loc, path) in found {
        let loc = (loc.line > 0).then_some(loc);
        ctx.push(Diagnostic::warning(msg), loc, &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse as parse_yaml;

    fn run(text: &str) -> (serde_json::Value, Vec<String>) {
        let mut ctx = Ctx::default();
        ctx.files.push("databricks.yml".into());
        let mut root = parse_yaml(text, 0).unwrap();
        normalize_file(&mut ctx, &mut root, text);
        let diags = ctx.diags.iter().map(|d| d.to_string()).collect();
        (root.to_json(), diags)
    }

    #[test]
    fn the_table_parses_and_knows_the_root() {
        let s = schema();
        assert!(s.types.len() > 300, "{}", s.types.len());
        let Ty::Object(root) = &s.types[0] else {
            panic!("root is an object")
        };
        assert!(root.iter().any(|(k, _)| *k == "resources"));
        assert!(
            s.required
                .iter()
                .any(|(p, f)| *p == "bundle" && *f == ["name"])
        );
    }

    #[test]
    fn unknown_fields_and_wrong_types_warn_as_the_cli_does_and_are_left_out() {
        let (json, diags) = run(concat!(
            "bundle:\n  name: t\nfoo: 1\nholder: &h\n  x: 1\n",
            "resources:\n  jobs:\n    j:\n      max_concurrent_runs: \"many\"\n",
            "      timeout_seconds: 1.5\n      tasks:\n        - task_key: a\n",
            "          notebok_task: {}\n          new_cluster:\n            num_workers: \"2\"\n",
            "  pipelines:\n    p:\n      catalog: 3\n      development: yes\n      name: ${var.n}\n",
        ));
        assert_eq!(
            diags,
            [
                "Warning: unknown field: foo\n  in databricks.yml:3:1\n",
                "Warning: cannot parse \"many\" as an integer\n  at resources.jobs.j.max_concurrent_runs\n  in databricks.yml:9:28\n",
                "Warning: cannot accurately represent \"1.5\" as integer due to precision loss\n  at resources.jobs.j.timeout_seconds\n  in databricks.yml:10:24\n",
                "Warning: unknown field: notebok_task\n  at resources.jobs.j.tasks[0]\n  in databricks.yml:13:11\n",
            ]
        );
        let (_, diags) = run(concat!(
            "bundle:\n  name: t\nresources:\n  apps:\n    a:\n      config:\n        env:\n",
            "          - name: S\n            valueFrom: secret://s\n",
        ));
        assert_eq!(
            diags,
            [
                "Warning: Use 'value_from' instead of 'valueFrom'\n  at resources.apps.a.config.env[0]\n  in databricks.yml:9:13\n\nThe field 'valueFrom' should be 'value_from' (snake_case). The 'valueFrom' field will be ignored.\n"
            ]
        );
        let j = &json["resources"]["jobs"]["j"];
        assert!(j.get("max_concurrent_runs").is_none() && j.get("timeout_seconds").is_none());
        assert_eq!(j["tasks"][0]["new_cluster"]["num_workers"], 2);
        assert!(j["tasks"][0].get("notebok_task").is_none());
        let p = &json["resources"]["pipelines"]["p"];
        assert_eq!(p["catalog"], "3");
        assert_eq!(p["development"], true);
        assert_eq!(p["name"], "${var.n}");
        assert!(json.get("holder").is_none() && json.get("foo").is_none());
    }

    #[test]
    fn required_fields_and_enums_are_checked_on_the_resolved_tree() {
        let text = "resources:\n  jobs:\n    j:\n      schedule:\n        quartz_cron_expression: x\n        pause_status: SOMETIMES\n";
        let mut ctx = Ctx::default();
        ctx.files.push("databricks.yml".into());
        let root = parse_yaml(text, 0).unwrap();
        check_required_and_enums(&mut ctx, &root);
        let d: Vec<String> = ctx.diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            d,
            [
                "Warning: required field \"timezone_id\" is not set\n  at resources.jobs.j.schedule\n  in databricks.yml:5:9\n",
                "Warning: invalid value \"SOMETIMES\" for enum field. Valid values are [PAUSED UNPAUSED]\n  at resources.jobs.j.schedule.pause_status\n  in databricks.yml:6:23\n",
            ]
        );
    }

    fn checked(text: &str) -> Vec<String> {
        let mut ctx = Ctx::default();
        ctx.files.push("databricks.yml".into());
        let root = parse_yaml(text, 0).unwrap();
        check_required_and_enums(&mut ctx, &root);
        ctx.diags.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn an_empty_enum_value_is_invalid_as_the_cli_says() {
        // acceptance/bundle/validate/volume_defaults; a variable's empty `type` is
        // not reported (validate/enum).
        let d = checked(
            "variables:\n  x:\n    type: \"\"\n    default: 1\nresources:\n  volumes:\n    v1:\n      catalog_name: c\n      schema_name: s\n      name: n\n      volume_type: \"\"\n",
        );
        assert_eq!(
            d,
            [
                "Warning: invalid value \"\" for enum field. Valid values are [EXTERNAL MANAGED]\n  at resources.volumes.v1.volume_type\n  in databricks.yml:11:20\n"
            ]
        );
    }

    #[test]
    fn a_dashboard_etag_is_located_at_the_dashboard() {
        // acceptance/bundle/validate/no_dashboard_etag: the dashboard's key, not `etag:`.
        let d = checked(
            "resources:\n  dashboards:\n    foobar:\n      display_name: foobar\n      etag: \"1\"\n      warehouse_id: w\n",
        );
        assert_eq!(
            d,
            [
                "Error: dashboard \"foobar\" has an etag set. Etags must not be set in bundle configuration\n  at resources.dashboards.foobar\n  in databricks.yml:4:7\n"
            ]
        );
    }
}
