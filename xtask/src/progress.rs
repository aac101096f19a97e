//! A one-line progress counter on stderr for long operations (uploads to a
//! workspace). Shown only when stderr is a terminal and neither `--json` nor
//! `-q` was given, so logs and pipes never receive carriage returns.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Below this many items an operation is short: no counter.
const MIN_ITEMS: usize = 50;
/// Redraw at most this often.
const EVERY: Duration = Duration::from_millis(100);

/// Called once by `main` with whether human progress output is wanted.
pub fn enable(human: bool) {
    ENABLED.store(human && std::io::stderr().is_terminal(), Ordering::Relaxed);
}

pub struct Counter {
    label: &'static str,
    total: usize,
    done: AtomicUsize,
    /// When the line was last drawn; `None` until the first draw.
    drawn: Mutex<Option<Instant>>,
    on: bool,
}

impl Counter {
    pub fn new(label: &'static str, total: usize) -> Counter {
        let on = ENABLED.load(Ordering::Relaxed) && total >= MIN_ITEMS;
        Counter {
            label,
            total,
            done: AtomicUsize::new(0),
            drawn: Mutex::new(None),
            on,
        }
    }

    /// One item done; redraws the line when it is due.
    pub fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.on {
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if drawn.is_some_and(|t| t.elapsed() < EVERY) && done < self.total {
            return;
        }
        *drawn = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{}", render(self.label, done, self.total));
        let _ = err.flush();
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        let drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if self.on && drawn.is_some() {
            // Erase the line: the command's own summary follows.
            eprint!("\r\x1b[K");
        }
    }
}

fn render(label: &str, done: usize, total: usize) -> String {
    let pct = (done * 100).checked_div(total).unwrap_or(100);
    format!("  {label} {done}/{total} files ({pct}%)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_percent() {
        assert_eq!(
            render("uploading", 25, 200),
            "  uploading 25/200 files (12%)"
        );
        assert_eq!(render("uploading", 0, 0), "  uploading 0/0 files (100%)");
    }

    #[test]
    fn short_operations_and_non_terminals_draw_nothing() {
        // Tests run with stderr captured (not a terminal): never on.
        enable(true);
        let c = Counter::new("uploading", 1000);
        assert!(!c.on || std::io::stderr().is_terminal());
        let short = Counter::new("uploading", MIN_ITEMS - 1);
        assert!(!short.on);
    }
}
