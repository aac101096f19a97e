//! The clock as the tool records it, and phase timings for the benchmarks.

/// Now, in RFC 3339 (UTC): how every record of the tool stamps time.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `XTASK_TIMINGS=1` prints how long each phase of a deploy took (for the bench).
pub struct Timer(Option<std::time::Instant>);

impl Timer {
    pub fn new() -> Timer {
        Timer(std::env::var_os("XTASK_TIMINGS").map(|_| std::time::Instant::now()))
    }
    pub fn phase(&mut self, name: &str) {
        if let Some(t) = &mut self.0 {
            eprintln!("  {name:<22} {:>7.1} ms", t.elapsed().as_secs_f64() * 1e3);
            *t = std::time::Instant::now();
        }
    }
}
