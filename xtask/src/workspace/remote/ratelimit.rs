//! A client-side request rate limit, as the Databricks SDKs keep one: a token
//! bucket of `rate` requests a second with a burst of `rate`, shared by every
//! worker thread of one client. The default is the Go SDK's 15 a second, so
//! this tool asks no more of a workspace than the CLI does;
//! `DATABRICKS_RATE_LIMIT` changes it, as it does for the CLI.
//!
//! The CLI's `bundle deploy` holds more than one SDK API client, each with
//! its own bucket: the workspace client (resources, permissions, `Me`, and
//! the `mkdirs`/`delete`/`list`/`export` of every filer), and one more per
//! workspace filer (`libs/filer/workspace_files_client.go`:
//! `NewWorkspaceFilesClient` calls `client.New`), which its `import-file`
//! writes and `get-status` stats go through: the file sync's
//! (`libs/sync/sync.go`), the lock's (`libs/locker/locker.go`) and the
//! state's (`bundle/deploy/filer.go` `StateFiler`, whose reads of
//! `workspace-files/<path>` have a client of their own too). [`Limiters`]
//! keeps one bucket per such [`Role`] and routes calls the same way.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The Go SDK's `defaultRateLimitPerSeconds`.
pub const DEFAULT_PER_SECOND: u32 = 15;

/// The limit from `DATABRICKS_RATE_LIMIT` (a positive whole number), else the
/// default: the SDK also treats 0 as "the default".
pub fn per_second_from_env() -> u32 {
    std::env::var("DATABRICKS_RATE_LIMIT")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PER_SECOND)
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    /// Tokens left (negative: already promised to waiting callers) as of the instant.
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket: the first `per_second` requests go at once.
    pub fn new(per_second: u32) -> RateLimiter {
        let rate = f64::from(per_second.max(1));
        RateLimiter {
            rate,
            burst: rate,
            bucket: Mutex::new((rate, Instant::now())),
        }
    }

    /// Takes one token at `now` and says how long the caller must wait before
    /// sending. Each caller reserves its own slot, so waiting callers leave in
    /// order instead of racing for the next token.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, since) = *b;
        let refilled = now.saturating_duration_since(since).as_secs_f64() * self.rate;
        let left = (tokens + refilled).min(self.burst) - 1.0;
        *b = (left, now.max(since));
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate)
        }
    }

    /// Waits for a token; false when a stop (Ctrl-C, SIGTERM) ended the wait.
    pub fn wait(&self) -> bool {
        let wait = self.reserve(Instant::now());
        wait.is_zero() || crate::util::stop::sleep(wait)
    }
}

/// Who sends a request, as the CLI's API clients divide them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Resources, permissions, `Me`: the workspace client.
    Api,
    /// The upload of the bundle's files (the CLI's sync filer).
    Files,
    /// The state files (the CLI's state filer).
    State,
    /// `deploy.lock` (the CLI's locker filer).
    Lock,
    /// The look for files changed in the workspace out of band (lists and
    /// exports): this tool's own, which the CLI never sends, so a client of
    /// its own, as each of the CLI's filers has one; the requests the CLI
    /// also sends are not slowed by it.
    Look,
}

/// One bucket per role, each of the same limit (`DATABRICKS_RATE_LIMIT`
/// applies to every SDK client alike).
#[derive(Debug)]
pub struct Limiters {
    api: RateLimiter,
    files: RateLimiter,
    state: RateLimiter,
    lock: RateLimiter,
    look: RateLimiter,
}

impl Limiters {
    pub fn new(per_second: u32) -> Limiters {
        Limiters {
            api: RateLimiter::new(per_second),
            files: RateLimiter::new(per_second),
            state: RateLimiter::new(per_second),
            lock: RateLimiter::new(per_second),
            look: RateLimiter::new(per_second),
        }
    }

    /// The bucket a call to `path` by `role` takes its token from: a
    /// filer's own client sends only its writes (`import-file`), stats
    /// (`get-status`) and the state's downloads (`workspace-files/<path>`);
    /// the rest goes through the workspace client, as in the CLI.
    pub fn for_call(&self, role: Role, path: &str) -> &RateLimiter {
        let filer_call = path.starts_with("/api/2.0/workspace-files/")
            || path.starts_with("/api/2.0/workspace/get-status");
        match role {
            Role::Look => &self.look,
            _ if !filer_call => &self.api,
            Role::Api => &self.api,
            Role::Files => &self.files,
            Role::State => &self.state,
            Role::Lock => &self.lock,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn a_full_bucket_lets_a_burst_through_then_spaces_requests_by_one_over_rate() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(l.reserve(t0), Duration::ZERO);
        }
        // The 11th, 12th, 13th at the same instant wait 100, 200, 300 ms.
        assert_eq!(ms(l.reserve(t0)), 100);
        assert_eq!(ms(l.reserve(t0)), 200);
        assert_eq!(ms(l.reserve(t0)), 300);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_burst_only() {
        let l = RateLimiter::new(10);
        let t0 = Instant::now();
        for _ in 0..10 {
            l.reserve(t0);
        }
        // Half a second refills five tokens.
        let t1 = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert_eq!(l.reserve(t1), Duration::ZERO);
        }
        assert_eq!(ms(l.reserve(t1)), 100);
        // An idle minute refills the burst, not 600 tokens.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..10 {
            assert_eq!(l.reserve(t2), Duration::ZERO);
        }
        assert!(l.reserve(t2) > Duration::ZERO);
    }

    #[test]
    fn n_requests_take_at_least_n_minus_burst_over_rate() {
        // 45 requests at 15/s: 15 at once, 30 more need two seconds.
        let l = RateLimiter::new(DEFAULT_PER_SECOND);
        let t0 = Instant::now();
        let last = (0..45).map(|_| l.reserve(t0)).max().unwrap();
        assert_eq!(ms(last), 2000);
    }

    #[test]
    fn each_role_has_its_own_bucket_for_its_filer_calls_only() {
        let l = Limiters::new(2);
        let t0 = Instant::now();
        let put = "/api/2.0/workspace-files/import-file/Workspace%2Fa?overwrite=true";
        let mkdirs = "/api/2.0/workspace/mkdirs";
        // The uploads empty the files bucket, not the state's nor the api's.
        for _ in 0..2 {
            assert_eq!(l.for_call(Role::Files, put).reserve(t0), Duration::ZERO);
        }
        assert!(l.for_call(Role::Files, put).reserve(t0) > Duration::ZERO);
        assert_eq!(l.for_call(Role::State, put).reserve(t0), Duration::ZERO);
        assert_eq!(l.for_call(Role::Lock, put).reserve(t0), Duration::ZERO);
        // A filer's mkdirs goes through the workspace client's bucket.
        for _ in 0..2 {
            assert_eq!(l.for_call(Role::Files, mkdirs).reserve(t0), Duration::ZERO);
        }
        assert!(l.for_call(Role::Api, "/api/2.2/jobs/get").reserve(t0) > Duration::ZERO);
    }

    #[test]
    fn the_look_for_files_changed_there_has_a_bucket_of_its_own() {
        let l = Limiters::new(2);
        let t0 = Instant::now();
        let list = "/api/2.0/workspace/list?path=%2Fa";
        for _ in 0..2 {
            assert_eq!(l.for_call(Role::Look, list).reserve(t0), Duration::ZERO);
        }
        assert!(l.for_call(Role::Look, list).reserve(t0) > Duration::ZERO);
        assert_eq!(l.for_call(Role::Api, list).reserve(t0), Duration::ZERO);
    }
}
