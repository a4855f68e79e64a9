//! A filter context that holds a FILE_OBJECT of ours, released while rustfsd holds its table
//! lock.
//!
//! The table lock is held while the delayed-close queue frees an idle FCB (`FcbTable::trim`)
//! and while a dismount empties the table (`FcbTable::clear`). Freeing an FCB runs
//! FsRtlTeardownPerStreamContexts; a minifilter's stream context freed there may hold the last
//! reference on another FILE_OBJECT of the same volume, and the filter's context cleanup
//! dereferences it (DESIGN.md invariant 4). The table lock is a FAST_MUTEX (APC_LEVEL), and
//! ObDereferenceObject with all APCs disabled defers the object's deletion to a worker thread
//! (ReactOS ObfDereferenceObject / ObpDeferObjectDeletion): that FILE_OBJECT's IRP_MJ_CLOSE
//! comes later, on the worker, never nested under the lock. These tests drive that path on a
//! real mke2fs image with the NT model's filter observer holding the reference
//! (`Session::filter_hold_reference`).

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::scenario::{self, Runner};
use rustfsd::kernel::model::harness::{DriverDescriptor, Session, scheduler};
use support::machine::{
    DISK, DISK_NAME, finish, live_fcbs, machine, machine_with_delayed_close_limit, open_ok,
};

/// Index of the first trace line at or after `from` that contains `needle`.
fn find_from(trace: &[String], from: usize, needle: &str) -> Option<usize> {
    trace
        .iter()
        .skip(from)
        .position(|line| line.contains(needle))
        .map(|i| i + from)
}

/// The trace from `from` on shows the filter's context cleanup dropping the FILE_OBJECT it held
/// with the table lock held, and the object manager deferring that FILE_OBJECT's deletion (so
/// no CLOSE nested on t0 after the cleanup).
fn assert_close_deferred(trace: &[String], from: usize) {
    let dump = || trace[from..].join("\n");
    let cleanup = find_from(trace, from, "cleaned up, dereferences FO")
        .unwrap_or_else(|| panic!("no filter context cleanup:\n{}", dump()));
    let deferred = find_from(trace, cleanup, "deferred")
        .unwrap_or_else(|| panic!("the deletion was not deferred:\n{}", dump()));
    assert!(
        trace[deferred].contains("ObDereferenceObject above PASSIVE_LEVEL"),
        "{}",
        dump()
    );
}

fn volume_handle_dismount(s: &mut Session) {
    let pid = s.initial_process();
    let result = s.nt_create_file(
        pid,
        &rustfsd::kernel::model::harness::session::CreateRequest::open(DISK),
    );
    assert_eq!(result.status, NtStatus::SUCCESS, "volume open");
    let volume = result.handle.unwrap();
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    assert_eq!(s.close_handle(volume), NtStatus::SUCCESS);
}

/// Opens A (`\hello.txt`) and B (`\Case.txt`), lets the filter's context on A's FCB reference
/// B's FILE_OBJECT, and closes B's handle: B's FILE_OBJECT lives on (CLEANUP, no CLOSE) with
/// the filter's reference as its only one. Returns A's handle.
fn a_open_b_held_by_the_filter(s: &mut Session) -> rustfsd::kernel::model::harness::Handle {
    let a = open_ok(s, "\\hello.txt");
    let b = open_ok(s, "\\Case.txt");
    s.filter_hold_reference(a, b).unwrap();
    assert_eq!(
        s.counts(b),
        Some((2, 1)),
        "B: the handle's and the filter's"
    );
    let objects = s.file_object_count();
    s.close_handle(b);
    assert_eq!(
        s.file_object_count(),
        objects,
        "B's FILE_OBJECT is still referenced"
    );
    assert_eq!(s.filter_held_references(), 1);
    // The volume FCB (volume stream), the root, hello.txt and Case.txt.
    assert_eq!(live_fcbs(s), 4);
    a
}

/// DelayedCloseLimit 0: the CLOSE of A takes the table lock, and `trim` frees A's FCB under
/// it. The filter's context cleanup drops B's FILE_OBJECT at APC_LEVEL, so its deletion is
/// deferred: B's FILE_OBJECT and FCB live until the worker runs; then B's CLOSE frees its FCB,
/// and the root with it.
#[test]
fn a_filter_release_under_the_table_lock_defers_the_close_to_the_worker() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let a = a_open_b_held_by_the_filter(&mut s);
    let objects = s.file_object_count();
    assert_eq!(s.pending_work(), 0);
    let from = s.trace().len();

    s.close_handle(a);

    assert_close_deferred(&s.trace(), from);
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    assert_eq!(
        s.file_object_count(),
        objects - 1,
        "A's FILE_OBJECT is gone, B's waits for its deferred deletion"
    );
    assert_eq!(s.filter_held_references(), 0);
    assert_eq!(s.pending_work(), 1, "B's deletion waits for the worker");
    // A's FCB went in trim; B's FILE_OBJECT still holds B's FCB, which holds the root.
    assert_eq!(live_fcbs(&s), 3, "the volume FCB, the root and B's FCB");

    assert_eq!(s.run_worker(), 1);
    assert!(
        s.trace()
            .iter()
            .skip(from)
            .any(|line| line == "t1: IRP_MJ_Close <- NtStatus(0x00000000)"),
        "B's CLOSE came on the worker thread"
    );
    assert_eq!(s.file_object_count(), objects - 2);
    assert_eq!(
        live_fcbs(&s),
        1,
        "B's FCB and then the root left the idle queue"
    );
    assert!(s.is_mounted(DISK_NAME));
    finish(s);
}

/// The same from a dismount: FSCTL_DISMOUNT_VOLUME empties the table under the table lock,
/// which frees A's idle FCB (the default queue kept it); B's deletion is deferred there. B's
/// FILE_OBJECT is then the last one of the dismounted volume, so the volume device is deleted
/// only by the worker, after the volume handle's own CLOSE.
#[test]
fn last_close_of_a_dismounted_volume_deferred_from_the_dismount_deletes_the_device_on_the_worker() {
    let mut s = machine(&support::image("lifecycle"));
    let a = a_open_b_held_by_the_filter(&mut s);
    s.close_handle(a);
    assert_eq!(live_fcbs(&s), 4, "the queue keeps A's idle FCB");
    assert_eq!(s.filter_held_references(), 1);
    let from = s.trace().len();

    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    volume_handle_dismount(&mut s);

    assert_close_deferred(&s.trace(), from);
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    assert_eq!(s.pending_work(), 1);
    assert_eq!(
        s.file_object_count(),
        1,
        "only B's, waiting for its deletion"
    );
    assert!(
        s.device_exists(old_device),
        "B's close has not come: the volume device must stay"
    );

    assert_eq!(s.run_worker(), 1);
    assert!(
        !s.device_exists(old_device),
        "the worker finished the last close and deleted the device"
    );
    assert_eq!(live_fcbs(&s), 0);
    finish(s);
}

/// B's deletion is deferred during `trim` (as in the first test), and the volume is
/// dismounted before the worker runs: B's CLOSE is then the last of a dismounted volume and
/// deletes the device from the worker.
#[test]
fn dismount_before_the_worker_runs_leaves_the_device_to_the_deferred_close() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let a = a_open_b_held_by_the_filter(&mut s);
    let from = s.trace().len();
    s.close_handle(a);
    assert_close_deferred(&s.trace(), from);
    assert_eq!(s.pending_work(), 1);

    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    volume_handle_dismount(&mut s);

    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    assert_eq!(s.file_object_count(), 1, "B's, waiting for its deletion");
    assert_eq!(s.pending_work(), 1);
    assert!(s.device_exists(old_device), "B's close is still to come");
    assert_eq!(
        live_fcbs(&s),
        2,
        "B's FCB (its FILE_OBJECT holds it) and the root"
    );

    assert_eq!(s.run_worker(), 1);
    assert!(!s.device_exists(old_device));
    finish(s);
}

/// Without the filter's reference the same closes stay synchronous: nothing is queued.
#[test]
fn without_the_filter_reference_close_is_synchronous() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let a = open_ok(&mut s, "\\hello.txt");
    let b = open_ok(&mut s, "\\Case.txt");
    s.close_handle(b);
    s.close_handle(a);
    assert_eq!(s.pending_work(), 0);
    assert!(
        !s.trace()
            .iter()
            .any(|line| line.contains("IoQueueWorkItem"))
    );
    assert_eq!(live_fcbs(&s), 1);
    finish(s);
}

/// The `filetest` form of the first case, under the seeded scheduler: thread t1 closes A (B's
/// deletion is deferred in the trim) while t2 reopens and closes B's file and the worker runs
/// B's deletion whenever the seed lets it: before t2's open, between its open and close, or
/// after. Every interleaving ends clean.
#[test]
fn deferred_close_under_the_scheduler_with_a_concurrent_reopen() {
    const SCRIPT: &str = r"
open a \Device\Disk0\hello.txt       => SUCCESS
open b \Device\Disk0\Case.txt        => SUCCESS
filter-hold a b                      => SUCCESS
close b                              => SUCCESS
@t1 close a                          => SUCCESS
@t2 open c \Device\Disk0\Case.txt    => SUCCESS
@t2 close c                          => SUCCESS
run-worker
expect-findings 0
";
    let steps = scenario::parse(SCRIPT).unwrap();
    let mut traces = std::collections::BTreeSet::new();
    // Whether the worker ran the pending bookkeeping before t2's reopen, per seed.
    let mut worker_first = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let session = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
        let mut runner = Runner::new(session, vec![DriverDescriptor::rustfsd()]);
        let run = scheduler::run(&mut runner, &steps, seed);
        assert!(
            run.ok,
            "seed {seed} failed; replay with this seed:\n{}",
            run.trace.join("\n")
        );
        let session = std::mem::take(&mut runner.session);
        assert!(
            session
                .trace()
                .iter()
                .any(|l| l.contains("deletion of FO") && l.contains("deferred")),
            "seed {seed}: B's deletion was deferred"
        );
        assert_eq!(session.pending_work(), 0);
        assert_eq!(live_fcbs(&session), 1, "seed {seed}");
        let at = |needle: &str| run.trace.iter().position(|l| l.starts_with(needle));
        if let (Some(worker), Some(reopen)) = (at("sched: worker"), at("sched: t2")) {
            worker_first.insert(worker < reopen);
        }
        traces.insert(run.trace);
        finish(session);
    }
    assert!(traces.len() > 2, "only {} interleavings", traces.len());
    assert_eq!(
        worker_first.len(),
        2,
        "the worker ran both before and after the reopen"
    );
}

/// Opens `n` files, lets the filter's context on each FCB hold the next file's FILE_OBJECT and
/// closes every handle but the first: closing that one unwinds the whole chain.
fn chain_of_held_file_objects(
    s: &mut Session,
    n: usize,
) -> rustfsd::kernel::model::harness::Handle {
    let handles: Vec<_> = (0..n)
        .map(|i| open_ok(s, &support::lifecycle_file(i)))
        .collect();
    for pair in handles.windows(2) {
        s.filter_hold_reference(pair[0], pair[1]).unwrap();
    }
    for &handle in &handles[1..] {
        s.close_handle(handle);
    }
    assert_eq!(s.filter_held_references(), n - 1);
    handles[0]
}

/// A chain of 40 FILE_OBJECTs, each held by the filter's context on the previous file's FCB:
/// every release comes under the table lock (in `trim`, on the user thread, then on the
/// worker), so each deletion is deferred and the chain unwinds one CLOSE per work item, never
/// nested on any stack.
#[test]
fn a_chain_of_held_file_objects_unwinds_one_work_item_at_a_time() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let first = chain_of_held_file_objects(&mut s, 40);
    s.close_handle(first);
    assert_eq!(s.pending_work(), 1);
    assert_eq!(s.run_worker(), 39);
    assert_eq!(s.filter_held_references(), 0);
    assert_eq!(live_fcbs(&s), 1);
    finish(s);
}

/// The same chain after a dismount: the table no longer lists the FCBs, so each CLOSE frees
/// its FCB itself, outside the table lock, and the next CLOSE nests synchronously inside it:
/// one IRP_MJ_CLOSE per link on one kernel stack. Without a stack check this overflowed the
/// modelled 24 KiB stack at about 14 links; rustfsd's CLOSE now moves the FCB's drop to the
/// worker when less than `CLOSE_STACK_RESERVE` is left (DESIGN.md invariant 5).
#[test]
fn a_chain_of_held_file_objects_after_dismount_stays_within_the_stack() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let first = chain_of_held_file_objects(&mut s, 40);
    volume_handle_dismount(&mut s);
    s.close_handle(first);
    s.run_worker();
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    assert_eq!(s.file_object_count(), 0);
    assert!(!s.is_mounted(DISK_NAME));
    finish(s);
}

/// The same chain when no work item can be allocated (pool is short): the CLOSE that finds
/// its stack low still moves the drop off the stack, through the work item the volume
/// allocated at mount, instead of running it in place, where the chain would nest until the
/// stack overflows.
#[test]
fn a_low_stack_close_needs_no_allocation_to_leave_the_stack() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let first = chain_of_held_file_objects(&mut s, 40);
    volume_handle_dismount(&mut s);
    s.fail_work_item_allocations(usize::MAX);
    s.close_handle(first);
    s.run_worker();
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    assert_eq!(s.file_object_count(), 0);
    s.fail_work_item_allocations(0);
    finish(s);
}
