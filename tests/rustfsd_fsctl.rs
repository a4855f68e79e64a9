//! The FSCTLs a defragmenter, a backup tool and `fsutil` ask (FSCTL_GET_RETRIEVAL_POINTERS, ...)
//! through rustfsd's dispatch, in the NT model with the verifier on, on real mke2fs images,
//! against debugfs.

mod support;

use std::path::Path;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::block_map::{Extent, debugfs_extents};
use support::machine::{finish, machine, open_ok, open_with};

const FSCTL_GET_RETRIEVAL_POINTERS: u32 = 0x0009_0073;
const FILE_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
/// sizeof(RETRIEVAL_POINTERS_BUFFER).
const RPB_SIZE: u32 = 32;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// FSCTL_GET_RETRIEVAL_POINTERS from `vcn` with `length` bytes of output: status, Information,
/// and the extents the answer holds (checked against its ExtentCount and Information).
fn retrieval_pointers(
    s: &mut Session,
    h: Handle,
    vcn: i64,
    length: u32,
) -> (NtStatus, usize, Vec<Extent>) {
    let io = s.fs_control_file(h, FSCTL_GET_RETRIEVAL_POINTERS, &vcn.to_le_bytes(), length);
    if io.information == 0 {
        return (io.status, 0, Vec::new());
    }
    let data = &io.data[..io.information];
    let count = u32_at(data, 0) as usize;
    assert_eq!(
        io.information,
        16 + 16 * count,
        "Information and ExtentCount"
    );
    let mut start = u64_at(data, 8);
    let mut extents = Vec::new();
    for i in 0..count {
        let next_vcn = u64_at(data, 16 + 16 * i);
        let lcn = u64_at(data, 24 + 16 * i) as i64;
        extents.push(Extent {
            start,
            next_vcn,
            lcn,
        });
        start = next_vcn;
    }
    (io.status, io.information, extents)
}

/// The whole map in one query.
fn whole_map(s: &mut Session, h: Handle) -> Option<Vec<Extent>> {
    let (status, _, extents) = retrieval_pointers(s, h, 0, 1 << 20);
    match status {
        NtStatus::SUCCESS => Some(extents),
        NtStatus::END_OF_FILE => None,
        other => panic!("retrieval pointers: {other:?}"),
    }
}

/// Paths of the regular files and directories of a source tree whose names open as they are
/// (valid UTF-8, no character NT names refuse), relative with `/`.
fn plain_paths(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.chars().any(|c| c < ' ' || "\\:*?\"<>|".contains(c)) {
            continue;
        }
        let kind = entry.file_type().unwrap();
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        if kind.is_dir() {
            out.push(relative);
            plain_paths(root, &path, out);
        } else if kind.is_file() {
            out.push(relative);
        }
    }
}

/// Every file and directory of the standard images: the driver's retrieval pointers equal the
/// block map debugfs prints, extent for extent (sparse, far sparse on triple indirection,
/// a 1500-extent file with a depth-2 extent tree, unwritten extents and blocks preallocated
/// past the end, ext2/ext3 indirect maps, inline data, bigalloc, 1 KiB and 4 KiB blocks).
#[test]
fn retrieval_pointers_match_debugfs_on_every_file() {
    for name in [
        "ext2",
        "ext3",
        "ext4",
        "ext4-1k",
        "ext4-bigalloc",
        "ext4-inline",
        "ext4-no64bit",
    ] {
        let image = support::image(name);
        let block_size = u64::from(support::mount(name).block_size());
        let root = support::source_of(name);
        let mut paths = Vec::new();
        plain_paths(&root, &root, &mut paths);
        paths.push(String::new());
        let expected = debugfs_extents(
            &image,
            &paths.iter().map(|p| format!("/{p}")).collect::<Vec<_>>(),
            block_size,
        );
        let mut s = machine(&image);
        let mut extents_seen = 0;
        for (path, expected) in paths.iter().zip(expected) {
            let nt_path = format!("\\{}", path.replace('/', "\\"));
            let h = open_ok(&mut s, &nt_path);
            let got = whole_map(&mut s, h);
            assert_eq!(got, expected, "{name}: {path}");
            extents_seen += got.map_or(0, |e| e.len());
            s.close_handle(h);
        }
        assert!(extents_seen > 3000, "{name}: only {extents_seen} extents");
        finish(s);
    }
}

/// The buffer rules (MS-FSA 2.1.5.10.15, FastFAT's FatGetRetrievalPointers): an input shorter
/// than STARTING_VCN_INPUT_BUFFER or a negative VCN is INVALID_PARAMETER, an output shorter
/// than RETRIEVAL_POINTERS_BUFFER BUFFER_TOO_SMALL; every output size from there gets as many
/// whole extents as fit, BUFFER_OVERFLOW until all fit; a VCN past the last extent, and a file
/// without blocks, END_OF_FILE; a symlink opened as itself has an empty data stream.
#[test]
fn retrieval_pointers_buffer_rules() {
    let image = support::image("ext4");
    let mut s = machine(&image);
    let h = open_ok(&mut s, "\\sparse");
    let full = whole_map(&mut s, h).unwrap();
    assert!(full.len() >= 3, "{full:?}");
    for input in 0..8usize {
        let io = s.fs_control_file(h, FSCTL_GET_RETRIEVAL_POINTERS, &vec![0; input], 4096);
        assert_eq!(
            (io.status, io.information),
            (NtStatus::INVALID_PARAMETER, 0),
            "input {input}"
        );
    }
    // A longer input is fine (only its first LARGE_INTEGER is read).
    let io = s.fs_control_file(h, FSCTL_GET_RETRIEVAL_POINTERS, &[0; 12], 4096);
    assert_eq!(io.status, NtStatus::SUCCESS);
    assert_eq!(
        retrieval_pointers(&mut s, h, -1, 4096).0,
        NtStatus::INVALID_PARAMETER
    );
    let whole = 16 + 16 * full.len() as u32;
    for length in 0..=whole + 20 {
        let (status, information, extents) = retrieval_pointers(&mut s, h, 0, length);
        if length < RPB_SIZE {
            assert_eq!(
                (status, information),
                (NtStatus::BUFFER_TOO_SMALL, 0),
                "length {length}"
            );
            continue;
        }
        let fit = ((length as usize - 16) / 16).min(full.len());
        assert_eq!(extents, full[..fit], "length {length}");
        let expected = if fit == full.len() {
            NtStatus::SUCCESS
        } else {
            NtStatus::BUFFER_OVERFLOW
        };
        assert_eq!(status, expected, "length {length}");
    }
    let end = full.last().unwrap().next_vcn as i64;
    assert_eq!(
        retrieval_pointers(&mut s, h, end, 4096).0,
        NtStatus::END_OF_FILE
    );
    assert_eq!(
        retrieval_pointers(&mut s, h, i64::MAX, 4096).0,
        NtStatus::END_OF_FILE
    );
    s.close_handle(h);
    // A too-small buffer is refused before anything else is looked at.
    let empty = open_ok(&mut s, "\\empty");
    assert_eq!(
        retrieval_pointers(&mut s, empty, 0, 31).0,
        NtStatus::BUFFER_TOO_SMALL
    );
    assert_eq!(
        retrieval_pointers(&mut s, empty, 0, 32).0,
        NtStatus::END_OF_FILE
    );
    s.close_handle(empty);
    let link = open_with(&mut s, "\\links\\len-0001", |r| {
        r.options |= FILE_OPEN_REPARSE_POINT
    });
    assert_eq!(link.status, NtStatus::SUCCESS);
    let link = link.handle.unwrap();
    assert_eq!(
        retrieval_pointers(&mut s, link, 0, 4096).0,
        NtStatus::END_OF_FILE
    );
    s.close_handle(link);
    finish(s);
}

/// StartingVcn anywhere inside an extent answers from that extent's first VCN (MS-FSA: the
/// first extent whose NextVcn is past it); small buffers chained from the last NextVcn, as a
/// defragmenter reads a map, give the whole map, on the 1500-extent file (depth-2 tree) and on
/// a far-sparse ext2 file (indirect blocks).
#[test]
fn retrieval_pointers_resume_from_any_vcn() {
    for (name, path) in [
        ("ext4", "\\fragmented"),
        ("ext2", "\\sparse-far"),
        ("ext4", "\\prealloc\\beyond_eof"),
    ] {
        let mut s = machine(&support::image(name));
        let h = open_ok(&mut s, path);
        let full = whole_map(&mut s, h).unwrap();
        let end = full.last().unwrap().next_vcn;
        for vcn in (0..end)
            .step_by(((end / 100) as usize).max(1))
            .chain([end - 1])
        {
            let at = full.iter().position(|e| e.next_vcn > vcn).unwrap();
            let (status, _, extents) = retrieval_pointers(&mut s, h, vcn as i64, 16 + 16 * 2);
            assert_eq!(
                extents,
                full[at..(at + 2).min(full.len())],
                "{name} {path} vcn {vcn}"
            );
            let last = at + 2 >= full.len();
            assert_eq!(
                status,
                if last {
                    NtStatus::SUCCESS
                } else {
                    NtStatus::BUFFER_OVERFLOW
                }
            );
        }
        let sizes: &[usize] = if full.len() > 100 {
            &[37, 500]
        } else {
            &[1, 2]
        };
        for &per_call in sizes {
            let mut chained = Vec::new();
            let mut vcn = 0i64;
            loop {
                let (status, _, extents) =
                    retrieval_pointers(&mut s, h, vcn, 16 + 16 * per_call as u32);
                assert_eq!(extents.len(), per_call.min(full.len() - chained.len()));
                vcn = extents.last().unwrap().next_vcn as i64;
                chained.extend(extents);
                if status == NtStatus::SUCCESS {
                    break;
                }
                assert_eq!(status, NtStatus::BUFFER_OVERFLOW);
            }
            assert_eq!(chained, full, "{name} {path} by {per_call}");
        }
        s.close_handle(h);
        finish(s);
    }
}

/// A volume open is refused: the bad-cluster map NTFS answers there has no ext4 counterpart
/// kept as a stream (docs/requests.md).
#[test]
fn retrieval_pointers_on_a_volume_open() {
    let mut s = machine(&support::image("tiny-ext4"));
    let volume = open_ok(&mut s, "");
    assert_eq!(
        retrieval_pointers(&mut s, volume, 0, 4096).0,
        NtStatus::INVALID_PARAMETER
    );
    s.close_handle(volume);
    finish(s);
}
