//! IRP_MJ_QUERY_EA (the WSL metadata EAs $LXUID, $LXGID, $LXMOD, $LXDEV), FileEaInformation and
//! IRP_MJ_SET_EA through rustfsd's dispatch, in the NT model with the verifier on, on an image
//! made by `mke2fs -d` from files, a directory, a symlink and device nodes with chosen owners
//! and modes, against `debugfs -R stat`.

mod support;

use std::fs;
use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::ea::{EaQuery, get_ea_list};
use rustfsd::kernel::model::harness::testing::set_volume_device_io_method;

use rustfsd::ext4::Error;
use rustfsd::ext4::Volume;
use rustfsd::ext4::xattr::{block_checksum, name_index};
use support::machine::{debugfs_stat, finish, machine, open_ok};
use support::owned_tree::{self, image_of, open_entry, own};

const FILE_EA_INFORMATION: u32 = 7;
const FILE_ALL_INFORMATION: u32 = 18;
const FILE_STAT_LX_INFORMATION: u32 = 70;
const NO_MORE_EAS: NtStatus = NtStatus(0x8000_0012_u32 as i32);
const NONEXISTENT_EA_ENTRY: NtStatus = NtStatus(0xC000_0051_u32 as i32);

/// (name, uid, gid, permission bits); devices are made with mknod.
const ENTRIES: &[(&str, u32, u32, u32)] = &[
    ("file", 1000, 1000, 0o640),
    ("tool", 70_000, 80_000, 0o4755),
    ("dir", 5, 6, 0o750),
    ("chr", 12, 34, 0o620),
    ("blk", 0, 6, 0o660),
];

fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(build_image).clone()
}

fn build_image() -> PathBuf {
    image_of("ea-image", |tree| {
        for &(name, uid, gid, mode) in ENTRIES {
            let path = tree.join(name);
            match name {
                "dir" => fs::create_dir(&path).unwrap(),
                "chr" | "blk" => {
                    let (kind, major, minor) = if name == "chr" {
                        ("c", "4", "67")
                    } else {
                        ("b", "259", "300000")
                    };
                    let made = Command::new("mknod")
                        .arg(&path)
                        .args([kind, major, minor])
                        .status()
                        .unwrap();
                    assert!(made.success(), "mknod {name}");
                }
                _ => fs::write(&path, name.as_bytes()).unwrap(),
            }
            own(&path, uid, gid, mode);
        }
        std::os::unix::fs::symlink("file", tree.join("link")).unwrap();
        lchown(tree.join("link"), Some(9), Some(10)).unwrap();
    })
}

/// What debugfs says of `path`: (uid, gid, st_mode with its type bits, device major/minor).
fn expected(image: &Path, path: &str) -> (u32, u32, u32, Option<(u32, u32)>) {
    let text = debugfs_stat(image, path);
    let word = |key: &str| -> &str {
        let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}")) + key.len();
        text[at..].split_whitespace().next().unwrap()
    };
    let permissions = u32::from_str_radix(word("Mode:"), 8).unwrap();
    let kind = text["Type: ".len() + text.find("Type: ").unwrap()..]
        .split("Mode:")
        .next()
        .unwrap()
        .trim();
    let type_bits = match kind {
        "regular" => 0o100000,
        "directory" => 0o040000,
        "symlink" => 0o120000,
        "character special" => 0o020000,
        "block special" => 0o060000,
        other => panic!("type {other}"),
    };
    let device = text.find("major/minor number: ").map(|at| {
        let pair = text[at + "major/minor number: ".len()..]
            .split_whitespace()
            .next()
            .unwrap();
        let (major, minor) = pair.split_once(':').unwrap();
        (major.parse().unwrap(), minor.parse().unwrap())
    });
    (
        word("User:").parse().unwrap(),
        word("Group:").parse().unwrap(),
        type_bits | permissions,
        device,
    )
}

/// The FILE_FULL_EA_INFORMATION entries of `data`: (name, value), checking the links.
fn entries(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let next = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(data[at + 4], 0, "flags");
        let name_len = usize::from(data[at + 5]);
        let value_len = usize::from(u16::from_le_bytes([data[at + 6], data[at + 7]]));
        let name = &data[at + 8..at + 8 + name_len];
        assert_eq!(data[at + 8 + name_len], 0, "NUL after the name");
        let value = &data[at + 9 + name_len..at + 9 + name_len + value_len];
        out.push((String::from_utf8(name.to_vec()).unwrap(), value.to_vec()));
        if next == 0 {
            assert_eq!(
                at + 9 + name_len + value_len,
                data.len(),
                "Information ends the last"
            );
            return out;
        }
        assert_eq!(next % 4, 0, "aligned");
        at += next;
    }
}

fn ulong(value: u32) -> Vec<u8> {
    value.to_le_bytes().to_vec()
}

/// A scan from the first EA.
fn scan() -> EaQuery {
    EaQuery {
        restart: true,
        ..EaQuery::default()
    }
}

/// Every entry's EAs equal what debugfs reads, and FileEaInformation (alone and in
/// FileAllInformation) gives the buffer a whole query needs.
#[test]
fn wsl_eas_match_debugfs() {
    let image = image();
    let mut session = machine(&image);
    let mut names: Vec<&str> = ENTRIES.iter().map(|e| e.0).collect();
    names.push("link");
    for name in names {
        let (uid, gid, mode, device) = expected(&image, &format!("/{name}"));
        let handle = open_entry(&mut session, name);
        let io = session.query_ea(handle, 4096, &scan());
        assert_eq!(io.status, NtStatus::SUCCESS, "{name}");
        let mut want = vec![
            (String::from("$LXUID"), ulong(uid)),
            (String::from("$LXGID"), ulong(gid)),
            (String::from("$LXMOD"), ulong(mode)),
        ];
        if let Some((major, minor)) = device {
            let mut value = ulong(major);
            value.extend(ulong(minor));
            want.push((String::from("$LXDEV"), value));
        }
        assert_eq!(entries(&io.data), want, "{name}");
        let ea_size = (io.information + 3) & !3;
        let info = session.query_information_file(handle, FILE_EA_INFORMATION, 4);
        assert_eq!(info.status, NtStatus::SUCCESS);
        assert_eq!(info.data, ulong(ea_size as u32), "{name}");
        let all = session.query_information_file(handle, FILE_ALL_INFORMATION, 4096);
        assert_eq!(all.data[72..76], ulong(ea_size as u32)[..], "{name}");
        // FileStatLxInformation says the same: LxUid, LxGid, LxMode, LxDeviceIdMajor/Minor.
        let lx = session.query_information_file(handle, FILE_STAT_LX_INFORMATION, 96);
        assert_eq!(lx.status, NtStatus::SUCCESS);
        let (major, minor) = device.unwrap_or((0, 0));
        let mut fields = Vec::new();
        for value in [uid, gid, mode, major, minor] {
            fields.extend(ulong(value));
        }
        assert_eq!(lx.data[76..96], fields[..], "{name}");
        session.close_handle(handle);
    }
    finish(session);
}

/// Single-entry scans walk the EAs and end with NO_MORE_EAS; a restart starts over; an index
/// starts there; buffers of every length get what fits, with the documented statuses.
#[test]
fn scans_indexes_and_buffer_lengths() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "file");
    let single = EaQuery {
        single: true,
        ..EaQuery::default()
    };
    let mut walked = Vec::new();
    for _ in 0..3 {
        let io = session.query_ea(handle, 4096, &single);
        assert_eq!(io.status, NtStatus::SUCCESS);
        walked.extend(entries(&io.data).into_iter().map(|e| e.0));
    }
    assert_eq!(walked, ["$LXUID", "$LXGID", "$LXMOD"]);
    assert_eq!(session.query_ea(handle, 4096, &single).status, NO_MORE_EAS);
    let restarted = session.query_ea(
        handle,
        4096,
        &EaQuery {
            restart: true,
            ..single.clone()
        },
    );
    assert_eq!(entries(&restarted.data)[0].0, "$LXUID");
    let at = |index| EaQuery {
        index: Some(index),
        ..EaQuery::default()
    };
    let from_two = session.query_ea(handle, 4096, &at(2));
    let names: Vec<String> = entries(&from_two.data).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["$LXGID", "$LXMOD"]);
    assert_eq!(
        session.query_ea(handle, 4096, &at(0)).status,
        NONEXISTENT_EA_ENTRY
    );
    assert_eq!(session.query_ea(handle, 4096, &at(4)).status, NO_MORE_EAS);
    assert_eq!(
        session.query_ea(handle, 4096, &at(5)).status,
        NONEXISTENT_EA_ENTRY
    );
    // Every length: 19 bytes per entry, 20 between entries.
    for length in 0..=64u32 {
        let io = session.query_ea(handle, length, &scan());
        let fits = match length {
            0..19 => 0,
            19..39 => 1,
            39..59 => 2,
            _ => 3,
        };
        let status = match fits {
            0 => NtStatus::BUFFER_TOO_SMALL,
            3 => NtStatus::SUCCESS,
            _ => NtStatus::BUFFER_OVERFLOW,
        };
        assert_eq!(io.status, status, "len {length}");
        let information = if fits == 0 { 0 } else { 20 * (fits - 1) + 19 };
        assert_eq!(io.information, information, "len {length}");
        if fits > 0 {
            assert_eq!(entries(&io.data).len(), fits, "len {length}");
        }
    }
    session.close_handle(handle);
    finish(session);
}

/// A name list answers each name in order: a missing one with no value, a repeated one once;
/// all of it fits or nothing comes back.
#[test]
fn name_lists() {
    let image = image();
    let mut session = machine(&image);
    let handle = open_entry(&mut session, "chr");
    let query = EaQuery {
        list: Some(get_ea_list(&["$lxdev", "user.comment", "$LXDEV", "$LXGID"])),
        ..EaQuery::default()
    };
    let io = session.query_ea(handle, 4096, &query);
    assert_eq!(io.status, NtStatus::SUCCESS);
    let got = entries(&io.data);
    let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["$LXDEV", "USER.COMMENT", "$LXGID"]);
    assert_eq!(got[0].1, [4, 0, 0, 0, 67, 0, 0, 0]);
    assert!(got[1].1.is_empty());
    assert_eq!(got[2].1, ulong(34));
    let short = session.query_ea(handle, io.information as u32 - 1, &query);
    assert_eq!(
        (short.status, short.information),
        (NtStatus::BUFFER_OVERFLOW, 0)
    );
    session.close_handle(handle);
    finish(session);
}

/// A volume open has no EAs; a set is refused on a read-only volume; a device whose I/O
/// method is neither buffered nor direct hands the caller's address, which is locked, never
/// touched (no UserBufferTouched finding).
#[test]
fn volume_set_and_neither_io() {
    let image = image();
    let mut session = machine(&image);
    let volume = open_ok(&mut session, "");
    assert_eq!(
        session.query_ea(volume, 4096, &scan()).status,
        NtStatus::INVALID_PARAMETER
    );
    session.close_handle(volume);
    let handle = open_entry(&mut session, "dir");
    assert_eq!(session.set_ea(handle), NtStatus::MEDIA_WRITE_PROTECTED);
    set_volume_device_io_method(&session, 0);
    let io = session.query_ea(handle, 4096, &scan());
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert_eq!(entries(&io.data).len(), 3);
    session.close_handle(handle);
    finish(session);
}

fn xattr_image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| owned_tree::xattr_image("ea-xattr-image"))
        .clone()
}

/// Every path of `xattr_image`.
const XATTR_PATHS: &[&str] = &[
    "/plain",
    "/tagged",
    "/many",
    "/odd",
    "/dir",
    "/dir/inner",
    "/link",
    "/fifo",
    "/chr",
    "/blk",
    "/sock",
];

/// What `debugfs ea_list` says of `path`, with each value read by `ea_get -f`: (full name,
/// value), in debugfs's order.
fn debugfs_xattrs(image: &Path, path: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let listing = support::debugfs(image, &[format!("ea_list {path}")]);
    let text = String::from_utf8(listing[0].clone()).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("  ")) {
        let (name, _) = line.trim_start().rsplit_once(" (").unwrap();
        // Names with bytes outside printable ASCII come as hex pairs.
        let name: Vec<u8> = if name.contains(' ') {
            name.split(' ')
                .filter(|pair| !pair.is_empty())
                .map(|pair| u8::from_str_radix(pair, 16).unwrap())
                .collect()
        } else {
            name.as_bytes().to_vec()
        };
        let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ea-get-value");
        let request = format!(
            "ea_get -f {} {path} {}",
            file.display(),
            String::from_utf8(name.clone()).unwrap()
        );
        support::debugfs(image, &[request]);
        out.push((name, fs::read(&file).unwrap()));
    }
    out
}

/// The ext4 layer reads every xattr debugfs lists (user and trusted), values included, in
/// the in-inode area and the external block; the driver answers each `user.NAME` as EA NAME
/// upcased after the WSL EAs, leaving out names that cannot be EA names and the later of two
/// names equal without case; FileEaInformation and the listings' EaSize count them.
#[test]
fn user_xattrs_are_eas_as_debugfs_lists_them() {
    let image = xattr_image();
    let volume = Volume::mount(support::FileDevice::open(&image)).unwrap();
    let mut session = machine(&image);
    for path in XATTR_PATHS {
        let theirs = debugfs_xattrs(&image, path);
        let inode = volume.resolve_path(path.as_bytes()).unwrap();
        let mut layer = Vec::new();
        for (index, prefix) in [
            (name_index::USER, "user."),
            (name_index::TRUSTED, "trusted."),
        ] {
            for xattr in volume.xattrs(&inode, index).unwrap() {
                let mut name = prefix.as_bytes().to_vec();
                name.extend(&xattr.name);
                layer.push((name, xattr.value));
            }
        }
        let sorted = |mut list: Vec<(Vec<u8>, Vec<u8>)>| {
            list.retain(|(name, _)| !name.starts_with(b"security."));
            list.sort();
            list
        };
        assert_eq!(sorted(layer), sorted(theirs.clone()), "{path}");

        // The mapping, written again: user.* only, EA-name rules, first of a case collision.
        let mut want: Vec<(String, Vec<u8>)> = Vec::new();
        for xattr in volume.xattrs(&inode, name_index::USER).unwrap() {
            let name = String::from_utf8_lossy(&xattr.name).to_ascii_uppercase();
            let valid = xattr
                .name
                .iter()
                .all(|&c| (0x20..0x7F).contains(&c) && !b"\\/:*?\"<>|,+=[];".contains(&c));
            if valid && !want.iter().any(|(n, _)| *n == name) {
                want.push((name, xattr.value));
            }
        }
        let handle = open_entry(&mut session, &path[1..].replace('/', "\\"));
        let io = session.query_ea(handle, 65536, &scan());
        assert_eq!(io.status, NtStatus::SUCCESS, "{path}");
        let got = entries(&io.data);
        let wsl = got.iter().filter(|(n, _)| n.starts_with("$LX")).count();
        assert_eq!(got[wsl..], want[..], "{path}");
        let info = session.query_information_file(handle, FILE_EA_INFORMATION, 4);
        assert_eq!(
            info.data,
            ulong(((io.information + 3) & !3) as u32),
            "{path}"
        );
        session.close_handle(handle);
    }
    // The cases the image was made for.
    let odd = volume.resolve_path(b"/odd").unwrap();
    assert_eq!(volume.xattrs(&odd, name_index::USER).unwrap().len(), 4);
    let many = debugfs_stat(&image, "/many");
    assert!(!many.contains("File ACL: 0"), "/many uses an xattr block");
    finish(session);
}

/// An xattr block whose checksum fails, or whose entry points past the block (checksum
/// made right again), is FILE_CORRUPT_ERROR for that file's EA queries, in the ext4 layer a
/// precise error; other files answer as before and the session ends clean.
#[test]
fn a_damaged_xattr_block_is_a_clean_error() {
    let image = xattr_image();
    let stat = debugfs_stat(&image, "/many");
    let at = stat.find("File ACL: ").unwrap() + "File ACL: ".len();
    let block: u64 = stat[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let volume = Volume::mount(support::FileDevice::open(&image)).unwrap();
    let (block_size, seed) = (
        u64::from(volume.block_size()),
        volume.superblock().checksum_seed,
    );
    for damage in ["checksum", "value offset"] {
        let mut bytes = fs::read(&image).unwrap();
        let start = (block * block_size) as usize;
        let raw = &mut bytes[start..start + block_size as usize];
        assert_eq!(&raw[..4], &[0, 0, 2, 0xEA], "the xattr block");
        match damage {
            "checksum" => raw[40] ^= 0x5A,
            _ => {
                raw[32 + 2..32 + 4].copy_from_slice(&0xFFF0u16.to_le_bytes());
                let sum = block_checksum(seed, block, raw);
                raw[16..20].copy_from_slice(&sum.to_le_bytes());
            }
        }
        let damaged = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ea-damaged.img");
        fs::write(&damaged, &bytes).unwrap();
        let volume = Volume::mount(support::FileDevice::open(&damaged)).unwrap();
        let many = volume.resolve_path(b"/many").unwrap();
        let error = volume.xattrs(&many, name_index::USER).unwrap_err();
        match damage {
            "checksum" => assert!(matches!(error, Error::Checksum { .. }), "{error:?}"),
            _ => assert!(matches!(error, Error::Corrupt { .. }), "{error:?}"),
        }
        let mut session = machine(&damaged);
        let handle = open_entry(&mut session, "many");
        let io = session.query_ea(handle, 4096, &scan());
        assert_eq!(io.status, NtStatus::FILE_CORRUPT_ERROR, "{damage}");
        let info = session.query_information_file(handle, FILE_EA_INFORMATION, 4);
        assert_eq!(info.status, NtStatus::FILE_CORRUPT_ERROR, "{damage}");
        session.close_handle(handle);
        let tagged = open_entry(&mut session, "tagged");
        assert_eq!(
            session.query_ea(tagged, 4096, &scan()).status,
            NtStatus::SUCCESS
        );
        session.close_handle(tagged);
        finish(session);
    }
}
