//! Small images built from a tree whose owners, modes and special files a test chooses (as
//! root: chown, chmod, mknod before `mke2fs -d`), for the security and EA tests.

use std::fs;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::{Path, PathBuf};
use std::process::Command;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use rustfsd::kernel::model::token::{Privilege, Token};

use super::machine::open_with;

/// FILE_OPEN_REPARSE_POINT: a symlink opens as itself.
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// FILE_OPEN_FOR_BACKUP_INTENT.
const FILE_OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;

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

/// Opens `\name` on the volume, a symlink as itself, as a backup operator (the initial
/// process becomes an administrator with SeBackupPrivilege enabled, and the open has
/// FILE_OPEN_FOR_BACKUP_INTENT), so that files of any mode and owner open for read; the open
/// must succeed.
pub fn open_entry(session: &mut Session, name: &str) -> Handle {
    let pid = session.initial_process();
    session.set_token(pid, Token::administrator());
    assert_eq!(
        session.enable_privilege(pid, Privilege::Backup),
        NtStatus::SUCCESS
    );
    let result = open_with(session, &format!("\\{name}"), |request| {
        request.options |= FILE_OPEN_REPARSE_POINT | FILE_OPEN_FOR_BACKUP_INTENT;
    });
    assert_eq!(result.status, NtStatus::SUCCESS, "open {name}");
    result.handle.unwrap()
}

/// The `user.*` (and other) xattrs `xattr_image` sets with debugfs `ea_set`: (path, name,
/// value). `/many`'s do not fit in its inode and go to an external block; `/odd`'s include
/// names that cannot be EA names and two that differ only in case.
pub const XATTRS: &[(&str, &str, &str)] = &[
    ("/tagged", "user.comment", "hello"),
    ("/tagged", "user.mime.type", "text/plain"),
    ("/many", "user.k1", XATTR_60),
    ("/many", "user.k2", XATTR_60),
    ("/many", "user.k3", XATTR_60),
    ("/many", "user.k4", XATTR_60),
    ("/many", "user.k5", XATTR_60),
    ("/many", "user.k6", XATTR_60),
    ("/odd", "user.COMMENT", "upper"),
    ("/odd", "user.comment", "lower"),
    ("/odd", "user.a*b", "star"),
    ("/odd", "user.café", "accent"),
    ("/odd", "trusted.t", "not user"),
    ("/odd", "security.s", "not user"),
    ("/dir", "user.d", "1"),
];
const XATTR_60: &str = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";

/// An image with files `plain`, `tagged`, `many`, `odd`, a directory `dir` holding `inner`,
/// a symlink `link`, a FIFO `fifo`, a character device `chr`, a block device `blk` and a
/// socket `sock`, then [`XATTRS`] set on it with debugfs `ea_set` (debugfs `ea_list` is the
/// oracle that reads them back).
pub fn xattr_image(name: &str) -> PathBuf {
    let image = image_of(name, |tree| {
        for file in ["plain", "tagged", "many", "odd"] {
            fs::write(tree.join(file), file.as_bytes()).unwrap();
        }
        fs::create_dir(tree.join("dir")).unwrap();
        fs::write(tree.join("dir/inner"), b"inner").unwrap();
        std::os::unix::fs::symlink("plain", tree.join("link")).unwrap();
        for (node, args) in [
            ("fifo", &["p"][..]),
            ("chr", &["c", "1", "3"]),
            ("blk", &["b", "8", "1"]),
        ] {
            let made = Command::new("mknod")
                .arg(tree.join(node))
                .args(args)
                .status()
                .unwrap();
            assert!(made.success(), "mknod {node}");
        }
        // Bound, then closed: the socket inode stays in the tree.
        drop(std::os::unix::net::UnixListener::bind(tree.join("sock")).unwrap());
    });
    let requests: Vec<String> = XATTRS
        .iter()
        .map(|(path, key, value)| format!("ea_set {path} {key} {value}"))
        .collect();
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    super::debugfs_write(&image, &requests);
    image
}
