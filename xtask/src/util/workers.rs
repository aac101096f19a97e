//! Threads kept for jobs that may block for good (an HTTP exchange with a
//! peer gone silent), which the caller waits for only so long: a job is
//! handed to an idle thread, or to a new one when all are busy, since a
//! stalled job keeps its thread until it ends by itself. A thread idle for
//! [`IDLE_FOR`] ends. Starting a thread per job cost a deploy of 10,000
//! files 11,000 thread creations.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// How long a thread waits for another job before it ends.
const IDLE_FOR: Duration = Duration::from_secs(10);

/// The idle threads, each by its number and the way to hand it a job. A
/// thread is taken out before a job is sent to it, so a thread that finds
/// itself still listed when it gives up waiting can end: nothing comes.
static IDLE: Mutex<Vec<(u64, Sender<Job>)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Runs `job` on a thread of its own, now; returns at once.
pub fn spawn(job: impl FnOnce() + Send + 'static) {
    let idle = IDLE.lock().unwrap_or_else(|e| e.into_inner()).pop();
    match idle {
        Some((_, tx)) => {
            // Cannot fail: the thread left the list, so it waits for this.
            if let Err(back) = tx.send(Box::new(job)) {
                start(back.0);
            }
        }
        None => start(Box::new(job)),
    }
}

fn start(first: Job) {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = channel::<Job>();
    std::thread::spawn(move || work(id, first, &tx, &rx));
}

fn work(id: u64, first: Job, tx: &Sender<Job>, rx: &Receiver<Job>) {
    let mut job = first;
    loop {
        job();
        IDLE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, tx.clone()));
        job = match rx.recv_timeout(IDLE_FOR) {
            Ok(next) => next,
            Err(RecvTimeoutError::Timeout) if leave(id) => return,
            // Taken from the list meanwhile: its job is on the way.
            Err(RecvTimeoutError::Timeout) => match rx.recv() {
                Ok(next) => next,
                Err(_) => return,
            },
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

/// Takes thread `id` off the idle list; false if someone took it first.
fn leave(id: u64) -> bool {
    let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
    match idle.iter().position(|(i, _)| *i == id) {
        Some(at) => {
            idle.swap_remove(at);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    /// Jobs run one after another reuse a thread; jobs blocked at once each
    /// get one, so a stalled job never holds up the next.
    #[test]
    fn threads_are_reused_and_a_blocked_job_holds_up_no_other() {
        let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
        for _ in 0..50 {
            let (done, wait) = channel();
            let seen = seen.clone();
            spawn(move || {
                seen.lock().unwrap().insert(std::thread::current().id());
                done.send(()).unwrap();
            });
            wait.recv().unwrap();
        }
        // Other tests may use the pool at the same time: a few threads, not 50.
        assert!(seen.lock().unwrap().len() < 10);

        let (release, blocked) = channel::<()>();
        let blocked = Arc::new(Mutex::new(blocked));
        let b = blocked.clone();
        spawn(move || {
            let _ = b.lock().unwrap().recv();
        });
        let ran = Arc::new(AtomicUsize::new(0));
        let (done, wait) = channel();
        let r = ran.clone();
        spawn(move || {
            r.fetch_add(1, Ordering::SeqCst);
            done.send(()).unwrap();
        });
        wait.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
    }
}
