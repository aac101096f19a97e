//! Checks on the repository itself: the README's command reference matches
//! `--help`, and the CI workflows call only commands that exist.

use std::path::Path;

use crate::xtask;
use e2e::workspace_root;

const START: &str = "<!-- command-reference:start -->";
const END: &str = "<!-- command-reference:end -->";

fn help(args: &[&str]) -> String {
    let out = xtask()
        .args(args)
        .arg("--help")
        .output()
        .expect("running xtask --help");
    assert!(
        out.status.success(),
        "xtask {args:?} --help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

/// The subcommands listed under `Commands:` in the top-level help.
fn subcommands(top: &str) -> Vec<String> {
    top.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

/// The command reference as the README must hold it, generated from `--help`.
fn reference() -> String {
    let top = help(&[]);
    let mut out = format!("{START}\n```text\n$ cargo xtask --help\n{}```\n", top);
    for cmd in subcommands(&top) {
        let text = help(&[&cmd]);
        out.push_str(&format!(
            "\n### `cargo xtask {cmd}`\n\n```text\n{text}```\n"
        ));
    }
    out.push_str(END);
    out
}

#[test]
fn readme_command_reference_matches_help() {
    let path = workspace_root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("reading README.md");
    let expected = reference();
    let (Some(start), Some(end)) = (readme.find(START), readme.find(END)) else {
        panic!("README.md lacks the {START} … {END} markers");
    };
    let actual = &readme[start..end + END.len()];
    if actual != expected {
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!(
                "{}{}{}",
                &readme[..start],
                expected,
                &readme[end + END.len()..]
            );
            std::fs::write(&path, updated).expect("writing README.md");
            return;
        }
        panic!(
            "README.md's command reference is out of step with --help.\n\
             Run `UPDATE_README=1 cargo test -p xtask --test testsuite repo` and review the diff.\n\
             --- expected ---\n{expected}\n--- actual ---\n{actual}"
        );
    }
}

/// Every `run:` step of every workflow, with the file it came from.
fn workflow_commands(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("reading .github/workflows")
        .flatten()
        .collect();
    files.sort_by_key(|e| e.path());
    for entry in files {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).expect("reading workflow");
        let doc: serde_json::Value = serde_saphyr::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let jobs = doc["jobs"]
            .as_object()
            .unwrap_or_else(|| panic!("{} has no jobs", path.display()));
        for job in jobs.values() {
            for step in job["steps"].as_array().into_iter().flatten() {
                if let Some(run) = step["run"].as_str() {
                    out.push((path.display().to_string(), run.trim().to_string()));
                }
            }
        }
    }
    out
}

#[test]
fn workflows_call_only_existing_xtask_commands() {
    let dir = workspace_root().join(".github/workflows");
    let commands = workflow_commands(&dir);
    assert!(
        !commands.is_empty(),
        "no run steps found in {}",
        dir.display()
    );
    let known = subcommands(&help(&[]));
    let mut xtask_calls = Vec::new();
    for (file, run) in &commands {
        assert!(
            !run.contains('\n'),
            "{file}: a run step holds a script, not one command: {run:?}"
        );
        let words: Vec<&str> = run.split_whitespace().collect();
        match words.as_slice() {
            ["cargo", "test", ..] => {}
            ["cargo", "xtask", cmd, ..] => {
                assert!(
                    known.iter().any(|k| k == cmd),
                    "{file}: `cargo xtask {cmd}` is not a command ({known:?})"
                );
                // The whole command line must parse: `--help` after it exits 0 only if it does.
                let mut args: Vec<&str> = words[2..].to_vec();
                args.push("--help");
                let status = xtask().args(&args).output().expect("running xtask").status;
                assert!(status.success(), "{file}: `{run}` does not parse");
                xtask_calls.push(cmd.to_string());
            }
            _ => panic!("{file}: run step `{run}` is not a `cargo xtask` or `cargo test` command"),
        }
    }
    for gate in ["test", "stage", "release"] {
        assert!(
            xtask_calls.iter().any(|c| c == gate),
            "no workflow calls `cargo xtask {gate}`"
        );
    }
}
