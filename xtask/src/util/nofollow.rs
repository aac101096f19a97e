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

/// Copy `src` (opened with [`open_nofollow`]) to a new file `dst`, keeping
/// its holes: a sparse source stays sparse (its data segments are copied,
/// found with `SEEK_DATA`/`SEEK_HOLE`, and the length set), where a plain
/// copy would write every hole out as zeros.
pub fn copy_nofollow(src: &Path, dst: &Path) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut from = open_nofollow(src)?;
    let meta = from.metadata()?;
    let mut to = OpenOptions::new().write(true).create_new(true).open(dst)?;
    let len = meta.len();
    // Fewer blocks than the length needs: there are holes.
    if meta.blocks() * 512 >= len {
        return io::copy(&mut from, &mut to);
    }
    copy_data_segments(&mut from, &mut to, len)?;
    to.set_len(len)?;
    Ok(len)
}

fn copy_data_segments(from: &mut File, to: &mut File, len: u64) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    use std::os::fd::AsRawFd;
    let seek = |fd: i32, at: u64, whence: i32| -> io::Result<Option<u64>> {
        // SAFETY: `fd` is an open descriptor owned by a live `File`.
        let r = unsafe { libc::lseek(fd, at as libc::off_t, whence) };
        if r >= 0 {
            return Ok(Some(r as u64));
        }
        match io::Error::last_os_error() {
            // No data at or after `at`: the rest is a hole.
            e if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
            e => Err(e),
        }
    };
    let fd = from.as_raw_fd();
    let mut at = 0;
    while at < len {
        let Some(start) = seek(fd, at, libc::SEEK_DATA)? else {
            break;
        };
        let end = seek(fd, start, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        from.seek(SeekFrom::Start(start))?;
        to.seek(SeekFrom::Start(start))?;
        io::copy(&mut Read::by_ref(from).take(end - start), to)?;
        at = end;
    }
    Ok(())
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

    #[test]
    fn a_sparse_file_is_copied_sparse_and_whole() {
        use std::io::{Seek, SeekFrom, Write};
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("sparse.bin");
        let mut f = File::create(&src).unwrap();
        f.write_all(b"head").unwrap();
        f.seek(SeekFrom::Start(64 << 20)).unwrap();
        f.write_all(b"middle").unwrap();
        f.set_len(128 << 20).unwrap();
        drop(f);
        let dst = dir.path().join("copy.bin");
        copy_nofollow(&src, &dst).unwrap();
        let (a, b) = (std::fs::read(&src).unwrap(), std::fs::read(&dst).unwrap());
        assert!(a == b, "same bytes");
        let m = std::fs::metadata(&dst).unwrap();
        assert_eq!(m.len(), 128 << 20);
        assert!(
            m.blocks() * 512 < 1 << 20,
            "the copy is dense: {} blocks",
            m.blocks()
        );
        // A link is refused here too.
        let link = dir.path().join("link.bin");
        std::os::unix::fs::symlink(&src, &link).unwrap();
        assert!(copy_nofollow(&link, &dir.path().join("x")).is_err());
    }
}
