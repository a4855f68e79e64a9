//! CcSetReadAheadGranularity through rustfsd, against the NT model with the verifier on, on a
//! real mke2fs image: rustfsd sets 64 KiB on every FILE_OBJECT it caches, as FastFAT and CDFS
//! do (READ_AHEAD_GRANULARITY), so small sequential cached reads are read ahead in 64 KiB
//! granules: a 1 MiB file read in 4 KiB requests, the read-ahead running between them, costs
//! about 16 paging reads, not one per page. Before the call, the default granularity
//! (PAGE_SIZE) gave one per page.

mod support;

use rustfsd::kernel::NtStatus;
use support::machine::{finish, machine, open_file};
use support::walk::dumped_files;

#[test]
fn small_sequential_reads_are_read_ahead_in_64k_granules() {
    let image = support::image("ext4");
    let expected = dumped_files(&image)
        .into_iter()
        .find(|(path, _)| path == "\\random-1m")
        .expect("random-1m in the image")
        .1;
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    let h = open_file(&mut s, "\\random-1m", false);
    let (paging_before, ..) = s.cache_counters();
    // 4 KiB at a time, the worker (Cc's read-ahead) running between the requests.
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let io = s.read_file(h, Some(got.len() as u64), 4096);
        assert_eq!(io.status, NtStatus::SUCCESS, "read at {}", got.len());
        got.extend_from_slice(&io.data);
        s.run_worker();
    }
    let (paging_after, ..) = s.cache_counters();
    assert!(got == expected, "bytes differ from debugfs dump");
    let granules = (expected.len() as u64).div_ceil(64 << 10);
    let paging_reads = paging_after - paging_before;
    assert!(
        paging_reads <= 2 * granules,
        "{paging_reads} paging reads for {granules} granules of 64 KiB: {:?}",
        s.read_ahead_counters()
    );
    s.close_handle(h);
    finish(s);
}
