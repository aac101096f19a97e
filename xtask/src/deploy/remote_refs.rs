//! `${resources.<kind>.<key>.<field>}` references between resources, as
//! the CLI's direct engine treats them (`bundle/direct/graph.go`): a
//! resource is created or updated after those it references, deleted
//! before them, and its references are replaced at deploy time by the
//! referenced resource's id or field. The state keeps the references as
//! written, so a plan compares them with the configuration as is.

use std::collections::BTreeSet;

use anyhow::{Result, bail};
use serde_json::Value;

use super::resources::{Action, ResourceChange, ResourcePlan, tf_type};
use super::state::TfResource;
use crate::config::schema::{self, Shape};

/// A reference: kind, key and the field path (`id`, `name`, `a.b`,
/// `permissions[0].level`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Ref {
    pub kind: String,
    pub key: String,
    pub field: String,
}

impl Ref {
    /// The reference as written inside `${...}`.
    pub fn text(&self) -> String {
        format!("resources.{}.{}.{}", self.kind, self.key, self.field)
    }
}

/// The `${resources...}` references in one string, with their byte ranges:
/// only those of the CLI's grammar (`${resources.a.bad..syntax}` is text
/// to it, sent as written).
pub(super) fn refs_in_str(s: &str) -> Vec<(usize, usize, Ref)> {
    let mut out = Vec::new();
    for found in crate::config::find_refs(s) {
        let Some(inner) = found.path.strip_prefix("resources.") else {
            continue;
        };
        let mut parts = inner.splitn(3, '.');
        if let (Some(kind), Some(key), Some(field)) = (parts.next(), parts.next(), parts.next()) {
            let r = Ref {
                kind: kind.into(),
                key: key.into(),
                field: field.into(),
            };
            out.push((found.start, found.end, r));
        }
    }
    out
}

/// Every reference in `v`.
pub(super) fn refs(v: &Value) -> BTreeSet<Ref> {
    let mut out = BTreeSet::new();
    match v {
        Value::String(s) => out.extend(refs_in_str(s).into_iter().map(|(_, _, r)| r)),
        Value::Array(a) => a.iter().for_each(|x| out.extend(refs(x))),
        Value::Object(m) => m.values().for_each(|x| out.extend(refs(x))),
        _ => {}
    }
    out
}

/// Readies `plan.changes` for the workspace: dependents of changed
/// resources updated too, and all in the order their references need.
pub(super) fn prepare(plan: &mut ResourcePlan, prev: &[TfResource]) -> Result<()> {
    update_dependents(plan);
    let order = order(plan, prev)?;
    plan.changes = order.iter().map(|&i| plan.changes[i].clone()).collect();
    Ok(())
}

/// A resource unchanged in itself that references one created or updated
/// (which may have another id or field now) is updated too, in rounds so
/// that chains follow.
fn update_dependents(plan: &mut ResourcePlan) {
    loop {
        let moved: BTreeSet<(String, String)> = plan
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::Create | Action::Update))
            .map(|c| (c.kind.clone(), c.key.clone()))
            .collect();
        let mut again = false;
        for i in 0..plan.changes.len() {
            let c = &plan.changes[i];
            if c.action != Action::Unchanged {
                continue;
            }
            let ty = tf_type(&c.kind);
            let settings = plan
                .resources
                .iter()
                .find(|r| r.kind == ty && r.name == c.key);
            let attrs = settings.and_then(|r| r.instances.first());
            let attrs = attrs.map(|i| Value::Object(i.attributes.clone()));
            let hit = refs(&attrs.unwrap_or_default())
                .into_iter()
                .any(|r| moved.contains(&(r.kind, r.key)));
            if hit {
                plan.changes[i].action = Action::Update;
                again = true;
            }
        }
        if !again {
            return;
        }
    }
}

/// The order to carry out `plan.changes` in: creates and updates after the
/// resources they reference (in the plan), deletes before the resources
/// their recorded settings (`prev`) reference, and all deletes of a
/// resource after the creates that might replace what pointed at it.
fn order(plan: &ResourcePlan, prev: &[TfResource]) -> Result<Vec<usize>> {
    let deps = |c: &ResourceChange| -> BTreeSet<(String, String)> {
        let from = if c.action == Action::Delete {
            prev
        } else {
            &plan.resources[..]
        };
        let ty = tf_type(&c.kind);
        let attrs = from
            .iter()
            .find(|r| r.kind == ty && r.name == c.key)
            .and_then(|r| r.instances.first())
            .map(|i| Value::Object(i.attributes.clone()))
            .unwrap_or(Value::Null);
        refs(&attrs).into_iter().map(|r| (r.kind, r.key)).collect()
    };
    let n = plan.changes.len();
    let deps: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (format!("resources.{}.{}", c.kind, c.key), deps(c)))
        .collect();
    let idx = |kind: &str, key: &str| {
        plan.changes
            .iter()
            .position(|c| c.kind == kind && c.key == key)
    };
    // Creates and updates: a depth-first walk, dependencies first.
    let mut done = vec![false; n];
    let mut out = Vec::new();
    let mut visiting = vec![false; n];
    fn visit(
        i: usize,
        deps: &[(String, BTreeSet<(String, String)>)],
        idx: &dyn Fn(&str, &str) -> Option<usize>,
        skip: &dyn Fn(usize) -> bool,
        state: (&mut [bool], &mut [bool], &mut Vec<usize>),
    ) -> Result<()> {
        let (done, visiting, out) = state;
        if done[i] || skip(i) {
            return Ok(());
        }
        if visiting[i] {
            bail!(
                "{}: its ${{resources...}} references lead back to it (a cycle)",
                deps[i].0
            );
        }
        visiting[i] = true;
        for (kind, key) in &deps[i].1 {
            if let Some(j) = idx(kind, key) {
                visit(j, deps, idx, skip, (&mut *done, &mut *visiting, &mut *out))?;
            }
        }
        visiting[i] = false;
        done[i] = true;
        out.push(i);
        Ok(())
    }
    let is_delete = |i: usize| plan.changes[i].action == Action::Delete;
    for i in 0..n {
        let state = (&mut done[..], &mut visiting[..], &mut out);
        visit(i, &deps, &idx, &is_delete, state)?;
    }
    // Deletes: the reverse of the same walk over the recorded references.
    let mut deletes = Vec::new();
    let not_delete = |i: usize| !is_delete(i);
    for i in 0..n {
        let state = (&mut done[..], &mut visiting[..], &mut deletes);
        visit(i, &deps, &idx, &not_delete, state)?;
    }
    deletes.reverse();
    out.extend(deletes);
    Ok(out)
}

/// [`resolve`] for a resource of `kind`, then each string of digits in an
/// integer field made a number: a reference to an id (ids are strings in
/// the state) put where the API wants a number (`run_job_task.job_id`),
/// as the CLI's typed configuration converts it.
pub(super) fn resolve_for(
    kind: &str,
    v: &Value,
    lookup: &dyn Fn(&Ref) -> Result<Value>,
) -> Result<Value> {
    let mut out = resolve(v, lookup)?;
    if let Some(ty) = schema::resource_type(kind) {
        as_typed(&mut out, ty);
    }
    Ok(out)
}

fn as_typed(v: &mut Value, ty: usize) {
    match (schema::shape(ty), v) {
        (Shape::Struct(t), Value::Object(m)) => {
            for (k, x) in m.iter_mut() {
                if let Some(ft) = schema::field(t, k) {
                    as_typed(x, ft);
                }
            }
        }
        (Shape::List(e), Value::Array(items)) => items.iter_mut().for_each(|x| as_typed(x, e)),
        (Shape::Scalar, v @ Value::String(_)) if schema::is_int(ty) => {
            if let Some(n) = v.as_str().and_then(|s| s.parse::<i64>().ok()) {
                *v = Value::from(n);
            }
        }
        _ => {}
    }
}

/// `v` with its references replaced through `lookup` (kind, key, field →
/// value): a string that is one reference becomes the value as is, one that
/// embeds references gets them as text.
pub(super) fn resolve(v: &Value, lookup: &dyn Fn(&Ref) -> Result<Value>) -> Result<Value> {
    Ok(match v {
        Value::String(s) => {
            let found = refs_in_str(s);
            match found.as_slice() {
                [] => v.clone(),
                [(0, end, r)] if *end == s.len() => lookup(r)?,
                _ => {
                    let mut text = String::new();
                    let mut last = 0;
                    for (start, end, r) in &found {
                        text.push_str(&s[last..*start]);
                        match lookup(r)? {
                            Value::String(x) => text.push_str(&x),
                            Value::Null => {}
                            other => text.push_str(&other.to_string()),
                        }
                        last = *end;
                    }
                    text.push_str(&s[last..]);
                    Value::String(text)
                }
            }
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve(x, lookup))
                .collect::<Result<_>>()?,
        ),
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, x) in m {
                let v = resolve(x, lookup)?;
                // A reference to a field the workspace left unset: the
                // field is not sent (the CLI's typed settings omit it).
                if v.is_null() && x.is_string() {
                    continue;
                }
                out.insert(k.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The value of a reference `lookup_with` cannot find in the bundle's
/// settings: the field as the workspace has it (`Ok(None)`: not known, the
/// resource not read back).
pub(super) type Remote<'a> = &'a dyn Fn(&Ref) -> Result<Option<Value>>;

/// The value of reference `r` among `resources` (the plan's, ids of those
/// deployed so far filled in), itself resolved (`depth` bounds chains); a
/// field the bundle does not set (a pipeline's `creator_user_name`, a
/// volume's `storage_location`, an app's `url`) from `remote`, as the
/// CLI's direct engine resolves it from the resource read back after its
/// deploy.
pub(super) fn lookup_with(
    resources: &[TfResource],
    remote: Remote,
    r: &Ref,
    depth: usize,
) -> Result<Value> {
    let what = format!("${{{}}}", r.text());
    if depth > 16 {
        bail!("{what}: references nested too deep (a cycle?)");
    }
    let ty = tf_type(&r.kind);
    let Some(attrs) = resources
        .iter()
        .find(|x| x.kind == ty && x.name == r.key)
        .and_then(|x| x.instances.first())
        .map(|i| &i.attributes)
    else {
        bail!("{what}: no resource {}.{} in this bundle", r.kind, r.key);
    };
    let local = field_at(&Value::Object(attrs.clone()), &r.field);
    if let Some(v) = local.filter(|v| !v.is_null() && v.as_str() != Some("")) {
        return resolve(&v, &|inner| {
            lookup_with(resources, remote, inner, depth + 1)
        });
    }
    if r.field != "id"
        && let Some(v) = remote(r)?
    {
        return Ok(v);
    }
    bail!("{what}: not known (the resource has no such field, or is not deployed yet)")
}

/// One step of a field path: a key (`.name`) or an index (`[0]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Node<'a> {
    Key(&'a str),
    Index(&'a str),
}

/// `a.b[0].c` as its steps (a path of the reference grammar, whose
/// brackets hold digits and close).
pub(super) fn nodes(path: &str) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    for seg in path.split('.') {
        let (key, mut rest) = seg.split_at(seg.find('[').unwrap_or(seg.len()));
        if !key.is_empty() {
            out.push(Node::Key(key));
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').unwrap_or(inner.len());
            out.push(Node::Index(&inner[..close]));
            rest = inner.get(close + 1..).unwrap_or_default();
        }
    }
    out
}

/// The value at `path` (`a.b`, `a[0].b`) in `v`.
pub(super) fn field_at(v: &Value, path: &str) -> Option<Value> {
    let mut at = v;
    for node in nodes(path) {
        at = match node {
            Node::Key(key) => at.get(key)?,
            Node::Index(i) => at.get(i.parse::<usize>().ok()?)?,
        };
    }
    Some(at.clone())
}

/// Field `r.field` of a resource read back (`raw`, the API's answer): at
/// its top level (`creator_user_name`, `state`, `url`, `storage_location`)
/// or in its settings (a pipeline's `spec`, a job's `settings`). A field of
/// the bundle's settings the workspace left unset is null (the CLI resolves
/// it to nothing); a path through something unset
/// (`ingestion_definition.connection_name`, a missing map key) or a field
/// neither knows is an error, as the CLI's.
pub(super) fn remote_value(r: &Ref, raw: &Value) -> Result<Value> {
    for at in [raw, &raw["spec"], &raw["settings"]] {
        if let Some(v) = field_at(at, &r.field).filter(|v| !v.is_null()) {
            return Ok(v);
        }
    }
    let what = format!("${{{}}}", r.text());
    let top = r.field.split(['.', '[']).next().unwrap_or_default();
    let declared = schema::resource_type(&r.kind).and_then(|ty| schema::field(ty, top));
    match (declared, top == r.field) {
        (Some(_), true) => Ok(Value::Null),
        (Some(_), false) => bail!("{what}: not set in the bundle nor in the workspace"),
        (None, _) => bail!(
            "{what}: {} have no field `{top}`, neither in the bundle nor in the workspace",
            r.kind
        ),
    }
}

#[cfg(test)]
#[path = "remote_refs_tests.rs"]
mod tests;
