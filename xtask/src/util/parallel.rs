//! A small scoped thread pool: the walk, the local tree writer and the deploy
//! engine fan out over it. Lives at the bottom so every layer may use it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::Result;

/// Run `job(i)` for i in 0..n on a few threads; the first error stops the rest.
pub fn parallel(n: usize, job: impl Fn(usize) -> Result<()> + Sync) -> Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |p| p.get())
        .clamp(2, 8)
        .min(n.max(1));
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
