//! Taking and releasing `state/deploy.lock` around a deploy.
//!
//! Unlike the CLI, the lock stays on in `mode: development`: the CLI turns it
//! off there because a remote lock costs seconds and a killed deploy leaves it
//! behind (reference §1.6, §7 #5); locally it costs microseconds and a lock
//! left by a dead process is detected, so there is no reason to give it up.

use anyhow::Result;

use super::state;
use crate::workspace::local::{describe_holder, hostname, process_identity};
use crate::workspace::{LockInfo, Replaced, Workspace};

pub struct Held<'a> {
    ws: &'a dyn Workspace,
    pub info: LockInfo,
    pub warnings: Vec<String>,
    released: bool,
}

pub fn acquire<'a>(ws: &'a dyn Workspace, user: &str, force: bool) -> Result<Held<'a>> {
    let info = LockInfo {
        id: state::new_uuid(),
        acquisition_time: local_now(),
        is_forced: force,
        user: user.to_string(),
        host: hostname(),
        ..process_identity()
    };
    let mut warnings = Vec::new();
    match ws.lock(&info)? {
        Replaced::Nothing => {}
        Replaced::Stale(h) => warnings.push(format!(
            "took over a stale lock: {} — that process no longer exists",
            describe_holder(&h)
        )),
        Replaced::Unreadable(what) => warnings.push(format!(
            "replaced an empty or partial lock file ({what}): no live process holds it"
        )),
        Replaced::Forced(h) => {
            warnings.push(format!("--force-lock: overrode {}", describe_holder(&h)))
        }
    }
    crate::util::fault::step("lock acquired")?;
    Ok(Held {
        ws,
        info,
        warnings,
        released: false,
    })
}

impl Held<'_> {
    pub fn release(mut self) -> Result<Option<String>> {
        self.released = true;
        self.ws.unlock(&self.info)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // An error path that did not release explicitly still frees the env.
        if !self.released {
            let _ = self.ws.unlock(&self.info);
        }
    }
}

/// RFC 3339 in local time, as the CLI writes `AcquisitionTime`.
fn local_now() -> String {
    let now = time::OffsetDateTime::now_local().unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
