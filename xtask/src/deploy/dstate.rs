//! `state/resources.json`, the state of the Databricks CLI's direct engine
//! (its default for new bundles), kept beside our own so that the CLI and
//! this tool can take turns on one workspace target without duplicates.
//!
//! The CLI picks, among `terraform.tfstate` and `resources.json`, the one of
//! highest serial, and stops on a lineage mismatch or on equal serials. So
//! both files share one lineage (the CLI's, when it deployed first) and
//! `resources.json` always has the higher serial: the CLI reads it. Our
//! `terraform.tfstate` is in the Terraform engine's shape (see `tfshape`),
//! which is what the CLI reads for a project on that engine.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::remote_acl::acl_entries;
use super::resources::{PROVIDER, kind_of, tf_type};
use super::state::{TfInstance, TfResource, TfState};
use super::{remote_custom, remote_kinds, remote_refs};
use crate::config::kinds;
use crate::workspace::Workspace;

pub const FILE: &str = "resources.json";

/// The direct engine's state version this tool reads and writes.
const STATE_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DState {
    pub state_version: u32,
    #[serde(default)]
    pub cli_version: String,
    #[serde(default)]
    pub lineage: String,
    #[serde(default)]
    pub serial: u64,
    #[serde(default)]
    pub state: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "__id__")]
    pub id: String,
    #[serde(default)]
    pub state: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Value>,
}

/// The env's `resources.json`, if any. A state of another version is an
/// error: reading it as ours could lose what it records.
pub fn read(ws: &dyn Workspace) -> Result<Option<DState>> {
    let Some(bytes) = ws.read_state(FILE)? else {
        return Ok(None);
    };
    let what = || format!("{}/state/{FILE}", ws.location());
    let d: DState = serde_json::from_slice(&bytes).with_context(what)?;
    if d.state_version != STATE_VERSION {
        anyhow::bail!(
            "{}: state_version {} (this tool reads version {STATE_VERSION})",
            what(),
            d.state_version
        );
    }
    Ok(Some(d))
}

/// Whether the CLI would deploy this target with its direct engine, chosen
/// as it chooses: the state already there (a `resources.json`), then
/// `bundle.engine`, then `DATABRICKS_BUNDLE_ENGINE` (`env_engine`), else
/// direct. For a project on the Terraform engine no `resources.json` is
/// written: with a higher serial it would switch the CLI's engine.
pub fn direct_engine(config: &Value, prev: Option<&DState>, env_engine: Option<&str>) -> bool {
    if prev.is_some() {
        return true;
    }
    let setting = config["bundle"]["engine"].as_str().or(env_engine);
    setting != Some("terraform")
}

/// Takes the CLI's lineage into `tf` and, for each resource `resources.json`
/// records that `tf` does not, its id (and the settings it applied), so the
/// plan updates that resource instead of creating another.
pub fn adopt(tf: &mut Option<TfState>, d: &DState) {
    let tf = tf.get_or_insert_with(|| TfState {
        version: 4,
        terraform_version: "1.5.5".to_string(),
        serial: 0,
        lineage: d.lineage.clone(),
        outputs: Map::new(),
        resources: Vec::new(),
        other: Map::new(),
    });
    // Our own write puts `resources.json` at least one serial past
    // `terraform.tfstate` (whose serial moves only when its resources do);
    // more, from the CLI, means it deployed since: its record is the newer
    // truth (what it deleted is gone, what it re-created has a new id).
    if d.serial > tf.serial + 1 && !d.cli_version.starts_with("xtask-") {
        tf.resources.clear();
    }
    if !d.lineage.is_empty() {
        tf.lineage = d.lineage.clone();
    }
    for (key, entry) in &d.state {
        // `resources.<kind>.<name>`; longer keys (`.permissions`, `.grants`)
        // are not resources of their own.
        let ["resources", kind, name] = key.split('.').collect::<Vec<_>>()[..] else {
            continue;
        };
        if !deployed(kind) || entry.id.is_empty() {
            continue;
        }
        let ty = tf_type(kind);
        let known = tf.resources.iter().any(|r| r.kind == ty && r.name == name);
        if known {
            continue;
        }
        let mut attributes = entry.state.as_object().cloned().unwrap_or_default();
        if let Some(custom) = remote_custom::get(kind) {
            attributes = (custom.from_state)(&attributes);
        }
        attributes.insert("id".into(), json!(entry.id));
        tf.resources.push(TfResource {
            mode: "managed".into(),
            kind: ty,
            name: name.to_string(),
            provider: PROVIDER.to_string(),
            instances: vec![TfInstance {
                schema_version: 0,
                attributes,
                sensitive_attributes: Vec::new(),
                resolved_references: Map::new(),
            }],
        });
    }
}

/// A kind this tool deploys: the CLI's entries of other kinds are neither
/// adopted (they would be planned for deletion) nor dropped (see [`next`]).
fn deployed(kind: &str) -> bool {
    kinds::get(kind).is_some_and(|k| k.deployed)
}

/// The `resources.json` that goes with `tf` (the state just written): the
/// lineage of `tf`, a serial past both `prev`'s and `tf`'s, one entry per
/// resource and one per resource's permissions or grants.
pub fn next(prev: Option<&DState>, tf: &TfState, user: &str) -> DState {
    let serial = prev.map_or(0, |p| p.serial).max(tf.serial) + 1;
    // What the CLI deployed of kinds we do not: kept as it recorded it, or
    // its next deploy would create them again.
    let mut state: BTreeMap<String, Entry> = prev
        .into_iter()
        .flat_map(|p| p.state.iter())
        .filter(|(k, _)| !deployed(k.split('.').nth(1).unwrap_or_default()))
        .map(|(k, e)| (k.clone(), e.clone()))
        .collect();
    for r in &tf.resources {
        let Some(id) = r.id() else { continue };
        let kind = kind_of(&r.kind);
        let key = format!("resources.{kind}.{}", r.name);
        let attrs = r.instances.first().map(|i| &i.attributes);
        let settings = attrs.cloned().unwrap_or_default();
        if let Some(acl) = access_entry(&kind, &key, id, &settings, user) {
            state.insert(acl.0, acl.1);
        }
        let applied = remote_kinds::api_settings_of(&kind, &Value::Object(settings));
        let mut applied = applied.as_object().cloned().unwrap_or_default();
        if let Some(custom) = remote_custom::get(&kind) {
            applied = (custom.to_state)(&applied);
        }
        let known = r.instances.first().map(|i| &i.resolved_references);
        let known = known.cloned().unwrap_or_default();
        let (state_now, depends_on) =
            resolved(&kind, Value::Object(applied), &tf.resources, &known);
        let entry = Entry {
            id: id.to_string(),
            state: state_now,
            depends_on,
        };
        state.insert(key, entry);
    }
    DState {
        state_version: STATE_VERSION,
        cli_version: super::state::TOOL_VERSION.to_string(),
        lineage: tf.lineage.clone(),
        serial,
        state,
    }
}

/// A resource's state as the CLI records it: its `${resources...}`
/// references replaced by the values they had (the CLI, reading the text
/// of a reference, would see a change), each named in `depends_on`.
/// `known`: the values of its references to fields only the workspace knows.
fn resolved(
    kind: &str,
    written: Value,
    all: &[TfResource],
    known: &Map<String, Value>,
) -> (Value, Vec<Value>) {
    let depends_on = remote_refs::refs(&written)
        .into_iter()
        .map(|r| {
            let node = format!("resources.{}.{}", r.kind, r.key);
            let label = format!("${{{node}.{}}}", r.field);
            json!({ "node": node, "label": label })
        })
        .collect();
    let remote = |r: &remote_refs::Ref| Ok(known.get(&r.text()).cloned());
    let lookup = |r: &remote_refs::Ref| remote_refs::lookup_with(all, &remote, r, 0);
    let now = remote_refs::resolve_for(kind, &written, &lookup);
    (now.unwrap_or(written), depends_on)
}

/// The `<key>.permissions` or `<key>.grants` entry of a resource, in the
/// shape the CLI's direct engine records it (`__embed__` the entries set).
fn access_entry(
    kind: &str,
    key: &str,
    id: &str,
    settings: &Map<String, Value>,
    user: &str,
) -> Option<(String, Entry)> {
    let depends_on = vec![json!({"node": key, "label": format!("${{{key}.id}}")})];
    if let Some(access_state) = remote_custom::get(kind).and_then(|c| c.access_state) {
        let state = access_state(id, settings, user)?;
        let label = format!("${{{key}.name}}");
        let depends_on = vec![json!({"node": key, "label": label})];
        let entry = Entry {
            id: id.to_string(),
            state,
            depends_on,
        };
        return Some((format!("{key}.permissions"), entry));
    }
    if let Some(wanted) = settings.get("permissions").and_then(Value::as_array) {
        let ty = kinds::get(kind)?.permissions?;
        let (oid, field) = match remote_custom::permission_id(kind) {
            Some(f) => (settings.get(f)?.as_str()?, f),
            None => (id, "id"),
        };
        let object_id = format!("/{ty}/{oid}");
        let depends_on = vec![json!({"node": key, "label": format!("${{{key}.{field}}}")})];
        let embed = acl_entries(wanted, user, kind)
            .into_iter()
            .map(|mut e| {
                if let Some(o) = e.as_object_mut()
                    && let Some(level) = o.remove("permission_level")
                {
                    o.insert("level".into(), level);
                }
                e
            })
            .collect::<Vec<_>>();
        let state = json!({"object_id": object_id, "__embed__": embed});
        let entry = Entry {
            id: object_id,
            state,
            depends_on,
        };
        return Some((format!("{key}.permissions"), entry));
    }
    let grants = settings.get("grants").and_then(Value::as_array)?;
    // Unity Catalog models are `function` securables in the grants API.
    let securable = match kind {
        "registered_models" => "function",
        other => other.trim_end_matches('s'),
    };
    let state = json!({"securable_type": securable, "full_name": id, "__embed__": grants});
    let entry = Entry {
        id: format!("{securable}/{id}"),
        state,
        depends_on,
    };
    Some((format!("{key}.grants"), entry))
}

/// Writes `resources.json` for `tf` beside our state.
pub fn write(ws: &dyn Workspace, prev: Option<&DState>, tf: &TfState, user: &str) -> Result<()> {
    let d = next(prev, tf, user);
    ws.write_state(FILE, &serde_json::to_vec_pretty(&d)?)
        .with_context(|| format!("writing state/{FILE}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli_state(serial: u64) -> DState {
        serde_json::from_value(json!({
            "state_version": 2, "cli_version": "0.298.0", "lineage": "L", "serial": serial,
            "state": {
                "resources.jobs.train": {"__id__": "42", "state": {"name": "train"}},
                "resources.jobs.train.permissions": {"__id__": "/jobs/42", "state": {}},
                "resources.unknown_kinds.web": {"__id__": "web", "state": {"name": "web"}},
            }
        }))
        .unwrap()
    }

    #[test]
    fn ids_the_cli_recorded_are_adopted_and_written_back_in_its_shape() {
        let mut tf = None;
        adopt(&mut tf, &cli_state(1));
        let tf = tf.unwrap();
        assert_eq!(tf.lineage, "L");
        assert_eq!(tf.resources.len(), 1, "permissions are no resource");
        assert_eq!(tf.resources[0].id(), Some("42"));
        let mut written = tf.clone();
        written.serial = 1;
        written.resources[0].instances[0].attributes.insert(
            "permissions".into(),
            json!([{"level": "CAN_VIEW", "group_name": "g"}]),
        );
        let d = next(Some(&cli_state(1)), &written, "me@x.com");
        // Past both serials: the CLI then prefers it to terraform.tfstate.
        assert_eq!((d.serial, d.lineage.as_str()), (2, "L"));
        assert_eq!(
            d.state["resources.jobs.train"].state,
            json!({"name": "train"})
        );
        let acl = &d.state["resources.jobs.train.permissions"];
        assert_eq!(acl.id, "/jobs/42");
        // A kind this tool does not deploy (here, does not know): neither adopted nor dropped.
        assert!(tf.resources.iter().all(|r| r.name != "web"));
        assert_eq!(d.state["resources.unknown_kinds.web"].id, "web");
        assert_eq!(
            acl.state["__embed__"],
            json!([{"group_name": "g", "level": "CAN_VIEW"},
                   {"user_name": "me@x.com", "level": "IS_OWNER"}])
        );
    }

    #[test]
    fn the_engine_is_chosen_as_the_cli_chooses() {
        let tf = json!({"bundle": {"engine": "terraform"}});
        let direct = json!({"bundle": {"engine": "direct"}});
        let none = json!({"bundle": {}});
        assert!(direct_engine(&none, None, None), "the default");
        assert!(!direct_engine(&none, None, Some("terraform")));
        assert!(
            !direct_engine(&tf, None, Some("direct")),
            "the config first"
        );
        assert!(direct_engine(&direct, None, Some("terraform")));
        assert!(
            direct_engine(&tf, Some(&cli_state(1)), None),
            "the state first"
        );
    }

    #[test]
    fn a_newer_cli_state_replaces_our_ids() {
        let mut ours = None;
        adopt(&mut ours, &cli_state(1));
        let mut ours = ours.unwrap();
        ours.serial = 1;
        ours.resources[0].instances[0]
            .attributes
            .insert("id".into(), json!("7"));
        let mut tf = Some(ours);
        // resources.json one past ours: our own write; ours stands.
        adopt(&mut tf, &cli_state(2));
        assert_eq!(tf.as_ref().unwrap().resources[0].id(), Some("7"));
        // Further but ours (no-change deploys move only resources.json's
        // serial): ours stands.
        let mut own = cli_state(3);
        own.cli_version = crate::deploy::state::TOOL_VERSION.to_string();
        adopt(&mut tf, &own);
        assert_eq!(tf.as_ref().unwrap().resources[0].id(), Some("7"));
        // Further, from the CLI: it deployed since, its ids stand.
        adopt(&mut tf, &cli_state(3));
        assert_eq!(tf.unwrap().resources[0].id(), Some("42"));
    }
}
