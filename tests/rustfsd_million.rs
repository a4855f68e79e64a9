//! A million creates: open and close 1 000 000 times across the 10 000 files of the
//! `lifecycle` image. The delayed-close queue is capped, so the FCBs alive and the pool in use
//! stay bounded however many opens there were; unload afterwards finds no leak.
//!
//! `RUSTFSD_CREATES=N` changes the count (default 1 000 000). The figures are printed (run
//! with `--nocapture`) and quoted in docs/performance.md.

mod support;

use std::time::Instant;

use support::LIFECYCLE_DIRS;
use support::LIFECYCLE_FILES_PER_DIR;
use support::lifecycle_file;
use support::machine::{finish, live_fcbs, machine, open_ok};

#[test]
fn a_million_creates_stay_bounded() {
    let creates: usize = std::env::var("RUSTFSD_CREATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let files = LIFECYCLE_DIRS * LIFECYCLE_FILES_PER_DIR;
    let mut s = machine(&support::image("lifecycle"));
    s.set_trace_enabled(false);
    let limit = rustfsd::driver::DEFAULT_DELAYED_CLOSE_LIMIT as usize;
    let started = Instant::now();
    let mut peak_fcbs = 0;
    let mut checkpoints = Vec::new();
    for i in 0..creates {
        // A stride that is coprime with the file count visits every file in a scattered order.
        let file = (i * 7919) % files;
        let handle = open_ok(&mut s, &lifecycle_file(file));
        peak_fcbs = peak_fcbs.max(live_fcbs(&s));
        s.close_handle(handle);
        if (i + 1) % (creates / 10).max(1) == 0 {
            checkpoints.push((
                i + 1,
                s.pool_blocks(),
                s.pool_bytes(),
                live_fcbs(&s),
                resident_kib(),
            ));
        }
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{creates} creates over {files} files in {:.1} s ({:.2} µs per open+close)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / creates as f64
    );
    eprintln!(
        "peak pool: {} bytes; peak FCBs: {peak_fcbs}",
        s.pool_peak_bytes()
    );
    for (done, blocks, bytes, fcbs, rss) in &checkpoints {
        eprintln!(
            "after {done:>8} creates: {blocks} pool blocks, {bytes} bytes, {fcbs} FCBs; \
             test process resident {rss} KiB"
        );
    }
    // The volume, root, `files`, the ten `dNN` directories, the open file, and at most
    // `limit` idle FCBs.
    let bound = 3 + LIFECYCLE_DIRS + 1 + limit;
    assert!(peak_fcbs <= bound, "peak {peak_fcbs} FCBs, bound {bound}");
    // Memory does not grow after the first pass over the files.
    if let (Some(first), Some(last)) = (checkpoints.first(), checkpoints.last()) {
        assert!(
            last.2 <= first.2,
            "pool grew from {} to {} bytes",
            first.2,
            last.2
        );
        // Nor does the whole test process, model included (this caught a host-memory leak of
        // one CCB per open in the model's FsContext2 handling).
        assert!(
            last.4 <= first.4 + 4 * 1024,
            "resident memory grew from {} to {} KiB",
            first.4,
            last.4
        );
    }
    finish(s);
}

/// The test process's resident set (VmRSS), in KiB.
fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
