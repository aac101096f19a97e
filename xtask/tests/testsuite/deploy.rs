//! `plan`, `deploy`, `status`, `rollback` end to end: the real binary on
//! bundles in temp git repositories, deploying to temp local environments.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::support::deploy::{Repo, assert_same_tree, files_under, strings, text, tree_hash};
use serde_json::Value;

fn source_files(repo: &Repo) -> Vec<String> {
    let mut v: Vec<String> = files_under(&repo.bundle())
        .into_keys()
        .filter(|p| !p.starts_with(".git/") && p != ".git")
        .collect();
    v.sort();
    v
}

fn actions(v: &Value, fields: &[&str]) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            fields
                .iter()
                .map(|f| x[*f].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn deploy_writes_files_manifest_and_cli_state() {
    let repo = Repo::new();
    let r = repo.deploy("dev");
    let deployed = repo.deployed("dev");
    let expected: Vec<String> = source_files(&repo);
    assert_eq!(deployed.keys().cloned().collect::<Vec<_>>(), expected);
    for (path, bytes) in &deployed {
        assert_eq!(
            bytes,
            &std::fs::read(repo.bundle().join(path)).unwrap(),
            "{path}"
        );
    }
    // Deployed files are read-only.
    let mode = std::fs::metadata(repo.env_dir("dev").join("files/README.md"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(repo.env_dir("dev").join("artifacts/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["digest"], r["digest"]);
    let nb = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "training/train.py")
        .unwrap();
    assert_eq!(nb["notebook"], true);
    assert_eq!(nb["hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        nb["size"],
        "# Databricks notebook source\nprint('train')\n".len()
    );

    let meta = repo.state("dev", "metadata.json");
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["config"]["bundle"]["name"], "demo");
    assert_eq!(meta["config"]["bundle"]["target"], "dev");
    assert_eq!(meta["digest"], r["digest"]);
    assert!(
        meta["config"]["bundle"]["git"]["commit"]
            .as_str()
            .unwrap()
            .len()
            == 40,
        "{meta}"
    );
    assert_eq!(
        meta["config"]["resources"]["jobs"]["train"]["relative_path"],
        "resources/job.yml"
    );
    assert!(meta["deployed_at"].as_str().unwrap().starts_with("20"));
    assert!(meta["tool_version"].as_str().unwrap().starts_with("xtask-"));
    let dep = repo.state("dev", "deployment.json");
    assert_eq!(dep["version"], 1);
    assert_eq!(dep["seq"], 1);
    assert!(
        dep["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["local_path"] == "training/train.py" && f["is_notebook"] == true)
    );
    let tf = repo.state("dev", "terraform.tfstate");
    assert_eq!(tf["version"], 4);
    assert_eq!(tf["serial"], 1);
    let types: Vec<&str> = tf["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"databricks_job") && types.contains(&"databricks_mlflow_experiment"),
        "{types:?}"
    );
    assert!(!repo.env_dir("dev").join("state/deploy.lock").exists());

    // A second deploy with a change of a file: seq + 1, lineage and
    // deployment id kept; the serial moves with the resources only (as
    // Terraform's), so the same terraform.tfstate stands.
    repo.write("README.md", "demo, changed\n");
    repo.deploy("dev");
    let dep2 = repo.state("dev", "deployment.json");
    assert_eq!(dep2["seq"], 2);
    assert_eq!(dep2["id"], dep["id"]);
    let tf2 = repo.state("dev", "terraform.tfstate");
    assert_eq!(tf2, tf);
}

#[test]
fn plan_writes_nothing_and_deploy_does_what_it_said() {
    let repo = Repo::new();
    repo.deploy("dev");
    repo.write("README.md", "changed\n");
    repo.write("rag/new.py", "X = 2\n");
    std::fs::remove_file(repo.bundle().join("rag/chunk.py")).unwrap();
    repo.write(
        "resources/job.yml",
        &crate::support::deploy::JOB_YML.replace("name: train", "name: train2"),
    );
    let before = tree_hash(&repo.root());
    let plan = repo.json(&["plan", "--env", "dev"]);
    let human = repo.run(&["plan", "--env", "dev"]);
    assert!(human.status.success());
    assert_same_tree(&before, &tree_hash(&repo.root()));
    assert_eq!(plan["dry_run"], true);
    assert_eq!(
        strings(&plan["files"]["put"]),
        ["README.md", "rag/new.py", "resources/job.yml"]
    );
    assert_eq!(strings(&plan["files"]["delete"]), ["rag/chunk.py"]);
    assert!(
        actions(&plan["resources"], &["kind", "key", "action"])
            .contains(&"jobs train update".to_string())
    );

    let dep = repo.deploy("dev");
    assert_eq!(dep["files"], plan["files"]);
    assert_eq!(
        actions(&dep["artifacts"], &["name", "action"]),
        actions(&plan["artifacts"], &["name", "action"])
    );
    assert_eq!(
        actions(&dep["resources"], &["kind", "key", "action"]),
        actions(&plan["resources"], &["kind", "key", "action"])
    );
    assert_eq!(dep["digest"], plan["digest"]);
    assert!(!repo.env_dir("dev").join("files/rag/chunk.py").exists());
}

#[test]
fn resource_ids_are_stable_new_ones_fresh_removed_ones_gone() {
    let repo = Repo::new();
    repo.deploy("dev");
    let ids = |repo: &Repo| repo.state("dev", "metadata.json")["config"]["resources"].clone();
    let first = ids(&repo);
    let train = first["jobs"]["train"]["id"].as_str().unwrap().to_string();
    assert!(!train.is_empty());
    repo.write(
        "resources/job.yml",
        "resources:\n  jobs:\n    train:\n      name: train\n    other:\n      name: other\n",
    );
    let r = repo.deploy("dev");
    let second = ids(&repo);
    assert_eq!(second["jobs"]["train"]["id"], train.as_str());
    assert!(
        second["jobs"]["other"]["id"]
            .as_str()
            .is_some_and(|s| !s.is_empty() && s != train)
    );
    assert!(
        second
            .get("experiments")
            .is_none_or(|e| e.get("exp").is_none()),
        "{second}"
    );
    assert!(
        actions(&r["resources"], &["kind", "key", "action"])
            .contains(&"experiments exp delete".to_string())
    );
    let tf = repo.state("dev", "terraform.tfstate");
    assert!(
        !tf["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["type"] == "databricks_mlflow_experiment")
    );
}

#[test]
fn file_selection_follows_ignore_rules_include_and_exclude() {
    let repo = Repo::new();
    repo.write(
        "databricks.yml",
        &format!("{}sync:\n  include:\n    - build/keep.txt\n    - data/*.csv\n  exclude:\n    - data/b.csv\n    - notes/\n", crate::support::deploy::DATABRICKS_YML),
    );
    repo.write(".gitignore", "*.log\nbuild/\n");
    repo.write("data/.gitignore", "*.csv\n");
    repo.write("a.log", "x");
    repo.write("build/keep.txt", "x");
    repo.write("build/other.txt", "x");
    repo.write("data/a.csv", "x");
    repo.write("data/b.csv", "x");
    repo.write("notes/n.txt", "x");
    repo.write("secret.txt", "x");
    std::fs::write(repo.path().join(".git/info/exclude"), "secret.txt\n").unwrap();
    repo.write(".venv/lib.py", "x");
    repo.write("target/debug.bin", "x");
    repo.write("env2/pyvenv.cfg", "home = /usr\n");
    repo.write("env2/lib.py", "x");
    repo.write(".databricks/bundle/x", "x");
    std::os::unix::fs::symlink("README.md", repo.bundle().join("link.md")).unwrap();
    let out = repo.run(&["deploy", "--env", "dev"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("skipping symlink link.md"),
        "{}",
        text(&out)
    );
    let deployed: Vec<String> = repo.deployed("dev").into_keys().collect();
    for p in [
        "build/keep.txt",
        "data/a.csv",
        ".gitignore",
        "data/.gitignore",
        "README.md",
    ] {
        assert!(
            deployed.contains(&p.to_string()),
            "{p} missing from {deployed:?}"
        );
    }
    for p in [
        "a.log",
        "build/other.txt",
        "data/b.csv",
        "notes/n.txt",
        "secret.txt",
        ".venv/lib.py",
        "target/debug.bin",
        "env2/lib.py",
        "link.md",
        ".databricks/bundle/x",
    ] {
        assert!(
            !deployed.contains(&p.to_string()),
            "{p} should not be deployed: {deployed:?}"
        );
    }
}

#[test]
fn works_outside_a_git_repository() {
    let repo = Repo::empty();
    repo.write("databricks.yml", crate::support::deploy::DATABRICKS_YML);
    repo.write(".gitignore", "*.tmp\n");
    repo.write("a.py", "print(1)\n");
    repo.write("b.tmp", "x");
    repo.deploy("dev");
    let deployed: Vec<String> = repo.deployed("dev").into_keys().collect();
    assert_eq!(deployed, [".gitignore", "a.py", "databricks.yml"]);
}

#[test]
fn notebook_name_collision_is_an_error_and_writes_nothing() {
    let repo = Repo::new();
    repo.deploy("dev");
    repo.write(
        "training/train.sql",
        "-- Databricks notebook source\nselect 1\n",
    );
    let before = tree_hash(&repo.root());
    let out = repo.run(&["deploy", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("training/train.py")
            && err.contains("training/train.sql")
            && err.contains("same remote file"),
        "{err}"
    );
    assert_same_tree(&before, &tree_hash(&repo.root()));
}

#[test]
fn bundle_wheel_is_deterministic_and_installs_with_pip() {
    let repo = Repo::new();
    let r = repo.deploy("dev");
    assert!(
        actions(&r["artifacts"], &["name", "action"]).contains(&"wheel put".to_string()),
        "{r}"
    );
    let whl = repo
        .env_dir("dev")
        .join("artifacts/.internal/demo-0.1.0-py3-none-any.whl");
    assert!(whl.is_file());
    let bytes = std::fs::read(&whl).unwrap();
    // Touch the package: same content, same wheel, same digest.
    let f = std::fs::File::options()
        .append(true)
        .open(repo.bundle().join("rag/chunk.py"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now()).unwrap();
    let r2 = repo.deploy("dev");
    assert_eq!(r2["digest"], r["digest"]);
    assert_eq!(std::fs::read(&whl).unwrap(), bytes);
    // A change to the package rebuilds it.
    repo.write("rag/chunk.py", "def chunk(s):\n    return s.split(',')\n");
    let r3 = repo.deploy("dev");
    assert!(
        actions(&r3["artifacts"], &["name", "action"]).contains(&"wheel put".to_string()),
        "{r3}"
    );

    let venv = repo.path().join("venv");
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(ok.success());
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--no-index", "--no-deps", "--quiet"])
        .arg(&whl)
        .output()
        .unwrap();
    assert!(pip.status.success(), "{}", text(&pip));
    let py = Command::new(venv.join("bin/python"))
        .args([
            "-c",
            "import rag, rag.chunk; print(rag.VERSION, rag.chunk.chunk('a,b'))",
        ])
        .current_dir(repo.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&py.stdout).trim(),
        "1 ['a', 'b']",
        "{}",
        text(&py)
    );
}

#[test]
fn config_artifacts_are_built_and_collected() {
    let repo = Repo::new();
    repo.write(
        "databricks.yml",
        &format!(
            "{}artifacts:\n  lib:\n    type: whl\n    path: ./lib\n    build: mkdir -p dist && printf built > dist/lib-1.0-py3-none-any.whl\n",
            crate::support::deploy::DATABRICKS_YML
        ),
    );
    repo.write("lib/setup.py", "# setup\n");
    repo.write(".gitignore", "dist/\n");
    let plan = repo.json(&["plan", "--env", "dev"]);
    assert!(
        actions(&plan["artifacts"], &["name", "action"]).contains(&"lib build".to_string()),
        "{plan}"
    );
    assert!(
        !repo.bundle().join("lib/dist").exists(),
        "plan must not run builds"
    );
    repo.deploy("dev");
    let art = repo
        .env_dir("dev")
        .join("artifacts/.internal/lib-1.0-py3-none-any.whl");
    assert_eq!(std::fs::read_to_string(art).unwrap(), "built");

    repo.write(
        "databricks.yml",
        &format!("{}artifacts:\n  lib:\n    type: whl\n    path: ./lib\n    build: echo broken >&2; exit 3\n", crate::support::deploy::DATABRICKS_YML),
    );
    let before = tree_hash(&repo.root());
    let out = repo.run(&["deploy", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("broken"),
        "{}",
        text(&out)
    );
    assert_same_tree(&before, &tree_hash(&repo.root()));
}

#[test]
fn incremental_touch_writes_nothing_same_size_edit_is_caught() {
    let repo = Repo::new();
    repo.deploy("dev");
    let ino = |p: &str| {
        std::fs::metadata(repo.env_dir("dev").join("files").join(p))
            .unwrap()
            .ino()
    };
    let chunk_ino = ino("rag/chunk.py");

    let f = std::fs::File::options()
        .append(true)
        .open(repo.bundle().join("README.md"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let r = repo.deploy("dev");
    assert_eq!(r["noop"], true, "{r}");
    assert!(strings(&r["files"]["put"]).is_empty());

    // Same size, right away (same second).
    repo.write("README.md", "DEMO\n");
    let r = repo.deploy("dev");
    assert_eq!(strings(&r["files"]["put"]), ["README.md"]);
    assert_eq!(
        std::fs::read_to_string(repo.env_dir("dev").join("files/README.md")).unwrap(),
        "DEMO\n"
    );
    repo.write("README.md", "demo\n");
    let r = repo.deploy("dev");
    assert_eq!(strings(&r["files"]["put"]), ["README.md"]);
    // Unchanged files are the same inode across versions (hard links), not copies.
    assert_eq!(ino("rag/chunk.py"), chunk_ino);

    std::fs::remove_file(repo.bundle().join("README.md")).unwrap();
    let r = repo.deploy("dev");
    assert_eq!(strings(&r["files"]["delete"]), ["README.md"]);
    assert!(!repo.env_dir("dev").join("files/README.md").exists());
}

/// Kept deployments of an env: version folders not reduced to a husk of shared folders.
fn versions(env: &Path) -> usize {
    std::fs::read_dir(env.join(".deployments"))
        .unwrap()
        .flatten()
        .filter(|e| !e.path().join(".husk").exists())
        .count()
}

fn set_source(repo: &Repo, v: u32) {
    // A folder big enough to be shared between versions as one symlink.
    for i in 0..40 {
        repo.write(&format!("data/f{i}.txt"), &format!("{i}\n"));
    }
    repo.write("README.md", &format!("version {v}\n"));
    repo.write(&format!("v{v}/only.txt"), "x");
    let _ = std::fs::remove_dir_all(repo.bundle().join(format!("v{}", 1 - v)));
    repo.write("rag/chunk.py", &format!("def chunk(s):\n    return {v}\n"));
}

#[test]
fn a_deploy_killed_at_any_step_leaves_a_complete_version_and_the_next_one_recovers() {
    let repo = Repo::new();
    set_source(&repo, 0);
    repo.deploy("dev");
    let mut contents = vec![repo.deployed("dev")];
    set_source(&repo, 1);
    repo.deploy("dev");
    contents.push(repo.deployed("dev"));
    let mut n = 1;
    let mut cur = 1;
    loop {
        let next = 1 - cur;
        set_source(&repo, next as u32);
        let out = repo
            .xtask(&["deploy", "--env", "dev"])
            .env("XTASK_FAULT_AFTER_STEP", n.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            assert!(n > 10, "the deploy has only {n} steps?");
            eprintln!("killed at each of steps 1..{n}; all recovered");
            break;
        }
        assert_eq!(
            out.status.code(),
            None,
            "step {n}: expected an abort\n{}",
            text(&out)
        );
        let seen = repo.deployed("dev");
        assert!(
            seen == contents[cur] || seen == contents[next],
            "step {n}: a mix of versions: {:?}",
            seen.keys()
        );
        let status = repo.json(&["status", "--env", "dev"]);
        assert!(status[0]["deployed"] == true, "step {n}: {status}");
        // The next deploy succeeds without cleanup (the dead process's lock is taken over).
        let r = repo.deploy("dev");
        assert_eq!(repo.deployed("dev"), contents[next], "step {n}");
        assert!(
            r["warnings"].to_string().contains("stale")
                || !r["warnings"].to_string().contains("lock acquired"),
            "{r}"
        );
        let status = repo.json(&["status", "--env", "dev"]);
        assert_eq!(
            status[0]["drift"],
            serde_json::json!({"changed": [], "added": [], "missing": []}),
            "step {n}"
        );
        cur = next;
        n += 1;
    }
    let kept = versions(&repo.env_dir("dev"));
    assert!(kept <= 5, "{kept} versions kept");
}

#[test]
fn a_full_disk_midway_is_a_clear_error_and_the_previous_version_stays() {
    let repo = Repo::new();
    repo.deploy("dev");
    let before = repo.deployed("dev");
    let versions = std::fs::read_dir(repo.env_dir("dev").join(".deployments"))
        .unwrap()
        .count();
    repo.write("README.md", "new content\n");
    repo.write("more/a.txt", "a");
    for n in [2, 4, 6] {
        let out = repo
            .xtask(&["deploy", "--env", "dev"])
            .env("XTASK_FAULT_ERROR_AT_STEP", n.to_string())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("No space left on device"),
            "{}",
            text(&out)
        );
        assert_eq!(repo.deployed("dev"), before);
        assert!(
            !repo.env_dir("dev").join("state/deploy.lock").exists(),
            "lock left behind"
        );
        assert_eq!(
            std::fs::read_dir(repo.env_dir("dev").join(".deployments"))
                .unwrap()
                .count(),
            versions
        );
    }
    repo.deploy("dev");
    assert_eq!(
        std::fs::read_to_string(repo.env_dir("dev").join("files/README.md")).unwrap(),
        "new content\n"
    );
}

#[test]
fn an_unreadable_file_is_a_clear_error_and_writes_nothing() {
    let repo = Repo::new();
    repo.deploy("dev");
    repo.write("secret.py", "x = 1\n");
    let path = repo.bundle().join("secret.py");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let before = tree_hash(&repo.root());
    let mut cmd = repo.xtask(&["deploy", "--env", "dev"]);
    if std::fs::read(&path).is_ok() {
        // Running as root: permissions do not stop reads; inject the same error.
        cmd.env("XTASK_FAULT_UNREADABLE", "secret.py");
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secret.py") && err.contains("ermission denied"),
        "{err}"
    );
    assert_same_tree(&before, &tree_hash(&repo.root()));
}

#[test]
fn an_invalid_configuration_refuses_to_act() {
    let repo = Repo::new();
    repo.write(
        "databricks.yml",
        "bundle:\n  name: demo\nresources:\n  jobs: [\n",
    );
    for cmd in ["deploy", "plan", "status", "rollback"] {
        let out = repo.run(&[cmd, "--env", "dev"]);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("rror"),
            "{}",
            text(&out)
        );
    }
    assert!(!repo.root().exists());
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn write_lock(repo: &Repo, pid: u32) {
    let dir = repo.env_dir("dev").join("state");
    std::fs::create_dir_all(&dir).unwrap();
    // Written as a process of this machine writes it: with its boot and PID namespace.
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let ns = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let lock = serde_json::json!({"ID": "abc", "AcquisitionTime": "2026-01-01T00:00:00Z", "IsForced": false,
        "User": "alice@example.com", "pid": pid, "host": hostname(),
        "boot_id": boot.trim(), "pid_ns": ns.to_string_lossy()});
    std::fs::write(dir.join("deploy.lock"), lock.to_string()).unwrap();
}

#[test]
fn an_empty_lock_left_by_a_full_disk_does_not_wedge_the_env() {
    let repo = Repo::new();
    repo.deploy("dev");
    let dir = repo.env_dir("dev").join("state");
    std::fs::write(dir.join("deploy.lock"), "").unwrap();
    repo.write("README.md", "after the disk was freed\n");
    let r = repo.deploy("dev");
    assert!(r["warnings"].to_string().contains("empty"), "{r}");
    assert!(!dir.join("deploy.lock").exists());
    assert_eq!(
        repo.deployed("dev")["README.md"],
        b"after the disk was freed\n".to_vec()
    );
}

#[test]
fn lock_held_by_a_live_process_stops_a_deploy_and_force_overrides() {
    let repo = Repo::new();
    repo.deploy("dev");
    write_lock(&repo, std::process::id());
    let out = repo.run(&["deploy", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("deploy lock acquired by alice@example.com")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(err.contains("--force-lock"));
    let r = repo.json(&["deploy", "--env", "dev", "--force-lock"]);
    assert_eq!(r["forced_lock"], true);
    assert!(
        r["warnings"].to_string().contains("alice@example.com"),
        "{r}"
    );
    let history = repo.state("dev", "history.json");
    assert_eq!(
        history["deployments"].as_array().unwrap().last().unwrap()["forced_lock"],
        true
    );
    assert!(!repo.env_dir("dev").join("state/deploy.lock").exists());
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over() {
    let repo = Repo::new();
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    write_lock(&repo, pid);
    let r = repo.deploy("dev");
    assert!(r["warnings"].to_string().contains("stale lock"), "{r}");
    assert!(!repo.env_dir("dev").join("state/deploy.lock").exists());
}

#[test]
fn deploys_to_different_envs_run_in_parallel() {
    let repo = Repo::new();
    let children: Vec<_> = ["dev", "test", "staging"]
        .iter()
        .map(|env| {
            repo.xtask(&["deploy", "--env", env, "-q", "--force"])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    for env in ["dev", "test", "staging"] {
        assert_eq!(repo.deployed(env).len(), source_files(&repo).len());
    }
}

#[test]
fn status_finds_drift_and_the_next_deploy_repairs_it() {
    let repo = Repo::new();
    repo.deploy("dev");
    let files = repo.env_dir("dev").join("files");
    let readme = files.join("README.md");
    std::fs::set_permissions(&readme, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&readme, "EVIL\n").unwrap();
    std::fs::remove_file(files.join("rag/chunk.py")).unwrap();
    std::fs::write(files.join("extra.txt"), "x").unwrap();
    // Links added out of band are files to the drift check, never followed.
    std::os::unix::fs::symlink("README.md", files.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("../nowhere", files.join("rag/dangling")).unwrap();
    std::os::unix::fs::symlink("/etc", files.join("outside")).unwrap();
    let status = repo.json(&["status", "--env", "dev"]);
    let drift = &status[0]["drift"];
    assert_eq!(strings(&drift["changed"]), ["files/README.md"]);
    assert_eq!(strings(&drift["missing"]), ["files/rag/chunk.py"]);
    assert_eq!(
        strings(&drift["added"]),
        [
            "files/extra.txt",
            "files/link.txt",
            "files/outside",
            "files/rag/dangling"
        ]
    );
    let human = repo.run(&["status"]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("changed files/README.md"),
        "{}",
        text(&human)
    );
    let plan = repo.json(&["plan", "--env", "dev"]);
    assert_eq!(
        strings(&plan["files"]["put"]),
        ["README.md", "rag/chunk.py"]
    );
    repo.deploy("dev");
    assert_eq!(std::fs::read_to_string(&readme).unwrap(), "demo\n");
    assert!(files.join("rag/chunk.py").is_file());
    assert!(!files.join("extra.txt").exists());
    assert!(std::fs::symlink_metadata(files.join("outside")).is_err());
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        status[0]["drift"],
        serde_json::json!({"changed": [], "added": [], "missing": []})
    );
}

#[test]
fn history_keeps_five_and_rollback_switches_back() {
    let repo = Repo::new();
    let mut digests = Vec::new();
    for i in 0..7 {
        repo.write("README.md", &format!("v{i}\n"));
        digests.push(repo.deploy("dev")["digest"].clone());
    }
    assert_eq!(versions(&repo.env_dir("dev")), 5);
    let status = repo.json(&["status", "--env", "dev"]);
    let kept: Vec<String> = status[0]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept.len(), 5);

    let r = repo.json(&["rollback", "--env", "dev"]);
    assert_eq!(r["digest"], digests[5]);
    assert_eq!(
        std::fs::read_to_string(repo.env_dir("dev").join("files/README.md")).unwrap(),
        "v5\n"
    );
    assert_eq!(repo.state("dev", "metadata.json")["digest"], digests[5]);
    let seq: u64 = kept[1][..4].parse().unwrap();
    let r = repo.json(&["rollback", "--env", "dev", "--to", &seq.to_string()]);
    assert_eq!(r["to"], kept[1].as_str());
    assert_eq!(
        std::fs::read_to_string(repo.env_dir("dev").join("files/README.md")).unwrap(),
        "v3\n"
    );
    // Folders unchanged since the first (pruned) deployment are still there, intact.
    assert_eq!(
        std::fs::read(repo.env_dir("dev").join("files/rag/chunk.py")).unwrap(),
        std::fs::read(repo.bundle().join("rag/chunk.py")).unwrap()
    );
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        status[0]["drift"],
        serde_json::json!({"changed": [], "added": [], "missing": []})
    );
    let history = repo.state("dev", "history.json");
    let last = history["deployments"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "rollback");
    assert_eq!(repo.state("dev", "deployment.json")["seq"], 9);
    let out = repo.run(&["rollback", "--env", "dev", "--to", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not kept"),
        "{}",
        text(&out)
    );
    // A deploy after a rollback builds on the rolled-back version.
    repo.write("README.md", "v7\n");
    repo.deploy("dev");
    assert_eq!(
        std::fs::read_to_string(repo.env_dir("dev").join("files/README.md")).unwrap(),
        "v7\n"
    );
}

/// A directory of fake build tools (`uv`, `poetry`) that drop a wheel in `dist/`.
fn fake_tools(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for tool in ["uv", "poetry"] {
        let p = dir.join(tool);
        std::fs::write(&p, "#!/bin/sh\nmkdir -p dist && printf wheel > dist/$(basename \"$PWD\")-0.1-py3-none-any.whl\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn copy_dir(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn the_corpus_bundles_deploy_to_a_local_env() {
    let Some(corpus) = e2e::corpus_dir("the_corpus_bundles_deploy_to_a_local_env") else {
        return;
    };
    let mut names: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    names.sort();
    assert!(names.len() >= 5);
    let (mut deployed, mut refused) = (0, Vec::new());
    for name in names {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("b");
        copy_dir(&corpus.join(&name), &bundle);
        let path = fake_tools(&tmp.path().join("bin"));
        let git = |args: &[&str]| {
            Command::new("git")
                .args(["-c", "user.email=a@b.c", "-c", "user.name=A"])
                .args(args)
                .current_dir(&bundle)
                .output()
                .unwrap()
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-qm", "i"]);
        let validate = crate::xtask()
            .args(["validate", "--bundle-dir"])
            .arg(&bundle)
            .output()
            .unwrap();
        let out = crate::xtask()
            .args(["deploy", "--json", "--bundle-dir"])
            .arg(&bundle)
            .arg("--root")
            .arg(tmp.path().join("root"))
            .env("PATH", &path)
            .output()
            .unwrap();
        if !validate.status.success() {
            // A configuration the loader rejects must not be deployed.
            assert_eq!(out.status.code(), Some(1), "{name:?}: {}", text(&out));
            assert!(
                !tmp.path().join("root").exists(),
                "{name:?}: a refused deploy wrote something"
            );
            refused.push(name);
            continue;
        }
        assert!(out.status.success(), "{name:?}: {}", text(&out));
        deployed += 1;
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        let env = r["env"].as_str().unwrap();
        let bname = std::fs::read_dir(tmp.path().join("root/.bundle"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .file_name();
        let files = files_under(
            &tmp.path()
                .join("root/.bundle")
                .join(&bname)
                .join(env)
                .join("files"),
        );
        assert!(files.contains_key("databricks.yml"), "{name:?}");
        let status = crate::xtask()
            .args(["status", "--json", "--bundle-dir"])
            .arg(&bundle)
            .arg("--root")
            .arg(tmp.path().join("root"))
            .output()
            .unwrap();
        assert!(status.status.success(), "{name:?}: {}", text(&status));
    }
    eprintln!("corpus: {deployed} deployed; refused by the config loader: {refused:?}");
    // target_includes names `${var.environment}`, declared nowhere, in its
    // default target: the Databricks CLI fails there too ("reference does
    // not exist", libs/dyn/dynvar/resolve.go). default_python and
    // lakeflow_pipelines_python lack their pipeline's `root_path` folder (the
    // corpus copies configuration only): the CLI fails on that too ("stat
    // src/...: no such file or directory", measured with v0.298.0). Every
    // other bundle deploys.
    assert_eq!(
        refused,
        [
            "default_python",
            "lakeflow_pipelines_python",
            "target_includes"
        ],
        "every corpus bundle but these must deploy"
    );
}

/// Walk `dir` without following any link, as `find`, `os.walk` or `tar`
/// do: (files, links, folders whose `..` leaves `root`).
fn walk_plain(dir: &Path, root: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut files, mut links, mut escapes) = (Vec::new(), Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    let root = std::fs::canonicalize(root).unwrap();
    while let Some(d) = stack.pop() {
        let up = std::fs::canonicalize(d.join("..")).unwrap();
        if !up.starts_with(&root) {
            escapes.push(d.display().to_string());
        }
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let ft = e.file_type().unwrap();
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            if ft.is_symlink() {
                links.push(rel);
            } else if ft.is_dir() {
                stack.push(e.path());
            } else {
                files.push(rel);
            }
        }
    }
    files.sort();
    (files, links, escapes)
}

#[test]
fn every_kept_deployment_is_a_plain_tree_after_redeploys_pruning_and_rollback() {
    let repo = Repo::new();
    repo.write("a/x.py", "x = 1\n");
    for i in 0..40 {
        repo.write(&format!("a/b/c/f{i}.txt"), &format!("{i}\n"));
    }
    let deploy = |repo: &Repo| {
        let out = repo
            .xtask(&["deploy", "--env", "dev", "-q"])
            .env("XTASK_DEPLOY_HISTORY", "3")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    };
    let env = repo.env_dir("dev");
    let check = |repo: &Repo, when: &str| {
        let id = std::fs::read_link(env.join("current")).unwrap();
        let version = env.join(&id);
        let (files, links, escapes) = walk_plain(&version.join("files"), &version);
        assert_eq!(links, Vec::<String>::new(), "{when}: links in {id:?}");
        assert_eq!(escapes, Vec::<String>::new(), "{when}: `..` leaves {id:?}");
        assert_eq!(files, source_files(repo), "{when}: a walk misses files");
        let (arts, links, _) = walk_plain(&version.join("artifacts"), &version);
        assert!(
            links.is_empty() && arts.contains(&"manifest.json".to_string()),
            "{when}"
        );
        // Every kept version, not only the current one.
        for e in std::fs::read_dir(env.join(".deployments"))
            .unwrap()
            .flatten()
        {
            let (_, links, escapes) = walk_plain(&e.path().join("files"), &e.path());
            assert!(
                links.is_empty() && escapes.is_empty(),
                "{when}: {:?} {links:?}",
                e.path()
            );
        }
        assert_eq!(
            repo.deployed("dev"),
            files_under(&repo.bundle())
                .into_iter()
                .filter(|(p, _)| !p.starts_with(".git/"))
                .collect(),
            "{when}"
        );
    };
    deploy(&repo);
    check(&repo, "initial");
    for i in 0..6 {
        // One file, a folder emptied, a file turned into a folder and back.
        repo.write("README.md", &format!("{i}\n"));
        if i % 2 == 0 {
            std::fs::remove_dir_all(repo.bundle().join("a/b")).unwrap();
            let _ = std::fs::remove_file(repo.bundle().join("flip"));
            repo.write("flip/inner.txt", "in\n");
        } else {
            for j in 0..40 {
                repo.write(&format!("a/b/c/f{j}.txt"), &format!("{j}\n"));
            }
            std::fs::remove_dir_all(repo.bundle().join("flip")).unwrap();
            repo.write("flip", "a file\n");
        }
        deploy(&repo);
        check(&repo, &format!("redeploy {i}"));
    }
    assert_eq!(versions(&env), 3);
    let r = repo.json(&["rollback", "--env", "dev"]);
    assert!(r["to"].is_string(), "{r}");
    let id = std::fs::read_link(env.join("current")).unwrap();
    let (_, links, escapes) = walk_plain(&env.join(&id).join("files"), &env.join(&id));
    assert!(links.is_empty() && escapes.is_empty());
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        status[0]["drift"],
        serde_json::json!({"changed": [], "added": [], "missing": []})
    );
}

#[test]
fn an_artifact_path_escaping_the_bundle_is_refused() {
    let repo = Repo::new();
    repo.deploy("dev");
    std::fs::create_dir_all(repo.path().join("outside")).unwrap();
    repo.write(
        "databricks.yml",
        &format!(
            "{}artifacts:\n  lib:\n    type: whl\n    path: ../outside\n    build: touch pwned\n",
            crate::support::deploy::DATABRICKS_YML
        ),
    );
    let before = tree_hash(&repo.root());
    let out = repo.run(&["deploy", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outside"), "{err}");
    assert!(
        !repo.path().join("outside/pwned").exists(),
        "the build ran outside the bundle"
    );
    assert_same_tree(&before, &tree_hash(&repo.root()));
}

#[test]
fn rollback_restores_exactly_the_named_bytes_or_refuses_naming_the_difference() {
    let repo = Repo::new();
    repo.write("README.md", "1\n");
    let first = repo.deploy("dev");
    repo.write("README.md", "2\n");
    repo.deploy("dev");
    // An edit in place of a file the kept versions share (read-only, but chmod gets through).
    let shared = repo.env_dir("dev").join("files/rag/chunk.py");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&shared, "tampered\n").unwrap();
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        strings(&status[0]["drift"]["changed"]),
        ["files/rag/chunk.py"]
    );
    let before = std::fs::read_link(repo.env_dir("dev").join("current")).unwrap();
    let out = repo.run(&["rollback", "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("files/rag/chunk.py (changed)")
            && err.contains(first["deployment_id"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(
        std::fs::read_link(repo.env_dir("dev").join("current")).unwrap(),
        before
    );
    // A redeploy repairs the current version (a fresh, read-only copy).
    repo.deploy("dev");
    let right = std::fs::read(repo.bundle().join("rag/chunk.py")).unwrap();
    assert_eq!(repo.deployed("dev")["rag/chunk.py"], right);
    let mode = std::fs::metadata(&shared).unwrap().mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");
    // The old versions are restored from it when rolled back to, exactly.
    let out = repo.run(&["rollback", "--env", "dev", "--to", "1"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_link(repo.env_dir("dev").join("current")).unwrap(),
        Path::new(".deployments").join(first["deployment_id"].as_str().unwrap())
    );
    assert_eq!(repo.deployed("dev")["README.md"], b"1\n");
    assert_eq!(repo.deployed("dev")["rag/chunk.py"], right);
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(
        status[0]["drift"],
        serde_json::json!({"changed": [], "added": [], "missing": []})
    );
}

#[test]
fn status_without_env_lists_every_env_even_with_no_default_target() {
    let repo = Repo::new();
    repo.deploy("dev");
    repo.deploy("test");
    // Two targets, neither the default: no target can be selected, yet
    // `status` over all envs needs only the bundle's name.
    let yml = std::fs::read_to_string(repo.bundle().join("databricks.yml")).unwrap();
    repo.write("databricks.yml", &yml.replace("    default: true\n", ""));
    let out = repo.run(&["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let envs: Vec<&str> = all
        .as_array()
        .expect("one status per env")
        .iter()
        .filter(|s| s["deployed"] == true)
        .map(|s| s["env"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["dev", "test"], "{all}");
    // Naming one env still needs it to be a target.
    let bad = repo.run(&["status", "--env", "nope"]);
    assert!(!bad.status.success(), "{}", text(&bad));
}

fn kept_versions(repo: &Repo) -> usize {
    std::fs::read_dir(repo.env_dir("dev").join(".deployments"))
        .unwrap()
        .flatten()
        .filter(|e| !e.path().join(".husk").exists())
        .count()
}

/// Issue 18: an emptied history.json (and its snapshot) pruned every older
/// version. Now it is taken as damaged: the kept versions stand in for it.
#[test]
fn an_empty_history_prunes_nothing_and_says_so() {
    let repo = Repo::new();
    for i in 0..3 {
        repo.write("README.md", &format!("v{i}\n"));
        repo.deploy("dev");
    }
    assert_eq!(kept_versions(&repo), 3);
    let env = repo.env_dir("dev");
    for file in [
        env.join("state/history.json"),
        env.join("current/state/history.json"),
    ] {
        let _ = std::fs::remove_file(&file);
        std::fs::write(&file, "{\"deployments\": []}").unwrap();
    }
    repo.write("README.md", "v3\n");
    let r = repo.deploy("dev");
    assert!(r["warnings"].to_string().contains("damaged"), "{r}");
    assert_eq!(kept_versions(&repo), 4, "no older version was pruned");
}

/// Issue 18: status and plan failed on state that deploy repairs; now they
/// report it and go on, and the next deploy repairs it.
#[test]
fn status_and_plan_read_past_garbage_state() {
    let repo = Repo::new();
    repo.deploy("dev");
    let state = repo.env_dir("dev").join("state");
    for name in ["metadata.json", "deployment.json", "history.json"] {
        std::fs::write(state.join(name), "\0garbage{").unwrap();
    }
    let out = repo.run(&["status", "--env", "dev"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not valid"), "{}", text(&out));
    let plan = repo.json(&["plan", "--env", "dev"]);
    assert!(plan["warnings"].to_string().contains("not valid"), "{plan}");
    repo.deploy("dev");
    let status = repo.json(&["status", "--env", "dev"]);
    assert!(status[0].get("warnings").is_none(), "{status}");
}

#[test]
fn a_current_replaced_by_a_file_heals_and_a_rollback_killed_after_its_switch_reruns() {
    let repo = Repo::new();
    repo.write("README.md", "1\n");
    repo.deploy("dev");
    repo.write("README.md", "2\n");
    let second = repo.deploy("dev");
    let env = repo.env_dir("dev");
    std::fs::remove_file(env.join("current")).unwrap();
    std::fs::write(env.join("current"), "not a link\n").unwrap();
    // What a kill leaves: a cache's temp file, a version half written.
    std::fs::write(env.join(".cache/.source-stat.tmp-99999"), "partial").unwrap();
    std::fs::create_dir_all(env.join(".deployments/.build-0009-x/files")).unwrap();
    let kept = env
        .join(".deployments")
        .join(second["deployment_id"].as_str().unwrap());
    std::fs::write(kept.join(".lineage.tmp-99999"), "partial").unwrap();
    std::fs::write(env.join(".deployments/.repair.tmp-99999"), "partial").unwrap();
    let status = repo.run(&["status", "--env", "dev"]);
    assert!(text(&status).contains("not a link"), "{}", text(&status));
    repo.write("README.md", "3\n");
    repo.deploy("dev");
    assert!(
        std::fs::symlink_metadata(env.join("current"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!env.join(".cache/.source-stat.tmp-99999").exists());
    assert!(!env.join(".deployments/.build-0009-x").exists());
    assert!(!kept.join(".lineage.tmp-99999").exists());
    assert!(!env.join(".deployments/.repair.tmp-99999").exists());
    assert_eq!(repo.deployed("dev")["README.md"], b"3\n");
    // Killed at every step of a rollback: a re-run finishes it.
    let to = second["deployment_id"].as_str().unwrap();
    let mut n = 1;
    loop {
        let out = repo
            .xtask(&["rollback", "--env", "dev", "--to", to])
            .env("XTASK_FAULT_AFTER_STEP", n.to_string())
            .output()
            .unwrap();
        let done = out.status.success();
        let again = repo.run(&["rollback", "--env", "dev", "--to", to]);
        assert!(again.status.success(), "step {n}: {}", text(&again));
        assert_eq!(repo.deployed("dev")["README.md"], b"2\n", "step {n}");
        assert_eq!(
            repo.state("dev", "metadata.json")["deployment_id"],
            to,
            "step {n}"
        );
        if done {
            break;
        }
        // Back to the newest for the next round.
        repo.write("README.md", &format!("{}\n", 10 + n));
        repo.deploy("dev");
        n += 1;
        assert!(n < 40, "the rollback never finished");
    }
}

/// Issue 18: a sparse file was stored dense (every hole written as zeros).
#[test]
fn a_sparse_source_file_stays_sparse_in_the_env() {
    use std::io::{Seek, SeekFrom, Write};
    let repo = Repo::new();
    let path = repo.bundle().join("data.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(b"start").unwrap();
    f.seek(SeekFrom::Start(32 << 20)).unwrap();
    f.write_all(b"end").unwrap();
    drop(f);
    repo.deploy("dev");
    let deployed = repo.env_dir("dev").join("files/data.bin");
    let m = std::fs::metadata(&deployed).unwrap();
    assert_eq!(m.len(), (32 << 20) + 3);
    assert!(
        m.blocks() * 512 < 1 << 20,
        "stored dense: {} blocks",
        m.blocks()
    );
    assert!(std::fs::read(&deployed).unwrap() == std::fs::read(&path).unwrap());
}

/// The job's resource in a `terraform.tfstate` document.
fn tf_resource<'a>(tf: &'a Value, ty: &str, name: &str) -> &'a Value {
    tf["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == ty && r["name"] == name)
        .unwrap_or_else(|| panic!("no {ty}.{name} in {tf:#}"))
}

/// A local env keeps `terraform.tfstate` in the shape the CLI's Terraform
/// engine writes; redeploys, rollback and status read it back, and a file
/// of ours in the bundle's older shape is still read.
#[test]
fn a_local_env_keeps_terraform_state_in_the_terraform_engines_shape() {
    let repo = Repo::new();
    let job_yml = crate::support::deploy::JOB_YML.replace(
        "      name: train\n",
        "      name: train\n      permissions:\n        - level: CAN_VIEW\n          group_name: readers\n",
    );
    repo.write("resources/job.yml", &job_yml);
    repo.deploy("dev");
    let tf = repo.state("dev", "terraform.tfstate");
    let job = tf_resource(&tf, "databricks_job", "train");
    let id = job["instances"][0]["attributes"]["id"].clone();
    assert_eq!(job["instances"][0]["schema_version"], 2);
    let attrs = &job["instances"][0]["attributes"];
    assert_eq!(attrs["task"][0]["task_key"], "main", "{attrs:#}");
    assert!(attrs["task"][0]["notebook_task"].is_array(), "{attrs:#}");
    assert!(attrs.get("tasks").is_none() && attrs.get("permissions").is_none());
    let acl = tf_resource(&tf, "databricks_permissions", "job_train");
    assert_eq!(acl["instances"][0]["attributes"]["job_id"], id);
    assert_eq!(
        acl["instances"][0]["attributes"]["access_control"][0]["permission_level"],
        "CAN_VIEW"
    );

    // Read back: nothing changed, nothing to do for the job.
    repo.write("README.md", "v2\n");
    let second = repo.deploy("dev");
    let train = |r: &Value| {
        r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == "train")
            .map(|c| c["action"].clone())
    };
    assert_eq!(train(&second), Some("unchanged".into()), "{second}");

    // Rollback and status read it too; the ids stay.
    let r = repo.json(&["rollback", "--env", "dev"]);
    assert!(r["digest"].is_string(), "{r}");
    let tf = repo.state("dev", "terraform.tfstate");
    let job = tf_resource(&tf, "databricks_job", "train");
    assert_eq!(job["instances"][0]["attributes"]["id"], id);
    assert!(job["instances"][0]["attributes"]["task"].is_array());
    let status = repo.json(&["status", "--env", "dev"]);
    assert_eq!(status[0]["deployed"], true, "{status}");

    an_older_bundle_shaped_file_is_read(&repo, &tf, &id);
}

/// A file of ours in the bundle's shape (before this format), put as the
/// env's state: read as it is, the job keeps its id.
fn an_older_bundle_shaped_file_is_read(repo: &Repo, tf: &Value, id: &Value) {
    let mut old = tf.clone();
    for r in old["resources"].as_array_mut().unwrap() {
        if r["type"] == "databricks_job" {
            let a = &mut r["instances"][0]["attributes"];
            let task = a["task"][0].clone();
            a.as_object_mut().unwrap().remove("task");
            a["tasks"] = serde_json::json!([{
                "task_key": task["task_key"],
                "notebook_task": task["notebook_task"][0],
            }]);
        }
    }
    let path = repo.env_dir("dev").join("state/terraform.tfstate");
    std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
    let plan = repo.json(&["plan", "--env", "dev"]);
    let change = plan["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "train")
        .unwrap()
        .clone();
    assert_eq!(&change["id"], id, "{plan}");
    assert_ne!(change["action"], "create", "{plan}");
}
