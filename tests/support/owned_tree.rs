//! Small images built from a tree whose owners, modes and special files a test chooses (as
//! root: chown, chmod, mknod before `mke2fs -d`), for the security and EA tests.

use std::fs;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};

use super::machine::open_with;

/// FILE_OPEN_REPARSE_POINT: a symlink opens as itself.
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

/// Sets the owner and permission bits of `path` (not following a symlink for the owner).
pub fn own(path: &Path, uid: u32, gid: u32, mode: u32) {
    lchown(path, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `<target tmp>/<name>/<name>.img`, an 8 MiB ext4 volume made by `mke2fs -d` from the tree
/// `fill` writes into the empty directory it is given. Built afresh on every call.
pub fn image_of(name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    let tree = dir.join("tree");
    fs::create_dir_all(&tree).unwrap();
    fill(&tree);
    let image = dir.join(format!("{name}.img"));
    let ok = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&tree)
        .arg(&image)
        .arg("8M")
        .status()
        .unwrap()
        .success();
    assert!(ok, "mke2fs failed");
    image
}

/// Opens `\name` on the volume, a symlink as itself; the open must succeed.
pub fn open_entry(session: &mut Session, name: &str) -> Handle {
    let result = open_with(session, &format!("\\{name}"), |request| {
        request.options |= FILE_OPEN_REPARSE_POINT;
    });
    assert_eq!(result.status, NtStatus::SUCCESS, "open {name}");
    result.handle.unwrap()
}
