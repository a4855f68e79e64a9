//! ERESOURCE grant rules (the documented ones for ExAcquireResourceExclusiveLite,
//! ExAcquireResourceSharedLite, ExAcquireSharedStarveExclusive, ExAcquireSharedWaitForExclusive),
//! and the boundary Resource/FastMutex/Event inside a modelled kernel.

use rustfsd::kernel::model::harness::{
    AcquireMode, DriverDescriptor, FindingKind, Grant, ResourceState, Session,
};
use rustfsd::kernel::model::{Event, FastMutex, Resource, enter_file_system};
use rustfsd::kernel::{DeviceRef, Irp, NtStatus};

const A: u32 = 10;
const B: u32 = 11;
const C: u32 = 12;

#[test]
fn exclusive_is_recursive_for_its_owner_and_excludes_others() {
    let mut r = ResourceState::default();
    assert_eq!(r.try_acquire(A, AcquireMode::Exclusive), Grant::Granted);
    assert_eq!(r.try_acquire(A, AcquireMode::Exclusive), Grant::Granted);
    assert_eq!(
        r.try_acquire(A, AcquireMode::Shared),
        Grant::Granted,
        "owner gets shared recursively"
    );
    assert_eq!(r.try_acquire(B, AcquireMode::Shared), Grant::MustWait);
    assert_eq!(
        r.try_acquire(B, AcquireMode::SharedStarveExclusive),
        Grant::MustWait
    );
    assert_eq!(r.try_acquire(B, AcquireMode::Exclusive), Grant::MustWait);
    for _ in 0..3 {
        assert!(r.release(A));
    }
    assert!(!r.release(A), "released more often than acquired");
    assert_eq!(r.try_acquire(B, AcquireMode::Exclusive), Grant::Granted);
}

#[test]
fn shared_holders_exclude_exclusive_and_upgrade_deadlocks() {
    let mut r = ResourceState::default();
    assert_eq!(r.try_acquire(A, AcquireMode::Shared), Grant::Granted);
    assert_eq!(r.try_acquire(B, AcquireMode::Shared), Grant::Granted);
    assert_eq!(r.try_acquire(C, AcquireMode::Exclusive), Grant::MustWait);
    assert_eq!(
        r.try_acquire(A, AcquireMode::Exclusive),
        Grant::Deadlock,
        "shared -> exclusive"
    );
}

#[test]
fn exclusive_waiters_block_new_shared_but_not_recursive_or_starve_exclusive() {
    let mut r = ResourceState::default();
    assert_eq!(r.try_acquire(A, AcquireMode::Shared), Grant::Granted);
    assert_eq!(r.try_acquire(C, AcquireMode::Exclusive), Grant::MustWait);
    r.add_exclusive_waiter(C);
    // ExAcquireResourceSharedLite: a new sharer waits behind the exclusive waiter...
    assert_eq!(r.try_acquire(B, AcquireMode::Shared), Grant::MustWait);
    // ...but a thread that already holds it shared is granted at once.
    assert_eq!(r.try_acquire(A, AcquireMode::Shared), Grant::Granted);
    // ExAcquireSharedStarveExclusive ignores exclusive waiters.
    assert_eq!(
        r.try_acquire(B, AcquireMode::SharedStarveExclusive),
        Grant::Granted
    );
    // ExAcquireSharedWaitForExclusive waits even for a thread that already holds it shared.
    assert_eq!(
        r.try_acquire(A, AcquireMode::SharedWaitForExclusive),
        Grant::MustWait
    );
    assert!(r.release(A));
    assert!(r.release(A));
    assert!(r.release(B));
    assert_eq!(r.try_acquire(C, AcquireMode::Exclusive), Grant::Granted);
    assert!(r.exclusive_waiters.is_empty());
}

#[test]
fn unowned_resource_grants_every_mode() {
    for mode in [
        AcquireMode::Exclusive,
        AcquireMode::Shared,
        AcquireMode::SharedStarveExclusive,
        AcquireMode::SharedWaitForExclusive,
    ] {
        let mut r = ResourceState::default();
        assert_eq!(r.try_acquire(A, mode), Grant::Granted, "{mode:?}");
        assert!(r.held_by(A));
        assert!(r.release(A));
        assert!(!r.held_by(A));
    }
}

/// Uses the boundary primitives correctly; any finding is a model bug.
fn careful(_device: DeviceRef, irp: Irp) -> NtStatus {
    let _region = enter_file_system();
    let resource = Resource::try_new().unwrap();
    {
        let exclusive = resource.acquire_exclusive(true).unwrap();
        assert!(resource.is_acquired_exclusive());
        let nested = resource.acquire_shared(true).unwrap();
        drop(nested);
        drop(exclusive);
    }
    assert!(!resource.is_acquired_exclusive());
    let shared = resource.acquire_shared(true).unwrap();
    // Upgrading shared to exclusive without waiting fails cleanly.
    assert!(resource.acquire_exclusive(false).is_none());
    drop(shared);
    let mutex = FastMutex::try_new().unwrap();
    drop(mutex.acquire().unwrap());
    let event = Event::try_notification(false).unwrap();
    let setter = event.clone();
    rustfsd::kernel::model::queue_work_item(move || setter.set())
        .map_err(|(status, _)| status)
        .unwrap();
    assert!(event.wait(), "the worker sets the event while we wait");
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn boundary_primitives_used_correctly_produce_no_findings() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::test_driver("locks", careful))
        .unwrap();
    let h = s.open_test_driver().handle.unwrap();
    s.close_handle(h);
    assert_eq!(s.unload_driver("locks"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

fn waits_forever(_device: DeviceRef, irp: Irp) -> NtStatus {
    let event = Event::try_synchronization(false).unwrap();
    assert!(!event.wait());
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn waiting_on_an_event_nobody_sets_is_a_deadlock_finding() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::test_driver("waiter", waits_forever))
        .unwrap();
    s.open_test_driver();
    let findings = s.findings();
    assert!(
        findings
            .iter()
            .any(|f| matches!(&f.kind, FindingKind::Other(t) if t.contains("deadlock"))),
        "{findings:?}"
    );
}

/// A work item that waits, in a critical region, for a later work item: Windows runs the later
/// one on another system worker thread, whose APC count and top-level IRP are its own.
fn worker_waits_for_worker(_device: DeviceRef, irp: Irp) -> NtStatus {
    let first_done = Event::try_notification(false).unwrap();
    let setter = first_done.clone();
    rustfsd::kernel::model::queue_work_item(move || {
        let _region = enter_file_system();
        let second_done = Event::try_notification(false).unwrap();
        let second = second_done.clone();
        rustfsd::kernel::model::queue_work_item(move || second.set())
            .map_err(|(status, _)| status)
            .unwrap();
        assert!(second_done.wait(), "the second work item sets the event");
        setter.set();
    })
    .map_err(|(status, _)| status)
    .unwrap();
    assert!(first_done.wait(), "the first work item finishes");
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_work_item_waiting_for_another_does_not_lend_it_its_thread() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::test_driver(
        "workers",
        worker_waits_for_worker,
    ))
    .unwrap();
    let h = s.open_test_driver().handle.unwrap();
    s.close_handle(h);
    assert_eq!(s.unload_driver("workers"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}
