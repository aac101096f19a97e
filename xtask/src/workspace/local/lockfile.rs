//! Helpers of the local lock: who holds it, is that process alive, and the
//! guard that serialises take-overs.

use std::fs::{self, OpenOptions};
use std::path::Path;

use anyhow::{Context, Result};

use crate::workspace::LockInfo;

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub(super) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// An exclusive `flock` on a guard file, held while the lock file is inspected
/// and replaced, so that two processes taking over a stale lock cannot both win.
pub(super) struct Guard(#[allow(dead_code)] fs::File); // held for its lock, released on drop

impl Guard {
    pub(super) fn take(path: &Path) -> Result<Guard> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the lifetime of `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("locking {}", path.display()));
        }
        Ok(Guard(file))
    }
}

pub fn describe_holder(h: &LockInfo) -> String {
    let forced = if h.is_forced {
        "force-acquired"
    } else {
        "acquired"
    };
    let mut s = format!(
        "deploy lock {forced} by {} at {}",
        h.user, h.acquisition_time
    );
    if h.pid != 0 {
        s.push_str(&format!(" (pid {} on {})", h.pid, h.host));
    }
    s
}

pub(super) fn unknown_holder(bytes: &[u8]) -> LockInfo {
    LockInfo {
        id: String::new(),
        acquisition_time: String::new(),
        is_forced: false,
        user: format!(
            "<unreadable lock: {}>",
            String::from_utf8_lossy(&bytes[..bytes.len().min(80)])
        ),
        pid: 0,
        host: String::new(),
    }
}
