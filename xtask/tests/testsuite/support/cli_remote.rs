//! A bundle deployed with `--remote` to the Databricks CLI's own test server
//! (`e2e::cli_server`): the binary under test, the server, and what a test
//! reads back from the workspace over its API.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::process::Output;

use e2e::cli_server::{CliServer, USER, cli_server};
use serde_json::Value;

use super::deploy::{Repo, files_under, text};

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

    /// `xtask <args> --remote`, local or remote as `remote` says.
    pub fn run_with(&self, args: &[&str], remote: bool) -> Output {
        let mut cmd = self.repo.xtask(args);
        if remote {
            cmd.arg("--remote");
        }
        let out = cmd
            .env("DATABRICKS_HOST", self.server.url())
            .env("DATABRICKS_TOKEN", self.server.token())
            .env("XTASK_POLL_MS", "20")
            // No ~/.databrickscfg of the machine's user.
            .env("HOME", self.repo.path())
            .output()
            .expect("running xtask");
        self.printed.borrow_mut().push_str(&text(&out));
        out
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, true)
    }

    /// `run` with `--json`, which must succeed: its document.
    pub fn ok(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.run(&a);
        assert!(out.status.success(), "xtask {args:?}:\n{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
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
        let tf = self.server.state(&root(env), "terraform.tfstate");
        tf["resources"]
            .as_array()?
            .iter()
            .find(|r| r["type"] == ty && r["name"] == name)
            .and_then(|r| r["instances"][0]["attributes"]["id"].as_str())
            .map(str::to_string)
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
