//! `cargo xtask watch`: keep an environment (`test` by default) in sync with
//! the working tree on every save.
//!
//! Each sync is an ordinary incremental deploy (locked, atomic, content
//! hashes decide what changed). Events say *where* to look: a save syncs
//! the folders its events name, trusting the env as the previous sync left
//! it; anything structural (folders, ignore rules, configuration, a lost
//! event) brings a full sync. An idle moment compares everything once, so a
//! missed event or an edit in the env cannot leave it wrong for long, and
//! prunes old versions, which no sync waits for.

mod events;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

use crate::config::Bundle;
use crate::deploy::{self, DeployOptions, DeployReport, Known};
use crate::files::{self, Selection};
use crate::project::Project;

/// How often `--poll` looks at the tree.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// After this long without a sync, the loop is idle: the env is checked
/// whole (walk and drift check) and old versions are pruned...
const IDLE_DEFAULT: Duration = Duration::from_secs(1);

/// The idle time before the whole-tree check: `XTASK_WATCH_IDLE_MS`, else
/// one second. (Tests on a loaded machine lengthen it, so that the check
/// cannot slip in between a save's sync and their look at the env.)
fn idle() -> Duration {
    static IDLE: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *IDLE.get_or_init(|| {
        std::env::var("XTASK_WATCH_IDLE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis)
            .unwrap_or(IDLE_DEFAULT)
    })
}
/// ...or after this many syncs without an idle moment.
const PRUNE_EVERY: usize = 10;

/// How watch was asked to run (plain data: the commands layer fills it).
#[derive(Debug, Clone, Copy)]
pub struct WatchOptions {
    /// Compare the tree on a timer instead of using file-system events.
    pub poll: bool,
    /// Quiet time after the last event before a batch syncs.
    pub debounce: Duration,
}

pub fn run(project: &Project, args: &WatchOptions) -> Result<()> {
    let env = project
        .settings
        .env
        .clone()
        .unwrap_or_else(|| "test".to_string());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C and SIGTERM (the `termination` feature) end the loop between
        // syncs, so the deploy lock is always released by the deploy itself.
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            crate::util::stop::request();
        })
        .context("installing the signal handler")?;
    }
    let mut session = Session {
        project,
        env,
        watched: Rc::default(),
        tree: None,
        unchecked: 0,
        unpruned: 0,
        last_sync: Instant::now(),
        out_of_watches: false,
        failed: false,
    };
    if args.poll {
        session.sync(None, None);
        return poll(&mut session, &stop);
    }
    let (tx, rx) = channel();
    let mut watcher = match notify::recommended_watcher(tx) {
        Ok(watcher) => watcher,
        // No inotify instance left (fs.inotify.max_user_instances), or none at all.
        Err(err) => {
            eprintln!("warning: cannot watch for file events ({err}): polling instead");
            session.sync(None, None);
            return poll(&mut session, &stop);
        }
    };
    session.sync(Some(&mut watcher), None);
    if session.out_of_watches {
        return poll(&mut session, &stop);
    }
    say(
        project,
        &format!(
            "watching {} for changes (Ctrl-C to stop)",
            project.bundle_dir.display()
        ),
    );
    let window = args.debounce;
    loop {
        // Shared, not copied: the idle work borrows the session meanwhile.
        let watched = Rc::clone(&session.watched);
        let batch = events::next_batch(
            &rx,
            &watched,
            &stop,
            window,
            &mut || session.idle(),
            &|err| report_watch_error(project, err),
        );
        let Some(batch) = batch else { break };
        if batch.structural {
            session.sync(Some(&mut watcher), None);
            if session.out_of_watches {
                drop(watcher);
                return poll(&mut session, &stop);
            }
        } else {
            session.sync(None, Some(&batch.folders));
        }
    }
    session.prune();
    say(project, "stopped");
    Ok(())
}

/// `--poll`, or what watch falls back to when the kernel has no watches left.
fn poll(session: &mut Session, stop: &AtomicBool) -> Result<()> {
    say(
        session.project,
        &format!(
            "watching {} (polling every {} ms)",
            session.project.bundle_dir.display(),
            POLL_INTERVAL.as_millis()
        ),
    );
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(POLL_INTERVAL);
        session.check_all();
        session.idle();
    }
    session.prune();
    say(session.project, "stopped");
    Ok(())
}

/// What the last sync left, for the next to start from.
struct Tree {
    bundle: Bundle,
    selection: Selection,
    /// The version it deployed.
    current: String,
}

struct Session<'a> {
    project: &'a Project,
    env: String,
    watched: Rc<BTreeSet<PathBuf>>,
    /// `None` at the start, after a failed sync or a structural change: the
    /// next sync loads the configuration and selects the files from scratch.
    tree: Option<Tree>,
    /// Syncs since the env was last checked whole.
    unchecked: usize,
    /// Syncs since the last prune.
    unpruned: usize,
    last_sync: Instant,
    /// The kernel refused a watch for lack of them: poll instead.
    out_of_watches: bool,
    /// The last sync failed (the lock held by a manual deploy, a full
    /// disk): the idle loop retries it, a change or not.
    failed: bool,
}

impl Session<'_> {
    /// Deploy the difference and report it in one line. Errors are reported,
    /// never fatal. With `folders` (and a tree from the last sync), only the
    /// files of those folders are looked at, and the env is taken to be as
    /// the last sync left it; else everything is, from the configuration on.
    fn sync(
        &mut self,
        watcher: Option<&mut RecommendedWatcher>,
        folders: Option<&BTreeSet<PathBuf>>,
    ) {
        let started = Instant::now();
        let outcome = match (folders, self.tree.take()) {
            (Some(folders), Some(tree)) => self.sync_folders(tree, folders),
            _ => self.sync_all(watcher),
        };
        let took = started.elapsed();
        self.unpruned += 1;
        self.last_sync = Instant::now();
        self.failed = outcome.is_err();
        match outcome {
            Ok(report) => line(self.project, &report, took),
            Err(err) => eprintln!(
                "{} sync failed: {err:#} (retrying in {} s or on the next change)",
                clock(),
                idle().as_secs()
            ),
        }
    }

    fn sync_all(&mut self, watcher: Option<&mut RecommendedWatcher>) -> Result<DeployReport> {
        // Watch before selecting: a save made meanwhile then raises an
        // event and a next sync, instead of being missed. With a broken
        // configuration, watch the plain tree so the fix is seen.
        let loaded = self.load();
        if let Some(watcher) = watcher {
            self.rewatch(watcher, loaded.as_ref().ok());
        }
        let bundle = loaded?;
        let selection = files::select(
            &bundle.root,
            &bundle.sync_patterns("include"),
            &bundle.sync_patterns("exclude"),
        )?;
        let known = Known {
            selection: Some(&selection),
            current: None,
        };
        let report = deploy::deploy_known(self.project, &bundle, &deferred(), &known)?;
        self.unchecked = 0;
        if let Some(current) = report.deployment_id.clone() {
            self.tree = Some(Tree {
                bundle,
                selection,
                current,
            });
        }
        Ok(report)
    }

    /// Select the files of `folders` again, and deploy.
    fn sync_folders(
        &mut self,
        mut tree: Tree,
        folders: &BTreeSet<PathBuf>,
    ) -> Result<DeployReport> {
        let bundle = &tree.bundle;
        let (include, exclude) = (
            bundle.sync_patterns("include"),
            bundle.sync_patterns("exclude"),
        );
        let files = &mut tree.selection.files;
        files.retain(|f| !f.abs.parent().is_some_and(|p| folders.contains(p)));
        for dir in folders {
            let mut now = files::select_dir(&bundle.root, dir, &include, &exclude)?;
            files.append(&mut now.files);
        }
        files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        let known = Known {
            selection: Some(&tree.selection),
            current: Some(&tree.current),
        };
        let report = deploy::deploy_known(self.project, &tree.bundle, &deferred(), &known)?;
        self.unchecked += 1;
        if let Some(current) = &report.deployment_id {
            tree.current = current.clone();
            self.tree = Some(tree);
        }
        Ok(report)
    }

    /// When the loop is idle: after syncs that trusted the env and the
    /// events, check it all once (a walk and a drift check, writing nothing)
    /// and sync everything if that finds a difference; prune old versions.
    fn idle(&mut self) {
        if self.last_sync.elapsed() < idle() && self.unpruned < PRUNE_EVERY {
            return;
        }
        if self.failed && self.last_sync.elapsed() >= idle() {
            self.tree = None;
            self.sync(None, None);
            return;
        }
        if self.unchecked > 0 && self.last_sync.elapsed() >= idle() {
            self.check_all();
        }
        self.prune();
    }

    /// Compare the whole tree with the env (writing nothing), and sync
    /// everything if they differ (or the comparison fails).
    fn check_all(&mut self) {
        self.unchecked = 0;
        let plan = self
            .load()
            .and_then(|b| deploy::plan(self.project, &b, &DeployOptions::default()));
        let f = plan.as_ref().map(|p| &p.files);
        if !f.is_ok_and(|f| f.put.is_empty() && f.delete.is_empty() && f.repaired.is_empty()) {
            self.tree = None;
            self.sync(None, None);
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
    fn load(&mut self) -> Result<Bundle> {
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
    fn rewatch(&mut self, watcher: &mut RecommendedWatcher, bundle: Option<&Bundle>) {
        let root = &self.project.bundle_dir;
        let patterns = |which| bundle.map(|b| b.sync_patterns(which)).unwrap_or_default();
        let selection = files::select(root, &patterns("include"), &patterns("exclude"));
        let wanted = match selection {
            Ok(selection) => files::watch_dirs(&selection),
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
                self.out_of_watches = matches!(err.kind, notify::ErrorKind::MaxFilesWatch);
                failed = true;
                break;
            }
        }
        self.watched = Rc::new(if failed { BTreeSet::new() } else { wanted });
    }
}

/// Syncs leave old versions for an idle moment (see `idle`).
fn deferred() -> DeployOptions {
    DeployOptions {
        defer_prune: true,
        ..DeployOptions::default()
    }
}

fn report_watch_error(project: &Project, err: &notify::Error) {
    if let Some(text) = out_of_watches_message(err) {
        eprintln!("{text}");
    } else if !project.settings.quiet {
        eprintln!("{} watch error: {err} (a full sync follows)", clock());
    }
}

fn out_of_watches_message(err: &notify::Error) -> Option<&'static str> {
    matches!(err.kind, notify::ErrorKind::MaxFilesWatch).then_some(
        "warning: the inotify watch limit is reached (fs.inotify.max_user_watches): polling \
         instead, four times a second. To watch with events, raise it \
         (`sudo sysctl fs.inotify.max_user_watches=524288`) and start watch again",
    )
}

fn line(project: &Project, report: &DeployReport, took: Duration) {
    if project.settings.json {
        if let Ok(doc) = serde_json::to_string(report) {
            println!("{doc}");
        }
        return;
    }
    if project.settings.quiet {
        return;
    }
    for w in &report.warnings {
        eprintln!("{} warning: {w}", clock());
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

#[cfg(test)]
mod tests {
    #[test]
    fn running_out_of_watches_says_what_happens_and_how_to_fix_it() {
        let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let text = super::out_of_watches_message(&err).expect("a message");
        assert!(
            text.contains("max_user_watches") && text.contains("polling"),
            "{text}"
        );
        let other = notify::Error::generic("other");
        assert!(super::out_of_watches_message(&other).is_none());
    }
}
