//! Seed 004's sweeps: a whole session (load, mount, open, cached read, listing, queries, a
//! mapped file with a page fault, change notification, locks, close, dismount, unload) is run
//! once for every allocation it makes, with exactly that allocation failing as
//! ExAllocatePool2 fails when pool is short, once for every heap allocation of the driver's
//! (its `Vec`s and `Box`es, which wdk-alloc takes from pool in `nt`), and once for every disk
//! read, with exactly that read failing with STATUS_DEVICE_DATA_ERROR. Every run must end with no verifier finding (no
//! leak, no use after free, no IRP lost), with a clean status wherever the failure landed, and
//! with the driver unloaded unless its own load was what failed. (A volume open that failed
//! leaves no handle to dismount with: while the unload answers DEVICE_BUSY, the test opens the
//! volume, dismounts and tries again, with no failure left to inject.)

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
    unloaded: bool,
    loaded: bool,
}

fn run(image: &[u8], fault: Fault) -> Run {
    let mut session = Session::new();
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
    let steps = scenario::parse(SCRIPT).unwrap();
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
        reports,
    }
}

/// Runs the session once per fault `fault(n)`, n = 1..=total, and checks each run.
fn sweep(image: &[u8], total: u64, fault: impl Fn(u64) -> Fault, what: &str) -> usize {
    let mut answered = 0;
    for n in 1..=total {
        let run = run(image, fault(n));
        let context = || format!("{what} {n} of {total} failed:\n{}", run.reports.join("\n"));
        assert!(run.findings.is_empty(), "{:?}\n{}", run.findings, context());
        assert!(run.unloaded || !run.loaded, "{}", context());
        assert!(
            !run.reports.iter().any(|r| r.contains(" ERROR ")),
            "{}",
            context()
        );
        answered += usize::from(
            run.reports
                .iter()
                .any(|r| r.contains("INSUFFICIENT_RESOURCES") || r.contains("DEVICE_DATA_ERROR")),
        );
    }
    answered
}

#[test]
fn every_allocation_of_a_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run(&image, Fault::None);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.unloaded, "{}", clean.reports.join("\n"));
    let total = clean.allocations;
    assert!(total > 20, "only {total} allocations");
    let answered = sweep(&image, total, Fault::Allocation, "allocation");
    eprintln!(
        "allocation sweep: {total} allocations, each failed once; {answered} runs answered INSUFFICIENT_RESOURCES somewhere"
    );
    assert!(answered as u64 >= total / 2);
}

#[test]
fn every_heap_allocation_of_the_driver_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run(&image, Fault::None);
    let total = clean.heap_allocations;
    assert!(total > 20, "only {total} heap allocations");
    let answered = sweep(&image, total, Fault::HeapAllocation, "heap allocation");
    eprintln!(
        "heap allocation sweep: {total} allocations, each failed once; {answered} runs answered INSUFFICIENT_RESOURCES somewhere"
    );
    assert!(answered as u64 >= total / 2);
}

#[test]
fn every_disk_read_of_a_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run(&image, Fault::None);
    let total = clean.disk_reads;
    assert!(total > 5, "only {total} disk reads");
    let answered = sweep(&image, total, Fault::DiskRead, "disk read");
    eprintln!(
        "disk read sweep: {total} reads, each failed once; {answered} runs answered DEVICE_DATA_ERROR somewhere"
    );
    assert!(answered > 0);
}
