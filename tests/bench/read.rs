//! `cargo bench --bench read`: IRP_MJ_READ through rustfsd's dispatch and the NT model's cache
//! manager against raw `pread` of the same physical byte ranges of the same image, side by side
//! in one run. Prints a markdown table and writes it to `<target>/read-bench.md` (copied into
//! docs/performance.md).
//!
//! Environment:
//! - `RUSTFSD_BENCH_LARGE_MIB` (default 1024): size of the large file.
//! - `RUSTFSD_BENCH_QUICK=1`: one pass instead of three; `RUSTFSD_BENCH_PASSES=N`: N passes.
//! - `RUSTFSD_BENCH_ONLY=cached|warm|noncached|random`: that measurement alone (for
//!   profiling). `cached` is the cold row (a new handle per pass, every page a paging read);
//!   `warm` reads through one handle after an untimed pass brought the file in.
//! - `RUSTFSD_BENCH_WARM_MIB=N`: the warm row reads the file's first N MiB only (default:
//!   the whole file).

#[path = "../support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::Session;
use support::machine::{DISK, machine};

const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x8;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;

/// The whole file through CREATE + READ (`chunk` bytes per read) + CLEANUP/CLOSE. Returns the
/// bytes read.
fn through_dispatch(s: &mut Session, path: &str, chunk: u32, non_cached: bool) -> u64 {
    let pid = s.initial_process();
    let mut request =
        rustfsd::kernel::model::harness::session::CreateRequest::open(&format!("{DISK}{path}"));
    request.options = FILE_SYNCHRONOUS_IO_NONALERT
        | FILE_NON_DIRECTORY_FILE
        | if non_cached {
            FILE_NO_INTERMEDIATE_BUFFERING
        } else {
            0
        };
    let handle = s.nt_create_file(pid, &request).handle.expect("open");
    let mut offset = 0u64;
    loop {
        let io = s.read_file(handle, Some(offset), chunk);
        if io.status == NtStatus::END_OF_FILE {
            break;
        }
        assert_eq!(io.status, NtStatus::SUCCESS);
        black_box(&io.data);
        offset += io.information as u64;
    }
    s.close_handle(handle);
    offset
}

/// The same bytes with `pread` of their physical ranges, `chunk` bytes per read.
fn through_pread(raw: &File, chunks: &[Vec<(u64, usize)>], buf: &mut [u8]) -> u64 {
    let mut total = 0;
    for pieces in chunks {
        let mut at = 0;
        for &(phys, n) in pieces {
            raw.read_exact_at(&mut buf[at..at + n], phys).unwrap();
            at += n;
        }
        black_box(&buf[..at]);
        total += at as u64;
    }
    total
}

/// 4 KiB non-cached reads at random page-aligned offsets in the first and the last MiB of the
/// file, through one handle: the table line comparing the median per read near the end with
/// the one near 0.
fn random_reads(s: &mut Session, size: u64, big_mib: u64) -> String {
    let pid = s.initial_process();
    let mut request =
        rustfsd::kernel::model::harness::session::CreateRequest::open(&format!("{DISK}\\filebig"));
    request.options =
        FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE | FILE_NO_INTERMEDIATE_BUFFERING;
    let handle = s.nt_create_file(pid, &request).handle.expect("open");
    let mut rng = support::Rng(7);
    let mut median = |base: u64| {
        let mut times = Vec::new();
        for _ in 0..5000 {
            let offset = base + rng.below(256) * 4096;
            let t = Instant::now();
            let io = s.read_file(handle, Some(offset), 4096);
            times.push(t.elapsed());
            assert_eq!(io.status, NtStatus::SUCCESS);
        }
        times.sort();
        times[times.len() / 2]
    };
    let near_zero = median(0);
    let near_end = median(size - (1 << 20));
    let line = format!(
        "| 4 KiB random non-cached reads, last MiB vs first MiB of a {big_mib} MiB file (median) \
         | {:.1} µs | {:.1} µs | {:.2}× |",
        near_end.as_secs_f64() * 1e6,
        near_zero.as_secs_f64() * 1e6,
        near_end.as_secs_f64() / near_zero.as_secs_f64()
    );
    s.close_handle(handle);
    line
}

/// Room in the cache's working set beyond the warm range (other streams' pages).
const WARM_SLACK: usize = 64 << 20;

/// 64 KiB cached reads of the file's first `warm_mib` MiB (the whole file unless
/// RUSTFSD_BENCH_WARM_MIB says less) through one open handle, after an untimed pass that
/// brought them into the cache: every timed read is a cache hit (asserted: no paging read),
/// as every `pread` of the best of `passes` (at least 3) is a page-cache hit. The machine's
/// cache working-set limit is raised to hold the range (a machine with the memory for it;
/// docs/nt-model.md, "Cache manager") and put back after. The table line against `pread`
/// of the same physical ranges (`chunks`, 64 KiB each).
fn warm_cached_reads(
    s: &mut Session,
    raw: &File,
    chunks: &[Vec<(u64, usize)>],
    passes: usize,
    warm_mib: usize,
    range: &str,
) -> String {
    const CHUNK: usize = 64 << 10;
    let chunks = &chunks[..(warm_mib << 20).div_ceil(CHUNK).min(chunks.len())];
    let bytes: u64 = chunks.iter().flatten().map(|&(_, n)| n as u64).sum();
    let (_, default_limit) = s.cache_working_set();
    s.set_cache_working_set_limit(bytes as usize + WARM_SLACK);
    let pid = s.initial_process();
    let mut request =
        rustfsd::kernel::model::harness::session::CreateRequest::open(&format!("{DISK}\\filebig"));
    request.options = FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE;
    let handle = s.nt_create_file(pid, &request).handle.expect("open");
    let read_range = |s: &mut Session| {
        for index in 0..chunks.len() {
            let io = s.read_file(handle, Some((index * CHUNK) as u64), CHUNK as u32);
            assert_eq!(io.status, NtStatus::SUCCESS);
            black_box(&io.data);
        }
    };
    read_range(s);
    let paging_reads_before = s.cache_counters().0;
    let mut buf = vec![0u8; CHUNK];
    let (mut ours, mut theirs) = (Duration::MAX, Duration::MAX);
    for _ in 0..passes.max(3) {
        let t = Instant::now();
        read_range(s);
        ours = ours.min(t.elapsed());
        let t = Instant::now();
        through_pread(raw, chunks, &mut buf);
        theirs = theirs.min(t.elapsed());
    }
    assert_eq!(
        s.cache_counters().0,
        paging_reads_before,
        "the range stayed in the cache"
    );
    s.close_handle(handle);
    s.set_cache_working_set_limit(default_limit);
    let (a, b) = (mib_per_s(bytes, ours), mib_per_s(bytes, theirs));
    format!(
        "| 64 KiB sequential cached reads of {range}, warm (in the cache after an untimed pass) | {a:.0} MiB/s | {b:.0} MiB/s | {:.2}× |",
        a / b
    )
}

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

fn main() {
    let big_mib: u64 = std::env::var("RUSTFSD_BENCH_LARGE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let passes = match std::env::var("RUSTFSD_BENCH_PASSES") {
        Ok(n) => n.parse().expect("RUSTFSD_BENCH_PASSES"),
        Err(_) if std::env::var_os("RUSTFSD_BENCH_QUICK").is_some() => 1,
        Err(_) => 3,
    };
    let only = std::env::var("RUSTFSD_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let image = support::bench_image(big_mib);
    let vol = rustfsd::ext4::Volume::mount(support::FileDevice::open(&image)).unwrap();
    let inode = vol.resolve_path(b"/filebig").unwrap();
    let raw = File::open(&image).unwrap();
    // Stream the image once so that pread and the model's disk read the same warm pages.
    let _ = std::fs::read(&image).map(|d| black_box(d.len()));
    let mut s = machine(&image);
    s.set_trace_enabled(false);

    let mut table = String::from(
        "| measurement | rustfsd dispatch + Cc model | raw pread | ratio |\n|---|---:|---:|---:|\n",
    );
    for (name, label, chunk, non_cached) in [
        (
            "cached",
            "64 KiB sequential cached reads of a {} MiB file, cold (a new handle per pass: \
             every page a paging read)",
            64usize << 10,
            false,
        ),
        (
            "noncached",
            "1 MiB sequential non-cached reads of a {} MiB file",
            1 << 20,
            true,
        ),
    ] {
        if !wanted(name) {
            continue;
        }
        let chunks = support::physical_chunks(&vol, &inode, chunk);
        let mut buf = vec![0u8; chunk];
        let (mut ours, mut theirs) = (Duration::MAX, Duration::MAX);
        let mut bytes = 0;
        for _ in 0..passes {
            let t = Instant::now();
            bytes = through_dispatch(&mut s, "\\filebig", chunk as u32, non_cached);
            ours = ours.min(t.elapsed());
            let t = Instant::now();
            let raw_bytes = through_pread(&raw, &chunks, &mut buf);
            theirs = theirs.min(t.elapsed());
            assert_eq!(raw_bytes, bytes);
        }
        let (a, b) = (mib_per_s(bytes, ours), mib_per_s(bytes, theirs));
        let label = label.replace("{}", &big_mib.to_string());
        let line = format!("| {label} | {a:.0} MiB/s | {b:.0} MiB/s | {:.2}× |", a / b);
        eprintln!("{line}");
        writeln!(table, "{line}").unwrap();
    }
    if wanted("warm") {
        let chunks = support::physical_chunks(&vol, &inode, 64 << 10);
        let warm_mib = std::env::var("RUSTFSD_BENCH_WARM_MIB")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(big_mib, |mib: u64| mib.min(big_mib));
        let range = if warm_mib == big_mib {
            format!("a {big_mib} MiB file")
        } else {
            format!("the first {warm_mib} MiB of a {big_mib} MiB file")
        };
        let line = warm_cached_reads(&mut s, &raw, &chunks, passes, warm_mib as usize, &range);
        eprintln!("{line}");
        writeln!(table, "{line}").unwrap();
    }
    if wanted("random") {
        let line = random_reads(&mut s, inode.size(), big_mib);
        eprintln!("{line}");
        writeln!(table, "{line}").unwrap();
    }
    let findings = s.findings();
    assert!(findings.is_empty(), "verifier findings: {findings:#?}");
    print!("{table}");
    let out = support::cache_dir().join("../read-bench.md");
    std::fs::write(&out, &table).unwrap();
}
