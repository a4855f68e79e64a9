//! IRP_MJ_CREATE, CLEANUP and CLOSE through rustfsd's dispatch, against the NT model with the
//! verifier on, on real mke2fs images: what can be opened, the read-only rules, share access,
//! names, symlinks as reparse points, and the reference each FILE_OBJECT holds.

mod support;

use rustfsd::kernel::NtStatus;
use support::machine::{finish, machine, open, open_ok, open_with};

const FILE_DIRECTORY_FILE: u32 = 0x1;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
const FILE_OPEN_BY_FILE_ID: u32 = 0x2000;
const IO_REPARSE_TAG_SYMLINK: usize = 0xA000_000C;

fn status(session: &mut rustfsd::kernel::model::harness::Session, path: &str) -> NtStatus {
    let result = open(session, path);
    if let Some(handle) = result.handle {
        session.close_handle(handle);
    }
    result.status
}

#[test]
fn opens_files_directories_and_the_volume_by_path() {
    let mut s = machine(&support::image("ext4"));
    for path in ["", "\\", "\\hello.txt", "\\deep", "\\names\\sp ace"] {
        let result = open(&mut s, path);
        assert_eq!(result.status, NtStatus::SUCCESS, "{path}");
        assert_eq!(result.information, 1, "FILE_OPENED for {path}");
        s.close_handle(result.handle.unwrap());
    }
    let deep = (0..20).map(|i| format!("\\level{i}")).collect::<String>();
    assert_eq!(
        status(&mut s, &format!("\\deep{deep}\\bottom")),
        NtStatus::SUCCESS
    );
    finish(s);
}

#[test]
fn missing_names_and_paths_are_told_apart() {
    let mut s = machine(&support::image("ext4"));
    assert_eq!(status(&mut s, "\\nope"), NtStatus::OBJECT_NAME_NOT_FOUND);
    assert_eq!(status(&mut s, "\\nope\\x"), NtStatus::OBJECT_PATH_NOT_FOUND);
    // A file in the middle of a path.
    assert_eq!(
        status(&mut s, "\\hello.txt\\x"),
        NtStatus::OBJECT_PATH_NOT_FOUND
    );
    assert_eq!(
        status(&mut s, "\\deep\\nope"),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    // A trailing backslash asks for a directory.
    assert_eq!(status(&mut s, "\\deep\\"), NtStatus::SUCCESS);
    assert_eq!(
        status(&mut s, "\\hello.txt\\"),
        NtStatus::OBJECT_NAME_INVALID
    );
    for bad in ["\\deep\\\\level0", "\\a*b", "\\deep\\.."] {
        assert_eq!(status(&mut s, bad), NtStatus::OBJECT_NAME_INVALID, "{bad}");
    }
    finish(s);
}

#[test]
fn directory_and_non_directory_options_are_checked() {
    let mut s = machine(&support::image("ext4"));
    let with = |options| {
        move |r: &mut rustfsd::kernel::model::harness::session::CreateRequest| r.options |= options
    };
    let cases = [
        ("\\deep", FILE_DIRECTORY_FILE, NtStatus::SUCCESS),
        (
            "\\hello.txt",
            FILE_DIRECTORY_FILE,
            NtStatus::NOT_A_DIRECTORY,
        ),
        (
            "\\deep",
            FILE_NON_DIRECTORY_FILE,
            NtStatus::FILE_IS_A_DIRECTORY,
        ),
        ("\\hello.txt", FILE_NON_DIRECTORY_FILE, NtStatus::SUCCESS),
        ("", FILE_DIRECTORY_FILE, NtStatus::NOT_A_DIRECTORY),
        (
            "\\deep",
            FILE_DIRECTORY_FILE | FILE_NON_DIRECTORY_FILE,
            NtStatus::INVALID_PARAMETER,
        ),
    ];
    for (path, options, expected) in cases {
        let result = open_with(&mut s, path, with(options));
        assert_eq!(result.status, expected, "{path} options {options:#x}");
        if let Some(handle) = result.handle {
            s.close_handle(handle);
        }
    }
    finish(s);
}

#[test]
fn relative_opens_walk_from_the_related_directory() {
    let mut s = machine(&support::image("ext4"));
    let pid = s.initial_process();
    let deep = open_ok(&mut s, "\\deep");
    let file = open_ok(&mut s, "\\hello.txt");
    let relative = |s: &mut rustfsd::kernel::model::harness::Session, root, path: &str| {
        let mut request = rustfsd::kernel::model::harness::session::CreateRequest::open(path);
        request.root = Some(root);
        let result = s.nt_create_file(pid, &request);
        if let Some(handle) = result.handle {
            s.close_handle(handle);
        }
        result.status
    };
    assert_eq!(relative(&mut s, deep, "level0\\level1"), NtStatus::SUCCESS);
    assert_eq!(
        relative(&mut s, deep, "nope"),
        NtStatus::OBJECT_NAME_NOT_FOUND
    );
    assert_eq!(
        relative(&mut s, deep, "\\level0"),
        NtStatus::OBJECT_NAME_INVALID
    );
    // An empty name opens what the related handle opened, once more.
    assert_eq!(relative(&mut s, file, ""), NtStatus::SUCCESS);
    assert_eq!(relative(&mut s, file, "x"), NtStatus::OBJECT_PATH_NOT_FOUND);
    s.close_handle(deep);
    s.close_handle(file);
    finish(s);
}

#[test]
fn file_ids_are_inode_numbers() {
    let mut s = machine(&support::image("ext4"));
    let by_id = |s: &mut rustfsd::kernel::model::harness::Session, id: u64| {
        let result = open_with(s, "", |r| {
            r.file_id = Some(id);
            r.options |= FILE_OPEN_BY_FILE_ID;
        });
        if let Some(handle) = result.handle {
            s.close_handle(handle);
        }
        result.status
    };
    // hello.txt is inode 39, the root 2 (see `debugfs -R "ls -l /"`).
    assert_eq!(by_id(&mut s, 39), NtStatus::SUCCESS);
    assert_eq!(by_id(&mut s, 2), NtStatus::SUCCESS);
    // Inode 0, an inode past the table, an unused inode, a 64-bit ID.
    for id in [0, 1 << 30, 16000, 1 << 40] {
        assert_eq!(by_id(&mut s, id), NtStatus::INVALID_PARAMETER, "id {id}");
    }
    // The same FCB whether opened by path or by ID: share access sees both.
    let exclusive = open_with(&mut s, "\\hello.txt", |r| r.share_access = 0);
    assert_eq!(exclusive.status, NtStatus::SUCCESS);
    assert_eq!(by_id(&mut s, 39), NtStatus::SHARING_VIOLATION);
    s.close_handle(exclusive.handle.unwrap());
    finish(s);
}

#[test]
fn every_write_intent_is_media_write_protected() {
    let image = support::image("lifecycle");
    let before = support::machine::image_digest(&image);
    let mut s = machine(&image);
    let dispositions = [0u32, 2, 4, 5]; // SUPERSEDE, CREATE, OVERWRITE, OVERWRITE_IF
    let accesses = [
        0x0000_0002u32, // FILE_WRITE_DATA
        0x0000_0004,    // FILE_APPEND_DATA
        0x0000_0010,    // FILE_WRITE_EA
        0x0000_0040,    // FILE_DELETE_CHILD
        0x0000_0100,    // FILE_WRITE_ATTRIBUTES
        0x0001_0000,    // DELETE
        0x0004_0000,    // WRITE_DAC
        0x0008_0000,    // WRITE_OWNER
        0x1000_0000,    // GENERIC_ALL
        0x4000_0000,    // GENERIC_WRITE
    ];
    for path in ["", "\\", "\\hello.txt", "\\dir", "\\new-file", "\\dir\\new"] {
        for disposition in dispositions {
            let result = open_with(&mut s, path, |r| r.disposition = disposition);
            assert_eq!(
                result.status,
                NtStatus::MEDIA_WRITE_PROTECTED,
                "{path} disposition {disposition}"
            );
        }
        for access in accesses {
            let result = open_with(&mut s, path, |r| r.desired_access = access);
            assert_eq!(
                result.status,
                NtStatus::MEDIA_WRITE_PROTECTED,
                "{path} access {access:#x}"
            );
        }
        let result = open_with(&mut s, path, |r| r.options |= 0x1000); // FILE_DELETE_ON_CLOSE
        assert_eq!(result.status, NtStatus::MEDIA_WRITE_PROTECTED, "{path}");
    }
    // FILE_OPEN_IF opens what exists and would create what does not.
    let open_if = |s: &mut rustfsd::kernel::model::harness::Session, path: &str| {
        let result = open_with(s, path, |r| r.disposition = 3);
        if let Some(handle) = result.handle {
            s.close_handle(handle);
        }
        result.status
    };
    assert_eq!(open_if(&mut s, "\\hello.txt"), NtStatus::SUCCESS);
    assert_eq!(
        open_if(&mut s, "\\new-file"),
        NtStatus::MEDIA_WRITE_PROTECTED
    );
    finish(s);
    assert_eq!(support::machine::image_digest(&image), before);
}

#[test]
fn share_access_is_checked_set_and_removed_at_cleanup() {
    let mut s = machine(&support::image("lifecycle"));
    let read_no_share =
        |r: &mut rustfsd::kernel::model::harness::session::CreateRequest| r.share_access = 0;
    let first = open_with(&mut s, "\\hello.txt", read_no_share);
    assert_eq!(first.status, NtStatus::SUCCESS);
    assert_eq!(
        open(&mut s, "\\hello.txt").status,
        NtStatus::SHARING_VIOLATION
    );
    // Attribute-only opens do not count.
    let attributes = open_with(&mut s, "\\hello.txt", |r| r.desired_access = 0x80);
    assert_eq!(attributes.status, NtStatus::SUCCESS);
    s.close_handle(attributes.handle.unwrap());
    // A system reference keeps the FILE_OBJECT (no CLOSE yet), but CLEANUP at the handle's
    // close already removed its share access.
    let held = s.system_reference(first.handle.unwrap()).unwrap();
    s.close_handle(first.handle.unwrap());
    let again = open_ok(&mut s, "\\hello.txt");
    s.close_handle(again);
    s.release_later(held);
    s.run_worker();
    // The volume shares the same way.
    let volume = open_with(&mut s, "", read_no_share);
    assert_eq!(volume.status, NtStatus::SUCCESS);
    assert_eq!(open(&mut s, "").status, NtStatus::SHARING_VIOLATION);
    s.close_handle(volume.handle.unwrap());
    finish(s);
}

#[test]
fn names_are_matched_exactly_first_then_without_case() {
    let mut s = machine(&support::image("lifecycle"));
    // Reads are not served yet, so tell files apart by inode: an exclusive open of a name
    // makes exactly its own file ID conflict.
    let image = support::image("lifecycle");
    let candidates: Vec<u64> = ["/Case.txt", "/case.txt", "/hello.txt"]
        .iter()
        .map(|path| support::machine::inode_of(&image, path))
        .collect();
    let opened = |s: &mut rustfsd::kernel::model::harness::Session, path: &str, sensitive: bool| {
        let result = open_with(s, path, |r| {
            r.case_insensitive = !sensitive;
            r.share_access = 0;
        });
        let handle = result.handle.ok_or(result.status)?;
        let mut found = Vec::new();
        for &id in &candidates {
            let probe = open_with(s, "", |r| {
                r.file_id = Some(id);
                r.options |= FILE_OPEN_BY_FILE_ID;
            });
            if probe.status == NtStatus::SHARING_VIOLATION {
                found.push(id);
            }
            if let Some(h) = probe.handle {
                s.close_handle(h);
            }
        }
        s.close_handle(handle);
        assert_eq!(found.len(), 1, "{path}: {found:?}");
        Ok(found[0])
    };
    let (upper, lower, hello) = (candidates[0], candidates[1], candidates[2]);
    assert_eq!(opened(&mut s, "\\Case.txt", true), Ok(upper));
    assert_eq!(opened(&mut s, "\\case.txt", true), Ok(lower));
    // Exact matches win over case-insensitive ones.
    assert_eq!(opened(&mut s, "\\Case.txt", false), Ok(upper));
    assert_eq!(opened(&mut s, "\\case.txt", false), Ok(lower));
    // Otherwise the first case-insensitive match; case-sensitive opens do not find it.
    let folded = opened(&mut s, "\\CASE.TXT", false).unwrap();
    assert!(folded == upper || folded == lower);
    assert_eq!(
        opened(&mut s, "\\CASE.TXT", true),
        Err(NtStatus::OBJECT_NAME_NOT_FOUND)
    );
    assert_eq!(opened(&mut s, "\\HELLO.TXT", false), Ok(hello));
    // Escaped names: ':' is U+F03A, the byte 0xE9 that is not UTF-8 is U+F0E9.
    assert_eq!(status(&mut s, "\\a\u{f03a}b"), NtStatus::SUCCESS);
    assert_eq!(status(&mut s, "\\caf\u{f0e9}"), NtStatus::SUCCESS);
    assert_eq!(status(&mut s, "\\a:b"), NtStatus::OBJECT_NAME_INVALID);
    finish(s);
}

#[test]
fn symlinks_reparse_unless_the_reparse_point_itself_is_asked_for() {
    let mut s = machine(&support::image("lifecycle"));
    let link = open(&mut s, "\\link-rel");
    assert_eq!(link.status, NtStatus::REPARSE);
    assert_eq!(link.information, IO_REPARSE_TAG_SYMLINK);
    let buffer = link.reparse.expect("reparse buffer");
    assert_eq!(
        u32::from_le_bytes(buffer[..4].try_into().unwrap()),
        0xA000_000C
    );
    assert_eq!(
        u16::from_le_bytes([buffer[6], buffer[7]]),
        0,
        "nothing left unparsed"
    );
    let text: Vec<u16> = buffer[20..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let target: Vec<u16> = "dir\\sub\\file.txt".encode_utf16().collect();
    assert!(text.windows(target.len()).any(|w| w == target), "{text:?}");
    // A link in the middle of a path: the rest of the name is left for the I/O manager.
    let middle = open(&mut s, "\\link-dir\\sub\\file.txt");
    assert_eq!(middle.status, NtStatus::REPARSE);
    let buffer = middle.reparse.unwrap();
    let rest = "\\sub\\file.txt".encode_utf16().count() * 2;
    assert_eq!(
        usize::from(u16::from_le_bytes([buffer[6], buffer[7]])),
        rest
    );
    // The link itself.
    let own = open_with(&mut s, "\\link-rel", |r| {
        r.options |= FILE_OPEN_REPARSE_POINT
    });
    assert_eq!(own.status, NtStatus::SUCCESS);
    s.close_handle(own.handle.unwrap());
    finish(s);
}

/// FSCTL_GET_REPARSE_POINT on a symlink opened as itself returns the buffer a CREATE through
/// it completes with; statuses by buffer length as MS-FSA 2.1.5.10.14 gives them; files,
/// directories and the volume are not reparse points.
#[test]
fn fsctl_get_reparse_point_returns_the_symlink_buffer() {
    const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
    const NOT_A_REPARSE_POINT: NtStatus = NtStatus(0xC000_0275_u32 as i32);
    let mut s = machine(&support::image("lifecycle"));
    let through = open(&mut s, "\\link-rel").reparse.expect("reparse buffer");
    let own = open_with(&mut s, "\\link-rel", |r| {
        r.options |= FILE_OPEN_REPARSE_POINT
    })
    .handle
    .unwrap();
    let full = through.len();
    for length in 0..=full + 8 {
        let io = s.fs_control_file(own, FSCTL_GET_REPARSE_POINT, &[], length as u32);
        let (status, written) = match length {
            0..24 => (NtStatus::BUFFER_TOO_SMALL, 0),
            _ if length < full => (NtStatus::BUFFER_OVERFLOW, length),
            _ => (NtStatus::SUCCESS, full),
        };
        assert_eq!(
            (io.status, io.information),
            (status, written),
            "length {length}"
        );
        assert_eq!(io.data[..written], through[..written], "length {length}");
    }
    for (path, status) in [
        ("\\hello.txt", NOT_A_REPARSE_POINT),
        ("\\dir", NOT_A_REPARSE_POINT),
        ("", NtStatus::INVALID_PARAMETER),
    ] {
        let handle = open_ok(&mut s, path);
        let io = s.fs_control_file(handle, FSCTL_GET_REPARSE_POINT, &[], 16 * 1024);
        assert_eq!(io.status, status, "{path:?}");
        s.close_handle(handle);
    }
    s.close_handle(own);
    finish(s);
}

#[test]
fn a_locked_volume_refuses_other_opens_until_unlocked() {
    let mut s = machine(&support::image("lifecycle"));
    const LOCK: u32 = 0x0009_0018;
    const UNLOCK: u32 = 0x0009_001C;
    const IS_MOUNTED: u32 = 0x0009_0028;
    let volume = open_ok(&mut s, "");
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(
        s.fs_control_file(volume, LOCK, &[], 0).status,
        NtStatus::ACCESS_DENIED
    );
    // Lock needs a volume open.
    assert_eq!(
        s.fs_control_file(file, LOCK, &[], 0).status,
        NtStatus::INVALID_PARAMETER
    );
    assert_eq!(
        s.fs_control_file(file, IS_MOUNTED, &[], 0).status,
        NtStatus::SUCCESS
    );
    s.close_handle(file);
    assert_eq!(
        s.fs_control_file(volume, LOCK, &[], 0).status,
        NtStatus::SUCCESS
    );
    assert_eq!(open(&mut s, "\\hello.txt").status, NtStatus::ACCESS_DENIED);
    assert_eq!(
        s.fs_control_file(volume, UNLOCK, &[], 0).status,
        NtStatus::SUCCESS
    );
    assert_eq!(
        s.fs_control_file(volume, UNLOCK, &[], 0).status,
        NtStatus::NOT_LOCKED
    );
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    // A lock ends with its handle.
    assert_eq!(
        s.fs_control_file(volume, LOCK, &[], 0).status,
        NtStatus::SUCCESS
    );
    s.close_handle(volume);
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    // Each step was announced (FsRtlNotifyVolumeEvent), the failed lock too.
    use rustfsd::kernel::VolumeEvent::{Lock, LockFailed, Mount, Unlock};
    assert_eq!(
        s.volume_events(),
        [Mount, Lock, LockFailed, Lock, Unlock, Lock, Unlock]
    );
    finish(s);
}
