//! The FSCTLs a defragmenter, a backup tool and `fsutil` ask (FSCTL_GET_RETRIEVAL_POINTERS, ...)
//! through rustfsd's dispatch, in the NT model with the verifier on, on real mke2fs images,
//! against debugfs.

mod support;

use std::path::Path;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::block_map::{Extent, debugfs_extents};
use support::machine::{as_backup_operator, finish, machine, open_ok, open_with};

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

/// An input shorter than its LARGE_INTEGER: INVALID_PARAMETER, nothing returned.
fn assert_short_inputs_refused(s: &mut Session, h: Handle, code: u32) {
    for input in 0..8usize {
        let io = s.fs_control_file(h, code, &vec![0; input], 4096);
        assert_eq!(
            (io.status, io.information),
            (NtStatus::INVALID_PARAMETER, 0),
            "input {input}"
        );
    }
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
        // Every file, root's mode-600 ones included: read as robocopy /B does.
        as_backup_operator(&mut s);
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
    assert_short_inputs_refused(&mut s, h, FSCTL_GET_RETRIEVAL_POINTERS);
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

const FSCTL_GET_VOLUME_BITMAP: u32 = 0x0009_006F;

/// FSCTL_GET_VOLUME_BITMAP from `lcn` with `length` bytes of output: status, Information, the
/// returned StartingLcn and BitmapSize, and the bitmap bytes.
fn volume_bitmap(
    s: &mut Session,
    h: Handle,
    lcn: i64,
    length: u32,
) -> (NtStatus, usize, u64, u64, Vec<u8>) {
    let io = s.fs_control_file(h, FSCTL_GET_VOLUME_BITMAP, &lcn.to_le_bytes(), length);
    if io.information == 0 {
        return (io.status, 0, 0, 0, Vec::new());
    }
    let data = &io.data[..io.information];
    (
        io.status,
        io.information,
        u64_at(data, 0),
        u64_at(data, 8),
        data[16..].to_vec(),
    )
}

/// The in-use bitmap of a whole image as dumpe2fs reads the block bitmaps (libext2fs computes
/// BLOCK_UNINIT groups itself): every block not listed free is in use. With bigalloc a free
/// range ends at the first block of its last cluster (`blocks_per_cluster`).
fn dumpe2fs_bitmap(image: &Path, blocks: u64, blocks_per_cluster: u64) -> Vec<u8> {
    let out = std::process::Command::new("dumpe2fs")
        .arg(image)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut bitmap = vec![0xFFu8; blocks.div_ceil(8) as usize];
    for line in text
        .lines()
        .filter_map(|l| l.strip_prefix("  Free blocks: "))
    {
        for range in line.split(", ").filter(|r| !r.is_empty()) {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let last = b.parse::<u64>().unwrap() + blocks_per_cluster - 1;
            for block in a.parse::<u64>().unwrap()..=last.min(blocks - 1) {
                bitmap[(block / 8) as usize] &= !(1 << (block % 8));
            }
        }
    }
    for block in blocks..bitmap.len() as u64 * 8 {
        bitmap[(block / 8) as usize] &= !(1 << (block % 8));
    }
    bitmap
}

/// The whole volume bitmap equals dumpe2fs's on images with written bitmaps, BLOCK_UNINIT
/// groups (ext4-1k, meta_bg), bigalloc clusters (one bit per block, the cluster's) and no
/// checksums; StartingLcn is rounded down to a multiple of 8 and BitmapSize counts from there.
#[test]
fn volume_bitmap_matches_dumpe2fs() {
    for name in [
        "ext2",
        "ext3",
        "ext4",
        "ext4-1k",
        "ext4-metabg",
        "ext4-bigalloc",
        "ext4-nocsum",
        "tiny-ext4",
    ] {
        let image = support::image(name);
        let volume = support::mount(name);
        let superblock = volume.superblock();
        let per_cluster = superblock.cluster_size / u64::from(superblock.block_size);
        let blocks = superblock.blocks_count;
        let expected = dumpe2fs_bitmap(&image, blocks, per_cluster);
        let mut s = machine(&image);
        let volume = open_ok(&mut s, "");
        let (status, information, start, size, bitmap) = volume_bitmap(&mut s, volume, 0, 1 << 20);
        assert_eq!(
            (status, information, start, size),
            (NtStatus::SUCCESS, 16 + expected.len(), 0, blocks),
            "{name}"
        );
        assert!(bitmap == expected, "{name}: the bitmaps differ");
        for lcn in [1i64, 7, 8, 9, 4097, blocks as i64 - 1]
            .into_iter()
            .filter(|&lcn| lcn < blocks as i64)
        {
            let (status, _, start, size, bitmap) = volume_bitmap(&mut s, volume, lcn, 1 << 20);
            let rounded = lcn as u64 & !7;
            assert_eq!(
                (status, start, size),
                (NtStatus::SUCCESS, rounded, blocks - rounded),
                "{name} {lcn}"
            );
            assert!(
                bitmap == expected[(rounded / 8) as usize..],
                "{name} from {lcn}"
            );
        }
        s.close_handle(volume);
        finish(s);
    }
}

/// The buffer rules (FastFAT's FatGetVolumeBitmap): only a volume open; an input shorter than
/// STARTING_LCN_INPUT_BUFFER, a negative StartingLcn or one past the last cluster
/// INVALID_PARAMETER; an output under sizeof(VOLUME_BITMAP_BUFFER) BUFFER_TOO_SMALL; every
/// size from there the bytes that fit, BUFFER_OVERFLOW until all do.
#[test]
fn volume_bitmap_buffer_rules() {
    let image = support::image("tiny-ext4");
    let blocks = support::mount("tiny-ext4").superblock().blocks_count;
    let mut s = machine(&image);
    let volume = open_ok(&mut s, "");
    let (_, _, _, _, full) = volume_bitmap(&mut s, volume, 0, 1 << 16);
    assert_short_inputs_refused(&mut s, volume, FSCTL_GET_VOLUME_BITMAP);
    for lcn in [-1i64, -8, blocks as i64, i64::MAX] {
        assert_eq!(
            volume_bitmap(&mut s, volume, lcn, 4096).0,
            NtStatus::INVALID_PARAMETER,
            "{lcn}"
        );
    }
    for length in 0..=16 + full.len() as u32 + 9 {
        let (status, information, start, size, bitmap) = volume_bitmap(&mut s, volume, 0, length);
        if length < 24 {
            assert_eq!(
                (status, information),
                (NtStatus::BUFFER_TOO_SMALL, 0),
                "length {length}"
            );
            continue;
        }
        let fit = (length as usize - 16).min(full.len());
        assert_eq!((start, size), (0, blocks));
        assert_eq!(bitmap, full[..fit], "length {length}");
        let expected = if fit == full.len() {
            NtStatus::SUCCESS
        } else {
            NtStatus::BUFFER_OVERFLOW
        };
        assert_eq!(status, expected, "length {length}");
    }
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(
        volume_bitmap(&mut s, file, 0, 4096).0,
        NtStatus::INVALID_PARAMETER
    );
    s.close_handle(file);
    s.close_handle(volume);
    finish(s);
}

/// A block bitmap whose checksum does not match (metadata_csum) is FILE_CORRUPT_ERROR, as
/// every corrupt metadata block is; the volume stays usable.
#[test]
fn volume_bitmap_with_a_corrupt_bitmap() {
    let path = support::cache_dir().join(format!("corrupt-bitmap-{}.img", std::process::id()));
    std::fs::copy(support::image("tiny-ext4"), &path).unwrap();
    let stats = support::debugfs(&path, &["stats".to_owned()]);
    let text = String::from_utf8_lossy(&stats[0]);
    let bitmap_block: u64 = text
        .split("block bitmap at ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no block bitmap in {text}"));
    let block_size = u64::from(support::mount("tiny-ext4").block_size());
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut byte = [0u8; 1];
        let at = bitmap_block * block_size + 40;
        f.read_exact_at(&mut byte, at).unwrap();
        f.write_all_at(&[byte[0] ^ 0x10], at).unwrap();
    }
    let mut s = machine(&path);
    let volume = open_ok(&mut s, "");
    assert_eq!(
        volume_bitmap(&mut s, volume, 0, 4096).0,
        NtStatus::FILE_CORRUPT_ERROR
    );
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(whole_map(&mut s, file).map(|e| e.len()), Some(1));
    s.close_handle(file);
    s.close_handle(volume);
    finish(s);
    let _ = std::fs::remove_file(&path);
}

const FSCTL_QUERY_PERSISTENT_VOLUME_STATE: u32 = 0x0009_023C;

/// FSCTL_QUERY_PERSISTENT_VOLUME_STATE (Learn's statuses): on a volume open with a Version 1
/// FILE_FS_PERSISTENT_VOLUME_INFORMATION, VolumeFlags = SHORT_NAME_CREATION_DISABLED (ext4 has
/// no 8.3 names); another Version NOT_SUPPORTED; an input or output under 16 bytes
/// BUFFER_TOO_SMALL; a file handle INVALID_PARAMETER.
#[test]
fn query_persistent_volume_state() {
    let mut s = machine(&support::image("tiny-ext4"));
    let volume = open_ok(&mut s, "");
    let mut input = [0u8; 16];
    input[8] = 1;
    let io = s.fs_control_file(volume, FSCTL_QUERY_PERSISTENT_VOLUME_STATE, &input, 16);
    assert_eq!((io.status, io.information), (NtStatus::SUCCESS, 16));
    assert_eq!((u32_at(&io.data, 0), u32_at(&io.data, 8)), (1, 1));
    for (input_length, output) in [(15usize, 16u32), (16, 15), (0, 0)] {
        let io = s.fs_control_file(
            volume,
            FSCTL_QUERY_PERSISTENT_VOLUME_STATE,
            &input[..input_length],
            output,
        );
        assert_eq!(
            (io.status, io.information),
            (NtStatus::BUFFER_TOO_SMALL, 0),
            "{input_length} {output}"
        );
    }
    let mut version_2 = input;
    version_2[8] = 2;
    let io = s.fs_control_file(volume, FSCTL_QUERY_PERSISTENT_VOLUME_STATE, &version_2, 16);
    assert_eq!(io.status, NtStatus::NOT_SUPPORTED);
    let file = open_ok(&mut s, "\\hello.txt");
    let io = s.fs_control_file(file, FSCTL_QUERY_PERSISTENT_VOLUME_STATE, &input, 16);
    assert_eq!(io.status, NtStatus::INVALID_PARAMETER);
    s.close_handle(file);
    s.close_handle(volume);
    finish(s);
}

/// FSCTLs the driver does not answer are INVALID_DEVICE_REQUEST on volume, file and directory
/// opens (FastFAT's FatUserFsCtrl default), whatever their METHOD_*: object IDs, USN journal,
/// sparse and compression queries, a made-up code.
#[test]
fn unknown_fsctls_are_invalid_device_requests() {
    let mut s = machine(&support::image("tiny-ext4"));
    let handles = [
        open_ok(&mut s, ""),
        open_ok(&mut s, "\\hello.txt"),
        open_ok(&mut s, "\\dir"),
    ];
    // FSCTL_GET_OBJECT_ID, FSCTL_QUERY_USN_JOURNAL, FSCTL_QUERY_ALLOCATED_RANGES,
    // FSCTL_GET_COMPRESSION, FSCTL_GET_NTFS_VOLUME_DATA, and codes of each METHOD_* no FSCTL uses.
    for code in [
        0x0009_009Cu32,
        0x0009_00F4,
        0x0009_40CF,
        0x0009_003C,
        0x0009_0064,
        0x0009_3FFC,
        0x0009_3FFD,
        0x0009_3FFE,
        0x0009_3FFF,
    ] {
        for &h in &handles {
            let io = s.fs_control_file(h, code, &[0; 16], 64);
            assert_eq!(
                (io.status, io.information),
                (NtStatus::INVALID_DEVICE_REQUEST, 0),
                "{code:#x}"
            );
        }
    }
    for h in handles {
        s.close_handle(h);
    }
    finish(s);
}
