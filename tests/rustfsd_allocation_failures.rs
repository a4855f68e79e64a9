//! Seed 004's sweeps: a whole session (load, mount, open, cached read, listing, queries, a
//! mapped file with a page fault, change notification, locks, close, dismount, unload) is run
//! once for every allocation it makes, with exactly that allocation failing as
//! ExAllocatePool2 fails when pool is short, once for every heap allocation of the driver's
//! (its `Vec`s and `Box`es, which wdk-alloc takes from pool in `nt`), and once for every disk
//! read, with exactly that read failing with STATUS_DEVICE_DATA_ERROR. Every run must end with no verifier finding (no
//! leak, no use after free, no IRP lost), with a clean status wherever the failure landed, and
//! with the driver unloaded unless its own load was what failed. (A volume open that failed
//! leaves no handle to dismount with: while the unload answers DEVICE_BUSY, the test opens the
//! volume, dismounts and tries again, with no failure left to inject.) The heap sweep also
//! runs over a second session (every answer the driver encodes: volume and file information,
//! security, EAs, listings) and a third (the I/O paths, fast ones included, a dismount whose
//! purge re-enters CLOSE, and a chain of CLOSEs nested until the stack runs low), the third
//! under several seeds; the allocation and disk read sweeps run over the third too. The third
//! must reach the async close path (`fcb/close.rs`, CloseQueue::post), counted by the model's
//! IoQueueWorkItemEx of the volume's preallocated work item.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::faulting_allocator::FaultingAllocator;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Session, scenario};
use rustfsd::kernel::model::heap_faults;

const SCRIPT: &str = r"
load rustfsd                              => any
open vol \Device\Disk0                    => any
open f \Device\Disk0\hello.txt            => any
read f offset=0 len=4096                  => any
query-info f class=5 len=64               => any
lock f offset=0 len=8                     => any
open d \Device\Disk0\dir options=0x1      => any
query-dir d class=3 len=4096              => any
notify d                                  => any
create-section s f                        => any
map-view v s                              => any
touch v page=0                            => any
unmap-view v                              => any
close-section s                           => any
close d                                   => any
close f                                   => any
dismount vol                              => any
close vol                                 => any
run-worker                                => any
trim                                      => any
run-worker                                => any
unload rustfsd                            => any
";

/// The second session: what the first leaves out of the answers the driver builds — every
/// volume information class, every file information class on a file, a directory and a
/// symlink, security descriptors, EAs (a scan, by name, by index, a set), listings in every
/// directory class, with a pattern and restarts, answers cut by a short buffer, and the FSCTLs
/// that return data (a reparse point, retrieval pointers, the volume bitmap).
const INFO_SCRIPT: &str = r"
load rustfsd                              => any
open vol \Device\Disk0                    => any
query-volume vol class=1 len=4096         => any
query-volume vol class=3 len=4096         => any
query-volume vol class=4 len=4096         => any
query-volume vol class=5 len=4096         => any
query-volume vol class=7 len=4096         => any
query-volume vol class=11 len=4096        => any
open f \Device\Disk0\hello.txt            => any
query-info f class=4 len=4096             => any
query-info f class=5 len=4096             => any
query-info f class=6 len=4096             => any
query-info f class=7 len=4096             => any
query-info f class=8 len=4096             => any
query-info f class=9 len=4096             => any
query-info f class=14 len=4096            => any
query-info f class=16 len=4096            => any
query-info f class=17 len=4096            => any
query-info f class=18 len=4096            => any
query-info f class=21 len=4096            => any
query-info f class=22 len=4096            => any
query-info f class=34 len=4096            => any
query-info f class=35 len=4096            => any
query-info f class=46 len=4096            => any
query-info f class=48 len=4096            => any
query-info f class=55 len=4096            => any
query-info f class=59 len=4096            => any
query-info f class=68 len=4096            => any
query-info f class=70 len=4096            => any
query-info f class=71 len=4096            => any
query-security f info=7 len=4096         => any
query-ea f len=4096                       => any
query-ea f len=4096 names=$LXUID,$LXMOD   => any
query-ea f len=4096 index=2 single        => any
set-ea f                                  => any
open d \Device\Disk0\dir options=0x1      => any
query-info d class=18 len=4096            => any
query-info d class=9 len=4096             => any
query-info d class=70 len=4096            => any
query-security d info=7 len=4096         => any
query-dir d class=1 len=4096              => any
query-dir d class=2 len=4096 restart      => any
query-dir d class=12 len=4096 restart     => any
query-dir d class=37 len=4096 restart     => any
query-dir d class=38 len=4096 restart     => any
query-dir d class=60 len=4096 restart     => any
query-dir d class=63 len=4096 restart     => any
query-dir d class=3 len=4096 pattern=f1* restart => any
query-dir d class=3 len=200 restart single => any
open l \Device\Disk0\slow-link options=0x200000 => any
query-info l class=35 len=4096            => any
query-info l class=18 len=4096            => any
query-ea l len=4096                       => any
fsctl l code=0x900A8 len=4096             => any
fsctl f code=0x90073 len=4096 in=0000000000000000 => any
fsctl vol code=0x9006F len=4096 in=0000000000000000 => any
query-info f class=18 len=108             => any
query-dir d class=37 len=120 restart      => any
close l                                   => any
close d                                   => any
close f                                   => any
dismount vol                              => any
close vol                                 => any
run-worker                                => any
unload rustfsd                            => any
";

/// The third session: the I/O paths — reads cached (tried fast or by IRP as the seed decides)
/// and non-cached, a kernel caller's read that cannot wait and its MDL reads given back,
/// sparse and fragmented files, a mapped file with faults, a lock, a dismount with a section
/// still open, whose purge re-enters CLOSE, and (`held_chain`) CLOSEs that nest until the stack
/// runs low and post the rest to the volume's close queue (`fcb/close.rs`, the async close
/// path). Dismounts and unload follow (`IO_SCRIPT_END`).
const IO_SCRIPT_START: &str = r"
param rustfsd DelayedCloseLimit=0
load rustfsd                              => any
filter-contexts on
open vol \Device\Disk0                    => any
open f \Device\Disk0\data                 => any
read f offset=0 len=4096                  => any
read f offset=4096 len=8192               => any
read f len=100                            => any
read-nowait f offset=0 len=3000           => any
read-nowait f offset=12000 len=8000       => any
mdl-read f c1 offset=0 len=5000           => any
mdl-read f c2 offset=10000 len=20000      => any
mdl-read-complete f c2                    => any
mdl-read-complete f c1                    => any
query-info f class=4 len=40               => any
query-info f class=34 len=56              => any
lock f offset=0 len=8                     => any
read f offset=0 len=16                    => any
unlock f offset=0 len=8                   => any
open n \Device\Disk0\frag options=0x28    => any
read n offset=0 len=65536                 => any
read n offset=131072 len=65536            => any
open p \Device\Disk0\sparse               => any
read p offset=28672 len=8192              => any
create-section s p                        => any
map-view v s                              => any
touch v page=7                            => any
touch v page=9                            => any
close-section s                           => any
close p                                   => any
close n                                   => any
close f                                   => any
";

const IO_SCRIPT_END: &str = r"
close vol                                 => any
unmap-view v                              => any
run-worker                                => any
trim                                      => any
run-worker                                => any
unload rustfsd                            => any
";

/// Files `\dir\f0` .. of a chain: the filter's context on each one's FCB holds the next
/// one's FILE_OBJECT, and all but the first are closed. After the dismount (the table no longer
/// lists the FCBs) the first's CLOSE frees its FCB, whose context drops the next FILE_OBJECT:
/// one CLOSE nested in the other until less than CLOSE_STACK_RESERVE is left, where rustfsd
/// posts the rest (`tests/rustfsd_nested_close.rs` drives the same chain on its own).
const CHAIN_LINKS: usize = 16;

/// The I/O session: `IO_SCRIPT_START`, the held chain, the dismount, the chain's release, the end.
fn io_script() -> String {
    let mut script = String::from(IO_SCRIPT_START);
    for i in 0..CHAIN_LINKS {
        script.push_str(&format!("open k{i} \\Device\\Disk0\\dir\\f{i} => any\n"));
    }
    for i in 1..CHAIN_LINKS {
        script.push_str(&format!("filter-hold k{} k{i} => any\n", i - 1));
    }
    for i in 1..CHAIN_LINKS {
        script.push_str(&format!("close k{i} => any\n"));
    }
    script.push_str("dismount vol => any\nclose k0 => any\n");
    script.push_str(IO_SCRIPT_END);
    script
}

/// What the test does while the unload answers DEVICE_BUSY: a volume is still mounted.
const DISMOUNT_AND_UNLOAD: &str = r"
open again \Device\Disk0                  => any
dismount again                            => any
close again                               => any
run-worker                                => any
unload rustfsd                            => any
";

/// The driver's heap allocations can fail (`heap_faults`); only the test that arms it on its
/// own thread counts them.
#[global_allocator]
static HEAP: FaultingAllocator = FaultingAllocator;

/// What goes wrong in a run.
#[derive(Clone, Copy)]
enum Fault {
    None,
    Allocation(u64),
    HeapAllocation(u64),
    DiskRead(u64),
}

struct Run {
    findings: Vec<String>,
    reports: Vec<String>,
    allocations: u64,
    heap_allocations: u64,
    disk_reads: u64,
    /// Times the volume's close queue was posted to and its work item queued (the async close
    /// path, `fcb/close.rs` CloseQueue::post).
    closes_posted: u64,
    unloaded: bool,
    loaded: bool,
}

fn run((image, script, seed): (&[u8], &str, u64), fault: Fault) -> Run {
    let mut session = Session::new();
    session.set_choice_seed(seed);
    session.add_disk("Disk0", DiskModel::from_bytes(image.to_vec()));
    let disk = session.disk("Disk0").unwrap();
    let fail_at = match fault {
        Fault::Allocation(n) => Some(n),
        Fault::None | Fault::DiskRead(_) | Fault::HeapAllocation(_) => None,
    };
    let heap_fail_at = match fault {
        Fault::HeapAllocation(n) => Some(n),
        _ => None,
    };
    if let Fault::DiskRead(n) = fault {
        disk.fail_nth_read(n, NtStatus(0xC000_009C_u32 as i32));
    }
    // ALLOC_TRACE=N prints the model's trace of the run whose allocation N fails.
    let traced = std::env::var("ALLOC_TRACE")
        .is_ok_and(|t| Some(t) == fail_at.or(heap_fail_at).map(|n| n.to_string()));
    session.set_trace_enabled(traced);
    if let Some(n) = fail_at {
        session.fail_nth_allocation(n);
    }
    let mut runner = scenario::Runner::new(session, vec![DriverDescriptor::rustfsd()]);
    let steps = scenario::parse(script).unwrap();
    let mut reports = Vec::new();
    heap_faults::arm(heap_fail_at);
    for step in &steps {
        reports.push(runner.run_step(step).text);
    }
    let heap_allocations = heap_faults::disarm();
    let retry = scenario::parse(DISMOUNT_AND_UNLOAD).unwrap();
    for _ in 0..3 {
        if !reports.last().is_some_and(|r| r.contains("DEVICE_BUSY")) {
            break;
        }
        for step in &retry {
            reports.push(runner.run_step(step).text);
        }
    }
    let status_of = |verb: &str| {
        reports
            .iter()
            .find(|r| r.contains(&format!(" {verb} ")))
            .is_some_and(|r| r.contains(" SUCCESS"))
    };
    if traced {
        eprintln!("{}", runner.session.trace().join("\n"));
    }
    Run {
        findings: runner
            .session
            .findings()
            .iter()
            .map(|f| f.to_string())
            .collect(),
        loaded: status_of("load"),
        unloaded: reports
            .last()
            .is_some_and(|r| r.contains(" unload ") && r.contains(" SUCCESS")),
        allocations: runner.session.allocations(),
        heap_allocations,
        disk_reads: disk.read_count(),
        closes_posted: runner
            .session
            .kernel()
            .lock()
            .preallocated_work_items_queued,
        reports,
    }
}

/// What a sweep saw: the runs that answered the injected failure somewhere, and the runs that
/// took the async close path.
#[derive(Default)]
struct Swept {
    answered: usize,
    posted_close: usize,
}

/// Runs the session once per fault `fault(n)`, n = 1..=total, and checks each run.
fn sweep(
    (image, script, seed): (&[u8], &str, u64),
    total: u64,
    fault: impl Fn(u64) -> Fault,
    what: &str,
) -> Swept {
    let mut swept = Swept::default();
    for n in 1..=total {
        let run = run((image, script, seed), fault(n));
        let context = || format!("{what} {n} of {total} failed:\n{}", run.reports.join("\n"));
        assert!(run.findings.is_empty(), "{:?}\n{}", run.findings, context());
        assert!(run.unloaded || !run.loaded, "{}", context());
        assert!(
            !run.reports.iter().any(|r| r.contains(" ERROR ")),
            "{}",
            context()
        );
        swept.answered += usize::from(
            run.reports
                .iter()
                .any(|r| r.contains("INSUFFICIENT_RESOURCES") || r.contains("DEVICE_DATA_ERROR")),
        );
        swept.posted_close += usize::from(run.closes_posted > 0);
    }
    swept
}

#[test]
fn every_allocation_of_a_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run((&image, SCRIPT, 0), Fault::None);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.unloaded, "{}", clean.reports.join("\n"));
    let total = clean.allocations;
    assert!(total > 20, "only {total} allocations");
    let answered = sweep((&image, SCRIPT, 0), total, Fault::Allocation, "allocation").answered;
    eprintln!(
        "allocation sweep: {total} allocations, each failed once; {answered} runs answered INSUFFICIENT_RESOURCES somewhere"
    );
    assert!(answered as u64 >= total / 2);
}

#[test]
fn every_heap_allocation_of_the_driver_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run((&image, SCRIPT, 0), Fault::None);
    let total = clean.heap_allocations;
    assert!(total > 20, "only {total} heap allocations");
    let answered = sweep(
        (&image, SCRIPT, 0),
        total,
        Fault::HeapAllocation,
        "heap allocation",
    )
    .answered;
    eprintln!(
        "heap allocation sweep: {total} allocations, each failed once; {answered} runs answered INSUFFICIENT_RESOURCES somewhere"
    );
    assert!(answered as u64 >= total / 2);
}

#[test]
fn every_disk_read_of_a_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run((&image, SCRIPT, 0), Fault::None);
    let total = clean.disk_reads;
    assert!(total > 5, "only {total} disk reads");
    let answered = sweep((&image, SCRIPT, 0), total, Fault::DiskRead, "disk read").answered;
    eprintln!(
        "disk read sweep: {total} reads, each failed once; {answered} runs answered DEVICE_DATA_ERROR somewhere"
    );
    assert!(answered > 0);
}

/// The heap sweep over the second and third sessions: each of their driver heap allocations
/// fails once (N from 1 to the session's count), under each of `seeds` (which decide, among
/// other things, whether the I/O manager and the kernel callers try the fast paths). Returns
/// how many runs, clean ones included, took the async close path.
fn heap_sweep_of(script: &str, seeds: u64, what: &str) -> usize {
    let mut posted_close = 0;
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    for seed in 0..seeds {
        let clean = run((&image, script, seed), Fault::None);
        // ALLOC_CLEAN=1 prints what each step of the clean run answered.
        if std::env::var_os("ALLOC_CLEAN").is_some() {
            eprintln!("{}", clean.reports.join("\n"));
        }
        assert!(clean.findings.is_empty(), "{:?}", clean.findings);
        assert!(clean.unloaded, "{}", clean.reports.join("\n"));
        assert!(
            !clean
                .reports
                .iter()
                .any(|r| r.contains(" ERROR ") || r.contains("INSUFFICIENT_RESOURCES")),
            "seed {seed}: with nothing injected:\n{}",
            clean.reports.join("\n")
        );
        let total = clean.heap_allocations;
        assert!(total > 20, "only {total} heap allocations");
        let swept = sweep((&image, script, seed), total, Fault::HeapAllocation, what);
        let answered = swept.answered;
        eprintln!(
            "{what}, seed {seed}: {total} heap allocations, each failed once; {answered} runs answered INSUFFICIENT_RESOURCES somewhere; {} (and {} clean) posted a CLOSE",
            swept.posted_close, clean.closes_posted
        );
        assert!(answered as u64 >= total / 2);
        posted_close += swept.posted_close + usize::from(clean.closes_posted > 0);
    }
    posted_close
}

#[test]
fn every_heap_allocation_of_the_information_session_can_fail_cleanly() {
    heap_sweep_of(INFO_SCRIPT, 1, "information session heap sweep");
}

#[test]
fn every_heap_allocation_of_the_io_session_can_fail_cleanly() {
    let posted_close = heap_sweep_of(&io_script(), 8, "I/O session heap sweep");
    assert!(
        posted_close > 0,
        "no run of the I/O session posted a CLOSE to the volume's close queue"
    );
}

/// The pool allocation and disk read sweeps over the I/O session: each of its pool allocations,
/// then each of its disk reads, fails once; the async close path must be among what they reach.
#[test]
fn every_allocation_and_disk_read_of_the_io_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let script = io_script();
    let clean = run((&image, &script, 0), Fault::None);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.closes_posted > 0, "{}", clean.reports.join("\n"));
    let allocations = sweep(
        (&image, &script, 0),
        clean.allocations,
        Fault::Allocation,
        "I/O session allocation",
    );
    let reads = sweep(
        (&image, &script, 0),
        clean.disk_reads,
        Fault::DiskRead,
        "I/O session disk read",
    );
    eprintln!(
        "I/O session: {} allocations, {} disk reads, each failed once; {} and {} runs answered the failure, {} and {} posted a CLOSE",
        clean.allocations,
        clean.disk_reads,
        allocations.answered,
        reads.answered,
        allocations.posted_close,
        reads.posted_close
    );
    assert!(allocations.posted_close > 0 && reads.posted_close > 0);
}
