//! The cache manager's read-ahead through rustfsd, against the NT model with the verifier on,
//! on a real mke2fs image: sequential cached reads schedule read-ahead on the worker, which
//! calls rustfsd's AcquireForReadAhead (the FCB's resource shared, the top-level IRP marked as
//! the cache manager's), sends paging reads for the next granule and releases; and Ext4Fsd's
//! CACHE_MANAGER (0x34) crash scenario: CLEANUP racing the lazy writer's deferred deletion of
//! the shared cache map, a read-ahead and a purge (dismount), over many seeds, each order
//! required to occur.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::machine::{dismount, finish, machine, open_file};
use support::walk::dumped_files;

const CHUNK: u32 = 16 * 1024;

/// The largest file of the ext4 image, and its bytes as debugfs dumps them.
fn largest_file() -> (std::path::PathBuf, String, Vec<u8>) {
    let image = support::image("ext4");
    let (path, bytes) = dumped_files(&image)
        .into_iter()
        .max_by_key(|(_, bytes)| bytes.len())
        .expect("files in the image");
    assert!(
        bytes.len() >= 4 * CHUNK as usize,
        "{path}: {} bytes",
        bytes.len()
    );
    (image, path, bytes)
}

fn read_chunk(s: &mut Session, h: Handle, at: usize, expected: &[u8]) {
    let io = s.read_file(h, Some(at as u64), CHUNK);
    assert_eq!(io.status, NtStatus::SUCCESS, "read at {at}");
    let end = (at + CHUNK as usize).min(expected.len());
    assert!(io.data == expected[at..end], "bytes at {at} differ");
}

#[test]
fn sequential_reads_are_read_ahead_under_the_fcb_resource() {
    let (image, path, expected) = largest_file();
    let mut s = machine(&image);
    let h = open_file(&mut s, &path, false);
    read_chunk(&mut s, h, 0, &expected);
    assert_eq!(
        s.read_ahead_counters().scheduled,
        1,
        "first read at 0 is sequential"
    );
    // The read-ahead runs on the worker: AcquireForReadAhead, paging reads, release.
    assert!(s.run_worker() > 0);
    let counters = s.read_ahead_counters();
    assert_eq!(counters.performed + counters.refused, 1, "{counters:?}");
    let trace = s.trace().join("\n");
    assert!(trace.contains("AcquireForReadAhead"), "{trace}");
    if counters.performed == 1 {
        assert!(counters.paging_reads > 0, "{counters:?}");
        // The next chunk is cached already: its read sends no paging read.
        let (paging_before, ..) = s.cache_counters();
        read_chunk(&mut s, h, CHUNK as usize, &expected);
        let (paging_after, ..) = s.cache_counters();
        assert_eq!(
            paging_before, paging_after,
            "read-ahead did not cache the next chunk"
        );
    }
    // A read elsewhere is not sequential: nothing more is scheduled for it.
    let scheduled = s.read_ahead_counters().scheduled;
    read_chunk(&mut s, h, 3 * CHUNK as usize, &expected);
    read_chunk(&mut s, h, 0, &expected);
    assert!(s.read_ahead_counters().scheduled <= scheduled + 1);
    s.close_handle(h);
    finish(s);
}

/// Ext4Fsd's CACHE_MANAGER (0x34) bugcheck in CcUninitializeCacheMap came from tearing down a
/// cache map that the lazy writer and read-ahead were still using. Here CLEANUP (with its
/// CcUninitializeCacheMap wait), a queued read-ahead, the lazy writer's deferred deletion and a
/// dismount's purge run in every order the seeds give; every run must be clean and every order
/// must occur.
#[test]
fn cleanup_lazy_writer_read_ahead_and_purge_race_over_many_seeds() {
    let (image, path, expected) = largest_file();
    let seeds = 300;
    let (mut ahead_before_cleanup, mut ahead_after_cleanup) = (0, 0);
    let (mut deleted_inline, mut deleted_lazily) = (0, 0);
    let (mut purge_before_cleanup, mut purge_after_cleanup) = (0, 0);
    let (mut waited_false_refused, mut held_alive) = (0, 0);
    for seed in 0..seeds {
        let mut s = machine(&image);
        s.set_trace_enabled(false);
        s.set_choice_seed(seed * 7919 + 1);
        let h = open_file(&mut s, &path, false);
        let second = open_file(&mut s, &path, false);
        read_chunk(&mut s, h, 0, &expected);
        read_chunk(&mut s, second, 0, &expected);
        read_chunk(&mut s, h, CHUNK as usize, &expected);
        if seed % 2 == 0 {
            // The worker runs before the CLEANUP: the read-ahead is done by then.
            s.run_one_work_item();
            ahead_before_cleanup += 1;
        } else {
            ahead_after_cleanup += 1;
        }
        let purge_first = seed % 4 >= 2;
        if purge_first {
            dismount(&mut s);
            purge_before_cleanup += 1;
        } else {
            purge_after_cleanup += 1;
        }
        assert_eq!(s.close_handle(h), NtStatus::SUCCESS, "seed {seed}");
        assert_eq!(s.close_handle(second), NtStatus::SUCCESS, "seed {seed}");
        let counters = s.read_ahead_counters();
        waited_false_refused += counters.refused;
        held_alive += counters.held_map_alive;
        let (_, inline, lazily, _) = s.cache_counters();
        deleted_inline += inline;
        deleted_lazily += lazily;
        let findings = s.findings();
        assert!(findings.is_empty(), "seed {seed}: {findings:#?}");
        finish(s);
    }
    eprintln!(
        "{seeds} seeds: read-ahead before/after CLEANUP {ahead_before_cleanup}/{ahead_after_cleanup}, \
         held the map alive {held_alive}, refused {waited_false_refused}; shared map deleted \
         inline/lazily {deleted_inline}/{deleted_lazily}; purge before/after CLEANUP \
         {purge_before_cleanup}/{purge_after_cleanup}"
    );
    for (what, count) in [
        ("read-ahead before CLEANUP", ahead_before_cleanup),
        ("read-ahead after CLEANUP", ahead_after_cleanup),
        (
            "read-ahead holding the shared map past the last private map",
            held_alive,
        ),
        (
            "shared map deleted inside CcUninitializeCacheMap",
            deleted_inline,
        ),
        ("shared map deleted by the lazy writer", deleted_lazily),
        ("purge before CLEANUP", purge_before_cleanup),
        ("purge after CLEANUP", purge_after_cleanup),
    ] {
        assert!(count > 0, "{what} never happened");
    }
}
