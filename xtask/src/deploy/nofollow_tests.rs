//! Issue 18: a source file swapped for a link (to `/etc/passwd`, say)
//! between the walk and the read must not deploy the link's target. Real
//! walk, real swap, then the engine's own read and hash.

use std::fs;

use super::engine::{hash_source, read_source};

#[test]
fn a_file_swapped_for_a_link_after_the_walk_is_not_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bundle");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("small.txt"), "mine").unwrap();
    // Past the engine's big-file size: hashed streaming, copied by the kernel.
    let big = vec![b'x'; (16 << 20) + 1];
    fs::write(root.join("big.bin"), &big).unwrap();
    let secret = dir.path().join("passwd");
    fs::write(&secret, "root:x:0:0:root:/root:/bin/sh\n").unwrap();

    let selection = crate::files::select(&root, &[], &[]).unwrap();
    assert_eq!(selection.files.len(), 2);
    for f in &selection.files {
        fs::remove_file(&f.abs).unwrap();
        std::os::unix::fs::symlink(&secret, &f.abs).unwrap();
        let err = format!("{:#}", hash_source(f).unwrap_err());
        assert!(err.contains("symbolic link"), "{}: {err}", f.path);
        let err = format!("{:#}", read_source(f).unwrap_err());
        assert!(err.contains("symbolic link"), "{}: {err}", f.path);
    }
}
