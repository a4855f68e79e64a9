//! KEVENT and work items.
//!
//! An `Event` is a counted pool block holding a KEVENT (a waited-on KEVENT must not move, and
//! clones share it). Work items use IoInitializeWorkItem on our driver object +
//! IoQueueWorkItemEx (DelayedWorkQueue): the I/O manager keeps the driver object referenced
//! until the routine returns, so the image cannot unload under a queued item.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr::{self, NonNull};

use wdk_sys::{_EVENT_TYPE, _KWAIT_REASON, _MODE, _WORK_QUEUE_TYPE, KEVENT, PIO_WORKITEM, PVOID};

use super::pool::{self, PoolArc, PoolBox, PoolTag};

const EVENT_TAG: PoolTag = PoolTag(*b"RfEv");
const WORK_ITEM_TAG: PoolTag = PoolTag(*b"RfWi");
const WORK_ROUTINE_TAG: PoolTag = PoolTag(*b"RfWr");

struct EventCell(UnsafeCell<KEVENT>);

// SAFETY: a KEVENT is designed for concurrent use; all access goes through Ke routines.
unsafe impl Send for EventCell {}
// SAFETY: as above.
unsafe impl Sync for EventCell {}

/// A notification or synchronization event. If its pool block could not be allocated, the
/// event is never signalled: `wait` returns false at once, `set` does nothing.
#[derive(Clone)]
pub struct Event {
    cell: Option<PoolArc<EventCell>>,
}

impl Event {
    fn with_type(kind: wdk_sys::EVENT_TYPE, signaled: bool) -> Event {
        // SAFETY: all-zero is valid storage for a KEVENT that KeInitializeEvent then sets up.
        let storage = EventCell(UnsafeCell::new(unsafe { core::mem::zeroed() }));
        let Ok(cell) = PoolArc::try_new(EVENT_TAG, storage) else {
            return Event { cell: None };
        };
        // SAFETY: the KEVENT is in its final place (a pool block that never moves) and nobody
        // else can see it yet.
        unsafe { wdk_sys::ntddk::KeInitializeEvent(cell.0.get(), kind, u8::from(signaled)) };
        Event { cell: Some(cell) }
    }

    fn raw(&self) -> Option<*mut KEVENT> {
        self.cell.as_ref().map(|cell| cell.0.get())
    }

    /// KeInitializeEvent(NotificationEvent).
    pub fn notification(signaled: bool) -> Event {
        Event::with_type(_EVENT_TYPE::NotificationEvent, signaled)
    }

    /// KeInitializeEvent(SynchronizationEvent).
    pub fn synchronization(signaled: bool) -> Event {
        Event::with_type(_EVENT_TYPE::SynchronizationEvent, signaled)
    }

    /// KeSetEvent.
    pub fn set(&self) {
        if let Some(event) = self.raw() {
            // SAFETY: the KEVENT is initialized and alive while any clone is.
            unsafe { wdk_sys::ntddk::KeSetEvent(event, 0, 0) };
        }
    }

    /// KeClearEvent.
    pub fn clear(&self) {
        if let Some(event) = self.raw() {
            // SAFETY: as in set.
            unsafe { wdk_sys::ntddk::KeClearEvent(event) };
        }
    }

    /// KeReadStateEvent.
    pub fn is_signaled(&self) -> bool {
        // SAFETY: as in set.
        self.raw()
            .is_some_and(|event| unsafe { wdk_sys::ntddk::KeReadStateEvent(event) } != 0)
    }

    /// KeWaitForSingleObject with no timeout (KernelMode, not alertable, IRQL <= APC_LEVEL).
    /// True once signaled.
    pub fn wait(&self) -> bool {
        let Some(event) = self.raw() else {
            return false;
        };
        // SAFETY: as in set; `self` keeps the event alive for the whole wait.
        let status = unsafe {
            wdk_sys::ntddk::KeWaitForSingleObject(
                event.cast(),
                _KWAIT_REASON::Executive,
                _MODE::KernelMode as i8,
                0,
                ptr::null_mut(),
            )
        };
        status == 0
    }
}

/// The pool block behind a queued work item: the IO_WORKITEM and the routine.
struct WorkBlock<F> {
    item: NonNull<u8>,
    routine: F,
}

/// IoQueueWorkItemEx(DelayedWorkQueue): `routine` runs later on a system worker thread, at
/// PASSIVE_LEVEL. If the work item cannot be allocated (pool exhausted) or DriverEntry has not
/// run, `routine` is dropped without running.
pub fn queue_work_item(routine: impl FnOnce() + Send + 'static) {
    queue(routine);
}

fn queue<F: FnOnce() + Send + 'static>(routine: F) {
    let driver = super::entry::driver_object();
    if driver.is_null() {
        return;
    }
    // SAFETY: IoSizeofWorkItem has no preconditions.
    let item_size = unsafe { wdk_sys::ntddk::IoSizeofWorkItem() } as usize;
    let Ok(item) = pool::allocate(WORK_ITEM_TAG, item_size) else {
        return;
    };
    let Ok(block) = PoolBox::try_new(WORK_ROUTINE_TAG, WorkBlock { item, routine }) else {
        // SAFETY: the item block is ours and was never initialized or queued.
        unsafe { pool::free(item, WORK_ITEM_TAG) };
        return;
    };
    let context = block.into_raw_ptr();
    // SAFETY: `item` is IoSizeofWorkItem bytes of nonpaged pool; `driver` is our driver
    // object (set in DriverEntry, alive while the image is). The context block is owned by
    // the queued item and taken back exactly once, in `run_work_item::<F>`.
    unsafe {
        let item = item.as_ptr().cast::<c_void>() as PIO_WORKITEM;
        wdk_sys::ntddk::IoInitializeWorkItem(driver.cast(), item);
        wdk_sys::ntddk::IoQueueWorkItemEx(
            item,
            Some(run_work_item::<F>),
            _WORK_QUEUE_TYPE::DelayedWorkQueue,
            context.as_ptr().cast(),
        );
    }
}

/// The worker routine: takes the block back, frees the work item, runs the routine.
unsafe extern "C" fn run_work_item<F: FnOnce() + Send + 'static>(
    _io_object: PVOID,
    context: PVOID,
    item: PIO_WORKITEM,
) {
    let Some(context) = NonNull::new(context.cast::<WorkBlock<F>>()) else {
        return;
    };
    // SAFETY: `context` is the block `queue::<F>` gave up for this item, taken back once.
    // Freeing the IO_WORKITEM inside its own routine is allowed (the I/O manager no longer
    // reads it once the routine runs; it holds its own reference on the driver object).
    let routine = unsafe {
        let block = PoolBox::from_raw_ptr(context, WORK_ROUTINE_TAG);
        let WorkBlock {
            item: item_block,
            routine,
        } = PoolBox::into_inner(block);
        wdk_sys::ntddk::IoUninitializeWorkItem(item);
        pool::free(item_block, WORK_ITEM_TAG);
        routine
    };
    routine();
}
