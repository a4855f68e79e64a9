//! IRP_MJ_QUERY_SECURITY and IRP_MJ_SET_SECURITY through rustfsd's dispatch, in the NT model
//! with the verifier on, on an image made by `mke2fs -d` from files whose owners and modes were
//! set with chown/chmod, against `debugfs -R stat`.

mod support;

use std::fs;
use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustfsd::kernel::NtStatus;

use support::machine::{debugfs_stat, finish, machine, open_ok};
use support::owned_tree::{image_of, open_entry, own};

const OWNER: u32 = 0x1;
const GROUP: u32 = 0x2;
const DACL: u32 = 0x4;
const SACL: u32 = 0x8;

// Access rights.
const FILE_READ_DATA: u32 = 0x1;
const FILE_WRITE_DATA: u32 = 0x2;
const FILE_APPEND_DATA: u32 = 0x4;
const FILE_READ_EA: u32 = 0x8;
const FILE_WRITE_EA: u32 = 0x10;
const FILE_EXECUTE: u32 = 0x20;
const FILE_DELETE_CHILD: u32 = 0x40;
const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
const DELETE: u32 = 0x1_0000;
const WRITE_DAC: u32 = 0x4_0000;
const WRITE_OWNER: u32 = 0x8_0000;
const ANY_WRITE: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_WRITE_EA
    | FILE_DELETE_CHILD
    | FILE_WRITE_ATTRIBUTES
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER;

/// (name, mode, uid, gid, is a directory): varied classes, ids above 65535 (i_uid_high).
const FILES: &[(&str, u32, u32, u32, bool)] = &[
    ("plain.txt", 0o644, 1000, 1000, false),
    ("secret", 0o600, 0, 0, false),
    ("tool.sh", 0o755, 1001, 50, false),
    ("others-only", 0o007, 7, 8, false),
    ("group-x", 0o610, 123_456, 654_321, false),
    ("none", 0o000, 65_534, 65_534, false),
    ("dir", 0o750, 2000, 3000, true),
    ("open-dir", 0o777, 0, 100, true),
];

/// The image: every entry of FILES plus a symlink owned by 5:6, built once per test run.
fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

fn build_image() -> PathBuf {
    image_of("security-image", |tree| {
        for &(name, mode, uid, gid, directory) in FILES {
            let path = tree.join(name);
            if directory {
                fs::create_dir(&path).unwrap();
            } else {
                fs::write(&path, name.as_bytes()).unwrap();
            }
            own(&path, uid, gid, mode);
        }
        std::os::unix::fs::symlink("plain.txt", tree.join("link")).unwrap();
        lchown(tree.join("link"), Some(5), Some(6)).unwrap();
    })
}

/// (mode, uid, gid) of `path` as debugfs reads them.
fn mode_and_owners(image: &Path, path: &str) -> (u32, u32, u32) {
    let text = debugfs_stat(image, path);
    let field = |key: &str| -> u32 {
        let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
        let word = text[at..].split_whitespace().next().unwrap();
        match key {
            "Mode:" => u32::from_str_radix(word, 8).unwrap(),
            _ => word.parse().unwrap(),
        }
    };
    (field("Mode:"), field("User:"), field("Group:"))
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A SID at `at` as text (S-1-...), with its length.
fn sid(b: &[u8], at: usize) -> (String, usize) {
    assert_eq!(b[at], 1, "SID revision");
    let count = usize::from(b[at + 1]);
    let authority = b[at + 2..at + 8]
        .iter()
        .fold(0u64, |acc, &byte| acc << 8 | u64::from(byte));
    let mut text = format!("S-1-{authority}");
    for i in 0..count {
        text += &format!("-{}", u32_at(b, at + 8 + 4 * i));
    }
    (text, 8 + 4 * count)
}

/// A parsed self-relative descriptor: owner, group, DACL (SID, mask) entries.
#[derive(Debug, Default)]
struct Descriptor {
    owner: Option<String>,
    group: Option<String>,
    dacl: Option<Vec<(String, u32)>>,
    sacl_present: bool,
}

fn parse(b: &[u8]) -> Descriptor {
    assert_eq!(b[0], 1, "descriptor revision");
    let control = u16_at(b, 2);
    assert_ne!(control & 0x8000, 0, "SE_SELF_RELATIVE");
    let at = |field: usize| u32_at(b, field) as usize;
    let mut descriptor = Descriptor {
        sacl_present: control & 0x10 != 0,
        ..Descriptor::default()
    };
    if at(4) != 0 {
        descriptor.owner = Some(sid(b, at(4)).0);
    }
    if at(8) != 0 {
        descriptor.group = Some(sid(b, at(8)).0);
    }
    if control & 0x4 != 0 {
        let acl = at(16);
        assert_ne!(acl, 0, "a NULL DACL would grant everything");
        assert_eq!(b[acl], 2, "ACL revision");
        let size = usize::from(u16_at(b, acl + 2));
        let count = usize::from(u16_at(b, acl + 4));
        let mut entries = Vec::new();
        let mut ace = acl + 8;
        for _ in 0..count {
            assert_eq!(b[ace], 0, "ACCESS_ALLOWED_ACE_TYPE");
            let ace_size = usize::from(u16_at(b, ace + 2));
            let (text, sid_len) = sid(b, ace + 8);
            assert_eq!(ace_size, 8 + sid_len);
            entries.push((text, u32_at(b, ace + 4)));
            ace += ace_size;
        }
        assert_eq!(ace, acl + size, "AclSize covers the ACEs exactly");
        descriptor.dacl = Some(entries);
    }
    descriptor
}

/// What the documented mapping grants one rwx class.
fn expected_mask(bits: u32) -> u32 {
    let mut mask = 0x0012_0080;
    if bits & 4 != 0 {
        mask |= FILE_READ_DATA | FILE_READ_EA;
    }
    if bits & 1 != 0 {
        mask |= FILE_EXECUTE;
    }
    mask
}

/// Owner, group and DACL of every entry match debugfs's mode, uid and gid; nothing grants
/// write access.
#[test]
fn descriptors_follow_debugfs_stat() {
    let image = image();
    let mut session = machine(&image);
    let mut names: Vec<&str> = FILES.iter().map(|f| f.0).collect();
    names.push("link");
    names.push("");
    for name in names {
        let (mode, uid, gid) = mode_and_owners(&image, &format!("/{name}"));
        let handle = if name.is_empty() {
            open_ok(&mut session, "\\")
        } else {
            open_entry(&mut session, name)
        };
        let io = session.query_security(handle, OWNER | GROUP | DACL, 4096, false);
        assert_eq!(io.status, NtStatus::SUCCESS, "{name}");
        assert_eq!(io.information, io.data.len(), "{name}");
        let descriptor = parse(&io.data);
        assert_eq!(descriptor.owner, Some(format!("S-1-22-1-{uid}")), "{name}");
        assert_eq!(descriptor.group, Some(format!("S-1-22-2-{gid}")), "{name}");
        let dacl = descriptor.dacl.unwrap();
        let expected = vec![
            (format!("S-1-22-1-{uid}"), expected_mask(mode >> 6 & 7)),
            (format!("S-1-22-2-{gid}"), expected_mask(mode >> 3 & 7)),
            (String::from("S-1-1-0"), expected_mask(mode & 7)),
        ];
        assert_eq!(dacl, expected, "{name} mode {mode:o}");
        assert!(dacl.iter().all(|(_, mask)| mask & ANY_WRITE == 0), "{name}");
        session.close_handle(handle);
    }
    finish(session);
}

/// Each SECURITY_INFORMATION combination gets exactly its parts (no SACL: none exists).
#[test]
fn only_the_parts_asked_for() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "tool.sh");
    for information in 0..16u32 {
        let io = session.query_security(handle, information, 4096, false);
        assert_eq!(io.status, NtStatus::SUCCESS, "info {information:#x}");
        let descriptor = parse(&io.data);
        assert_eq!(descriptor.owner.is_some(), information & OWNER != 0);
        assert_eq!(descriptor.group.is_some(), information & GROUP != 0);
        assert_eq!(descriptor.dacl.is_some(), information & DACL != 0);
        assert!(!descriptor.sacl_present, "info {information:#x}");
    }
    let _ = SACL;
    session.close_handle(handle);
    finish(session);
}

/// Every buffer length from 0 to the descriptor's: too small gets STATUS_BUFFER_TOO_SMALL from
/// NtQuerySecurityObject (the file system's BUFFER_OVERFLOW, normalized) with the length
/// needed and nothing written; enough gets the whole descriptor.
#[test]
fn every_buffer_length() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "dir");
    let full = session.query_security(handle, OWNER | GROUP | DACL, 4096, false);
    assert_eq!(full.status, NtStatus::SUCCESS);
    let needed = full.data.len();
    assert_eq!(needed, 20 + 16 + 16 + 8 + 24 + 24 + 20);
    for length in 0..=needed + 1 {
        let io = session.query_security(handle, OWNER | GROUP | DACL, length as u32, false);
        if length < needed {
            assert_eq!(io.status, NtStatus::BUFFER_TOO_SMALL, "len {length}");
            assert_eq!(io.information, needed, "len {length}");
            assert!(io.data.is_empty(), "len {length}");
        } else {
            assert_eq!(io.status, NtStatus::SUCCESS, "len {length}");
            assert_eq!(io.data, full.data, "len {length}");
        }
    }
    session.close_handle(handle);
    finish(session);
}

/// A user buffer the caller cannot write fails the probe: STATUS_INVALID_USER_BUFFER, no MDL
/// left behind, no finding; the driver never touches the user address itself.
#[test]
fn unwritable_user_buffer() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "plain.txt");
    let io = session.query_security(handle, OWNER | GROUP | DACL, 4096, true);
    assert_eq!(io.status, NtStatus::INVALID_USER_BUFFER);
    session.close_handle(handle);
    finish(session);
}

/// NtSetSecurityObject: the volume is read-only. A volume handle is answered by the I/O
/// manager, not the file system.
#[test]
fn set_is_write_protected_and_volume_handles_skip_the_driver() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "plain.txt");
    for information in [OWNER, GROUP, DACL, SACL, OWNER | DACL] {
        assert_eq!(
            session.set_security(handle, information),
            NtStatus::MEDIA_WRITE_PROTECTED
        );
    }
    session.close_handle(handle);
    let volume = open_ok(&mut session, "");
    let before = session.trace().len();
    let io = session.query_security(volume, OWNER | GROUP | DACL, 4096, false);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert!(
        session.trace()[before..]
            .iter()
            .all(|line| !line.contains("IRP_MJ_QuerySecurity")),
        "a volume handle's query reached the file system"
    );
    session.close_handle(volume);
    finish(session);
}
