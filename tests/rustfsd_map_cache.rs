//! The FCB's block map cache (`Fcb::take_map_cache`, ext4 `MapCache`): a file read in order
//! through dispatch, cached (Cc's paging reads) and non-cached, reads each extent tree block
//! about once per pass, not once per request or per run, counted by FSCTL_FILESYSTEM_GET_STATISTICS's
//! metadata disk reads in the NT model with the verifier on; the bytes equal debugfs's dump.
//! Before the cache every paging or non-cached read built a new reader that walked the tree
//! again: `/fragmented` (1500 extents, depth 2) cost 6 000 metadata reads a pass.

mod support;

use std::path::Path;
use std::process::Command;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{DriverDescriptor, Handle, Session};
use support::machine::{DISK_NAME, disk, finish, open_file, open_ok, read_all};

const FSCTL_FILESYSTEM_GET_STATISTICS: u32 = 0x0009_0060;
/// One processor's FILESYSTEM_STATISTICS entry, padded, and where MetaDataDiskReads is in it.
const ENTRY: usize = 64;
const METADATA_DISK_READS: usize = 40;

/// MetaDataDiskReads summed over the processors.
fn metadata_disk_reads(s: &mut Session, volume: Handle) -> u64 {
    let io = s.fs_control_file(volume, FSCTL_FILESYSTEM_GET_STATISTICS, &[], 4096);
    assert_eq!(io.status, NtStatus::SUCCESS);
    io.data[..io.information]
        .chunks(ENTRY)
        .map(|entry| {
            let at = &entry[METADATA_DISK_READS..METADATA_DISK_READS + 4];
            u64::from(u32::from_le_bytes(at.try_into().unwrap()))
        })
        .sum()
}

/// The blocks of `path`'s extent tree outside the inode (index and leaf blocks), from the
/// node lines of debugfs's `ex`: every line above the leaf level names one such block.
fn extent_tree_blocks(image: &Path, path: &str) -> u64 {
    let out = Command::new("debugfs")
        .args(["-R", &format!("ex {path}")])
        .arg(image)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|line| {
            let (level, depth) = line.trim_start().split_once('/')?;
            let depth = depth.split_whitespace().next()?;
            Some((level.parse::<u32>().ok()?, depth.parse::<u32>().ok()?))
        })
        .filter(|(level, depth)| level < depth)
        .count() as u64
}

/// What debugfs's `dump` writes for `path`.
fn dumped(image: &Path, path: &str) -> Vec<u8> {
    let file = format!(
        "rustfsd-map-cache-{}{}",
        std::process::id(),
        path.replace('/', "-")
    );
    let out = std::env::temp_dir().join(file);
    let status = Command::new("debugfs")
        .args(["-R", &format!("dump {path} {}", out.display())])
        .arg(image)
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    bytes
}

/// Reads `path` of image `name` whole, cached in `cached_chunk` requests and non-cached in
/// 64 KiB ones, each pass through a handle of its own; each pass may read every extent tree
/// block twice at most (a leaf is reached again through its index block), whatever the number
/// of requests and runs.
fn one_walk_of_the_tree_per_pass(name: &str, path: &str, cached_chunk: u32) {
    let image = support::image(name);
    let tree_blocks = extent_tree_blocks(&image, path);
    assert!(tree_blocks >= 2, "{name} {path}: a tree outside the inode");
    let expected = dumped(&image, path);
    let mut s = Session::new();
    s.add_disk(DISK_NAME, disk(&image));
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    s.set_trace_enabled(false);
    let volume = open_ok(&mut s, "");
    let nt_path = path.replace('/', "\\");
    for (non_cached, chunk) in [(false, cached_chunk), (true, 65_536)] {
        let h = open_file(&mut s, &nt_path, non_cached);
        let before = metadata_disk_reads(&mut s, volume);
        let got = read_all(&mut s, h, chunk, path);
        let reads = metadata_disk_reads(&mut s, volume) - before;
        assert!(
            got == expected,
            "{name} {path}: bytes differ from debugfs dump"
        );
        assert!(
            reads <= 2 * tree_blocks,
            "{name} {path} (non-cached {non_cached}): {reads} metadata disk reads for a tree \
             of {tree_blocks} blocks"
        );
        s.close_handle(h);
    }
    s.close_handle(volume);
    s.run_worker();
    finish(s);
}

#[test]
fn a_depth_2_tree_is_read_once_per_pass() {
    // 1500 one-block extents and 1500 holes, 5 leaves under an index block, 4 KiB blocks.
    one_walk_of_the_tree_per_pass("ext4", "/fragmented", 4096);
}

#[test]
fn a_depth_1_tree_on_1k_blocks_is_read_once_per_pass() {
    // 100 one-block extents on 1 KiB blocks: two leaves.
    one_walk_of_the_tree_per_pass("tiny-ext4", "/frag", 1024);
}
