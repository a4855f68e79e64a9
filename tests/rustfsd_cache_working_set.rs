//! The system cache's working-set limit (`Session::set_cache_working_set_limit`, default
//! 64 MiB; docs/nt-model.md, "Cache manager"), through rustfsd's cached reads on real mke2fs
//! images with the verifier on: the cache keeps every page read until it is past the limit
//! (no trim before), never holds more than the limit (the oldest runs go first), and a
//! raised limit keeps a whole file that the default one cannot, so a second pass over it
//! makes no paging read. Contents are compared with debugfs.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::machine::{finish, machine, open_file};

const MIB: usize = 1 << 20;
/// The request size, and the most one paging read brings in (16 pages).
const CHUNK: usize = 64 << 10;

/// `path`'s bytes as debugfs reads them.
fn debugfs_cat(image: &std::path::Path, path: &str) -> Vec<u8> {
    support::debugfs(image, &[format!("cat {}", support::dq(path.as_bytes()))])
        .pop()
        .unwrap()
}

fn paging_reads(s: &Session) -> u64 {
    s.cache_counters().0
}

/// Reads `path` through a new cached handle in 64 KiB requests, the worker (Cc's read-ahead)
/// running after each. After each request the working set must be within the limit and
/// hold at least every byte read so far, up to the limit less one paging read's run (what a
/// trim of the oldest runs may leave below it). Returns the handle and the bytes.
fn read_checking_working_set(s: &mut Session, path: &str) -> (Handle, Vec<u8>) {
    let handle = open_file(s, path, false);
    let (before, limit) = s.cache_working_set();
    let mut data = Vec::new();
    loop {
        let io = s.read_file(handle, Some(data.len() as u64), CHUNK as u32);
        if io.status == NtStatus::END_OF_FILE {
            return (handle, data);
        }
        assert_eq!(io.status, NtStatus::SUCCESS, "{path} at {}", data.len());
        data.extend_from_slice(&io.data);
        s.run_worker();
        let (bytes, _) = s.cache_working_set();
        assert!(
            bytes <= limit,
            "{path}: {bytes} bytes cached past the {limit}-byte limit"
        );
        let least = (before + data.len()).min(limit - CHUNK);
        assert!(
            bytes >= least,
            "{path}: {bytes} bytes cached after reading {}: trimmed before the {limit}-byte limit",
            data.len()
        );
    }
}

/// Paging reads made by reading `length` bytes at `offset` through `handle` (the bytes must
/// match `expected`).
fn reread(s: &mut Session, handle: Handle, offset: usize, length: usize, expected: &[u8]) -> u64 {
    let before = paging_reads(s);
    let mut at = offset;
    while at < offset + length {
        let io = s.read_file(
            handle,
            Some(at as u64),
            CHUNK.min(offset + length - at) as u32,
        );
        assert_eq!(io.status, NtStatus::SUCCESS, "reread at {at}");
        assert!(io.data == expected[at..at + io.data.len()], "bytes at {at}");
        at += io.data.len();
    }
    paging_reads(s) - before
}

/// After a sequential pass over a file larger than the limit: its last MiB (the newest runs)
/// is still cached, its first 64 KiB (the oldest) is not.
fn assert_oldest_trimmed(s: &mut Session, handle: Handle, expected: &[u8]) {
    let tail = expected.len() - MIB;
    assert_eq!(reread(s, handle, tail, MIB, expected), 0, "the newest went");
    assert!(
        reread(s, handle, 0, CHUNK, expected) > 0,
        "the oldest stayed"
    );
}

/// A machine whose cache working-set limit is `limit` (the default if `None`), after one
/// checked pass over `/sparse-far` of ext4-1k (81 MiB): the session, the handle still open,
/// and the file's bytes.
fn sparse_far_pass(limit: Option<usize>) -> (Session, Handle, Vec<u8>) {
    let image = support::image("ext4-1k");
    let expected = debugfs_cat(&image, "/sparse-far");
    assert_eq!(expected.len(), 81 * MIB);
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    if let Some(limit) = limit {
        s.set_cache_working_set_limit(limit);
    }
    let (h, data) = read_checking_working_set(&mut s, "\\sparse-far");
    assert!(data == expected, "bytes differ from debugfs cat");
    (s, h, expected)
}

/// The default limit, 64 MiB, met by an 81 MiB file: the file's start is trimmed, its end
/// stays.
#[test]
fn default_limit_trims_past_64_mib_not_before() {
    let (mut s, h, expected) = sparse_far_pass(None);
    assert_eq!(s.cache_working_set().1, 64 * MIB, "the default limit");
    assert_oldest_trimmed(&mut s, h, &expected);
    s.close_handle(h);
    finish(s);
}

/// Raised above the file's size, the limit keeps the whole file: a second pass makes no
/// paging read. Lowered back, the cache trims at once, oldest first.
#[test]
fn raised_limit_keeps_the_whole_file() {
    let (mut s, h, expected) = sparse_far_pass(Some(128 * MIB));
    assert!(s.cache_working_set().0 >= expected.len());
    assert_eq!(reread(&mut s, h, 0, expected.len(), &expected), 0);

    s.set_cache_working_set_limit(64 * MIB);
    let (bytes, limit) = s.cache_working_set();
    assert!(
        bytes <= limit && bytes > limit - CHUNK,
        "{bytes} after the trim"
    );
    assert_oldest_trimmed(&mut s, h, &expected);
    s.close_handle(h);
    finish(s);
}

/// Lowered to 2 MiB: an 8 MiB file is trimmed past it, and a 1 MiB file read after it stays
/// whole (its runs are the newest).
#[test]
fn lowered_limit_trims_past_it() {
    let image = support::image("ext4");
    let sparse = debugfs_cat(&image, "/sparse");
    let random = debugfs_cat(&image, "/random-1m");
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    s.set_cache_working_set_limit(2 * MIB);
    let (h_sparse, data) = read_checking_working_set(&mut s, "\\sparse");
    assert!(data == sparse, "/sparse differs from debugfs cat");
    let (h_random, data) = read_checking_working_set(&mut s, "\\random-1m");
    assert!(data == random, "/random-1m differs from debugfs cat");
    assert_eq!(reread(&mut s, h_random, 0, MIB, &random), 0);
    assert!(reread(&mut s, h_sparse, 0, CHUNK, &sparse) > 0);
    s.close_handle(h_sparse);
    s.close_handle(h_random);
    finish(s);
}
