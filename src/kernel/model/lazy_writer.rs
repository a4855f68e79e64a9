//! CcWaitForCurrentLazyWriterActivity: the caller waits until every work item now in the
//! cache manager's queues (the lazy writer's shared-map deletions, "lazy closes", and
//! read-aheads) has run
//! (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccwaitforcurrentlazywriteractivity>;
//! FastFAT `fsctrl.c` FatLockVolumeInternal calls it between two purges). Those items may drop
//! FILE_OBJECT references, so CLOSEs may come through the driver inside the wait: the caller
//! must hold no resource (Learn: "release any currently held synchronization objects"), which
//! the model reports if it does. The wait queues a work queue entry of its own, which may not
//! be allocated (ReactOS and Windows CcAllocateWorkQueueEntry): STATUS_INSUFFICIENT_RESOURCES.
//!
//! The items run on a system worker thread, not the caller's (ReactOS `ntoskrnl/cc/lazywrite.c`:
//! CcLazyWriteScan and the queued entries run from CcWorkerThread, an ExQueueWorkItem routine;
//! Learn "System Worker Threads"). Under the scheduler the caller, a job, queues its own entry
//! behind them and blocks until the worker has run it: the scheduler's worker turn runs the
//! items as jobs, preempted and waiting like any request, while other threads go on.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::preempt::{self, Wait};
use super::state::{State, current};
use super::verifier::FindingKind;
use crate::kernel::NtStatus;

/// How the cache manager's work items are labelled in the model's work queue
/// (`cache::drop_open_count`, `read_ahead::schedule`, the wait's own entry).
const CACHE_MANAGER_ITEMS: [&str; 2] = ["lazy writer:", "Cc read-ahead:"];

fn is_cache_manager_item(label: &str) -> bool {
    CACHE_MANAGER_ITEMS
        .iter()
        .any(|prefix| label.starts_with(prefix))
}

/// CcWaitForCurrentLazyWriterActivity (PASSIVE_LEVEL).
pub fn wait_for_current_lazy_writer_activity() -> NtStatus {
    let Some(kernel) = current() else {
        return NtStatus::SUCCESS;
    };
    if super::pool::allocate().is_err() {
        return NtStatus::INSUFFICIENT_RESOURCES;
    }
    let mut state = kernel.lock();
    state.require_irql("CcWaitForCurrentLazyWriterActivity", 0);
    let held = super::resource::held_by_current(&state);
    if !held.is_empty() {
        state.report(FindingKind::Other(format!(
            "CcWaitForCurrentLazyWriterActivity with resources {held:?} held (the lazy \
             writer's CLOSEs may need them)"
        )));
    }
    let batch = bring_cache_manager_items_forward(&mut state);
    let thread = state.current_thread;
    state.push_trace(format!(
        "t{thread}: CcWaitForCurrentLazyWriterActivity: {batch} cache manager items"
    ));
    // A job that is not itself a worker waits for the worker; elsewhere (the session API, a
    // work item) the wait runs the items on a worker thread in place.
    if preempt::on_job() && !state.thread().running_item {
        let done = Arc::new(AtomicBool::new(false));
        let set = done.clone();
        let entry: Box<dyn FnOnce() + Send> = Box::new(move || set.store(true, Ordering::Release));
        let label = String::from("lazy writer: CcWaitForCurrentLazyWriterActivity's entry");
        state.work_queue.insert(batch, (label, entry));
        drop(state);
        preempt::block(Wait::Event(done));
        return NtStatus::SUCCESS;
    }
    drop(state);
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

/// Moves the cache manager's queued items to the front of the work queue, oldest first (the
/// lazy writer's own thread runs them next, whatever else the system worker has); returns
/// how many there are.
fn bring_cache_manager_items_forward(state: &mut State) -> usize {
    let (mut ours, others): (std::collections::VecDeque<_>, std::collections::VecDeque<_>) =
        core::mem::take(&mut state.work_queue)
            .into_iter()
            .partition(|(label, _)| is_cache_manager_item(label));
    let batch = ours.len();
    ours.extend(others);
    state.work_queue = ours;
    batch
}
