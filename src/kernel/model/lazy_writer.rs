//! CcWaitForCurrentLazyWriterActivity: the caller waits until every work item now in the
//! cache manager's queues (the lazy writer's shared-map deletions, "lazy closes", and
//! read-aheads) has run
//! (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccwaitforcurrentlazywriteractivity>;
//! FastFAT `fsctrl.c` FatLockVolumeInternal calls it between two purges). Those items may drop
//! FILE_OBJECT references, so CLOSEs may come through the driver inside the wait: the caller
//! must hold no resource (Learn: "release any currently held synchronization objects"), which
//! the model reports if it does. The wait queues a work queue entry of its own, which may not
//! be allocated (ReactOS and Windows CcAllocateWorkQueueEntry): STATUS_INSUFFICIENT_RESOURCES.

use std::format;

use super::state::current;
use super::verifier::FindingKind;
use crate::kernel::NtStatus;

/// How the cache manager's work items are labelled in the model's work queue
/// (`cache::drop_open_count`, `read_ahead::schedule`).
const CACHE_MANAGER_ITEMS: [&str; 2] = ["lazy writer:", "Cc read-ahead:"];

fn is_cache_manager_item(label: &str) -> bool {
    CACHE_MANAGER_ITEMS
        .iter()
        .any(|prefix| label.starts_with(prefix))
}

/// CcWaitForCurrentLazyWriterActivity (PASSIVE_LEVEL): runs, on the worker thread, each cache
/// manager item queued when it is called, oldest first; other work items stay queued.
pub fn wait_for_current_lazy_writer_activity() -> NtStatus {
    let Some(kernel) = current() else {
        return NtStatus::SUCCESS;
    };
    if super::pool::allocate().is_err() {
        return NtStatus::INSUFFICIENT_RESOURCES;
    }
    let batch = {
        let mut state = kernel.lock();
        state.require_irql("CcWaitForCurrentLazyWriterActivity", 0);
        let held = super::resource::held_by_current(&state);
        if !held.is_empty() {
            state.report(FindingKind::Other(format!(
                "CcWaitForCurrentLazyWriterActivity with resources {held:?} held (the lazy \
                 writer's CLOSEs may need them)"
            )));
        }
        let batch = state
            .work_queue
            .iter()
            .filter(|(label, _)| is_cache_manager_item(label))
            .count();
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: CcWaitForCurrentLazyWriterActivity: {batch} cache manager items"
        ));
        batch
    };
    for _ in 0..batch {
        {
            let mut state = kernel.lock();
            let Some(at) = state
                .work_queue
                .iter()
                .position(|(label, _)| is_cache_manager_item(label))
            else {
                break;
            };
            // The lazy writer's own thread runs it next, whatever else the system worker has.
            if let Some(item) = state.work_queue.remove(at) {
                state.work_queue.push_front(item);
            }
        }
        super::event::run_one_work_item();
    }
    NtStatus::SUCCESS
}
