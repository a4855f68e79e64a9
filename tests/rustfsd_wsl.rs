//! What WSL and EA-aware tools see through rustfsd's dispatch, in the NT model with the
//! verifier on, on real mke2fs images: the EaSize of directory listings (user.* xattrs
//! included).

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::machine::{finish, machine, open_ok};
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
    request.options |= FILE_OPEN_REPARSE_POINT;
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
        let checked = check_ea_sizes(&mut s);
        assert!(checked > 20, "{image_name}: only {checked} entries");
        finish(s);
    }
}

/// The same on an image whose files carry user.* xattrs in the inode and in an xattr block.
#[test]
fn listings_count_user_xattrs_in_the_ea_size() {
    let mut s = machine(&owned_tree::xattr_image("wsl-xattr-image"));
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
