//! Fault injection for tests: prove that a deploy killed (or failing) at any
//! step leaves the previous version intact and that the next run recovers.
//!
//! `XTASK_FAULT_AFTER_STEP=N` aborts the process (like `kill -9`, no unwinding,
//! no cleanup) right after step N; `XTASK_FAULT_ERROR_AT_STEP=N` makes step N
//! fail with "No space left on device", as a full disk would. Steps are
//! counted in the order they run: lock, each file written or linked, each
//! part of the commit. Unset in normal use: a relaxed atomic increment per step.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(0);

fn setting(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn config() -> &'static (Option<usize>, Option<usize>) {
    static CONFIG: OnceLock<(Option<usize>, Option<usize>)> = OnceLock::new();
    CONFIG.get_or_init(|| {
        (
            setting("XTASK_FAULT_AFTER_STEP"),
            setting("XTASK_FAULT_ERROR_AT_STEP"),
        )
    })
}

/// Count one step; abort or fail here if the environment asks for it.
pub fn step(what: &str) -> std::io::Result<()> {
    let (abort_after, error_at) = *config();
    if abort_after.is_none() && error_at.is_none() {
        return Ok(());
    }
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if error_at == Some(n) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("No space left on device (injected at step {n}: {what})"),
        ));
    }
    if abort_after == Some(n) {
        eprintln!("fault injection: aborting after step {n} ({what})");
        std::process::abort();
    }
    Ok(())
}

/// `XTASK_FAULT_UNREADABLE=<path>`: reading this bundle file fails with
/// "Permission denied", for tests running as root (where `chmod 000` does not stop reads).
pub fn unreadable(path: &str) -> bool {
    static PATH: OnceLock<Option<String>> = OnceLock::new();
    PATH.get_or_init(|| std::env::var("XTASK_FAULT_UNREADABLE").ok())
        .as_deref()
        == Some(path)
}
