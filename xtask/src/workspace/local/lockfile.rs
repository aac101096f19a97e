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

/// This process as a lock records it: pid, boot id, PID namespace, start time.
pub fn process_identity() -> LockInfo {
    let pid = std::process::id();
    LockInfo {
        pid,
        boot_id: boot_id(),
        pid_ns: pid_namespace(),
        start_time: start_time(pid).unwrap_or(0),
        ..LockInfo::default()
    }
}

/// Another process of this machine, as its lock would record it (tests).
#[cfg(test)]
pub(super) fn process_identity_of(pid: u32) -> LockInfo {
    LockInfo {
        pid,
        start_time: start_time(pid).unwrap_or(0),
        ..process_identity()
    }
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn pid_namespace() -> String {
    fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks
/// after boot. The command name (field 2) may hold spaces and parentheses,
/// so the fields are counted after its last `)`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the holder of a lock is certainly gone: a process of this very
/// machine (same host name, boot and PID namespace) that no longer exists, or
/// whose pid now belongs to a process started at another time. A holder we
/// cannot see (another host or container, a lock without these fields) is
/// presumed alive: only `--force-lock` replaces it.
pub fn holder_is_gone(h: &LockInfo) -> bool {
    let me = process_identity();
    if h.host != hostname()
        || h.boot_id.is_empty()
        || h.boot_id != me.boot_id
        || h.pid_ns != me.pid_ns
        || h.pid == 0
        || h.pid == me.pid
    {
        return false;
    }
    !pid_alive(h.pid) || (h.start_time != 0 && start_time(h.pid).is_some_and(|t| t != h.start_time))
}

pub(super) fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Held by the process that holds the deploy lock, for as long as it does:
/// the kernel drops it when that process dies, however it dies, so a lock
/// file whose `flock` is free has no live holder on this machine (or in any
/// container sharing its kernel and this folder). `None` when it is held.
///
/// Asked again for a quarter of a second before answering `None`: a child
/// forked by the holder (any thread of it) shares the descriptor until it
/// runs `exec`, which closes it (`O_CLOEXEC`), so a lock just released can
/// stay held for that moment.
pub(super) fn try_hold(path: &Path) -> Result<Option<fs::File>> {
    let file = open_for_flock(path)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(250);
    loop {
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB) == 0 {
            return Ok(Some(file));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err).with_context(|| format!("locking {}", path.display()));
        }
        if std::time::Instant::now() > deadline {
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A file to `flock` (created if missing, never truncated: its bytes are
/// not what the lock is).
fn open_for_flock(path: &Path) -> Result<fs::File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}

fn flock(file: &fs::File, op: libc::c_int) -> libc::c_int {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the lifetime of `file`.
    unsafe { libc::flock(file.as_raw_fd(), op) }
}

/// An exclusive `flock` on a guard file, held while the lock file is inspected
/// and replaced, so that two processes taking over a stale lock cannot both win.
pub(super) struct Guard(#[allow(dead_code)] fs::File); // held for its lock, released on drop

impl Guard {
    pub(super) fn take(path: &Path) -> Result<Guard> {
        let file = open_for_flock(path)?;
        if flock(&file, libc::LOCK_EX) != 0 {
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
        ..LockInfo::default()
    }
}
