//! A small scoped thread pool: the walk, the local tree writer and the deploy
//! engine fan out over it. Lives at the bottom so every layer may use it,
//! with the two tools that keep its threads cheap: freeing big tables off
//! the caller's thread, and the allocator's heap growth.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use anyhow::Result;

/// Run `job(i)` for i in 0..n on a few threads; the first error stops the rest.
pub fn parallel(n: usize, job: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    // One job (a one-file change has many such calls): no thread to start.
    if n <= 1 {
        return (0..n).try_for_each(job);
    }
    let threads = cores().clamp(2, 8).min(n);
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if let Err(e) = job(i) {
                        failed.store(true, Ordering::Relaxed);
                        error
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                    }
                }
            });
        }
    });
    match error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The cores this process may use, asked once: the answer reads the
/// cgroup's files (a dozen system calls), and `parallel` runs many times
/// per deploy.
fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(2, |p| p.get()))
}

/// Drop `value` on a thread of its own. A deploy's tables of 10,000 files
/// take milliseconds to free, which the command need not wait for (and at
/// exit, never does: the process ends before the thread).
pub fn drop_later<T: Send + 'static>(value: T) {
    let dropped = std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value));
    // No thread to be had: the value came back with the error and is freed here.
    drop(dropped);
}

/// Let the allocator grow its heaps 16 MB at a time. Each thread of
/// `parallel` allocates in an arena of its own, which glibc otherwise grows
/// a few pages at a time with `mprotect`: some 900 calls in a redeploy of
/// 10,000 files, each taking the process's memory-map lock that the other
/// threads' page faults need. Only touched pages are resident, so memory use
/// does not change. Call first, before any thread exists.
pub fn grow_heaps_in_large_steps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}
