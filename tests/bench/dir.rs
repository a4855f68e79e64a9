//! `cargo bench --bench dir`: enumerating the 100 000-entry directory of the `bigdir` image
//! through rustfsd's dispatch (NtQueryDirectoryFile in 64 KiB buffers, in the NT model with the
//! verifier on) against the same work done by the ext4 layer alone (a `DirReader` over the image
//! in memory, plus an inode read per entry for the classes that carry metadata), side by side in
//! one run. Prints a markdown table and writes it to `<target>/dir-bench.md` (copied into
//! docs/performance.md). The goal (dispatch ≥ 0.5× the layer for what `dir` asks,
//! FileIdBothDirectoryInformation) is read from the table, not asserted: timings on a shared
//! machine are not a test.

#[path = "../support/mod.rs"]
mod support;

use std::fmt::Write as _;

use std::time::{Duration, Instant};

use rustfsd::kernel::NtStatus;
use support::machine::{finish, machine, open_ok};

const NAMES: u32 = 12;
const ID_BOTH_DIRECTORY: u32 = 37;

fn best_of(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let started = Instant::now();
        count = f();
        best = best.min(started.elapsed());
    }
    (best, count)
}

fn main() {
    let image = support::image("bigdir");
    let mut s = machine(&image);
    s.set_trace_enabled(false);
    // The layer reads the image from memory, as the model's disk serves it.
    let bytes = std::fs::read(&image).unwrap();
    let volume = rustfsd::ext4::Volume::mount(rustfsd::ext4::MemDevice(bytes)).unwrap();
    let root = volume.root().unwrap();
    let big = volume
        .inode(volume.lookup(&root, b"big").unwrap().ino)
        .unwrap();
    let mut table = String::from(
        "| class | ext4 layer alone | through dispatch | ratio |\n|---|---:|---:|---:|\n",
    );
    for class in [NAMES, ID_BOTH_DIRECTORY] {
        let with_inodes = class != NAMES;
        let layer = |volume: &rustfsd::ext4::Volume<rustfsd::ext4::MemDevice<Vec<u8>>>| {
            let mut reader = volume.read_dir(&big, 0).unwrap();
            let mut n = 0;
            while let Some(entry) = reader.next_entry().unwrap() {
                if with_inodes {
                    let inode = volume.inode(entry.ino).unwrap();
                    std::hint::black_box(volume.stat(&inode));
                }
                n += 1;
            }
            n
        };
        let mut dispatch = || {
            let dir = open_ok(&mut s, "\\big");
            let mut n = 0;
            loop {
                let outcome = s.query_directory_file(dir, class, 65536, None, false, false);
                if outcome.status == NtStatus::NO_MORE_FILES {
                    break;
                }
                assert_eq!(outcome.status, NtStatus::SUCCESS);
                let mut at = 0;
                loop {
                    n += 1;
                    let next = u32::from_le_bytes(outcome.data[at..at + 4].try_into().unwrap());
                    if next == 0 {
                        break;
                    }
                    at += next as usize;
                }
            }
            s.close_handle(dir);
            n
        };
        // Interleaved, best of three each.
        let mut layer_best = (Duration::MAX, 0);
        let mut dispatch_best = (Duration::MAX, 0);
        for _ in 0..3 {
            let l = best_of(1, || layer(&volume));
            let d = best_of(1, &mut dispatch);
            layer_best = (layer_best.0.min(l.0), l.1);
            dispatch_best = (dispatch_best.0.min(d.0), d.1);
        }
        // The layer yields `.` and `..` too; the dispatch lists them as well.
        assert_eq!(dispatch_best.1, layer_best.1);
        assert!(layer_best.1 >= support::BIGDIR_ENTRIES);
        let rate = |(t, n): (Duration, usize)| n as f64 / t.as_secs_f64();
        let ratio = rate(dispatch_best) / rate(layer_best);
        let _ = writeln!(
            table,
            "| {} | {:.0} entries/s | {:.0} entries/s | {ratio:.2} |",
            if with_inodes {
                "FileIdBothDirectoryInformation"
            } else {
                "FileNamesInformation"
            },
            rate(layer_best),
            rate(dispatch_best),
        );
    }
    finish(s);
    print!("{table}");
    let out = support::cache_dir().join("../dir-bench.md");
    std::fs::write(&out, &table).unwrap();
    println!("written to {}", out.display());
}
