//! `cargo xtask watch`: keep an environment (`test` by default) in sync with
//! the working tree on every save.
//!
//! Each sync is an ordinary incremental deploy (locked, atomic, content
//! hashes decide what changed), so events only say *when* to look, never
//! *what* changed: a missed or coalesced event cannot leave the env wrong,
//! and an event-queue overflow needs nothing more than the next sync.
//! Old versions are pruned when the loop is idle, not in each sync.

mod bench;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::cli::WatchArgs;
use crate::deploy::{self, DeployOptions, DeployReport};
use crate::project::Project;
pub use bench::bench;

/// How often `--poll` looks at the tree.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the loop wakes to notice Ctrl-C / SIGTERM.
const TICK: Duration = Duration::from_millis(100);
/// Quiet time after which a batch whose written files are all closed is
/// synced, without waiting for the whole debounce window: an editor's save
/// (write and close, or write a temporary file and rename it) is over in
/// well under this.
const SETTLE: Duration = Duration::from_millis(5);
/// Old versions are pruned once the loop has been idle this long...
const PRUNE_IDLE: Duration = Duration::from_secs(1);
/// ...or after this many syncs without an idle moment.
const PRUNE_EVERY: usize = 10;

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
        unpruned: 0,
        last_sync: Instant::now(),
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
            session.prune_if_due();
        }
        session.prune();
        return Ok(());
    }
    let (tx, rx) = channel();
    let mut watcher = notify::recommended_watcher(tx).context("starting the file watcher")?;
    session.sync(Some(&mut watcher));
    say(
        project,
        &format!(
            "watching {} for changes (Ctrl-C to stop)",
            project.bundle_dir.display()
        ),
    );
    let window = Duration::from_millis(args.debounce_ms);
    while let Some(batch) = next_batch(&mut session, &rx, &stop, window) {
        session.sync(batch.structural.then_some(&mut watcher));
    }
    session.prune();
    say(project, "stopped");
    Ok(())
}

/// What a batch of events asks for: a sync, and whether the folders to
/// watch may have changed.
#[derive(Default)]
struct Batch {
    relevant: bool,
    structural: bool,
}

/// Wait for the next batch of relevant events and debounce it: the batch is
/// ready once `window` passed without a new event, or sooner, after
/// `SETTLE` of quiet, when every file written in it has been closed (the
/// kernel reports the close; a writer still at work has not). Idle time
/// prunes old versions. `None`: stop.
fn next_batch(
    session: &mut Session,
    rx: &Receiver<notify::Result<notify::Event>>,
    stop: &AtomicBool,
    window: Duration,
) -> Option<Batch> {
    let mut batch = Batch::default();
    let mut writing: HashSet<PathBuf> = HashSet::new();
    let mut last = Instant::now();
    loop {
        let quiet_needed = if writing.is_empty() {
            SETTLE.min(window)
        } else {
            window
        };
        let wait = if batch.relevant {
            quiet_needed.saturating_sub(last.elapsed())
        } else {
            TICK
        };
        match rx.recv_timeout(wait) {
            Ok(event) => {
                if session.classify(event, &mut batch, &mut writing) {
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) if batch.relevant => {
                if last.elapsed() >= quiet_needed {
                    return Some(batch);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                session.prune_if_due();
            }
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

struct Session<'a> {
    project: &'a Project,
    env: String,
    watched: BTreeSet<PathBuf>,
    /// Syncs since the last prune.
    unpruned: usize,
    last_sync: Instant,
}

impl Session<'_> {
    /// Re-resolve the configuration and the file set, deploy the difference,
    /// and adjust the watched folders. Errors are reported, never fatal.
    fn sync(&mut self, watcher: Option<&mut RecommendedWatcher>) {
        let started = Instant::now();
        // Watch before deploying: a save made while the deploy runs then
        // raises an event and a next sync, instead of being missed. With a
        // broken configuration, watch the plain tree so the fix is seen.
        let loaded = self.load();
        if let Some(watcher) = watcher {
            self.rewatch(watcher, loaded.as_ref().ok());
        }
        let opts = DeployOptions {
            defer_prune: true,
            ..DeployOptions::default()
        };
        let outcome = loaded.and_then(|bundle| deploy::deploy(self.project, &bundle, &opts));
        let took = started.elapsed();
        self.unpruned += 1;
        self.last_sync = Instant::now();
        match &outcome {
            Ok(report) => line(self.project, report, took),
            Err(err) => eprintln!(
                "{} sync failed: {err:#} (will retry on the next change)",
                clock()
            ),
        }
    }

    /// Old versions go when nothing else is going on (see `PRUNE_IDLE`).
    fn prune_if_due(&mut self) {
        if self.unpruned >= PRUNE_EVERY
            || (self.unpruned > 0 && self.last_sync.elapsed() >= PRUNE_IDLE)
        {
            self.prune();
        }
    }

    fn prune(&mut self) {
        if self.unpruned == 0 {
            return;
        }
        self.unpruned = 0;
        let pruned = self
            .load()
            .and_then(|bundle| deploy::prune(self.project, &bundle, &DeployOptions::default()));
        if let Err(err) = pruned
            && !err.to_string().contains("waiting for a fix")
        {
            eprintln!("{} pruning old versions failed: {err:#}", clock());
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
        watcher: &mut RecommendedWatcher,
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
            let _ = watcher.unwatch(gone);
        }
        let mut failed = false;
        for dir in wanted.difference(&self.watched) {
            if let Err(err) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                report_watch_error(self.project, &err);
                failed = true;
                break;
            }
        }
        self.watched = if failed { BTreeSet::new() } else { wanted };
    }

    /// Add one event to `batch`; false if it is not worth a sync (reads,
    /// including the sync's own; the env itself; `.git`).
    fn classify(
        &self,
        event: notify::Result<notify::Event>,
        batch: &mut Batch,
        writing: &mut HashSet<PathBuf>,
    ) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                report_watch_error(self.project, &err);
                batch.relevant = true;
                batch.structural = true;
                return true;
            }
        };
        // An overflow of the kernel's queue: anything may have happened.
        if event.need_rescan() {
            batch.relevant = true;
            batch.structural = true;
            return true;
        }
        let closed = matches!(
            event.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
        );
        if matches!(event.kind, EventKind::Access(_)) && !closed {
            return false;
        }
        if event.paths.iter().all(|p| self.is_noise(p)) {
            return false;
        }
        for path in &event.paths {
            match event.kind {
                _ if closed => {
                    writing.remove(path);
                }
                EventKind::Create(CreateKind::File) | EventKind::Modify(ModifyKind::Data(_)) => {
                    writing.insert(path.clone());
                }
                _ => {}
            }
        }
        batch.relevant = true;
        batch.structural |= self.is_structural(&event);
        true
    }

    /// Events that may change the set of folders to watch.
    fn is_structural(&self, event: &notify::Event) -> bool {
        matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Create(CreateKind::Folder)
        ) || event.paths.iter().any(|p| {
            self.watched.contains(p)
                || p.is_dir()
                || p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n == ".gitignore"
                        || n.ends_with(".yml")
                        || n.ends_with(".yaml")
                        || n.ends_with(".json")
                })
        })
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
