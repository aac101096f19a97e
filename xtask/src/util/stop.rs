//! A process-wide "stop" flag: the signal handler of a long-running command
//! (watch) sets it, and every wait that could outlast a second (a remote
//! retry's backoff) sleeps in slices that look at it, so Ctrl-C and SIGTERM
//! end the command within a second even while a request is being retried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

/// Ask every interruptible wait to end (called from a signal handler).
pub fn request() {
    STOP.store(true, Ordering::SeqCst);
}

pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Sleep `wait`, or less when a stop is requested: `false` then.
pub fn sleep(wait: Duration) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    let end = Instant::now() + wait;
    loop {
        if requested() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SLICE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_ends_a_long_sleep_at_once() {
        let started = Instant::now();
        assert!(sleep(Duration::from_millis(20)));
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(100));
                request();
            });
            assert!(!sleep(Duration::from_secs(60)));
        });
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!sleep(Duration::from_secs(60)), "a stop stays requested");
        STOP.store(false, Ordering::SeqCst);
    }
}
