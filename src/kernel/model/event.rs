//! KEVENT and work items (IoQueueWorkItem / ExQueueWorkItem on the system worker thread).

use std::boxed::Box;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::context::Context;
use super::state::{current, enter, with_state};
use crate::kernel::NtStatus;

/// A notification or synchronization event.
#[derive(Clone)]
pub struct Event {
    signaled: Arc<AtomicBool>,
    auto_reset: bool,
}

impl Event {
    /// KeInitializeEvent(NotificationEvent) (on a pool block in `nt`, hence fallible).
    pub fn try_notification(signaled: bool) -> Result<Event, NtStatus> {
        super::pool::allocate()?;
        Ok(Event {
            signaled: Arc::new(AtomicBool::new(signaled)),
            auto_reset: false,
        })
    }

    /// A KEVENT in a stack frame (the model's own waits that `nt` does with a stack event):
    /// no allocation, so it cannot fail.
    pub(crate) fn on_stack() -> Event {
        let _model = super::heap_faults::Scope::model();
        Event {
            signaled: Arc::new(AtomicBool::new(false)),
            auto_reset: false,
        }
    }

    /// KeInitializeEvent(SynchronizationEvent) (on a pool block in `nt`, hence fallible).
    pub fn try_synchronization(signaled: bool) -> Result<Event, NtStatus> {
        super::pool::allocate()?;
        Ok(Event {
            signaled: Arc::new(AtomicBool::new(signaled)),
            auto_reset: true,
        })
    }

    /// KeSetEvent.
    pub fn set(&self) {
        super::preempt::kernel_call();
        self.signaled.store(true, Ordering::Release);
    }

    /// KeClearEvent.
    pub fn clear(&self) {
        super::preempt::kernel_call();
        self.signaled.store(false, Ordering::Release);
    }

    pub fn is_signaled(&self) -> bool {
        self.signaled.load(Ordering::Acquire)
    }

    /// KeWaitForSingleObject with no timeout. True once signaled. The model runs queued work
    /// items while "blocked" (the worker thread runs while this one waits); while another job
    /// is live (the worker's item, another thread's request), a job blocks until the event is
    /// set (the main OS thread runs jobs until it is). If nothing can set the event, the wait
    /// can never end and is reported as a deadlock (by the scheduler, for a job).
    pub fn wait(&self) -> bool {
        super::preempt::kernel_call();
        with_state(|state| state.require_irql("KeWaitForSingleObject", 1));
        loop {
            if self.try_consume() {
                return true;
            }
            if run_one_work_item() {
                continue;
            }
            if super::preempt::other_job_live() {
                if super::preempt::on_job() {
                    super::preempt::block(super::preempt::Wait::Event(self.signaled.clone()));
                    continue;
                }
                let signaled = self.signaled.clone();
                if super::preempt::run_jobs_until(|_| signaled.load(Ordering::Acquire)) {
                    continue;
                }
            }
            with_state(|state| {
                state.report(super::verifier::FindingKind::Other(String::from(
                    "KeWaitForSingleObject on an event nothing will set (deadlock)",
                )))
            });
            return false;
        }
    }

    fn try_consume(&self) -> bool {
        if self.auto_reset {
            self.signaled.swap(false, Ordering::AcqRel)
        } else {
            self.is_signaled()
        }
    }
}

/// IoQueueWorkItem / ExQueueWorkItem(DelayedWorkQueue): `routine` runs later on the system
/// worker thread, at PASSIVE_LEVEL. Outside any modelled kernel (no worker to run it) the
/// routine comes back unrun with STATUS_UNSUCCESSFUL, as `nt` gives it back when the work item
/// cannot be allocated.
pub fn queue_work_item<F: FnOnce() + Send + 'static>(routine: F) -> Result<(), (NtStatus, F)> {
    super::preempt::kernel_call();
    let Some(kernel) = current() else {
        return Err((NtStatus::UNSUCCESSFUL, routine));
    };
    let mut state = kernel.lock();
    state.require_irql("IoQueueWorkItem", 2);
    // The work item is allocated per call (IoAllocateWorkItem / IoSizeofWorkItem + pool),
    // which fails when pool is short: `Session::fail_work_item_allocations`.
    if state.work_item_allocation_failures > 0 {
        state.work_item_allocation_failures -= 1;
        let thread = state.current_thread;
        state.push_trace(std::format!("t{thread}: IoAllocateWorkItem fails"));
        return Err((NtStatus::INSUFFICIENT_RESOURCES, routine));
    }
    let thread = state.current_thread;
    state.push_trace(std::format!("t{thread}: IoQueueWorkItem"));
    let run = move || super::heap_faults::in_driver(routine);
    state
        .work_queue
        .push_back((String::from("work item"), Box::new(run)));
    Ok(())
}

/// Runs the oldest queued work item on the worker thread. False if none was queued.
pub fn run_one_work_item() -> bool {
    let Some(kernel) = current() else {
        return false;
    };
    let (item, previous) = {
        let mut state = kernel.lock();
        let Some(item) = state.work_queue.pop_front() else {
            return false;
        };
        let previous = state.current_thread;
        let worker = state.idle_worker();
        state.current_thread = worker;
        state.thread().running_item = true;
        state.context = Context::from(item.0.clone());
        let line = std::format!("t{worker}: runs {}", item.0);
        state.push_trace(line);
        (item, previous)
    };
    let _entered = enter(&kernel);
    let held_before = super::resource::held_by_current(&kernel.lock());
    (item.1)();
    let mut state = kernel.lock();
    // A work item returns to the worker loop: like a return to user mode, nothing may stay held.
    if state.thread().apc_disable > 0 {
        let count = state.thread().apc_disable;
        state.report(super::verifier::FindingKind::ApcsDisabledOnReturn { count });
        state.thread().apc_disable = 0;
    }
    for resource in super::resource::held_by_current(&state) {
        if !held_before.contains(&resource) {
            state.report(super::verifier::FindingKind::ResourceHeldOnReturn { resource });
        }
    }
    if state.thread().top_level_irp != 0 {
        state.report(super::verifier::FindingKind::TopLevelIrpLeftSet);
        state.thread().top_level_irp = 0;
    }
    state.thread().running_item = false;
    state.current_thread = previous;
    true
}
