//! The artifacts half of a plan: the bundle's own wheel (rebuilt only when
//! its inputs change) and the config's built artifacts, compared with what
//! the current deployment holds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::engine::Built;
use crate::config::Bundle;
use crate::files::SourceFile;
use crate::package::artifacts::ArtifactSpec;
use crate::package::wheel::{self, WheelInput};
use crate::package::{self, ArtifactRecord, FileRecord, Manifest};
use crate::workspace::Drift;

/// What a deploy does with one artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactAction {
    Put,
    Unchanged,
    Delete,
    /// A build command, whose output is known only once it has run.
    Build,
}

impl std::fmt::Display for ArtifactAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ArtifactAction::Put => "put",
            ArtifactAction::Unchanged => "unchanged",
            ArtifactAction::Delete => "delete",
            ArtifactAction::Build => "build",
        };
        f.pad(s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArtifactChange {
    pub name: String,
    pub action: ArtifactAction,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// Bytes of an artifact to write: built in memory (the wheel) or a file a
/// build command produced.
pub enum ArtifactBytes {
    Memory(Vec<u8>),
    File(PathBuf),
}

/// The artifacts of the next deployment: records (sorted by path), the
/// changes to report, and the bytes to write.
#[derive(Default)]
pub struct Artifacts {
    pub records: Vec<ArtifactRecord>,
    pub changes: Vec<ArtifactChange>,
    pub bytes: Vec<(String, ArtifactBytes)>,
}

/// What the current deployment holds, and whether it is intact.
pub struct Prior<'a> {
    pub manifest: Option<&'a Manifest>,
    pub drift: &'a Drift,
}

impl Prior<'_> {
    fn get(&self, path: &str) -> Option<&ArtifactRecord> {
        let m = self.manifest?;
        m.artifacts.iter().find(|a| a.path == path)
    }

    /// The current deployment holds `path` with `hash`, undamaged.
    fn holds(&self, path: &str, hash: &str) -> bool {
        self.get(path).is_some_and(|a| a.hash == hash) && self.intact(path)
    }

    fn intact(&self, path: &str) -> bool {
        !self.drift.damaged(&format!("artifacts/{path}"))
    }
}

/// The bundle's source files with their hashes, as the file plan saw them.
pub struct Sources<'a> {
    /// The files' records, in the order of `files`.
    pub records: &'a [FileRecord],
    pub files: &'a [SourceFile],
}

pub fn plan(
    bundle: &Bundle,
    sources: &Sources,
    prior: &Prior,
    specs: &[ArtifactSpec],
    built: &Built,
) -> Result<Artifacts> {
    let mut out = Artifacts::default();
    own_wheel(bundle, sources, prior, &mut out)?;
    match built {
        None => {
            for spec in specs {
                out.changes.push(build_change(spec));
            }
        }
        Some(built) => {
            for (spec, produced) in built {
                for file in produced {
                    built_file(spec, file, prior, &mut out)?;
                }
                out.changes.push(build_change(spec));
            }
        }
    }
    for a in prior.manifest.iter().flat_map(|m| &m.artifacts) {
        if !out.records.iter().any(|r| r.path == a.path) {
            out.changes.push(ArtifactChange {
                name: a.name.clone(),
                action: ArtifactAction::Delete,
                path: Some(a.path.clone()),
                command: None,
            });
        }
    }
    out.records.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn build_change(spec: &ArtifactSpec) -> ArtifactChange {
    ArtifactChange {
        name: spec.name.clone(),
        action: ArtifactAction::Build,
        path: None,
        command: spec.build.clone(),
    }
}

/// The bundle's own wheel: its key hashes its inputs, so an unchanged
/// package reuses the current wheel without building it.
fn own_wheel(bundle: &Bundle, src: &Sources, prior: &Prior, out: &mut Artifacts) -> Result<()> {
    let packages = wheel::packages(src.records.iter().map(|r| r.path.as_str()));
    if packages.is_empty() {
        return Ok(());
    }
    let path = format!(".internal/{}", wheel::file_name(&bundle.name));
    let mut key = blake3::Hasher::new();
    key.update(
        format!(
            "{}\0{}\0{}\n",
            wheel::dist_name(&bundle.name),
            wheel::WHEEL_VERSION,
            env!("CARGO_PKG_VERSION")
        )
        .as_bytes(),
    );
    let mut inputs = Vec::new();
    for (r, file) in src.records.iter().zip(src.files) {
        let p = &r.path;
        if wheel::belongs(p, &packages) {
            key.update(format!("{p}\0{}\n", r.hash).as_bytes());
            inputs.push(WheelInput {
                path: p,
                abs: &file.abs,
            });
        }
    }
    let key = key.finalize().to_hex().to_string();
    let reuse = prior.get(&path);
    let reuse = reuse.filter(|a| a.inputs.as_deref() == Some(&key) && prior.intact(&path));
    let (record, action) = match reuse {
        Some(a) => (a.clone(), ArtifactAction::Unchanged),
        None => {
            let bytes = wheel::build(&bundle.name, &packages, &inputs)?;
            let record = ArtifactRecord {
                path: path.clone(),
                size: bytes.len() as u64,
                hash: package::hash_bytes(&bytes),
                name: "wheel".into(),
                inputs: Some(key),
            };
            if prior.holds(&path, &record.hash) {
                (record, ArtifactAction::Unchanged)
            } else {
                out.bytes.push((path.clone(), ArtifactBytes::Memory(bytes)));
                (record, ArtifactAction::Put)
            }
        }
    };
    out.changes.push(ArtifactChange {
        name: "wheel".into(),
        action,
        path: Some(path),
        command: None,
    });
    out.records.push(record);
    Ok(())
}

/// One file a build command produced, deployed under `.internal/`.
fn built_file(spec: &ArtifactSpec, file: &Path, prior: &Prior, out: &mut Artifacts) -> Result<()> {
    let base = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{}: bad file name", file.display()))?;
    let path = format!(".internal/{base}");
    if out.records.iter().any(|r| r.path == path) {
        bail!(
            "artifact {}: two artifacts are named {base}; rename one",
            spec.name
        );
    }
    let hash = package::hash_file(file)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if !prior.holds(&path, &hash) {
        out.bytes
            .push((path.clone(), ArtifactBytes::File(file.to_path_buf())));
    }
    out.records.push(ArtifactRecord {
        path,
        size,
        hash,
        name: spec.name.clone(),
        inputs: None,
    });
    Ok(())
}
