//! `cargo xtask watch`: keep an environment (`test` by default) in sync with
//! the working tree on every save.
//!
//! Each sync is an ordinary incremental deploy (locked, atomic, content
//! hashes decide what changed), so events only say *when* to look, never
//! *what* changed: a missed or coalesced event cannot leave the env wrong,
//! and an event-queue overflow needs nothing more than the next sync.

mod bench;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::cli::WatchArgs;
use crate::deploy::{self, DeployOptions, DeployReport};
use crate::project::Project;
pub use bench::bench;

/// How often `--poll` looks at the tree.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the loop wakes to notice Ctrl-C / SIGTERM.
const TICK: Duration = Duration::from_millis(100);

pub fn run(project: &Project, args: &WatchArgs) -> Result<()> {
    let env = project
        .global
        .env
        .clone()
        .unwrap_or_else(|| "test".to_string());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C and SIGTERM (the `termination` feature) end the loop between
        // syncs, so the deploy lock is always released by the deploy itself.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the signal handler")?;
    }
    let mut session = Session {
        project,
        env,
        watched: BTreeSet::new(),
    };
    if args.poll {
        say(
            project,
            &format!(
                "watching {} (polling every {} ms)",
                project.bundle_dir.display(),
                POLL_INTERVAL.as_millis()
            ),
        );
        session.sync(None);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(POLL_INTERVAL);
            session.sync(None);
        }
        return Ok(());
    }
    let (tx, rx) = channel();
    let mut debouncer = new_debouncer(Duration::from_millis(args.debounce_ms), None, tx)
        .context("starting the file watcher")?;
    session.sync(Some(&mut debouncer));
    say(
        project,
        &format!(
            "watching {} for changes (Ctrl-C to stop)",
            project.bundle_dir.display()
        ),
    );
    event_loop(&mut session, &mut debouncer, &rx, &stop);
    say(project, "stopped");
    Ok(())
}

fn event_loop(
    session: &mut Session,
    debouncer: &mut Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    rx: &Receiver<DebounceEventResult>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let batch = match rx.recv_timeout(TICK) {
            Ok(batch) => batch,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // A structural change (a folder created, removed or renamed, ignore
        // rules or configuration edited) changes which folders to watch;
        // plain saves do not, and skip the extra walk.
        let mut rewatch = match batch {
            Ok(events)
                if events
                    .iter()
                    .all(|e| e.paths.iter().all(|p| session.is_noise(p))) =>
            {
                continue;
            }
            Ok(events) => events.iter().any(is_structural),
            Err(errors) => {
                for err in errors {
                    report_watch_error(session.project, &err);
                }
                true
            }
        };
        // Coalesce whatever else arrived meanwhile into this one sync.
        while let Ok(more) = rx.try_recv() {
            rewatch |= more.map_or(true, |events| events.iter().any(is_structural));
        }
        session.sync(rewatch.then_some(&mut *debouncer));
    }
}

struct Session<'a> {
    project: &'a Project,
    env: String,
    watched: BTreeSet<PathBuf>,
}

impl Session<'_> {
    /// Re-resolve the configuration and the file set, deploy the difference,
    /// and adjust the watched folders. Errors are reported, never fatal.
    fn sync(
        &mut self,
        debouncer: Option<&mut Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    ) {
        let started = Instant::now();
        // Watch before deploying: a save made while the deploy runs then
        // raises an event and a next sync, instead of being missed. With a
        // broken configuration, watch the plain tree so the fix is seen.
        let loaded = self.load();
        if let Some(debouncer) = debouncer {
            self.rewatch(debouncer, loaded.as_ref().ok());
        }
        let outcome = loaded
            .and_then(|bundle| deploy::deploy(self.project, &bundle, &DeployOptions::default()));
        let took = started.elapsed();
        match &outcome {
            Ok(report) => line(self.project, report, took),
            Err(err) => eprintln!(
                "{} sync failed: {err:#} (will retry on the next change)",
                clock()
            ),
        }
    }

    /// The configuration of the env; its errors are printed with their
    /// locations. While it is broken, the bundle folder is still watched (by
    /// the last good file set, or the plain tree), so the fix is seen.
    fn load(&mut self) -> Result<crate::config::Bundle> {
        deploy::load_target(self.project, Some(&self.env)).map_err(|err| {
            if err.is::<crate::diag::Failed>() {
                anyhow::anyhow!("the configuration has errors; waiting for a fix")
            } else {
                err
            }
        })
    }

    /// Watch exactly the folders of the file set (never `.git`, `.bundle`,
    /// `target/` or a virtualenv), adding new folders and dropping gone ones.
    fn rewatch(
        &mut self,
        debouncer: &mut Debouncer<notify::RecommendedWatcher, RecommendedCache>,
        bundle: Option<&crate::config::Bundle>,
    ) {
        let root = &self.project.bundle_dir;
        let patterns = |which| bundle.map(|b| b.sync_patterns(which)).unwrap_or_default();
        let selection = crate::files::select(root, &patterns("include"), &patterns("exclude"));
        let wanted: BTreeSet<PathBuf> =
            match selection.and_then(|s| crate::files::watch_dirs(root, &s)) {
                Ok(dirs) => dirs.into_iter().collect(),
                Err(err) => {
                    eprintln!("{} cannot list folders to watch: {err:#}", clock());
                    return;
                }
            };
        for gone in self.watched.difference(&wanted) {
            let _ = debouncer.unwatch(gone);
        }
        let mut failed = false;
        for dir in wanted.difference(&self.watched) {
            if let Err(err) = debouncer.watch(dir, RecursiveMode::NonRecursive) {
                report_watch_error(self.project, &err);
                failed = true;
                break;
            }
        }
        self.watched = if failed { BTreeSet::new() } else { wanted };
    }

    /// Events for paths the sync never looks at (editor swap files in
    /// ignored folders, the env itself) need no sync.
    fn is_noise(&self, path: &Path) -> bool {
        path.components().any(|c| {
            matches!(
                c.as_os_str().to_str(),
                Some(".git" | ".bundle" | ".databricks")
            )
        })
    }
}

/// Events that may change the set of folders to watch. An overflow of the
/// kernel's queue (`need_rescan`) counts too: anything may have happened.
fn is_structural(event: &notify_debouncer_full::DebouncedEvent) -> bool {
    use notify::EventKind;
    event.need_rescan()
        || matches!(event.kind, EventKind::Remove(_))
        || event.paths.iter().any(|p| {
            p.is_dir()
                || p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == ".gitignore"
                        || n.ends_with(".yml")
                        || n.ends_with(".yaml")
                        || n.ends_with(".json")
                })
        })
}

fn report_watch_error(project: &Project, err: &notify::Error) {
    if matches!(err.kind, notify::ErrorKind::MaxFilesWatch) {
        eprintln!(
            "Error: the inotify watch limit is reached (fs.inotify.max_user_watches); raise it \
             (`sudo sysctl fs.inotify.max_user_watches=524288`) or run `cargo xtask watch --poll`"
        );
    } else if !project.global.quiet {
        eprintln!("{} watch error: {err} (a full sync follows)", clock());
    }
}

fn line(project: &Project, report: &DeployReport, took: Duration) {
    if project.global.json {
        if let Ok(doc) = serde_json::to_string(report) {
            println!("{doc}");
        }
        return;
    }
    if project.global.quiet {
        return;
    }
    let f = &report.files;
    println!(
        "{} synced {}: {} put, {} deleted{} in {} ms",
        clock(),
        report.env,
        f.put.len(),
        f.delete.len(),
        if f.repaired.is_empty() {
            String::new()
        } else {
            format!(", {} repaired", f.repaired.len())
        },
        took.as_millis()
    );
}

fn say(project: &Project, text: &str) {
    if project.human() {
        eprintln!("{text}");
    }
}

fn clock() -> String {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(time::macros::format_description!(
        "[hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}
