//! A bundle deployed with `--remote` to the Databricks CLI's own test server
//! (`e2e::cli_server`): the binary under test, the server, the reference CLI
//! on the same server, and what a test reads back from the workspace over
//! its API. The tests on our own fake workspace share the command line.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use e2e::cli_server::{CliServer, Recorded, USER, cli_binary, cli_server};
use serde_json::Value;

use super::deploy::{DATABRICKS_YML, JOB_YML, Repo, files_under, text};

/// The demo bundle's `databricks.yml` with `dev` in development mode
/// (names prefixed `[dev tester]`).
pub fn dev_mode_yml() -> String {
    let dev = "  dev:\n    default: true\n";
    assert!(
        DATABRICKS_YML.contains(dev),
        "the demo's dev target changed"
    );
    DATABRICKS_YML.replace(dev, &format!("{dev}    mode: development\n"))
}

/// A Unity Catalog model with a grant, the last kind of a `resources:` file.
/// (No line continuation: it would eat the first line's indentation.)
pub const UC_MODEL_YML: &str = "  registered_models:
    model:
      name: model
      catalog_name: main
      schema_name: ml
      comment: first
      grants:
        - principal: account users
          privileges: [EXECUTE]
";

/// The demo's job and experiment (`support::deploy::JOB_YML`) and a Unity
/// Catalog model.
pub fn job_and_model_yml() -> String {
    format!("{JOB_YML}{UC_MODEL_YML}")
}

/// `xtask <args>` (with `--remote` when `remote`) on `repo`, against the
/// workspace at `host` with `token`, with no `~/.databrickscfg` of the
/// machine's user.
pub fn xtask_on(repo: &Repo, host: &str, token: &str, args: &[&str], remote: bool) -> Output {
    let mut cmd = repo.xtask(args);
    if remote {
        cmd.arg("--remote");
    }
    cmd.env("DATABRICKS_HOST", host)
        .env("DATABRICKS_TOKEN", token)
        .env("XTASK_POLL_MS", "20")
        .env("HOME", repo.path())
        .output()
        .expect("running xtask")
}

/// The JSON document of `xtask <args> --json`, which must have succeeded.
pub fn json_ok(args: &[&str], out: &Output) -> Value {
    assert!(out.status.success(), "xtask {args:?}:\n{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// `args` with `--json` appended.
pub fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut a = args.to_vec();
    a.push("--json");
    a
}

/// The id of resource `ty.name` in a `terraform.tfstate` document.
pub fn tf_id(tfstate: &Value, ty: &str, name: &str) -> Option<String> {
    tfstate["resources"]
        .as_array()?
        .iter()
        .find(|r| r["type"] == ty && r["name"] == name)
        .and_then(|r| r["instances"][0]["attributes"]["id"].as_str())
        .map(str::to_string)
}

/// Which workspace of the server the reference CLI deploys in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliWorkspace {
    /// Ours (the same token, so the same fake workspace and user, and the
    /// same HOME): the two tools take turns on one target.
    Ours,
    /// One of its own (another token, an empty HOME): its requests are
    /// compared with ours for the same bundle.
    Own,
}

/// `<root>` of env `env` of the `demo` bundle for the test user.
pub fn root(env: &str) -> String {
    format!("/Workspace/Users/{USER}/.bundle/demo/{env}")
}

pub struct CliRemote {
    pub repo: Repo,
    pub server: CliServer,
    /// Everything the binary printed, to look for the token at the end.
    printed: RefCell<String>,
}

impl CliRemote {
    /// The default demo bundle and a server of its own; `None` when the
    /// server is not built (the test then says it is skipped).
    pub fn start(test: &str) -> Option<CliRemote> {
        Some(CliRemote {
            repo: Repo::new(),
            server: cli_server(test)?,
            printed: Default::default(),
        })
    }

    /// `start`, with these bundle files (`(path, content)`) written over
    /// the demo's.
    pub fn with_files(test: &str, files: &[(&str, &str)]) -> Option<CliRemote> {
        let r = CliRemote::start(test)?;
        for (rel, content) in files {
            r.repo.write(rel, content);
        }
        Some(r)
    }

    /// `xtask <args> --remote`, local or remote as `remote` says.
    pub fn run_with(&self, args: &[&str], remote: bool) -> Output {
        let out = xtask_on(
            &self.repo,
            self.server.url(),
            self.server.token(),
            args,
            remote,
        );
        self.printed.borrow_mut().push_str(&text(&out));
        out
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, true)
    }

    /// `run` with `--json`, which must succeed: its document.
    pub fn ok(&self, args: &[&str]) -> Value {
        json_ok(args, &self.run(&with_json(args)))
    }

    /// `databricks <args>` (reference CLI, direct engine) in `dir`, on this
    /// server, in workspace `ws`; it must succeed.
    pub fn databricks(&self, bin: &Path, dir: &Path, args: &[&str], ws: CliWorkspace) -> Output {
        let out = self.databricks_output(bin, dir, args, ws);
        assert!(out.status.success(), "databricks {args:?}:\n{}", text(&out));
        out
    }

    /// `databricks`, whether it succeeds or not.
    pub fn databricks_output(
        &self,
        bin: &Path,
        dir: &Path,
        args: &[&str],
        ws: CliWorkspace,
    ) -> Output {
        let own_home = tempfile::tempdir().expect("tempdir");
        let (home, token) = match ws {
            CliWorkspace::Ours => (self.repo.path(), self.server.token().to_string()),
            CliWorkspace::Own => (own_home.path(), format!("{}-cli", self.server.token())),
        };
        Command::new(bin)
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("DATABRICKS_HOST", self.server.url())
            .env("DATABRICKS_TOKEN", token)
            .env("DATABRICKS_BUNDLE_ENGINE", "direct")
            .output()
            .expect("running databricks")
    }

    /// A copy of the bundle's files in a folder of its own, for the CLI to
    /// deploy beside ours without sharing its local cache.
    pub fn bundle_copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("tempdir");
        for (rel, bytes) in files_under(&self.repo.bundle()) {
            let to = copy.path().join(&rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, bytes).unwrap();
        }
        copy
    }

    /// The reference CLI deploys the bundle in a workspace of its own, then
    /// we deploy it in ours: (its requests, ours). `None` (saying why) when
    /// the CLI is not built.
    pub fn deploy_beside_cli(&self, test: &str) -> Option<(Vec<Recorded>, Vec<Recorded>)> {
        let bin = cli_binary(test)?;
        let bundle = self.repo.bundle();
        self.databricks(&bin, &bundle, &["bundle", "deploy"], CliWorkspace::Own);
        // Its local cache is not part of the bundle we deploy.
        std::fs::remove_dir_all(bundle.join(".databricks")).ok();
        let mark = self.server.mark();
        self.ok(&["deploy"]);
        let mut theirs = self.server.requests();
        let ours = theirs.split_off(mark);
        Some((theirs, ours))
    }

    /// One deploy by us, then one by the CLI from `copy` (see
    /// [`CliRemote::bundle_copy`]) into a workspace of its own: (ours, its).
    pub fn deploy_beside(&self, cli: &Path, copy: &Path) -> (Vec<Recorded>, Vec<Recorded>) {
        let m1 = self.server.mark();
        self.ok(&["deploy"]);
        let m2 = self.server.mark();
        self.databricks(cli, copy, &["bundle", "deploy"], CliWorkspace::Own);
        let all = self.server.requests();
        (all[m1..m2].to_vec(), all[m2..].to_vec())
    }

    /// Writes `rel` with `text` in our bundle and in the CLI's `copy` of it.
    pub fn write_both(&self, copy: &Path, rel: &str, text: &str) {
        self.repo.write(rel, text);
        std::fs::write(copy.join(rel), text).unwrap();
    }

    pub fn deploy(&self, env: &str) -> Value {
        self.ok(&["deploy", "--env", env])
    }

    /// The local bundle files as the workspace should hold them, by their
    /// remote name (notebooks without extension).
    pub fn expected(&self) -> BTreeMap<String, Vec<u8>> {
        files_under(&self.repo.bundle())
            .into_iter()
            .map(|(p, b)| {
                let nb = p.ends_with(".py") && b.starts_with(b"# Databricks notebook source");
                let name = if nb {
                    p.trim_end_matches(".py").into()
                } else {
                    p
                };
                (name, b)
            })
            .collect()
    }

    /// What the workspace holds under `<root>/files/` at the expected names,
    /// read back over the API (the server cannot list a folder).
    pub fn remote_files(&self, env: &str) -> BTreeMap<String, Vec<u8>> {
        self.expected()
            .into_keys()
            .filter_map(|rel| {
                let bytes = self.server.file(&format!("{}/files/{rel}", root(env)))?;
                Some((rel, bytes))
            })
            .collect()
    }

    /// Paths uploaded under `<root>/files/` by requests `from..`.
    pub fn uploaded(&self, env: &str, from: usize) -> Vec<String> {
        let prefix = format!("/api/2.0/workspace-files/import-file{}/files/", root(env));
        let mut v: Vec<String> = self.server.requests()[from..]
            .iter()
            .filter_map(|r| r.path.strip_prefix(&prefix).map(str::to_string))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The id of resource `ty.name` in the env's remote `terraform.tfstate`.
    pub fn id(&self, env: &str, ty: &str, name: &str) -> Option<String> {
        tf_id(
            &self.server.state(&root(env), "terraform.tfstate"),
            ty,
            name,
        )
    }

    pub fn job_id(&self, env: &str, key: &str) -> i64 {
        self.id(env, "databricks_job", key)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no job {key} in terraform.tfstate"))
    }

    /// The token is in nothing printed nor stored locally; the state files
    /// in the workspace do not hold it either.
    pub fn assert_token_never_leaked(&self, env: &str) {
        let token = self.server.token();
        assert!(
            !self.printed.borrow().contains(token),
            "the token was printed"
        );
        for (p, bytes) in files_under(self.repo.path()) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(token),
                "the token is stored in {p}"
            );
        }
        for name in [
            "metadata.json",
            "terraform.tfstate",
            "history.json",
            "deployment.json",
        ] {
            let state = self.server.state(&root(env), name).to_string();
            assert!(!state.contains(token), "the token is in state/{name}");
        }
        let bodies = self.server.requests();
        assert!(
            bodies.iter().all(|r| !r.body.contains(token)),
            "the token was sent in a request body"
        );
    }
}

/// The bodies of the requests whose `METHOD path` starts with `prefix`,
/// each passed through `norm` (e.g. ids blanked), as a sorted set: the CLI
/// sends independent resources' requests concurrently, in no fixed order.
pub fn bodies_by(reqs: &[Recorded], prefix: &str, norm: fn(Value) -> Value) -> Vec<Value> {
    let matching = reqs.iter().filter(|q| q.line().starts_with(prefix));
    let mut v: Vec<Value> = matching
        .map(|q| norm(serde_json::from_str(&q.body).unwrap_or(Value::Null)))
        .collect();
    v.sort_by_key(|b| b.to_string());
    v
}

/// For each prefix, the CLI sent such requests and ours sent the same
/// bodies (after `norm`); every prefix that differs is named at once.
pub fn assert_same_bodies(
    ours: &[Recorded],
    theirs: &[Recorded],
    prefixes: &[&str],
    norm: fn(Value) -> Value,
) {
    let mut differ = Vec::new();
    for prefix in prefixes {
        let (o, t) = (
            bodies_by(ours, prefix, norm),
            bodies_by(theirs, prefix, norm),
        );
        assert!(!t.is_empty(), "{prefix}: the CLI sent none");
        if o != t {
            differ.push(format!("{prefix}:\n ours   {o:?}\n theirs {t:?}"));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// The `resources.json` the CLI keeps in its copy of the bundle (target `test`).
pub fn cli_state(copy: &Path) -> Value {
    let file = copy.join(".databricks/bundle/test/resources.json");
    serde_json::from_slice(&std::fs::read(&file).expect("the CLI's resources.json")).unwrap()
}

/// The entries of a `resources.json` whose key starts with `prefix`.
pub fn state_entries(state: &Value, prefix: &str) -> Value {
    let all = state["state"].as_object().cloned().unwrap_or_default();
    Value::Object(
        all.into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect(),
    )
}
