//! Waiting for what the workspace makes asynchronously: after a create, the
//! CLI's direct engine waits (`WaitAfterCreate`) through the SDK's waiters
//! until the resource is ready, so that what depends on it (a database
//! catalog on its instance, an index on its endpoint) finds it usable.
//! One row per kind that waits. A serving endpoint is waited for after an
//! update too.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::workspace::remote::api::escape;
use crate::workspace::remote::client::Client;

/// How one kind is waited for: `GET path` until the string at `field` (a
/// JSON pointer) is `ready`; one of `failed` ends the wait with an error.
struct Wait {
    kind: &'static str,
    path: &'static str,
    field: &'static str,
    ready: &'static str,
    failed: &'static [&'static str],
    timeout: Duration,
}

const WAITS: &[Wait] = &[
    // `WaitGetDatabaseInstanceDatabaseAvailable`, 20 minutes in the CLI.
    Wait {
        kind: "database_instances",
        path: "/api/2.0/database/instances/{id}",
        field: "/state",
        ready: "AVAILABLE",
        failed: &[],
        timeout: Duration::from_secs(20 * 60),
    },
    // `WaitGetEndpointVectorSearchEndpointOnline`, an hour in the CLI.
    Wait {
        kind: "vector_search_endpoints",
        path: "/api/2.0/vector-search/endpoints/{id}",
        field: "/endpoint_status/state",
        ready: "ONLINE",
        failed: &["OFFLINE"],
        timeout: Duration::from_secs(60 * 60),
    },
    // `WaitGetServingEndpointNotUpdating`, 35 minutes in the CLI: its
    // permissions and any later update find the endpoint settled.
    Wait {
        kind: "model_serving_endpoints",
        path: "/api/2.0/serving-endpoints/{id}",
        field: "/state/config_update",
        ready: "NOT_UPDATING",
        failed: &["UPDATE_FAILED", "UPDATE_CANCELED"],
        timeout: Duration::from_secs(35 * 60),
    },
];

/// Waits until the resource `id` of `kind`, just created or updated, is
/// ready (at once for a kind that does not wait).
pub(super) fn until_ready(client: &Client, kind: &str, id: &str) -> Result<()> {
    let Some(wait) = WAITS.iter().find(|w| w.kind == kind) else {
        return Ok(());
    };
    let path = wait.path.replace("{id}", &escape(id));
    let mut get = || client.rest("GET", &path, None);
    poll(wait, &mut get, &mut std::thread::sleep)
        .with_context(|| format!("waiting for {kind} {id} to be {}", wait.ready))
}

/// Reads with `get` until ready, sleeping between reads as the SDK's poll
/// does: 1 s, growing by 1 s up to 10 s.
fn poll(
    wait: &Wait,
    get: &mut dyn FnMut() -> Result<Option<Value>>,
    sleep: &mut dyn FnMut(Duration),
) -> Result<()> {
    let start = Instant::now();
    let (mut waited, mut pause) = (Duration::ZERO, Duration::from_secs(1));
    loop {
        let answer = get()?.context("not found")?;
        let state = answer
            .pointer(wait.field)
            .and_then(Value::as_str)
            .unwrap_or("");
        if state == wait.ready {
            return Ok(());
        }
        if wait.failed.contains(&state) {
            bail!("it is {state}: {answer}");
        }
        if waited + pause > wait.timeout || start.elapsed() > wait.timeout {
            bail!("still {state:?} after {} s", waited.as_secs());
        }
        sleep(pause);
        waited += pause;
        pause = (pause + Duration::from_secs(1)).min(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wait(kind: &str) -> &'static Wait {
        WAITS.iter().find(|w| w.kind == kind).unwrap()
    }

    /// `poll` over the answers `states` (the last repeated), with the pauses taken.
    fn run(kind: &str, states: &[Value]) -> (Result<()>, Vec<u64>) {
        let mut n = 0;
        let mut get = || {
            let s = states[n.min(states.len() - 1)].clone();
            n += 1;
            Ok(Some(s))
        };
        let mut pauses = Vec::new();
        let out = poll(wait(kind), &mut get, &mut |d| pauses.push(d.as_secs()));
        (out, pauses)
    }

    #[test]
    fn a_database_instance_is_read_until_available() {
        let starting = json!({"state": "STARTING"});
        let (out, pauses) = run(
            "database_instances",
            &[starting.clone(), starting, json!({"state": "AVAILABLE"})],
        );
        out.unwrap();
        assert_eq!(pauses, [1, 2]);
    }

    #[test]
    fn an_offline_endpoint_fails_and_a_slow_one_times_out() {
        let offline = json!({"endpoint_status": {"state": "OFFLINE", "message": "no capacity"}});
        let (out, _) = run("vector_search_endpoints", &[offline]);
        assert!(format!("{:#}", out.unwrap_err()).contains("no capacity"));
        let provisioning = json!({"endpoint_status": {"state": "PROVISIONING"}});
        let (out, pauses) = run("vector_search_endpoints", &[provisioning]);
        assert!(format!("{:#}", out.unwrap_err()).contains("still \"PROVISIONING\""));
        // The SDK's growing pause, capped at 10 s, until the hour is spent.
        assert_eq!(&pauses[..11], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10]);
        assert!(pauses.iter().sum::<u64>() <= 3600);
    }

    #[test]
    fn a_serving_endpoint_is_read_until_not_updating_and_a_failed_update_is_an_error() {
        let updating = json!({"name": "e", "state": {"config_update": "IN_PROGRESS"}});
        let settled = json!({"name": "e", "state": {"config_update": "NOT_UPDATING"}});
        let (out, pauses) = run(
            "model_serving_endpoints",
            &[updating.clone(), updating.clone(), settled],
        );
        out.unwrap();
        assert_eq!(pauses, [1, 2]);
        let failed = json!({"name": "e", "state": {"config_update": "UPDATE_FAILED"}});
        let (out, pauses) = run("model_serving_endpoints", &[updating, failed]);
        assert!(format!("{:#}", out.unwrap_err()).contains("UPDATE_FAILED"));
        assert_eq!(pauses, [1]);
        let mut gone = || Ok(None);
        let e = poll(wait("model_serving_endpoints"), &mut gone, &mut |_| {}).unwrap_err();
        assert!(format!("{e:#}").contains("not found"));
    }
}
