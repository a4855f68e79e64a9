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
use crate::kernel::NtStatus;

const EVENT_TAG: PoolTag = PoolTag(*b"RfEv");
const WORK_ITEM_TAG: PoolTag = PoolTag(*b"RfWi");
const WORK_ROUTINE_TAG: PoolTag = PoolTag(*b"RfWr");

struct EventCell(UnsafeCell<KEVENT>);

// SAFETY: a KEVENT is designed for concurrent use; all access goes through Ke routines.
unsafe impl Send for EventCell {}
// SAFETY: as above.
unsafe impl Sync for EventCell {}

/// A notification or synchronization event, in a counted pool block shared by its clones.
#[derive(Clone)]
pub struct Event {
    cell: PoolArc<EventCell>,
}

impl Event {
    fn with_type(kind: wdk_sys::EVENT_TYPE, signaled: bool) -> Result<Event, NtStatus> {
        // SAFETY: all-zero is valid storage for a KEVENT that KeInitializeEvent then sets up.
        let storage = EventCell(UnsafeCell::new(unsafe { core::mem::zeroed() }));
        let cell = PoolArc::try_new(EVENT_TAG, storage)?;
        // SAFETY: the KEVENT is in its final place (a pool block that never moves) and nobody
        // else can see it yet.
        unsafe { wdk_sys::ntddk::KeInitializeEvent(cell.0.get(), kind, u8::from(signaled)) };
        Ok(Event { cell })
    }

    fn raw(&self) -> *mut KEVENT {
        self.cell.0.get()
    }

    /// KeInitializeEvent(NotificationEvent) on a fresh pool block.
    /// STATUS_INSUFFICIENT_RESOURCES if pool is exhausted.
    pub fn try_notification(signaled: bool) -> Result<Event, NtStatus> {
        Event::with_type(_EVENT_TYPE::NotificationEvent, signaled)
    }

    /// KeInitializeEvent(SynchronizationEvent) on a fresh pool block.
    /// STATUS_INSUFFICIENT_RESOURCES if pool is exhausted.
    pub fn try_synchronization(signaled: bool) -> Result<Event, NtStatus> {
        Event::with_type(_EVENT_TYPE::SynchronizationEvent, signaled)
    }

    /// KeSetEvent.
    pub fn set(&self) {
        // SAFETY: the KEVENT is initialized and alive while any clone is.
        unsafe { wdk_sys::ntddk::KeSetEvent(self.raw(), 0, 0) };
    }

    /// KeClearEvent.
    pub fn clear(&self) {
        // SAFETY: as in set.
        unsafe { wdk_sys::ntddk::KeClearEvent(self.raw()) };
    }

    /// KeReadStateEvent.
    pub fn is_signaled(&self) -> bool {
        // SAFETY: as in set.
        unsafe { wdk_sys::ntddk::KeReadStateEvent(self.raw()) != 0 }
    }

    /// KeWaitForSingleObject with no timeout (KernelMode, not alertable, IRQL <= APC_LEVEL).
    /// True once signaled.
    pub fn wait(&self) -> bool {
        let event = self.raw();
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
/// PASSIVE_LEVEL. If the work item cannot be allocated (STATUS_INSUFFICIENT_RESOURCES) or
/// DriverEntry has not run (STATUS_UNSUCCESSFUL), `routine` comes back unrun with the status,
/// so a caller holding a pended IRP in it can still complete that IRP.
pub fn queue_work_item<F: FnOnce() + Send + 'static>(routine: F) -> Result<(), (NtStatus, F)> {
    let driver = super::entry::driver_object();
    if driver.is_null() {
        return Err((NtStatus::UNSUCCESSFUL, routine));
    }
    // SAFETY: IoSizeofWorkItem has no preconditions.
    let item_size = unsafe { wdk_sys::ntddk::IoSizeofWorkItem() } as usize;
    let item = match pool::allocate(WORK_ITEM_TAG, item_size) {
        Ok(item) => item,
        Err(status) => return Err((status, routine)),
    };
    let block = match PoolBox::try_new_or_return(WORK_ROUTINE_TAG, WorkBlock { item, routine }) {
        Ok(block) => block,
        Err((status, WorkBlock { item, routine })) => {
            // SAFETY: the item block is ours and was never initialized or queued.
            unsafe { pool::free(item, WORK_ITEM_TAG) };
            return Err((status, routine));
        }
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
    Ok(())
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
    // SAFETY: `context` is the block `queue_work_item::<F>` gave up for this item, taken back once.
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
