//! Promotion, watch and upload progress on the remote backend, against the
//! Databricks CLI's own test server.

use std::time::Duration;

use crate::support::cli_remote::{CliRemote, root};
use crate::support::deploy::{JOB_YML, text};

#[test]
fn stage_copies_the_tested_bytes_between_remote_envs() {
    let Some(r) = CliRemote::start("stage_copies_the_tested_bytes_between_remote_envs") else {
        return;
    };
    // One experiment per env: a workspace holds one experiment of a name.
    let per_env = JOB_YML.replace("/Shared/demo-exp", "/Shared/demo-exp-${bundle.target}");
    r.repo.write("resources/job.yml", &per_env);
    let test = r.deploy("test");
    // A passing test record for the deployed digest, as `test` would leave it.
    let mut meta = r.server.state(&root("test"), "metadata.json");
    meta["test"] = serde_json::json!({
        "id": "t1", "passed": true, "digest": test["digest"], "commit": "c",
        "branch": "main", "started_at": "x", "finished_at": "y", "steps": [], "logs": "/tmp",
    });
    let metadata = format!("{}/state/metadata.json", root("test"));
    r.server.put(&metadata, &serde_json::to_vec(&meta).unwrap());
    // A file of `test` changed out of band: promotion refuses to copy it.
    let readme = format!("{}/files/README.md", root("test"));
    let original = r.server.file(&readme).unwrap();
    r.server.put(&readme, b"tampered\n");
    let out = r.run(&["stage"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("README.md"), "{}", text(&out));
    let staged = format!("{}/state/metadata.json", root("staging"));
    assert!(r.server.status(&staged).is_none(), "staging was written");

    r.server.put(&readme, &original);
    let out = r.run(&["stage"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(r.remote_files("staging"), r.remote_files("test"));
    assert_eq!(r.remote_files("staging"), r.expected());
    let staged = r.server.state(&root("staging"), "metadata.json");
    assert_eq!(staged["digest"], test["digest"]);
    assert_eq!(staged["promoted_from"]["env"], "test");
    assert_eq!(r.server.jobs().len(), 2, "one job per env");
    r.assert_token_never_leaked("staging");
}

/// `watch --remote`: the first sync and each saved change land in the workspace.
#[test]
fn watch_syncs_changes_to_the_workspace() {
    let Some(r) = CliRemote::start("watch_syncs_changes_to_the_workspace") else {
        return;
    };
    let log = r.repo.path().join("watch.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = r
        .repo
        .xtask(&["watch", "--env", "dev", "--remote"])
        .env("DATABRICKS_HOST", r.server.url())
        .env("DATABRICKS_TOKEN", r.server.token())
        .env("HOME", r.repo.path())
        .stdout(std::process::Stdio::from(file.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(file))
        .spawn()
        .expect("starting watch");
    let until = |what: &str, cond: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        eprintln!("timed out waiting for {what}:\n{printed}");
        false
    };
    let first = until("the first sync", &|| r.remote_files("dev") == r.expected());
    r.repo
        .write("rag/chunk.py", "def chunk(s):\n    return []\n");
    let second = first && until("the change", &|| r.remote_files("dev") == r.expected());
    let _ = child.kill();
    let _ = child.wait();
    assert!(first && second, "watch did not sync (see stderr)");
    let printed = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!printed.contains(r.server.token()), "the token was printed");
}

/// Long uploads show a counter on a terminal, and only there: run under a
/// pseudo-terminal with `script`, then with `--json`, then through a pipe.
#[test]
fn upload_progress_shows_on_a_terminal_only() {
    let Some(r) = CliRemote::start("upload_progress_shows_on_a_terminal_only") else {
        return;
    };
    let add = |from: usize| {
        for i in from..from + 120 {
            r.repo
                .write(&format!("many/f{i:03}.py"), &format!("x = {i}\n"));
        }
    };
    let under_pty = |extra: &str| -> String {
        let cmd = r.repo.xtask(&["deploy", "--env", "dev", "--remote"]);
        let mut line: Vec<String> = vec![cmd.get_program().to_string_lossy().into_owned()];
        line.extend(cmd.get_args().map(|a| format!("'{}'", a.to_string_lossy())));
        if !extra.is_empty() {
            line.push(extra.to_string());
        }
        let typescript = r.repo.path().join("typescript");
        let out = std::process::Command::new("script")
            .args(["-qec", &line.join(" ")])
            .arg(&typescript)
            .env("DATABRICKS_HOST", r.server.url())
            .env("DATABRICKS_TOKEN", r.server.token())
            .env("HOME", r.repo.path())
            .current_dir(r.repo.path())
            .output()
            .expect("running script (util-linux)");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned()
    };
    add(0);
    let shown = under_pty("");
    assert!(
        shown.contains("uploading 1"),
        "no progress on a terminal:\n{shown}"
    );
    // Each deploy needs something to upload: more files each time.
    add(120);
    let json = under_pty("--json");
    assert!(
        !json.contains("uploading"),
        "progress printed with --json:\n{json}"
    );
    add(240);
    let piped = r.run(&["deploy", "--env", "dev"]);
    assert!(piped.status.success(), "{}", text(&piped));
    assert!(
        !text(&piped).contains('\r'),
        "progress written to a pipe:\n{}",
        text(&piped)
    );
    assert_eq!(r.remote_files("dev"), r.expected());
}

/// A deployment of more folders than a deploy looks over (64) redeploys a
/// changed file on a server that lists no folder (the CLI's test server):
/// the deploy skips the look and keeps no `modified_at` snapshot, as it
/// keeps none there for a smaller one.
#[test]
fn a_deployment_of_many_folders_redeploys_where_folders_are_not_listed() {
    let Some(r) =
        CliRemote::start("a_deployment_of_many_folders_redeploys_where_folders_are_not_listed")
    else {
        return;
    };
    for i in 0..70 {
        r.repo.write(&format!("many/d{i:02}/f.txt"), "x\n");
    }
    r.deploy("dev");
    r.repo.write("many/d05/f.txt", "y\n");
    let mark = r.server.mark();
    r.deploy("dev");
    let sent: Vec<String> = r.server.requests()[mark..]
        .iter()
        .filter(|q| q.path.contains("import-file") && q.path.contains("/files/"))
        .map(|q| {
            q.path
                .rsplit("/files/")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(sent, ["many/d05/f.txt"]);
}
