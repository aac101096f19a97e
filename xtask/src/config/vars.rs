//! Variable values, in the CLI's order of precedence: `--var`, then
//! `BUNDLE_VAR_<name>`, then `lookup` (left unresolved locally), then
//! `.databricks/bundle/<target>/variable-overrides.json`, then `default`.

use std::collections::BTreeMap;

use crate::config::ctx::Ctx;
use crate::config::gojson;
use crate::config::yaml::{Loc, Map, Node};

/// The CLI's words for a variable with no value, its name following.
const UNASSIGNED: &str = "no value assigned to required variable ";

/// Names of variables whose value is a `lookup:` only a workspace can answer.
pub type Lookups = BTreeMap<String, String>;

/// Answers a lookup: (kind as written, e.g. `cluster_policy`; the name) →
/// the object's id, or the workspace's error text.
pub type Resolver = std::sync::Arc<dyn Fn(&str, &str) -> Result<String, String> + Send + Sync>;

/// The CLI's `ResolveVariableReferencesInLookup` and `ResolveLookupVariables`:
/// `${var.*}` in a lookup's name resolved, then each lookup asked of the
/// workspace; its id becomes the value. Each failure is an error in the
/// CLI's words.
pub fn resolve_lookups(
    ctx: &mut Ctx,
    root: &mut Node,
    lookups: &mut Lookups,
    resolve: &dyn Fn(&str, &str) -> Result<String, String>,
) {
    let Some(vars) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("variables"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    let values: BTreeMap<String, String> = vars
        .iter()
        .filter_map(|e| {
            let v = e.node.get("value")?;
            let text = match &v.to_json() {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((e.key.clone(), text))
        })
        .collect();
    let names: Vec<String> = lookups.keys().cloned().collect();
    for name in names {
        let Some(decl) = vars.get_mut(&name).and_then(Node::as_map_mut) else {
            continue;
        };
        let Some((kind, written, loc)) = decl
            .get("lookup")
            .and_then(Node::as_map)
            .and_then(|m| m.0.first())
            .and_then(|e| Some((e.key.clone(), e.node.as_str()?.to_string(), e.node.loc)))
        else {
            continue;
        };
        let object = substitute_vars(&written, &values);
        // The name stays resolved in the configuration, as the CLI keeps it.
        if let Some(n) = decl
            .get_mut("lookup")
            .and_then(Node::as_map_mut)
            .and_then(|m| m.get_mut(&kind))
        {
            n.v = crate::config::yaml::Value::Str(object.clone());
        }
        match resolve(&kind, &object) {
            Ok(id) => {
                decl.insert("value", loc, Node::str(id, loc));
                lookups.remove(&name);
            }
            Err(e) => ctx.error(
                format!(
                    "failed to resolve {}: {object}, err: {e}",
                    kind.replace('_', "-")
                ),
                None,
                "",
            ),
        }
    }
}

/// `${var.NAME}` in `text` replaced by the variable's value, where it has one.
fn substitute_vars(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${var.") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 6..start + len];
        out.push_str(&rest[..start]);
        match values.get(name) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[start..=start + len]),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Each variable's `value`, from `--var`, `BUNDLE_VAR_*`, the overrides file
/// or its default (the CLI's `SetVariables`); lookups are returned, to be
/// resolved against the workspace.
pub fn assign(ctx: &mut Ctx, root: &mut Node, flags: &[String], target: &str) -> Lookups {
    shorthands(root);
    let errors = |ctx: &Ctx| ctx.diags.iter().filter(|d| d.is_error()).count();
    let (before, declared) = (errors(ctx), root.get("variables").cloned());
    let lookups = assign_values(ctx, root, flags, target);
    // The CLI sets every value in one change of the configuration, dropped
    // whole at its first failure: a failed stage shows no value set.
    if errors(ctx) > before
        && let (Some(declared), Some(m)) = (declared, root.as_map_mut())
        && let Some(vars) = m.get_mut("variables")
    {
        *vars = declared;
    }
    lookups
}

fn assign_values(ctx: &mut Ctx, root: &mut Node, flags: &[String], target: &str) -> Lookups {
    let mut lookups = Lookups::new();
    let overrides = read_overrides(ctx, target);
    if ctx.diags.iter().any(crate::diag::Diagnostic::is_error) {
        return Lookups::new();
    }
    let Some(vars) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("variables"))
        .and_then(Node::as_map_mut)
    else {
        for f in flags {
            let name = f.split_once('=').map(|(n, _)| n).unwrap_or(f);
            ctx.error(format!("variable {name} has not been defined"), None, "");
        }
        return lookups;
    };

    let from_flags = flag_values(ctx, vars, flags);

    // In name order. The CLI ends the stage at its first failure, and which
    // unassigned variable comes first there is Go's random map order; we name
    // every unassigned variable at once (README: differences on purpose).
    let mut order: Vec<usize> = (0..vars.0.len()).collect();
    order.sort_by(|a, b| vars.0[*a].key.cmp(&vars.0[*b].key));
    for i in order {
        let e = &mut vars.0[i];
        let name = e.key.clone();
        let Some(m) = e.node.as_map_mut() else {
            continue;
        };
        let complex = m.get("type").and_then(Node::as_str) == Some("complex");
        let decl_loc = e.key_loc;
        // The CLI's `setVariable` order: --var, BUNDLE_VAR_, a lookup (left
        // for the workspace), the variable-overrides file, the default.
        // Its first failure ends the stage, unlocated.
        let env = std::env::var(format!("BUNDLE_VAR_{name}")).ok();
        // A `value:` written in the declaration is the value: the CLI skips
        // every other source for a variable that already has one.
        if already_set(ctx, m, &name, from_flags.get(&name)) {
            continue;
        }
        let value: Option<Node> = if let Some(v) = from_flags.get(&name) {
            Some(Node::str(v.clone(), decl_loc))
        } else if let Some(v) = env {
            if complex {
                ctx.error(format!("setting via environment variables (BUNDLE_VAR_{name}) is not supported for complex variable {name}"), None, "");
                break;
            }
            Some(Node::str(v, decl_loc))
        } else if let Some(l) = m.get("lookup") {
            lookups.insert(name.clone(), lookup_what(l));
            None
        } else if let Some(v) = overrides
            .as_ref()
            .and_then(|o| o.get(&name))
            .filter(|v| !v.is_null())
        {
            let Some(n) = file_value(ctx, &name, complex, v, decl_loc) else {
                break;
            };
            Some(n)
        } else if let Some(d) = m.get("default").filter(|d| !d.is_null()) {
            // `default:` with nothing after it is no default (the CLI's `HasDefault`).
            Some(d.clone())
        } else {
            ctx.error(
                format!(
                    "{UNASSIGNED}{name}. Variables are usually assigned in databricks.yml, and they can be overridden using \"--var\", the BUNDLE_VAR_{name} environment variable, or .databricks/bundle/<target>/variable-overrides.json"
                ),
                None,
                "",
            );
            continue;
        };
        let Some(value) = value else { continue };
        m.insert("value", decl_loc, value);
    }
    lookups
}

/// `--var NAME=VALUE` flags by name, each checked as the CLI checks them.
fn flag_values(ctx: &mut Ctx, vars: &Map, flags: &[String]) -> BTreeMap<String, String> {
    let mut from_flags: BTreeMap<String, String> = BTreeMap::new();
    for f in flags {
        let Some((name, value)) = f.split_once('=') else {
            ctx.error(
                format!("unexpected flag value for variable assignment: {f} (expected NAME=VALUE)"),
                None,
                "",
            );
            continue;
        };
        let Some(decl) = vars.get(name) else {
            ctx.error(format!("variable {name} has not been defined"), None, "");
            continue;
        };
        if decl.get("type").and_then(Node::as_str) == Some("complex") {
            ctx.error(
                format!(
                    "setting variables of complex type via --var flag is not supported: {name}"
                ),
                None,
                "",
            );
            continue;
        }
        if let Some(before) = from_flags.get(name) {
            ctx.error(
                format!(
                    "failed to assign {value} to {name}: variable has already been assigned value: {before}"
                ),
                None,
                "",
            );
            continue;
        }
        from_flags.insert(name.to_string(), value.to_string());
    }
    from_flags
}

/// Whether the declaration has a `value:` written in it: the value, and an
/// error when `--var` assigns it again (the CLI skips every other source).
fn already_set(ctx: &mut Ctx, m: &Map, name: &str, flag: Option<&String>) -> bool {
    let Some(written) = m.get("value").filter(|v| !v.is_null()) else {
        return false;
    };
    if let Some(v) = flag {
        let before = written
            .as_str()
            .map_or_else(|| written.to_json().to_string(), str::to_string);
        ctx.error(
            format!(
                "failed to assign {v} to {name}: variable has already been assigned value: {before}"
            ),
            None,
            "",
        );
    }
    true
}

/// What a lookup variable names, for the warning that it is left as is.
fn lookup_what(l: &Node) -> String {
    l.as_map()
        .and_then(|lm| lm.0.first())
        .map(|e| format!("{} {:?}", e.key, e.node.as_str().unwrap_or("")))
        .unwrap_or_else(|| "a workspace object".into())
}

/// A value from the variable-overrides file, if its shape fits the
/// declaration (a complex variable takes a map or a list, any other one
/// not); else the CLI's error and `None`.
fn file_value(
    ctx: &mut Ctx,
    name: &str,
    complex: bool,
    v: &serde_json::Value,
    loc: Loc,
) -> Option<Node> {
    let complex_value = v.is_object() || v.is_array();
    if complex != complex_value {
        let (is, not) = if complex {
            ("is", "not ")
        } else {
            ("is not", "")
        };
        ctx.error(format!("variable {name} {is} of type complex, but the value in the variable file is {not}a complex type"), None, "");
        return None;
    }
    Some(Node::from_json(v, loc))
}

/// Shorthand declarations `name: value` become `{default: value}`, and
/// `name:` alone an empty declaration (as the CLI's typed model reads them).
fn shorthands(root: &mut Node) {
    let Some(vars) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("variables"))
        .and_then(Node::as_map_mut)
    else {
        return;
    };
    for e in vars.0.iter_mut() {
        if e.node.as_map().is_none() {
            let loc = e.node.loc;
            let old = std::mem::replace(&mut e.node, Node::map(loc));
            if !old.is_null()
                && let Some(m) = e.node.as_map_mut()
            {
                m.insert("default", loc, old);
            }
        }
    }
}

fn read_overrides(
    ctx: &mut Ctx,
    target: &str,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let rel = std::path::PathBuf::from(".databricks/bundle")
        .join(target)
        .join("variable-overrides.json");
    // The CLI reads the file when it exists (`os.Stat`); one it cannot read
    // is an error, bytes that are no UTF-8 are read as Go reads them (each
    // replaced by U+FFFD).
    let bytes = match std::fs::read(ctx.root.join(&rel)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            let abs = ctx.root.join(&rel);
            ctx.error(
                format!(
                    "failed to read variables file: read {}: {}",
                    abs.display(),
                    go_errno_text(&e)
                ),
                None,
                "",
            );
            return None;
        }
    };
    let id = ctx.files.len() as u32;
    ctx.files.push(rel);
    // The CLI names the file by its full path, unlocated.
    let abs = ctx
        .root
        .join(".databricks/bundle")
        .join(target)
        .join("variable-overrides.json");
    let abs = abs.display();
    let at = |(line, col): (usize, usize)| Loc {
        file: id,
        line: line as u32,
        col: col as u32,
    };
    // Go's words and position where Go's decoder stops (the CLI reads the
    // file with it); serde_json reads what Go would accept.
    let end = match gojson::check(&bytes) {
        Ok(end) => end,
        Err(e) => {
            let (line, col) = gojson::go_position(&bytes, e.go_offset);
            ctx.error(
                format!(
                    "failed to parse variables file {abs}: error decoding JSON at {abs}:{line}:{col}: {}",
                    e.message
                ),
                Some(at(gojson::position(&bytes, e.at))),
                "",
            );
            return None;
        }
    };
    let text = String::from_utf8_lossy(&bytes[..end]);
    let text = gojson::lone_surrogates_replaced(&text);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(o)) => Some(o),
        Ok(_) => {
            ctx.error(
                format!("failed to parse variables file {abs}: invalid format"),
                None,
                "",
            );
            None
        }
        // What Go reads and serde_json does not: nesting deeper than 128.
        Err(e) => {
            ctx.error(
                format!(
                    "failed to parse variables file {abs}: error decoding JSON at {abs}:{}:{}: {e}",
                    e.line(),
                    e.column()
                ),
                Some(at((e.line(), e.column()))),
                "",
            );
            None
        }
    }
}

/// An OS error as Go writes it (`is a directory`), where Rust writes
/// `Is a directory (os error 21)`.
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `--var` values as the CLI reads them: each flag is a comma-separated list
/// (`--var a=1,b=2` sets two variables), a field in double quotes keeps its
/// commas (`--var '"a=x,y"'`), `""` inside quotes is one quote.
pub fn split_var_flags(flags: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for flag in flags {
        let mut field = String::new();
        let mut chars = flag.chars().peekable();
        let mut quoted = false;
        let mut at_start = true;
        while let Some(c) = chars.next() {
            match c {
                '"' if at_start => quoted = true,
                '"' if quoted && chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' if quoted => quoted = false,
                ',' if !quoted => {
                    out.push(std::mem::take(&mut field));
                    at_start = true;
                    continue;
                }
                c => field.push(c),
            }
            at_start = false;
        }
        out.push(field);
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_failed_assignment_sets_no_value_at_all() {
        // `a` sorts first and has a default; `b` gets a map from the file
        // though it is no complex variable: the CLI keeps neither value.
        let (config, diags) = crate::config::load_files(&[
            (
                "databricks.yml",
                "bundle:\n  name: v\nvariables:\n  a:\n    default: x\n  b:\n    description: d\n",
            ),
            (
                ".databricks/bundle/default/variable-overrides.json",
                "{\"b\": {\"k\": 1}}",
            ),
        ]);
        assert_eq!(
            diags,
            [
                "Error: variable b is not of type complex, but the value in the variable file is a complex type"
            ]
        );
        assert_eq!(
            config["variables"]["a"],
            serde_json::json!({"default": "x"})
        );
    }
    #[test]
    fn var_flags_split_on_commas_as_the_cli_does() {
        let flags = |v: &[&str]| {
            super::split_var_flags(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(flags(&["a=1,b=2"]), ["a=1", "b=2"]);
        assert_eq!(flags(&["a=1", "b=x y"]), ["a=1", "b=x y"]);
        assert_eq!(flags(&["\"a=x,y\",b=2"]), ["a=x,y", "b=2"]);
        assert_eq!(flags(&["\"a=say \"\"hi\"\"\""]), ["a=say \"hi\""]);
        assert_eq!(flags(&["a="]), ["a="]);
    }
}
