//! Access checks at IRP_MJ_CREATE through rustfsd's dispatch, in the NT model with the
//! verifier on, on an image made by `mke2fs -d` from files of several modes and owners. The
//! expected outcome of every open comes from the mode, uid and gid `debugfs -R stat` reads and
//! the caller's identity (owner, group or other class), never from the driver's descriptor; the
//! model's SeAccessCheck is its own code.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{Handle, Pid, Session};
use rustfsd::kernel::model::token::{Privilege, Token};

use support::machine::{DISK, debugfs_stat, finish, inode_of, live_fcbs, machine};
use support::owned_tree::{image_of, own};

const FILE_READ_DATA: u32 = 0x1;
const FILE_READ_EA: u32 = 0x8;
const FILE_EXECUTE: u32 = 0x20;
const FILE_READ_ATTRIBUTES: u32 = 0x80;
const READ_CONTROL: u32 = 0x2_0000;
const WRITE_DAC: u32 = 0x4_0000;
const SYNCHRONIZE: u32 = 0x10_0000;
const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
const GENERIC_EXECUTE: u32 = 0x2000_0000;
const GENERIC_READ: u32 = 0x8000_0000;
const FILE_GENERIC_READ: u32 = 0x0012_0089;
const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
const FILE_OPEN_FOR_BACKUP_INTENT: u32 = 0x4000;
const FILE_OPEN_BY_FILE_ID: u32 = 0x2000;

/// (path, mode, uid, gid, is a directory).
const FILES: &[(&str, u32, u32, u32, bool)] = &[
    ("pub", 0o644, 1000, 1000, false),
    ("owner-only", 0o600, 1000, 1000, false),
    ("group-read", 0o640, 1000, 2000, false),
    ("none", 0o000, 1000, 1000, false),
    ("x-only", 0o711, 1000, 1000, false),
    ("open", 0o755, 1000, 1000, true),
    ("open/inner", 0o644, 1000, 1000, false),
    ("nox", 0o744, 1000, 1000, true),
    ("nox/inner", 0o644, 1000, 1000, false),
    ("locked", 0o700, 1000, 1000, true),
    ("locked/inner", 0o644, 1000, 1000, false),
];

fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            image_of("access-image", |tree| {
                for &(name, _, _, _, directory) in FILES {
                    let path = tree.join(name);
                    if directory {
                        fs::create_dir(&path).unwrap();
                    } else {
                        fs::write(&path, name.as_bytes()).unwrap();
                    }
                }
                // Modes last: a 0700 directory still gets its entries as root.
                for &(name, mode, uid, gid, _) in FILES.iter().rev() {
                    own(&tree.join(name), uid, gid, mode);
                }
            })
        })
        .clone()
}

/// The callers: an ordinary Windows user (the "other" class), the owner uid 1000, a member of
/// group 2000, and an administrator.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Caller {
    Other,
    Owner,
    GroupMember,
    Admin,
}

const CALLERS: [Caller; 4] = [
    Caller::Other,
    Caller::Owner,
    Caller::GroupMember,
    Caller::Admin,
];

fn token(caller: Caller) -> Token {
    match caller {
        Caller::Other => Token::ordinary_user(),
        Caller::Owner => Token::unix_user(1000, &[1000]),
        Caller::GroupMember => Token::unix_user(3000, &[2000]),
        Caller::Admin => Token::administrator(),
    }
}

/// (mode, uid, gid) as debugfs reads them.
fn stat(image: &Path, path: &str) -> (u32, u32, u32) {
    let text = debugfs_stat(image, &format!("/{path}"));
    let field = |key: &str| -> u32 {
        let at = text.find(key).unwrap() + key.len();
        let word = text[at..].split_whitespace().next().unwrap();
        match key {
            "Mode:" => u32::from_str_radix(word, 8).unwrap(),
            _ => word.parse().unwrap(),
        }
    };
    (field("Mode:"), field("User:"), field("Group:"))
}

/// The rights a caller holds on a file of `mode`, `uid`, `gid`, from POSIX's class rule: the
/// owner's bits if it is the owner, else the group's if it is in the group, else other's; `r`
/// gives data and EAs, `x` execute; attributes, READ_CONTROL and SYNCHRONIZE always; the owner
/// also WRITE_DAC (Windows' implicit owner rights).
fn rights(caller: Caller, (mode, uid, gid): (u32, u32, u32)) -> u32 {
    let bits = match caller {
        Caller::Owner if uid == 1000 => mode >> 6 & 7,
        Caller::Owner if gid == 1000 => mode >> 3 & 7,
        Caller::GroupMember if gid == 2000 => mode >> 3 & 7,
        _ => mode & 7,
    };
    let mut rights = FILE_READ_ATTRIBUTES | READ_CONTROL | SYNCHRONIZE;
    if bits & 4 != 0 {
        rights |= FILE_READ_DATA | FILE_READ_EA;
    }
    if bits & 1 != 0 {
        rights |= FILE_EXECUTE;
    }
    if caller == Caller::Owner && uid == 1000 {
        rights |= WRITE_DAC;
    }
    rights
}

fn mapped(desired: u32) -> u32 {
    let mut mask = desired & !(GENERIC_READ | GENERIC_EXECUTE);
    if desired & GENERIC_READ != 0 {
        mask |= FILE_GENERIC_READ;
    }
    if desired & GENERIC_EXECUTE != 0 {
        mask |= FILE_GENERIC_EXECUTE;
    }
    mask
}

fn process_as(session: &mut Session, caller: Caller) -> Pid {
    let pid = session.create_process();
    assert_eq!(session.set_token(pid, token(caller)), NtStatus::SUCCESS);
    pid
}

fn open_as(
    session: &mut Session,
    pid: Pid,
    path: &str,
    adjust: impl FnOnce(&mut CreateRequest),
) -> (NtStatus, Option<Handle>) {
    let mut request = CreateRequest::open(&format!("{DISK}\\{}", path.replace('/', "\\")));
    adjust(&mut request);
    let result = session.nt_create_file(pid, &request);
    (result.status, result.handle)
}

/// Every caller × every file × each access: allowed exactly when the class rule allows it,
/// the handle granted what was asked; a denial leaves no handle and no FCB reference.
#[test]
fn allowed_and_denied_per_caller_and_access() {
    let image = image();
    let mut session = machine(&image);
    let desired_set = [
        FILE_GENERIC_READ,
        GENERIC_READ,
        FILE_READ_DATA,
        FILE_READ_EA,
        FILE_EXECUTE,
        GENERIC_EXECUTE,
        FILE_READ_ATTRIBUTES,
        READ_CONTROL | SYNCHRONIZE,
    ];
    for caller in CALLERS {
        let pid = process_as(&mut session, caller);
        for &(path, ..) in FILES {
            let facts = stat(&image, path);
            let held = rights(caller, facts);
            for desired in desired_set {
                let (status, handle) = open_as(&mut session, pid, path, |r| {
                    r.desired_access = desired;
                });
                let want = mapped(desired);
                let label = format!("{caller:?} {path} {:o} desired {desired:#x}", facts.0);
                if want & !held == 0 {
                    assert_eq!(status, NtStatus::SUCCESS, "{label}");
                    let handle = handle.unwrap();
                    assert_eq!(session.granted_access(handle), Some(want), "{label}");
                    session.close_handle(handle);
                } else {
                    assert_eq!(status, NtStatus::ACCESS_DENIED, "{label}");
                    assert!(handle.is_none(), "{label}");
                }
            }
        }
        session.terminate_process(pid);
    }
    assert!(session.findings().is_empty(), "{:?}", session.findings());
    finish(session);
}

/// MAXIMUM_ALLOWED: granted all the caller's rights (never STATUS_ACCESS_DENIED: every class
/// may read attributes); with an explicit right it lacks, denied.
#[test]
fn maximum_allowed() {
    let image = image();
    let mut session = machine(&image);
    for caller in CALLERS {
        let pid = process_as(&mut session, caller);
        for &(path, ..) in FILES {
            let held = rights(caller, stat(&image, path));
            let label = format!("{caller:?} {path}");
            let (status, handle) = open_as(&mut session, pid, path, |r| {
                r.desired_access = MAXIMUM_ALLOWED;
            });
            assert_eq!(status, NtStatus::SUCCESS, "{label}");
            let handle = handle.unwrap();
            assert_eq!(session.granted_access(handle), Some(held), "{label}");
            session.close_handle(handle);
            let (status, handle) = open_as(&mut session, pid, path, |r| {
                r.desired_access = MAXIMUM_ALLOWED | FILE_READ_DATA;
            });
            if held & FILE_READ_DATA != 0 {
                assert_eq!(status, NtStatus::SUCCESS, "{label}");
                session.close_handle(handle.unwrap());
            } else {
                assert_eq!(status, NtStatus::ACCESS_DENIED, "{label}");
            }
        }
    }
    finish(session);
}

/// FILE_OPEN_FOR_BACKUP_INTENT: an administrator who enabled SeBackupPrivilege reads a 0000
/// file; without the option, or with the privilege held but not enabled, or as a user who
/// does not hold it, the mode decides.
#[test]
fn backup_intent_needs_the_enabled_privilege() {
    let image = image();
    let mut session = machine(&image);
    let admin = process_as(&mut session, Caller::Admin);
    let user = process_as(&mut session, Caller::Other);
    let backup = |r: &mut CreateRequest| r.options |= FILE_OPEN_FOR_BACKUP_INTENT;
    for path in ["none", "owner-only", "locked"] {
        assert_eq!(
            open_as(&mut session, admin, path, backup).0,
            NtStatus::ACCESS_DENIED,
            "{path}: privilege not enabled"
        );
        assert_eq!(
            open_as(&mut session, user, path, backup).0,
            NtStatus::ACCESS_DENIED,
            "{path}: privilege not held"
        );
    }
    assert_eq!(
        session.enable_privilege(user, Privilege::Backup),
        NtStatus(0xC000_0061_u32 as i32)
    );
    assert_eq!(
        session.enable_privilege(admin, Privilege::Backup),
        NtStatus::SUCCESS
    );
    for path in ["none", "owner-only", "locked", "locked/inner", "pub"] {
        let (status, handle) = open_as(&mut session, admin, path, backup);
        assert_eq!(status, NtStatus::SUCCESS, "{path}");
        let handle = handle.unwrap();
        assert_eq!(
            session.granted_access(handle),
            Some(FILE_GENERIC_READ),
            "{path}"
        );
        let read = session.read_file(handle, Some(0), 64);
        if path != "locked" {
            assert_eq!(read.status, NtStatus::SUCCESS, "{path}");
            assert_eq!(read.data, path.as_bytes(), "{path}");
        }
        session.close_handle(handle);
        let (status, handle) = open_as(&mut session, admin, path, |_| {});
        // Readable by others (`locked/inner` through the traverse bypass).
        let readable = path == "pub" || path == "locked/inner";
        let expected = if readable {
            NtStatus::SUCCESS
        } else {
            NtStatus::ACCESS_DENIED
        };
        assert_eq!(status, expected, "{path} without the option");
        if let Some(handle) = handle {
            session.close_handle(handle);
        }
    }
    finish(session);
}

/// `CheckAccess` = 0 under the service's Parameters: every open is granted what it asks.
#[test]
fn the_option_turns_checks_off() {
    let image = image();
    let mut session = Session::new();
    session.add_disk("Disk0", support::machine::disk(&image));
    session.set_driver_parameter("rustfsd", "CheckAccess", 0);
    session
        .load_driver(rustfsd::kernel::model::harness::DriverDescriptor::rustfsd())
        .unwrap();
    let pid = process_as(&mut session, Caller::Other);
    assert_eq!(
        session.set_token(pid, Token::ordinary_user().without(Privilege::ChangeNotify)),
        NtStatus::SUCCESS
    );
    for path in ["none", "owner-only", "locked/inner", "nox/inner"] {
        let (status, handle) = open_as(&mut session, pid, path, |_| {});
        assert_eq!(status, NtStatus::SUCCESS, "{path}");
        let handle = handle.unwrap();
        assert_eq!(session.granted_access(handle), Some(FILE_GENERIC_READ));
        session.close_handle(handle);
    }
    finish(session);
}

/// Opens by file ID are checked against the inode's descriptor; a caller that may not bypass
/// traverse checking cannot open by ID at all (no path to check).
#[test]
fn open_by_id() {
    let image = image();
    let mut session = machine(&image);
    let pid = process_as(&mut session, Caller::Other);
    let by_id = |path: &str| {
        let id = inode_of(&image, &format!("/{path}"));
        move |r: &mut CreateRequest| {
            r.path = String::from(DISK);
            r.file_id = Some(id);
            r.options |= FILE_OPEN_BY_FILE_ID;
        }
    };
    let (status, handle) = open_as(&mut session, pid, "", by_id("pub"));
    assert_eq!(status, NtStatus::SUCCESS);
    session.close_handle(handle.unwrap());
    for path in ["none", "owner-only", "locked/inner"] {
        let expected = if path == "locked/inner" {
            NtStatus::SUCCESS
        } else {
            NtStatus::ACCESS_DENIED
        };
        let (status, handle) = open_as(&mut session, pid, "", by_id(path));
        assert_eq!(status, expected, "{path}");
        if let Some(handle) = handle {
            session.close_handle(handle);
        }
    }
    session.set_token(pid, Token::ordinary_user().without(Privilege::ChangeNotify));
    assert_eq!(
        open_as(&mut session, pid, "", by_id("pub")).0,
        NtStatus::ACCESS_DENIED
    );
    finish(session);
}

/// Opens relative to a directory handle, and reopens of a handle's own file (an empty name),
/// are checked against their target like any other.
#[test]
fn relative_opens() {
    let image = image();
    let mut session = machine(&image);
    let pid = process_as(&mut session, Caller::Other);
    let relative = |session: &mut Session, root: Handle, name: &str, desired: u32| {
        let mut request = CreateRequest::open(name);
        request.root = Some(root);
        request.desired_access = desired;
        let result = session.nt_create_file(pid, &request);
        if let Some(handle) = result.handle {
            session.close_handle(handle);
        }
        result.status
    };
    let (status, dir) = open_as(&mut session, pid, "open", |_| {});
    assert_eq!(status, NtStatus::SUCCESS);
    let dir = dir.unwrap();
    assert_eq!(
        relative(&mut session, dir, "inner", FILE_GENERIC_READ),
        NtStatus::SUCCESS
    );
    session.close_handle(dir);
    let (status, none) = open_as(&mut session, pid, "none", |r| {
        r.desired_access = FILE_READ_ATTRIBUTES;
    });
    assert_eq!(status, NtStatus::SUCCESS);
    let none = none.unwrap();
    assert_eq!(
        relative(&mut session, none, "", FILE_READ_DATA),
        NtStatus::ACCESS_DENIED
    );
    assert_eq!(
        relative(&mut session, none, "", FILE_READ_ATTRIBUTES),
        NtStatus::SUCCESS
    );
    session.close_handle(none);
    let (status, locked) = open_as(&mut session, pid, "locked", |r| {
        r.desired_access = FILE_READ_ATTRIBUTES;
    });
    assert_eq!(status, NtStatus::SUCCESS);
    let locked = locked.unwrap();
    // Through a directory the caller may not list: the traverse bypass lets it pass.
    assert_eq!(
        relative(&mut session, locked, "inner", FILE_GENERIC_READ),
        NtStatus::SUCCESS
    );
    session.close_handle(locked);
    finish(session);
}

/// Traverse checking: with SeChangeNotifyPrivilege (every Windows logon) a path passes through
/// any directory; without it every directory on the way needs FILE_TRAVERSE (`x`).
#[test]
fn traverse_checking() {
    let image = image();
    let mut session = machine(&image);
    let bypass = process_as(&mut session, Caller::Other);
    let strict = process_as(&mut session, Caller::Other);
    session.set_token(
        strict,
        Token::ordinary_user().without(Privilege::ChangeNotify),
    );
    for (path, strict_status) in [
        ("open/inner", NtStatus::SUCCESS),
        ("nox/inner", NtStatus::ACCESS_DENIED),
        ("locked/inner", NtStatus::ACCESS_DENIED),
        ("pub", NtStatus::SUCCESS),
        // The directory itself is not passed through.
        ("nox", NtStatus::SUCCESS),
        // Not found is only known after the directory is searched.
        ("nox/missing", NtStatus::ACCESS_DENIED),
    ] {
        for (pid, expected) in [(bypass, None), (strict, Some(strict_status))] {
            let (status, handle) = open_as(&mut session, pid, path, |_| {});
            let expected = expected.unwrap_or(if path.ends_with("missing") {
                NtStatus::OBJECT_NAME_NOT_FOUND
            } else {
                NtStatus::SUCCESS
            });
            assert_eq!(status, expected, "{path} in {pid}");
            if let Some(handle) = handle {
                session.close_handle(handle);
            }
        }
    }
    finish(session);
}

/// A denied open is refused before share access: it takes no share, holds no FCB, and the
/// FCB count is back where it was once the allowed opens close.
#[test]
fn denial_leaves_no_share_and_no_fcb() {
    let image = image();
    let mut session = machine(&image);
    let owner = process_as(&mut session, Caller::Owner);
    let other = process_as(&mut session, Caller::Other);
    let (status, held) = open_as(&mut session, owner, "owner-only", |r| {
        r.desired_access = FILE_READ_DATA;
        r.share_access = 1;
    });
    assert_eq!(status, NtStatus::SUCCESS);
    let fcbs = live_fcbs(&session);
    for _ in 0..3 {
        // Would be a sharing violation if share access came first.
        let (status, handle) = open_as(&mut session, other, "owner-only", |r| {
            r.desired_access = FILE_READ_DATA;
            r.share_access = 0;
        });
        assert_eq!(status, NtStatus::ACCESS_DENIED);
        assert!(handle.is_none());
    }
    assert_eq!(live_fcbs(&session), fcbs);
    let (status, second) = open_as(&mut session, owner, "owner-only", |r| {
        r.desired_access = FILE_READ_DATA;
        r.share_access = 1;
    });
    assert_eq!(
        status,
        NtStatus::SUCCESS,
        "share counts untouched by the denials"
    );
    session.close_handle(second.unwrap());
    session.close_handle(held.unwrap());
    assert!(session.findings().is_empty(), "{:?}", session.findings());
    finish(session);
}
