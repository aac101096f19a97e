//! One attempt of one task: a Python process in its own process group, its
//! output to the task's log, killed with its children on timeout or Ctrl-C.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::{Context, Result};

pub enum Exit {
    Code(i32),
    /// Killed by a signal (the number), e.g. the task killed itself.
    Signal(i32),
    TimedOut,
}

/// Process groups of the tasks running now, for `interrupt`.
static RUNNING: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Run `cmd` (already configured) with its output appended to `log`, waiting at
/// most `timeout`.
pub fn run(mut cmd: Command, log: &File, timeout: Option<Duration>) -> Result<Exit> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?);
    // A group of its own, so a timeout also kills what the task started
    // (`%sh` cells, subprocesses) and the terminal's Ctrl-C reaches us first.
    cmd.process_group(0);
    let child = cmd
        .spawn()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    let pgid = child.id() as i32;
    lock_running().push(pgid);
    // A waiter thread reaps the child, so the end is seen at once (no polling)
    // and the timeout is a plain receive deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut child = child;
        let _ = tx.send(child.wait());
    });
    let received = match timeout {
        Some(t) => rx.recv_timeout(t),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    };
    let result = match received {
        Ok(Ok(status)) => Ok(match (status.code(), status.signal()) {
            (Some(code), _) => Exit::Code(code),
            (None, Some(sig)) => Exit::Signal(sig),
            (None, None) => Exit::Code(-1),
        }),
        Ok(Err(err)) => Err(anyhow::Error::new(err).context("waiting for the task's process")),
        Err(RecvTimeoutError::Timeout) => {
            kill_group(pgid);
            // Reaped by the waiter once the kill lands.
            let _ = rx.recv();
            Ok(Exit::TimedOut)
        }
        Err(RecvTimeoutError::Disconnected) => Err(anyhow::anyhow!("lost the task's process")),
    };
    // Leftover children of a finished task would outlive the run: end them.
    kill_group(pgid);
    lock_running().retain(|p| *p != pgid);
    result
}

/// Kill every running task's process group (the Ctrl-C handler calls this).
pub fn interrupt() {
    for pgid in lock_running().iter() {
        kill_group(*pgid);
    }
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

fn lock_running() -> std::sync::MutexGuard<'static, Vec<i32>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Append a line to a task's log (headers between attempts).
pub fn note(log: &mut File, text: &str) {
    use std::io::Write;
    let _ = writeln!(log, "{text}");
}

/// `<files_root>/<rel>` for a path of the resolved configuration:
/// `<workspace.file_path>/training/Train` → `training/Train.py` (the CLI strips
/// notebook extensions; a local env keeps them).
pub fn resolve(
    files_root: &Path,
    file_path: Option<&str>,
    raw: &str,
    notebook: bool,
) -> Result<std::path::PathBuf, String> {
    let strip_ws = |p: &str| p.strip_prefix("/Workspace").unwrap_or(p).to_string();
    let rel = if raw.starts_with('/') {
        let prefix = file_path.map(|p| strip_ws(p.trim_end_matches('/')));
        match prefix
            .as_deref()
            .and_then(|pre| strip_ws(raw).strip_prefix(pre).map(str::to_string))
        {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                rest.trim_start_matches('/').to_string()
            }
            _ => {
                return Err(match file_path {
                    Some(fp) => format!("{raw} is outside the bundle's files ({fp})"),
                    None => format!(
                        "{raw} is absolute and the configuration has no workspace.file_path"
                    ),
                });
            }
        }
    } else {
        raw.trim_start_matches("./").to_string()
    };
    if rel.split('/').any(|c| c == "..") {
        return Err(format!("{raw} leaves the bundle's files"));
    }
    let base = files_root.join(&rel);
    let candidates: Vec<std::path::PathBuf> = if notebook {
        ["", ".py", ".ipynb"]
            .iter()
            .map(|ext| std::path::PathBuf::from(format!("{}{ext}", base.display())))
            .collect()
    } else {
        vec![base.clone()]
    };
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        let what = if notebook { "notebook" } else { "file" };
        format!(
            "{what} {raw} not found in the deployed files ({} does not exist)",
            base.display()
        )
    })
}
