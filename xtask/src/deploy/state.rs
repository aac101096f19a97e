//! The state files of an environment, in the Databricks CLI's formats
//! (reference §1.3–§1.5) plus our own fields and `history.json`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::package::FileRecord;
use crate::workspace::Workspace;
use anyhow::{Context, Result};

pub const TOOL_VERSION: &str = concat!("xtask-", env!("CARGO_PKG_VERSION"));

/// `state/metadata.json`: the CLI's `version`/`config`/`extra`, then our
/// fields. Modules that add their own fields (the flow's test record,
/// `promoted_from`) use the named fields or `other`: unknown fields read from
/// the file are kept in `other` and written back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    pub version: u32,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub extra: Map<String, Value>,
    #[serde(default)]
    pub deployment_id: String,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub deployed_at: String,
    #[serde(default)]
    pub deployed_by: String,
    #[serde(default)]
    pub tool_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<Value>,
    /// Fields of other modules. A key of a named field here would write the
    /// key twice and make the file unreadable, so such keys are skipped.
    #[serde(flatten, serialize_with = "without_named_fields")]
    pub other: Map<String, Value>,
}

/// Who made a deployment, when, and from what: the parts of its record
/// that deploy and promotion fill alike.
pub struct Made<'a> {
    pub id: &'a str,
    pub digest: &'a str,
    pub at: String,
    pub by: &'a str,
    pub git: &'a Value,
    pub other: &'a Map<String, Value>,
}

impl Metadata {
    /// The record of a new deployment of `bundle` whose resources got `ids`
    /// (no test record yet, not promoted).
    pub fn new(bundle: &crate::config::Bundle, ids: &Map<String, Value>, made: Made) -> Metadata {
        Metadata {
            version: 1,
            config: metadata_config(bundle, made.git, ids),
            extra: Map::new(),
            deployment_id: made.id.to_string(),
            digest: made.digest.to_string(),
            deployed_at: made.at,
            deployed_by: made.by.to_string(),
            tool_version: TOOL_VERSION.to_string(),
            test: None,
            promoted_from: None,
            other: made.other.clone(),
        }
    }
}

const NAMED_FIELDS: &[&str] = &[
    "version",
    "config",
    "extra",
    "deployment_id",
    "digest",
    "deployed_at",
    "deployed_by",
    "tool_version",
    "test",
    "promoted_from",
];

fn without_named_fields<S: serde::Serializer>(
    other: &Map<String, Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        other
            .iter()
            .filter(|(k, _)| !NAMED_FIELDS.contains(&k.as_str())),
    )
}

/// `state/deployment.json` (version 1).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeploymentState {
    pub version: u32,
    pub seq: u64,
    #[serde(default)]
    pub cli_version: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub files: Vec<DeployedFile>,
    #[serde(default)]
    pub id: String,
}

/// What the next deployment.json counts on from the current one. Its file
/// list (10,000 entries in a big bundle) is not read: the next one is made
/// from the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeploymentHead {
    /// Required, as by [`DeploymentState`]: a file without it is damaged.
    #[serde(rename = "version")]
    _version: u32,
    pub seq: u64,
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeployedFile {
    pub local_path: String,
    pub is_notebook: bool,
}

/// `state/terraform.tfstate`, Terraform state format 4. Fields we do not use are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TfState {
    pub version: u32,
    pub terraform_version: String,
    pub serial: u64,
    pub lineage: String,
    #[serde(default)]
    pub outputs: Map<String, Value>,
    #[serde(default)]
    pub resources: Vec<TfResource>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TfResource {
    pub mode: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub provider: String,
    pub instances: Vec<TfInstance>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TfInstance {
    #[serde(default)]
    pub schema_version: u32,
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub sensitive_attributes: Vec<Value>,
    /// The values the references to fields only the workspace knows
    /// (`resources.apps.a.url` → its URL) had when the resource was last
    /// deployed: what its settings were sent with, for the drift check and
    /// the CLI's state (the attributes keep the references as written).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub resolved_references: Map<String, Value>,
}

impl TfResource {
    pub fn id(&self) -> Option<&str> {
        self.instances.first()?.attributes.get("id")?.as_str()
    }
}

/// `state/history.json`: every deploy, rollback and promotion of the
/// environment, newest last. Deployments still kept can be rolled back to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    pub deployments: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// The deployment (version folder) this event made current.
    pub id: String,
    /// `deploy`, `rollback` or `promote`.
    pub kind: String,
    pub seq: u64,
    pub digest: String,
    pub at: String,
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default)]
    pub forced_lock: bool,
    /// For rollbacks: the deployment that was current; for promotions: `<env>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What the record must not hide: `dirty` (the working tree had
    /// uncommitted changes: the commit is not the content), `ungated` (a
    /// `deploy --force` to an env a gate feeds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// Everything the state of an environment says, read once.
#[derive(Debug, Clone, Default)]
pub struct EnvState {
    pub metadata: Option<Metadata>,
    pub deployment: Option<DeploymentHead>,
    pub tfstate: Option<TfState>,
    /// The CLI's direct-engine state (`resources.json`), if any; its ids
    /// are already taken into `tfstate` (see [`super::dstate::adopt`]).
    pub dstate: Option<super::dstate::DState>,
    pub history: History,
    /// What was wrong with the state files and how it was taken.
    pub warnings: Vec<String>,
    /// `tfstate` holds more than `terraform.tfstate` does (ids or the
    /// lineage taken from `resources.json`): the next one is a new serial.
    pub tfstate_adopted: bool,
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(anyhow::anyhow!("reading the state panicked")))
}

fn parse<T: serde::de::DeserializeOwned>(
    ws: &dyn Workspace,
    name: &str,
    lenient: bool,
) -> Result<(Option<T>, Option<String>)> {
    parse_with(ws, name, lenient, |b| crate::util::json::from_bytes(b))
}

fn parse_with<T>(
    ws: &dyn Workspace,
    name: &str,
    lenient: bool,
    decode: impl Fn(&[u8]) -> serde_json::Result<T>,
) -> Result<(Option<T>, Option<String>)> {
    let Some(bytes) = ws.read_state(name)? else {
        return Ok((None, None));
    };
    match decode(&bytes) {
        Ok(v) => Ok((Some(v), None)),
        Err(e) if lenient => Ok((
            None,
            Some(format!(
                "{}/state/{name} is not valid ({e}): read as absent; the next deploy repairs it",
                ws.location()
            )),
        )),
        Err(e) => Err(e).with_context(|| format!("{}/state/{name} is not valid", ws.location())),
    }
}

impl EnvState {
    /// The state files; one that is not valid JSON is an error (a deploy
    /// reads them after its recovery, which restores them from the version).
    pub fn read(ws: &dyn Workspace) -> Result<EnvState> {
        Self::read_with(ws, false)
    }

    /// For what only reports (`status`, `plan`): a file that is not valid is
    /// read as absent, with a warning, as the next deploy repairs it.
    pub fn read_lenient(ws: &dyn Workspace) -> Result<EnvState> {
        Self::read_with(ws, true)
    }

    fn read_with(ws: &dyn Workspace, lenient: bool) -> Result<EnvState> {
        // Four reads at once: on the remote backend each is a round trip.
        let (recorded, mut state, warnings) = std::thread::scope(|s| -> Result<_> {
            let metadata = s.spawn(|| parse(ws, "metadata.json", lenient));
            let deployment = s.spawn(|| parse(ws, "deployment.json", lenient));
            // In the Terraform engine's shape (or ours of before): see `tfshape`.
            let tfstate =
                s.spawn(|| parse_with(ws, "terraform.tfstate", lenient, super::tfshape::decode));
            let dstate = s.spawn(|| super::dstate::read(ws));
            let history = parse(ws, "history.json", lenient)?;
            let (metadata, deployment, tfstate) =
                (join(metadata)?, join(deployment)?, join(tfstate)?);
            let mut warnings: Vec<String> = [metadata.1, deployment.1, tfstate.1, history.1]
                .into_iter()
                .flatten()
                .collect();
            let dstate = match join(dstate) {
                Err(e) if lenient => {
                    warnings.push(format!("{e:#}: read as absent"));
                    None
                }
                other => other?,
            };
            let recorded = history.0.is_some();
            Ok((
                recorded,
                EnvState {
                    metadata: metadata.0,
                    deployment: deployment.0,
                    tfstate: tfstate.0,
                    dstate,
                    history: history.0.unwrap_or_default(),
                    warnings: Vec::new(),
                    tfstate_adopted: false,
                },
                warnings,
            ))
        })?;
        state.warnings = warnings;
        if let Some(d) = &state.dstate {
            let read = state.tfstate.clone();
            super::dstate::adopt(&mut state.tfstate, d);
            state.tfstate_adopted = state.tfstate != read;
        }
        if recorded {
            state.rebuild_empty_history(ws)?;
        }
        Ok(state)
    }

    /// A history listing nothing while versions are kept is damaged (an
    /// emptied file), not the truth: pruning by it would delete every older
    /// version. The versions on disk stand in for it, oldest first.
    fn rebuild_empty_history(&mut self, ws: &dyn Workspace) -> Result<()> {
        if !self.history.deployments.is_empty() {
            return Ok(());
        }
        let versions = ws.versions()?;
        if versions.is_empty() {
            return Ok(());
        }
        self.warnings.push(format!(
            "{}/state/history.json lists no deployment while {} are kept: taken as damaged, \
             the kept versions stand in for it (none is pruned for it)",
            ws.location(),
            versions.len()
        ));
        self.history.deployments = versions
            .into_iter()
            .map(|id| HistoryEntry {
                seq: id
                    .split('-')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                id,
                kind: "recovered".into(),
                ..HistoryEntry::default()
            })
            .collect();
        Ok(())
    }

    /// The next deployment.json: seq + 1, the id kept.
    /// The sequence number of the next deployment (the CLI's `seq`).
    /// The id of a new deployment: its sequence number, then a random part
    /// (`0007-1a2b3c4d`), so ids sort in deploy order and never repeat.
    pub fn new_id(&self) -> String {
        format!("{:04}-{}", self.next_seq(), &new_uuid()[..8])
    }

    pub fn next_seq(&self) -> u64 {
        self.deployment.as_ref().map_or(0, |d| d.seq) + 1
    }

    /// The state of one more event in the env's life (a deploy, a promotion,
    /// a rollback): the next deployment.json and terraform.tfstate, and the
    /// history with `event` added, stamped with the deployment's seq and time.
    pub fn next_record(
        &self,
        files: Vec<DeployedFile>,
        resources: Vec<TfResource>,
        now: &str,
        mut event: HistoryEntry,
    ) -> Record {
        let deployment = self.next_deployment(files, now);
        event.seq = deployment.seq;
        event.at = now.to_string();
        let mut history = self.history.clone();
        history.deployments.push(event);
        Record {
            deployment,
            tfstate: self.next_tfstate(resources),
            history,
        }
    }

    fn next_deployment(&self, files: Vec<DeployedFile>, now: &str) -> DeploymentState {
        let prev = self.deployment.as_ref();
        DeploymentState {
            version: 1,
            seq: self.next_seq(),
            cli_version: TOOL_VERSION.to_string(),
            timestamp: now.to_string(),
            files,
            id: prev
                .map(|d| d.id.clone())
                .filter(|id| !id.is_empty())
                .unwrap_or_else(new_uuid),
        }
    }

    /// The next terraform.tfstate: serial + 1 when the resources changed
    /// (as Terraform counts), else the same file, which a workspace then
    /// needs no request to rewrite; lineage fixed per env.
    pub fn next_tfstate(&self, resources: Vec<TfResource>) -> TfState {
        match &self.tfstate {
            Some(prev) if prev.resources == resources && !self.tfstate_adopted => prev.clone(),
            Some(prev) => TfState {
                serial: prev.serial + 1,
                resources,
                ..prev.clone()
            },
            None => TfState {
                version: 4,
                terraform_version: "1.5.5".to_string(),
                serial: 1,
                lineage: new_uuid(),
                outputs: Map::new(),
                resources,
                other: Map::new(),
            },
        }
    }
}

/// The state files to write, serialised in `STATE_FILES` order.
/// The next state of an env, short of its metadata (see [`EnvState::next_record`]).
pub struct Record {
    pub deployment: DeploymentState,
    pub tfstate: TfState,
    pub history: History,
}

impl Record {
    /// The four state files, in the order they are written.
    pub fn files(&self, metadata: &Metadata) -> Result<Vec<(&'static str, Vec<u8>)>> {
        serialise(&self.deployment, &self.tfstate, &self.history, metadata)
    }
}

fn serialise(
    deployment: &DeploymentState,
    tfstate: &TfState,
    history: &History,
    metadata: &Metadata,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    Ok(vec![
        // Compact, as the CLI writes it: it lists every file.
        ("deployment.json", serde_json::to_vec(deployment)?),
        ("terraform.tfstate", super::tfshape::encode(tfstate)?),
        ("history.json", serde_json::to_vec_pretty(history)?),
        ("metadata.json", serde_json::to_vec_pretty(metadata)?),
    ])
}

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// deployment.json's file list for the files of a manifest.
pub fn deployed_files(manifest_files: &[FileRecord]) -> Vec<DeployedFile> {
    manifest_files
        .iter()
        .map(|f| DeployedFile {
            local_path: f.path.clone(),
            is_notebook: f.notebook,
        })
        .collect()
}

/// The CLI's `config` block of metadata.json for this bundle and these resource ids.
pub fn metadata_config(
    bundle: &crate::config::Bundle,
    git: &Value,
    ids: &Map<String, Value>,
) -> Value {
    let mut resources = Map::new();
    for (kind, entries) in ids {
        resources.insert(kind.clone(), entries.clone());
    }
    let file_path = bundle
        .workspace("file_path")
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "/Workspace/Users/local/.bundle/{}/{}/files",
                bundle.name, bundle.target
            )
        });
    json!({
        "bundle": {"name": bundle.name, "target": bundle.target, "mode": bundle.mode, "git": git},
        "workspace": {"file_path": file_path},
        "resources": resources,
        "presets": {"source_linked_deployment": false},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_with_a_named_field_in_other_still_reads_back() {
        let mut m = Metadata {
            version: 1,
            promoted_from: Some(json!({"env": "test"})),
            ..Default::default()
        };
        m.other.insert("promoted_from".into(), json!("again"));
        m.other.insert("release".into(), json!({"by": "me"}));
        let bytes = serde_json::to_vec(&m).unwrap();
        let back: Metadata = serde_json::from_slice(&bytes).expect("no duplicate keys");
        assert_eq!(back.promoted_from, Some(json!({"env": "test"})));
        assert_eq!(back.other.get("release"), Some(&json!({"by": "me"})));
    }

    #[test]
    fn the_next_record_follows_the_state_it_was_read_from() {
        let entry = |id: &str| HistoryEntry {
            id: id.into(),
            kind: "deploy".into(),
            seq: 0,
            digest: "d".into(),
            at: String::new(),
            by: "me".into(),
            commit: None,
            forced_lock: false,
            from: None,
            flags: Vec::new(),
        };
        let fresh = EnvState::default();
        assert_eq!(fresh.next_seq(), 1);
        let first = fresh.next_record(Vec::new(), Vec::new(), "t1", entry("a"));
        assert_eq!((first.deployment.seq, first.tfstate.serial), (1, 1));
        assert_eq!(
            first.history.deployments[0].seq, 1,
            "the event gets the seq"
        );
        assert_eq!(first.history.deployments[0].at, "t1");
        // Read back, the next record counts on from it and keeps the ids.
        let state = EnvState {
            deployment: Some(DeploymentHead {
                _version: first.deployment.version,
                seq: first.deployment.seq,
                id: first.deployment.id.clone(),
            }),
            tfstate: Some(first.tfstate.clone()),
            history: first.history.clone(),
            ..Default::default()
        };
        assert_eq!(state.next_seq(), 2);
        let second = state.next_record(Vec::new(), Vec::new(), "t2", entry("b"));
        // The same resources: the same terraform.tfstate (as Terraform counts).
        assert_eq!((second.deployment.seq, second.tfstate.serial), (2, 1));
        assert_eq!(second.tfstate, first.tfstate);
        let job = TfResource {
            mode: "managed".into(),
            kind: "databricks_job".into(),
            name: "train".into(),
            provider: "p".into(),
            instances: Vec::new(),
        };
        let changed = state.next_record(Vec::new(), vec![job], "t2", entry("b"));
        assert_eq!(
            changed.tfstate.serial, 2,
            "other resources: the next serial"
        );
        assert_eq!(
            second.deployment.id, first.deployment.id,
            "one deployment id per env"
        );
        assert_eq!(
            second.tfstate.lineage, first.tfstate.lineage,
            "one lineage per env"
        );
        let ids: Vec<&str> = second
            .history
            .deployments
            .iter()
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        let names: Vec<&str> = second
            .files(&Metadata::default())
            .unwrap()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(
            names,
            [
                "deployment.json",
                "terraform.tfstate",
                "history.json",
                "metadata.json"
            ]
        );
    }
}
