//! Seed 004's sweep: a whole session (load, mount, open, cached read, listing, queries, a
//! mapped file with a page fault, change notification, locks, close, dismount, unload) is run
//! once for every allocation it makes, with exactly that allocation failing as
//! ExAllocatePool2 fails when pool is short. Every run must end with no verifier finding (no
//! leak, no use after free, no IRP lost), with a clean status wherever the failure landed, and
//! with the driver unloaded unless its own load was what failed. (A volume open that failed
//! leaves no handle to dismount with: while the unload answers DEVICE_BUSY, the test opens the
//! volume, dismounts and tries again, with no failure left to inject.)

mod support;

use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Session, scenario};

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

struct Run {
    findings: Vec<String>,
    reports: Vec<String>,
    allocations: u64,
    unloaded: bool,
    loaded: bool,
}

fn run(image: &[u8], fail_at: Option<u64>) -> Run {
    let mut session = Session::new();
    session.add_disk("Disk0", DiskModel::from_bytes(image.to_vec()));
    // ALLOC_TRACE=N prints the model's trace of the run whose allocation N fails.
    let traced =
        std::env::var("ALLOC_TRACE").is_ok_and(|t| Some(t) == fail_at.map(|n| n.to_string()));
    session.set_trace_enabled(traced);
    if let Some(n) = fail_at {
        session.fail_nth_allocation(n);
    }
    let mut runner = scenario::Runner::new(session, vec![DriverDescriptor::rustfsd()]);
    let steps = scenario::parse(SCRIPT).unwrap();
    let mut reports = Vec::new();
    for step in &steps {
        reports.push(runner.run_step(step).text);
    }
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
        reports,
    }
}

#[test]
fn every_allocation_of_a_session_can_fail_cleanly() {
    let image = std::fs::read(support::image("tiny-ext4")).unwrap();
    let clean = run(&image, None);
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    assert!(clean.unloaded, "{}", clean.reports.join("\n"));
    let total = clean.allocations;
    assert!(total > 20, "only {total} allocations");
    let mut failed_statuses = 0;
    for n in 1..=total {
        let run = run(&image, Some(n));
        let context = || {
            format!(
                "allocation {n} of {total} failed:\n{}",
                run.reports.join("\n")
            )
        };
        assert!(run.findings.is_empty(), "{:?}\n{}", run.findings, context());
        assert!(run.unloaded || !run.loaded, "{}", context());
        assert!(
            !run.reports.iter().any(|r| r.contains("ERROR")),
            "{}",
            context()
        );
        failed_statuses += usize::from(
            run.reports
                .iter()
                .any(|r| r.contains("INSUFFICIENT_RESOURCES")),
        );
    }
    eprintln!(
        "allocation sweep: {total} allocations, each failed once; {failed_statuses} runs answered INSUFFICIENT_RESOURCES somewhere"
    );
    assert!(failed_statuses as u64 >= total / 2);
}
