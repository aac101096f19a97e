//! Promotion: copy what one env holds to another, byte for byte, verified
//! against the source's manifest and the digest its record vouches for.

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::state::{self, EnvState, HistoryEntry, Metadata};
use super::{DeployOptions, DeployReport, engine, history_len, keep_ids, open, with_lock};
use crate::config::Bundle;
use crate::package::{self, Manifest};
use crate::project::Project;
use crate::workspace::{Drift, Workspace};

/// Copy what env `from_env` holds to `bundle.target`, byte for byte: every
/// file is checked against `from_env`'s manifest and the digest verified, so
/// the target gets exactly the tested bytes (nothing is rebuilt). Resources
/// come from `bundle` (the target's configuration).
#[allow(dead_code)] // called by the flow module (stage, release)
pub fn promote(
    project: &Project,
    bundle: &Bundle,
    from_env: &str,
    opts: &DeployOptions,
) -> Result<DeployReport> {
    if from_env == bundle.target {
        bail!("cannot promote env {from_env} to itself");
    }
    // Its resources are deployed as by `deploy`: refused before any lock.
    super::env::check_references(project, bundle)?;
    let from = super::open_env(project, bundle, from_env)?;
    let user = super::current_user(bundle);
    // The source env is locked for the whole copy: what is read is what
    // its record vouches for, not a deploy landing meanwhile.
    let (mut r, warnings) = with_lock(&*from, &user, opts.force_lock, || {
        let source = Source::read(&*from, from_env, opts)?;
        let ws = open(project, bundle)?;
        let (mut r, warnings) = with_lock(&*ws, &user, opts.force_lock, || {
            promote_into(bundle, &*ws, &source, opts, &user)
        })?;
        r.warnings.splice(0..0, warnings);
        Ok(r)
    })
    .with_context(|| format!("promoting from env {from_env} (locked for the copy)"))?;
    r.warnings.splice(0..0, warnings);
    Ok(r)
}

/// The locked source env: its manifest (checked against its own digest),
/// its record, and the deployment it points to.
struct Source<'a> {
    ws: &'a dyn Workspace,
    env: &'a str,
    manifest: Manifest,
    meta: Option<Metadata>,
    current: Option<String>,
}

impl<'a> Source<'a> {
    fn read(ws: &'a dyn Workspace, env: &'a str, opts: &DeployOptions) -> Result<Self> {
        let manifest: Manifest = match ws.read("artifacts/manifest.json")? {
            Some(b) => crate::util::json::from_bytes(&b)
                .with_context(|| format!("reading the manifest of env {env}"))?,
            None => bail!("nothing is deployed in env {env}"),
        };
        if package::digest(&manifest.files, &manifest.artifacts) != manifest.digest {
            bail!("the manifest of env {env} does not match its digest");
        }
        let meta = EnvState::read(ws)?.metadata;
        if let Some(want) = &opts.expect_digest {
            let recorded = meta.as_ref().map(|m| m.digest.as_str());
            if manifest.digest != *want || recorded != Some(want.as_str()) {
                bail!(
                    "env {env} holds digest {} (its record says {}), not the digest {want} that \
                     passed: it changed since; nothing was promoted",
                    manifest.digest,
                    recorded.unwrap_or("nothing")
                );
            }
        }
        let current = ws.current()?;
        Ok(Source {
            ws,
            env,
            manifest,
            meta,
            current,
        })
    }

    fn git(&self) -> serde_json::Value {
        let meta = self.meta.as_ref();
        meta.map(|m| m.config["bundle"]["git"].clone())
            .unwrap_or_default()
    }
}

/// The locked target env as found.
struct Target {
    state: EnvState,
    prev: Option<Manifest>,
    previous_id: Option<String>,
    drift: Drift,
}

impl Target {
    fn read(ws: &dyn Workspace) -> Result<Self> {
        ws.recover()?;
        let state = EnvState::read(ws)?;
        let prev: Option<Manifest> = match ws.read("artifacts/manifest.json")? {
            Some(b) => Some(crate::util::json::from_bytes(&b)?),
            None => None,
        };
        let drift = match &prev {
            Some(m) => ws.drift(m)?,
            None => Drift::default(),
        };
        Ok(Target {
            state,
            prev,
            previous_id: ws.current()?,
            drift,
        })
    }

    /// Already promoted from the same env and digest, intact: nothing new,
    /// so no new deployment (and nothing pushed out of the rollback window).
    fn holds(&self, src: &Source) -> bool {
        let promoted = self.state.metadata.as_ref();
        let promoted = promoted.and_then(|m| m.promoted_from.as_ref());
        self.prev
            .as_ref()
            .is_some_and(|m| m.digest == src.manifest.digest)
            && self.drift.is_empty()
            && promoted.is_some_and(|p| p["env"] == src.env && p["digest"] == src.manifest.digest)
    }

    fn report(
        &self,
        bundle: &Bundle,
        ws: &dyn Workspace,
        src: &Source,
        forced: bool,
    ) -> DeployReport {
        DeployReport {
            env: bundle.target.clone(),
            location: ws.location(),
            dry_run: false,
            noop: true,
            deployment_id: self.previous_id.clone(),
            previous_id: self.previous_id.clone(),
            digest: src.manifest.digest.clone(),
            previous_digest: self.prev.as_ref().map(|m| m.digest.clone()),
            files: engine::FileChanges::default(),
            artifacts: Vec::new(),
            resources: Vec::new(),
            forced_lock: forced,
            warnings: Vec::new(),
        }
    }
}

/// `promote`, with both envs locked: a new version of the target holding
/// the source's bytes, its resources applied, then the switch.
fn promote_into(
    bundle: &Bundle,
    ws: &dyn Workspace,
    src: &Source,
    opts: &DeployOptions,
    user: &str,
) -> Result<DeployReport> {
    let t = Target::read(ws)?;
    if t.holds(src) {
        return Ok(t.report(bundle, ws, src, opts.force_lock));
    }
    let planned = super::resources::plan(bundle, t.state.tfstate.as_ref(), true);
    let n = history_len(opts);
    let id = t.state.new_id();
    let mut keep = keep_ids(&t.state.history, n - 1);
    keep.push(id.clone());
    let basis = crate::workspace::Basis {
        next: &src.manifest,
        keep: &keep,
    };
    let txn = ws.begin_from(&id, &basis)?;
    // Resources only once every byte checked out: a refused promotion
    // creates nothing.
    let copied = copy_verified(src, &*txn, t.prev.as_ref(), &t.drift).and_then(|changes| {
        let applied = super::apply_resources(ws, &planned)?;
        Ok((changes, applied))
    });
    let (changes, (resources, warnings)) = match copied {
        Ok(done) => done,
        Err(e) => {
            let _ = txn.abort();
            return Err(e);
        }
    };
    let entry = HistoryEntry {
        id: id.clone(),
        kind: "promote".into(),
        seq: 0,
        digest: src.manifest.digest.clone(),
        at: String::new(),
        by: user.to_string(),
        commit: src.git()["commit"].as_str().map(str::to_string),
        forced_lock: opts.force_lock,
        from: Some(format!(
            "{}/{}",
            src.env,
            src.current.clone().unwrap_or_default()
        )),
        flags: Vec::new(),
    };
    let now = crate::util::now_rfc3339();
    let files = state::deployed_files(&src.manifest.files);
    let record = t
        .state
        .next_record(files, resources.resources.clone(), &now, entry);
    let metadata = promoted_metadata(bundle, src, &resources, &id, now, user, opts);
    let state_files = record.files(&metadata)?;
    ws.prune(&keep_ids(&record.history, n))?;
    let tfstate = &record.tfstate;
    txn.commit(&src.manifest, &state_files).inspect_err(|_| {
        super::keep_resource_ids(ws, &resources, tfstate);
        let _ = super::write_cli_state(bundle, ws, &t.state, tfstate, user);
    })?;
    super::write_cli_state(bundle, ws, &t.state, tfstate, user)?;
    Ok(DeployReport {
        noop: false,
        deployment_id: Some(id),
        files: changes,
        resources: resources.changes,
        warnings,
        ..t.report(bundle, ws, src, opts.force_lock)
    })
}

/// The target's record: the target's configuration, the source's git and
/// test record, and where it was promoted from.
fn promoted_metadata(
    bundle: &Bundle,
    src: &Source,
    resources: &super::resources::ResourcePlan,
    id: &str,
    now: String,
    user: &str,
    opts: &DeployOptions,
) -> Metadata {
    let promoted_from = json!({
        "env": src.env,
        "deployment_id": src.current,
        "digest": src.manifest.digest,
        "test": src.meta.as_ref().and_then(|m| m.test.clone()),
    });
    let git = src.git();
    let made = state::Made {
        id,
        digest: &src.manifest.digest,
        at: now,
        by: user,
        git: &git,
        other: &opts.metadata,
    };
    Metadata {
        promoted_from: Some(promoted_from),
        ..Metadata::new(bundle, &resources.metadata_ids(bundle), made)
    }
}

/// Write `source` into `txn`: what the target already holds intact is
/// kept, the rest read from the source env and checked against its manifest
/// before it is written. In parallel: reading and hashing dominate.
fn copy_verified(
    src: &Source,
    txn: &dyn crate::workspace::Transaction,
    prev: Option<&Manifest>,
    drift: &Drift,
) -> Result<engine::FileChanges> {
    let (from, from_env) = (src.ws, src.env);
    let changes = plan_copy(&src.manifest, prev, drift);
    let put: std::collections::HashSet<&str> = changes.put.iter().map(String::as_str).collect();
    let entries: Vec<(String, String)> = env_paths(&src.manifest).into_iter().flatten().collect();
    crate::util::parallel(entries.len(), |i| {
        let (path, hash) = &entries[i];
        if !put.contains(path.as_str()) {
            return txn.keep(path);
        }
        let bytes = from
            .read(path)?
            .with_context(|| format!("env {from_env} lacks {path}"))?;
        if package::hash_bytes(&bytes) != *hash {
            bail!(
                "{path} in env {from_env} differs from its manifest (changed out of band): the tree \
                 is not what its record vouches for; deploy {from_env} again; nothing was promoted"
            );
        }
        txn.put(path, &bytes)
    })?;
    txn.put(
        "artifacts/manifest.json",
        &serde_json::to_vec(&src.manifest)?,
    )?;
    Ok(changes)
}

/// The engine's diff of two manifests, as paths in the env
/// (`artifacts/...`, `files/...`); a copy the target holds damaged is put
/// again.
fn plan_copy(next: &Manifest, prev: Option<&Manifest>, drift: &Drift) -> engine::FileChanges {
    // A workspace reports a notebook under its name without extension.
    let damaged = |path: &str| {
        !drift.is_empty()
            && (drift.damaged(path) || drift.damaged(crate::files::remote_name(path, true)))
    };
    let next = env_paths(next);
    let prev = prev.map(env_paths).unwrap_or_default();
    let mut all = engine::FileChanges::default();
    for (i, next) in next.iter().enumerate() {
        let prev = prev.get(i).map(|v| pairs(v)).unwrap_or_default();
        let c = engine::diff_sorted(&pairs(next), &prev, &damaged);
        all.put.extend(c.put);
        all.delete.extend(c.delete);
        all.unchanged += c.unchanged;
    }
    all
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(p, h)| (p.as_str(), h.as_str())).collect()
}

/// A manifest's `(path in the env, hash)` pairs: artifacts, then files,
/// each sorted by path as the manifest keeps them.
fn env_paths(m: &Manifest) -> [Vec<(String, String)>; 2] {
    let artifacts = m.artifacts.iter();
    let files = m.files.iter();
    [
        artifacts
            .map(|a| (format!("artifacts/{}", a.path), a.hash.clone()))
            .collect(),
        files
            .map(|f| (format!("files/{}", f.path), f.hash.clone()))
            .collect(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn setup(dir: &std::path::Path, env: &str) -> (Project, Bundle) {
        let src = dir.join("bundle");
        let project = Project::quiet_local(&src, &dir.join("root"), env);
        let bundle = Bundle {
            root: src,
            name: "b".into(),
            target: env.into(),
            mode: None,
            config: json!({"resources": {"jobs": {"j": {"name": "j"}}}}),
            resource_files: Default::default(),
            source: Default::default(),
        };
        (project, bundle)
    }

    #[test]
    fn promote_copies_the_exact_bytes_and_refuses_a_corrupted_source() {
        let dir = std::env::temp_dir().join(format!("xtask-promote-{}", uuid::Uuid::new_v4()));
        let src = dir.join("bundle");
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("pkg/__init__.py"), "A = 1\n").unwrap();
        std::fs::write(src.join("README.md"), "tested\n").unwrap();
        let (project, test_bundle) = setup(&dir, "test");
        let tested =
            crate::deploy::deploy(&project, &test_bundle, &DeployOptions::default()).unwrap();
        // The working tree moves on after the test: promotion must not pick that up.
        std::fs::write(src.join("README.md"), "untested\n").unwrap();
        let (_, staging) = setup(&dir, "staging");
        let r = promote(&project, &staging, "test", &DeployOptions::default()).unwrap();
        assert_eq!(r.digest, tested.digest);
        let staged = project.env_dir("b", "staging");
        assert_eq!(
            std::fs::read_to_string(staged.join("files/README.md")).unwrap(),
            "tested\n"
        );
        assert!(
            staged
                .join("artifacts/.internal/b-0.1.0-py3-none-any.whl")
                .is_file()
        );
        let meta: Metadata =
            serde_json::from_slice(&std::fs::read(staged.join("state/metadata.json")).unwrap())
                .unwrap();
        assert_eq!(meta.digest, tested.digest);
        assert_eq!(meta.promoted_from.as_ref().unwrap()["env"], "test");
        assert!(
            meta.config["resources"]["jobs"]["j"]["id"]
                .as_str()
                .is_some_and(|id| !id.is_empty())
        );

        // A file of the source env changed out of band: refuse, staging keeps its version.
        let f = project.env_dir("b", "test").join("files/README.md");
        let mut perm = std::fs::metadata(&f).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o644);
        std::fs::set_permissions(&f, perm).unwrap();
        std::fs::write(&f, "tampered\n").unwrap();
        // Staging already holds those bytes (verified against the manifest): nothing to copy.
        let again = promote(&project, &staging, "test", &DeployOptions::default()).unwrap();
        assert!(again.files.put.is_empty());
        // An env that needs the tampered file refuses, and is left undeployed.
        let (_, prod) = setup(&dir, "prod");
        let err = promote(&project, &prod, "test", &DeployOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("differs from its manifest"),
            "{err:#}"
        );
        assert!(!project.env_dir("b", "prod").join("current").exists());

        // The source holds another digest than the record that passed (a
        // deploy landed, or was killed before its state): refused.
        let opts = DeployOptions {
            expect_digest: Some("0".repeat(64)),
            ..Default::default()
        };
        let err = promote(&project, &staging, "test", &opts).unwrap_err();
        assert!(format!("{err:#}").contains("not the digest"), "{err:#}");
        // The source env is locked during the copy: a held lock stops it.
        let lock = project.env_dir("b", "test").join("state/deploy.lock");
        std::fs::write(&lock, "{\"ID\":\"x\",\"AcquisitionTime\":\"now\",\"IsForced\":false,\"User\":\"u\",\"pid\":1,\"host\":\"elsewhere\"}").unwrap();
        let err = promote(&project, &staging, "test", &DeployOptions::default()).unwrap_err();
        assert!(
            format!("{err:#}").contains("promoting from env test"),
            "{err:#}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
