//! What WSL and EA-aware tools see through rustfsd's dispatch, in the NT model with the
//! verifier on, on real mke2fs images: the EaSize of directory listings (user.* xattrs
//! included), and FIFOs, devices and sockets as the reparse points WSL makes of them on NTFS
//! (symlinks too, as WSL's LX_SYMLINK, with the LxSymlinks parameter).

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::{CreateRequest, CreateResult};
use rustfsd::kernel::model::harness::{DriverDescriptor, Handle, Session};
use support::machine::{as_backup_operator, debugfs_stat, finish, machine, open_ok, open_with};
use support::owned_tree;

const FULL_DIRECTORY: u32 = 2;
const BOTH_DIRECTORY: u32 = 3;
const ID_BOTH_DIRECTORY: u32 = 37;
const ID_FULL_DIRECTORY: u32 = 38;
const ID_EXTD_DIRECTORY: u32 = 60;
const ID_EXTD_BOTH_DIRECTORY: u32 = 63;
/// Every listing class with an EaSize (all at offset 64, after FileNameLength).
const EA_CLASSES: [u32; 6] = [
    FULL_DIRECTORY,
    BOTH_DIRECTORY,
    ID_BOTH_DIRECTORY,
    ID_FULL_DIRECTORY,
    ID_EXTD_DIRECTORY,
    ID_EXTD_BOTH_DIRECTORY,
];
const FILE_EA_INFORMATION: u32 = 7;
const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// One listed entry: name, attributes, EaSize, and ReparsePointTag for the Extd classes.
#[derive(Debug)]
struct Listed {
    name: String,
    attributes: u32,
    ea_size: u32,
    tag: Option<u32>,
}

fn name_offset(class: u32) -> usize {
    match class {
        FULL_DIRECTORY => 68,
        BOTH_DIRECTORY => 94,
        ID_BOTH_DIRECTORY => 104,
        ID_FULL_DIRECTORY => 80,
        ID_EXTD_DIRECTORY => 88,
        _ => 114,
    }
}

/// Every entry of the open directory `dir` in `class`.
fn list(s: &mut Session, dir: Handle, class: u32) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut restart = true;
    loop {
        let io = s.query_directory_file(dir, class, 4096, None, restart, false);
        restart = false;
        match io.status {
            NtStatus::SUCCESS => {}
            NtStatus::NO_MORE_FILES => return out,
            other => panic!("query directory class {class}: {other:?}"),
        }
        let mut at = 0;
        loop {
            let entry = &io.data[at..];
            let length = u32_at(entry, 60) as usize;
            let base = name_offset(class);
            let units: Vec<u16> = entry[base..base + length]
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            out.push(Listed {
                name: String::from_utf16(&units).unwrap(),
                attributes: u32_at(entry, 56),
                ea_size: u32_at(entry, 64),
                tag: matches!(class, ID_EXTD_DIRECTORY | ID_EXTD_BOTH_DIRECTORY)
                    .then(|| u32_at(entry, 68)),
            });
            let next = u32_at(entry, 0) as usize;
            if next == 0 {
                break;
            }
            at += next;
        }
    }
}

/// Opens `name` relative to `dir`, a reparse point as itself.
fn open_as_itself(s: &mut Session, dir: Handle, name: &str) -> Handle {
    let mut request = CreateRequest::open(name);
    request.root = Some(dir);
    // FILE_OPEN_FOR_BACKUP_INTENT too, as every helper's open (support::machine).
    request.options |= FILE_OPEN_REPARSE_POINT | 0x4000;
    let result = s.nt_create_file(dir.pid, &request);
    assert_eq!(result.status, NtStatus::SUCCESS, "open {name}");
    result.handle.unwrap()
}

/// The reparse tag of an open file (FileAttributeTagInformation).
fn tag_of(s: &mut Session, handle: Handle) -> u32 {
    let io = s.query_information_file(handle, 35, 8);
    assert_eq!(io.status, NtStatus::SUCCESS);
    u32_at(&io.data, 4)
}

/// Walks the tree from the root: every entry of every directory in every class with an
/// EaSize reports what FileEaInformation of the same file says, or, outside the Extd classes,
/// the reparse tag of a reparse point (whose Extd entries carry the tag in ReparsePointTag).
/// Returns the number of entries checked.
pub fn check_ea_sizes(s: &mut Session) -> usize {
    let mut checked = 0;
    let mut stack = vec![open_ok(s, "\\")];
    while let Some(dir) = stack.pop() {
        let lists: Vec<Vec<Listed>> = EA_CLASSES.iter().map(|&c| list(s, dir, c)).collect();
        for (index, entry) in lists[0].iter().enumerate() {
            if entry.name == "." || entry.name == ".." {
                continue;
            }
            let handle = open_as_itself(s, dir, &entry.name);
            let info = s.query_information_file(handle, FILE_EA_INFORMATION, 4);
            assert_eq!(info.status, NtStatus::SUCCESS, "{}", entry.name);
            let ea_size = u32_at(&info.data, 0);
            let reparse = entry.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0;
            let tag = if reparse { tag_of(s, handle) } else { 0 };
            for (class, listed) in EA_CLASSES.iter().zip(&lists) {
                let listed = &listed[index];
                assert_eq!(listed.name, entry.name, "class {class}");
                let want = match listed.tag {
                    Some(listed_tag) => {
                        if reparse {
                            assert_eq!(listed_tag, tag, "{} class {class}", entry.name);
                        }
                        ea_size
                    }
                    None if reparse => tag,
                    None => ea_size,
                };
                assert_eq!(listed.ea_size, want, "{} class {class}", entry.name);
            }
            checked += 1;
            if entry.attributes & FILE_ATTRIBUTE_DIRECTORY != 0 && !reparse {
                stack.push(handle);
            } else {
                s.close_handle(handle);
            }
        }
        s.close_handle(dir);
    }
    checked
}

#[test]
fn listings_report_the_ea_size_of_every_entry() {
    for image_name in support::STANDARD_IMAGES {
        let mut s = machine(&support::image(image_name));
        // Every entry, lost+found (root's, 0700) included: as a backup program lists them.
        as_backup_operator(&mut s);
        let checked = check_ea_sizes(&mut s);
        assert!(checked > 20, "{image_name}: only {checked} entries");
        finish(s);
    }
}

/// The same on an image whose files carry user.* xattrs in the inode and in an xattr block.
#[test]
fn listings_count_user_xattrs_in_the_ea_size() {
    let mut s = machine(&owned_tree::xattr_image("wsl-xattr-image"));
    as_backup_operator(&mut s);
    assert!(check_ea_sizes(&mut s) >= 12);
    let root = open_ok(&mut s, "\\");
    let listed = list(&mut s, root, FULL_DIRECTORY);
    let size_of = |name: &str| listed.iter().find(|e| e.name == name).unwrap().ea_size;
    // 60 for the WSL EAs; "COMMENT" = "hello" (21, aligned 24) and "MIME.TYPE" =
    // "text/plain" (28).
    assert_eq!(size_of("plain"), 60);
    assert_eq!(size_of("tagged"), 60 + 24 + 28);
    s.close_handle(root);
    finish(s);
}

const FILE_ATTRIBUTE_READONLY: u32 = 0x1;
const FILE_ATTRIBUTE_TAG_INFORMATION: u32 = 35;
const FILE_STAT_LX_INFORMATION: u32 = 70;
const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
const IO_REPARSE_TAG_LX_SYMLINK: u32 = 0xA000_001D;
const IO_REPARSE_TAG_NOT_HANDLED: NtStatus = NtStatus(0xC000_0279_u32 as i32);

/// The WSL tag of each special file of `xattr_image`, from its type as debugfs reads it.
fn special_files(image: &std::path::Path) -> Vec<(&'static str, u32)> {
    ["fifo", "chr", "blk", "sock"]
        .into_iter()
        .map(|name| {
            let stat = debugfs_stat(image, &format!("/{name}"));
            let kind = stat
                .split("Type: ")
                .nth(1)
                .unwrap()
                .split("  ")
                .next()
                .unwrap();
            let tag = match kind.trim() {
                "FIFO" => 0x8000_0024,
                "character special" => 0x8000_0025,
                "block special" => 0x8000_0026,
                "socket" => 0x8000_0023,
                other => panic!("{name}: type {other}"),
            };
            (name, tag)
        })
        .collect()
}

/// Opens `path` on the volume; with `as_itself`, FILE_OPEN_REPARSE_POINT.
fn open_path(s: &mut Session, path: &str, as_itself: bool) -> CreateResult {
    open_with(s, path, |request| {
        if as_itself {
            request.options |= FILE_OPEN_REPARSE_POINT;
        }
    })
}

/// FIFOs, devices and sockets are listed as reparse points with WSL's tags; an open of one
/// (or through one) fails as Windows fails a tag no filter handles; opened as itself it has
/// the same tag in FileAttributeTagInformation, FileStatLxInformation and
/// FSCTL_GET_REPARSE_POINT (a header with no data), and reads give nothing.
#[test]
fn special_files_are_wsl_reparse_points() {
    let image = owned_tree::xattr_image("wsl-special-image");
    let specials = special_files(&image);
    let mut s = machine(&image);
    let root = open_ok(&mut s, "\\");
    let full = list(&mut s, root, FULL_DIRECTORY);
    let extd = list(&mut s, root, ID_EXTD_DIRECTORY);
    s.close_handle(root);
    for &(name, tag) in &specials {
        let listed = full.iter().find(|e| e.name == name).unwrap();
        let attributes = FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_REPARSE_POINT;
        assert_eq!(
            (listed.attributes, listed.ea_size),
            (attributes, tag),
            "{name}"
        );
        let listed = extd.iter().find(|e| e.name == name).unwrap();
        assert_eq!(
            (listed.attributes, listed.tag),
            (attributes, Some(tag)),
            "{name}"
        );

        for path in [format!("\\{name}"), format!("\\{name}\\x")] {
            let through = open_path(&mut s, &path, false);
            assert_eq!(
                (through.status, through.handle),
                (IO_REPARSE_TAG_NOT_HANDLED, None),
                "{path}"
            );
        }
        let handle = open_path(&mut s, &format!("\\{name}"), true)
            .handle
            .unwrap();
        let info = s.query_information_file(handle, FILE_ATTRIBUTE_TAG_INFORMATION, 8);
        assert_eq!(
            (u32_at(&info.data, 0), u32_at(&info.data, 4)),
            (attributes, tag)
        );
        let lx = s.query_information_file(handle, FILE_STAT_LX_INFORMATION, 96);
        assert_eq!(
            (u32_at(&lx.data, 56), u32_at(&lx.data, 60)),
            (attributes, tag)
        );
        for length in [0u32, 8, 23, 24, 100] {
            let io = s.fs_control_file(handle, FSCTL_GET_REPARSE_POINT, &[], length);
            if length < 24 {
                assert_eq!(io.status, NtStatus::BUFFER_TOO_SMALL, "{name} {length}");
                continue;
            }
            assert_eq!(io.status, NtStatus::SUCCESS, "{name} {length}");
            let mut header = tag.to_le_bytes().to_vec();
            header.extend([0, 0, 0, 0]);
            assert_eq!(io.data[..io.information], header[..], "{name}");
        }
        let read = s.read_file(handle, Some(0), 4096);
        assert_eq!(
            (read.status, read.information),
            (NtStatus::END_OF_FILE, 0),
            "{name}"
        );
        s.close_handle(handle);
    }
    // A symlink keeps the tag Windows follows by default.
    let link = open_path(&mut s, "\\link", false);
    assert_eq!(
        (link.status, link.information as u32),
        (NtStatus::REPARSE, IO_REPARSE_TAG_SYMLINK)
    );
    finish(s);
}

/// With the LxSymlinks parameter, symlinks carry IO_REPARSE_TAG_LX_SYMLINK and WSL's data
/// (version 2, then the UTF-8 target) in listings, FileAttributeTagInformation and
/// FSCTL_GET_REPARSE_POINT; Windows then follows none: an open through one is
/// IO_REPARSE_TAG_NOT_HANDLED.
#[test]
fn the_lx_symlinks_parameter_gives_symlinks_the_wsl_tag() {
    let image = owned_tree::xattr_image("wsl-lx-symlink-image");
    let mut s = Session::new();
    s.add_disk(support::machine::DISK_NAME, support::machine::disk(&image));
    s.set_driver_parameter("rustfsd", "LxSymlinks", 1);
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    let root = open_ok(&mut s, "\\");
    let listed = list(&mut s, root, ID_EXTD_BOTH_DIRECTORY);
    s.close_handle(root);
    let link = listed.iter().find(|e| e.name == "link").unwrap();
    assert_eq!(link.tag, Some(IO_REPARSE_TAG_LX_SYMLINK));
    assert_ne!(link.attributes & FILE_ATTRIBUTE_REPARSE_POINT, 0);
    let through = open_path(&mut s, "\\link", false);
    assert_eq!(through.status, IO_REPARSE_TAG_NOT_HANDLED);
    let handle = open_path(&mut s, "\\link", true).handle.unwrap();
    assert_eq!(tag_of(&mut s, handle), IO_REPARSE_TAG_LX_SYMLINK);
    let io = s.fs_control_file(handle, FSCTL_GET_REPARSE_POINT, &[], 100);
    assert_eq!(io.status, NtStatus::SUCCESS);
    let mut want = IO_REPARSE_TAG_LX_SYMLINK.to_le_bytes().to_vec();
    want.extend([9, 0, 0, 0, 2, 0, 0, 0]);
    want.extend(b"plain");
    assert_eq!(io.data[..io.information], want[..]);
    s.close_handle(handle);
    finish(s);
}
