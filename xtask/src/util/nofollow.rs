//! Opening a source file the way the walk saw it: the walk skips links, so a
//! file swapped for a link (to `/etc/passwd`, say) between the walk and the
//! read must not be read through the link. `O_NOFOLLOW` refuses a link in
//! the last component, and a check on the opened handle refuses anything
//! that is not a regular file (a FIFO would block a deploy forever:
//! `O_NONBLOCK` keeps the open itself from waiting on one).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open `path` for reading if it is a regular file and not a link.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(
                io::ErrorKind::InvalidInput,
                "it became a symbolic link since the walk: links are not deployed",
            ),
            _ => e,
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is no longer a regular file (a folder, a pipe or a device): not deployed",
        ));
    }
    Ok(file)
}

/// The whole content of `path`, opened with [`open_nofollow`].
pub fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = open_nofollow(path)?;
    let mut bytes = Vec::with_capacity(file.metadata().map_or(0, |m| m.len() as usize));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_pipes_and_folders_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "mine").unwrap();
        assert_eq!(read_nofollow(&file).unwrap(), b"mine");

        let secret = dir.path().join("secret");
        std::fs::write(&secret, "root:x:0:0").unwrap();
        let link = dir.path().join("b.txt");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let err = read_nofollow(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");

        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let err = read_nofollow(&fifo).unwrap_err().to_string();
        assert!(err.contains("regular file"), "{err}");
        assert!(read_nofollow(dir.path()).is_err());
    }
}
