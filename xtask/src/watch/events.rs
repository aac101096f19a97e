//! From file-system events to batches of work for a sync: which events
//! count, how they are debounced, and what they say about where to look.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};

/// How often the loop wakes, when idle, to notice Ctrl-C / SIGTERM.
const TICK: Duration = Duration::from_millis(100);
/// Quiet time after which a batch whose written files are all closed is
/// synced, without waiting for the whole debounce window: an editor's save
/// (write and close, or write a temporary file and rename it) is over in
/// well under this.
const SETTLE: Duration = Duration::from_millis(5);

/// What a batch of events asks for.
#[derive(Default)]
pub(super) struct Batch {
    relevant: bool,
    /// The folders to watch may have changed (a folder made, removed or
    /// renamed, ignore rules or configuration edited, events lost): the file
    /// set is selected again from scratch.
    pub structural: bool,
    /// Otherwise, the folders whose files changed: only they are looked at.
    pub folders: BTreeSet<PathBuf>,
}

/// Wait for the next batch of relevant events and debounce it: the batch is
/// ready once `window` passed without a new event, or sooner, after
/// `SETTLE` of quiet, when every file written in it has been closed (the
/// kernel reports the close; a writer still at work has not). While idle,
/// `idle` runs every `TICK`. `None`: stop.
pub(super) fn next_batch(
    rx: &Receiver<notify::Result<notify::Event>>,
    watched: &BTreeSet<PathBuf>,
    stop: &AtomicBool,
    window: Duration,
    idle: &mut dyn FnMut(),
    on_error: &dyn Fn(&notify::Error),
) -> Option<Batch> {
    let mut batch = Batch::default();
    let mut writing: HashSet<PathBuf> = HashSet::new();
    let mut last = Instant::now();
    let mut tick = Instant::now();
    loop {
        // Events that need no sync (reads: an editor's, an indexer's) may
        // come faster than `TICK`: the idle work and Ctrl-C still get their turn.
        if !batch.relevant && tick.elapsed() >= TICK {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            idle();
            tick = Instant::now();
        }
        let quiet_needed = if writing.is_empty() {
            SETTLE.min(window)
        } else {
            window
        };
        let wait = if batch.relevant {
            quiet_needed.saturating_sub(last.elapsed())
        } else {
            TICK.saturating_sub(tick.elapsed())
        };
        match rx.recv_timeout(wait) {
            Ok(Err(err)) => {
                on_error(&err);
                batch.relevant = true;
                batch.structural = true;
                last = Instant::now();
            }
            Ok(Ok(event)) => {
                if add(event, watched, &mut batch, &mut writing) {
                    last = Instant::now();
                }
            }
            Err(RecvTimeoutError::Timeout) if batch.relevant => {
                if last.elapsed() >= quiet_needed {
                    return Some(batch);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// Add one event to `batch`; false if it is not worth a sync (reads,
/// including the sync's own; the env itself; `.git`).
fn add(
    event: notify::Event,
    watched: &BTreeSet<PathBuf>,
    batch: &mut Batch,
    writing: &mut HashSet<PathBuf>,
) -> bool {
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
    if event.paths.iter().all(|p| is_noise(p)) {
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
        if let Some(parent) = path.parent() {
            batch.folders.insert(parent.to_path_buf());
        }
    }
    batch.relevant = true;
    batch.structural |= is_structural(&event, watched);
    true
}

/// Events that may change the set of folders to watch, or the rules that
/// select files.
fn is_structural(event: &notify::Event, watched: &BTreeSet<PathBuf>) -> bool {
    matches!(
        event.kind,
        EventKind::Remove(RemoveKind::Folder) | EventKind::Create(CreateKind::Folder)
    ) || event.paths.iter().any(|p| {
        watched.contains(p)
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
fn is_noise(path: &Path) -> bool {
    path.components().any(|c| {
        matches!(
            c.as_os_str().to_str(),
            Some(".git" | ".bundle" | ".databricks")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{DataChange, Flag, ModifyKind, RenameMode};
    use std::sync::mpsc::channel;

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    fn data() -> EventKind {
        EventKind::Modify(ModifyKind::Data(DataChange::Any))
    }

    fn closed() -> EventKind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    }

    /// Send `events`, then run `next_batch` with a window of `window_ms`
    /// (no idle work); the batch and how long it took to come.
    fn batch_of(events: Vec<notify::Result<notify::Event>>, window_ms: u64) -> (Batch, Duration) {
        let (tx, rx) = channel();
        for e in events {
            tx.send(e).unwrap();
        }
        let watched = BTreeSet::from([PathBuf::from("/b/src")]);
        let start = Instant::now();
        let batch = next_batch(
            &rx,
            &watched,
            &AtomicBool::new(false),
            Duration::from_millis(window_ms),
            &mut || {},
            &|_| {},
        )
        .expect("a batch");
        (batch, start.elapsed())
    }

    #[test]
    fn a_closed_save_ends_the_window_early_an_open_one_does_not() {
        let window = 2_000;
        let (batch, took) = batch_of(
            vec![event(data(), "/b/src/a.py"), event(closed(), "/b/src/a.py")],
            window,
        );
        assert!(took < Duration::from_millis(window / 2), "{took:?}");
        assert!(!batch.structural);
        assert_eq!(batch.folders, BTreeSet::from([PathBuf::from("/b/src")]));
        // Still open for writing: the whole window.
        let (_, took) = batch_of(vec![event(data(), "/b/src/a.py")], 300);
        assert!(took >= Duration::from_millis(300), "{took:?}");
    }

    #[test]
    fn reads_and_the_env_raise_nothing_structure_is_recognised() {
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        // Reads and events under .bundle/.git are dropped: only the last counts.
        let (batch, _) = batch_of(
            vec![
                event(open, "/b/src/a.py"),
                event(data(), "/b/.bundle/x/files/a.py"),
                event(data(), "/b/.git/index"),
                event(closed(), "/b/src/b.py"),
            ],
            50,
        );
        assert_eq!(batch.folders, BTreeSet::from([PathBuf::from("/b/src")]));
        assert!(!batch.structural);
        for (kind, path) in [
            (EventKind::Create(CreateKind::Folder), "/b/src/new"),
            (EventKind::Remove(RemoveKind::Folder), "/b/src/old"),
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::From)),
                "/b/src",
            ),
            (closed(), "/b/.gitignore"),
            (closed(), "/b/databricks.yml"),
        ] {
            let (batch, _) = batch_of(vec![event(kind, path)], 50);
            assert!(batch.structural, "{kind:?} {path}");
        }
        // The kernel's queue overflowed: anything may have changed.
        let rescan = Ok(notify::Event::new(EventKind::Other).set_flag(Flag::Rescan));
        assert!(batch_of(vec![rescan], 50).0.structural);
        // So may it have when the watcher reports an error.
        let err = Err(notify::Error::generic("lost"));
        assert!(batch_of(vec![err], 50).0.structural);
    }
}
