//! `WorkItem`: an IO_WORKITEM allocated once (IoSizeofWorkItem + pool, IoInitializeWorkItem)
//! and queued again and again (IoQueueWorkItemEx), so that queueing never allocates and never
//! fails. The routine runs later on the system worker thread at PASSIVE_LEVEL with the device
//! it was queued for. Queueing an item that is still queued, and freeing one that is queued,
//! corrupt the worker queue on Windows: both are findings here.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::device::DeviceRef;
use super::pool::{PoolBox, PoolTag};
use super::state::with_state;
use super::verifier::FindingKind;
use crate::kernel::NtStatus;

const WORK_ITEM_TAG: PoolTag = PoolTag(*b"RfWk");

pub struct WorkItem {
    queued: PoolBox<Arc<AtomicBool>>,
    routine: fn(DeviceRef),
}

impl WorkItem {
    /// Allocates and initializes the item; `routine` is what every queueing runs.
    pub fn try_new(routine: fn(DeviceRef)) -> Result<WorkItem, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::pool::allocate()?;
        Ok(WorkItem {
            queued: PoolBox::try_new(WORK_ITEM_TAG, Arc::new(AtomicBool::new(false)))?,
            routine,
        })
    }

    /// IoQueueWorkItemEx(DelayedWorkQueue): the routine runs later with `device`. It may queue
    /// the item again once it runs (the I/O manager has dequeued it by then).
    pub fn queue(&self, device: DeviceRef) {
        super::preempt::kernel_call();
        let queued = Arc::clone(&self.queued);
        let routine = self.routine;
        with_state(|state| {
            state.require_irql("IoQueueWorkItemEx", 2);
            if queued.swap(true, Ordering::AcqRel) {
                state.report(FindingKind::Other(String::from(
                    "IoQueueWorkItemEx on a work item that is still queued",
                )));
                return;
            }
            state.preallocated_work_items_queued += 1;
            let thread = state.current_thread;
            state.push_trace(format!("t{thread}: IoQueueWorkItemEx (preallocated)"));
            let run = move || {
                queued.store(false, Ordering::Release);
                super::heap_faults::in_driver(|| routine(device));
            };
            state
                .work_queue
                .push_back((String::from("preallocated work item"), Box::new(run)));
        });
    }
}

impl Drop for WorkItem {
    fn drop(&mut self) {
        if self.queued.load(Ordering::Acquire) {
            with_state(|state| {
                state.report(FindingKind::Other(String::from(
                    "IoUninitializeWorkItem and free of a work item that is still queued",
                )))
            });
        }
    }
}
