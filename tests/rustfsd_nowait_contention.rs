//! A kernel caller's Wait-FALSE read (FastIoRead = FsRtlCopyRead) while another thread holds
//! the FCB's main resource (Header.Resource) exclusive, under the preempting scheduler, with the
//! verifier on, on a real mke2fs image. rustfsd takes that resource exclusive for an oplock
//! request (`dispatch/oplock.rs`, held across FsRtlOplockFsctrl, where the model may preempt)
//! and for CLEANUP's FO_CLEANUP_COMPLETE (`dispatch/cleanup.rs`; no preemption point falls
//! inside that window yet, so only the oplock request makes the contention here; the section
//! sync callback and the Cc callbacks take it shared). FsRtlCopyRead with Wait FALSE must then answer
//! FALSE at once (ReactOS `ntoskrnl/fsrtl/fastio.c` FsRtlCopyRead;
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-fsrtlcopyread>)
//! and the caller sends the IRP, which waits for the resource: both answers must be debugfs's
//! bytes.

mod support;

use rustfsd::kernel::model::harness::scenario::sha256_hex;
use support::machine::{SCRIPT_END, run_scheduled};
use support::walk::dumped_files_of;

const SEEDS: u64 = 200;

/// `info=N sha256=PREFIX` of the dumped bytes at `from`, `len` long (cut at end of file).
fn expect(data: &[u8], from: usize, len: usize) -> String {
    let end = (from + len).min(data.len());
    format!(
        "info={} sha256={}",
        end - from,
        &sha256_hex(&data[from..end])[..16]
    )
}

/// Thread 1 asks for an oplock on one handle of the file (refused: the file has other
/// handles, but the request holds the resource exclusive meanwhile) and closes another (its
/// CLEANUP takes the resource exclusive); thread 2 reads without waiting through a third,
/// cached handle.
fn script(path: &str, data: &[u8]) -> String {
    format!(
        "load rustfsd => SUCCESS\n\
         open r \\Device\\Disk0{path} => SUCCESS\n\
         read r offset=0 len=16384 => SUCCESS {}\n\
         open o \\Device\\Disk0{path} options=0 => SUCCESS\n\
         open c \\Device\\Disk0{path} => SUCCESS\n\
         @t1 oplock o level=1 => any\n\
         @t1 oplock o level=batch => any\n\
         @t1 close c => SUCCESS\n\
         @t2 read-nowait r offset=0 len=5000 => SUCCESS {}\n\
         @t2 read-nowait r offset=100 len=3000 => SUCCESS {}\n\
         @t2 read-nowait r offset=4096 len=8192 => SUCCESS {}\n\
         @t2 read-nowait r offset=1 len=10000 => SUCCESS {}\n\
         close o => SUCCESS\n\
         close r => SUCCESS\n\
         {SCRIPT_END}",
        expect(data, 0, 16384),
        expect(data, 0, 5000),
        expect(data, 100, 3000),
        expect(data, 4096, 8192),
        expect(data, 1, 10000),
    )
}

#[test]
fn wait_false_reads_refused_by_an_exclusive_holder_take_the_irp_and_read_the_dump() {
    let name = "ext4";
    let (path, data) = dumped_files_of(name)
        .into_iter()
        .filter(|(_, data)| data.len() >= 20_000)
        .min_by_key(|(_, data)| data.len())
        .expect("a file of 20 000 bytes or more");
    let script = script(&path, &data);
    let image = std::fs::read(support::image(name)).unwrap();
    let (mut busy_seeds, mut fast_answers) = (0, 0);
    for seed in 0..SEEDS {
        let (_, session) = run_scheduled(&script, &image, seed)
            .unwrap_or_else(|failure| panic!("seed {seed}:\n{script}\n{failure}"));
        busy_seeds += usize::from(session.fast_read_busy() > 0);
        fast_answers += session.fast_io_counters().1;
    }
    eprintln!(
        "{SEEDS} seeds: {busy_seeds} with a Wait-FALSE read refused by the exclusive holder, \
         {fast_answers} fast answers"
    );
    assert!(
        busy_seeds > 0 && fast_answers > 0,
        "{busy_seeds} seeds refused by the holder, {fast_answers} fast answers"
    );
}
