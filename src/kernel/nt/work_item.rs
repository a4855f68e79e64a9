//! `WorkItem`: an IO_WORKITEM allocated once (IoSizeofWorkItem bytes of pool, initialized
//! with IoInitializeWorkItem on our driver object) and queued again and again with
//! IoQueueWorkItemEx, so that queueing never allocates and never fails. The routine, fixed at
//! creation, runs on a system worker thread at PASSIVE_LEVEL with the device given to `queue`.
//! The owner keeps the item alive while it is queued (the close queue holds its volume).

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::{_WORK_QUEUE_TYPE, DEVICE_OBJECT, PIO_WORKITEM, PVOID};

use super::device::DeviceRef;
use super::pool::{self, PoolBox, PoolTag};
use crate::kernel::NtStatus;

const WORK_ITEM_TAG: PoolTag = PoolTag(*b"RfWk");
const CONTEXT_TAG: PoolTag = PoolTag(*b"RfWc");

/// What the worker routine finds behind its context pointer.
struct Context {
    routine: fn(DeviceRef),
    device: AtomicPtr<DEVICE_OBJECT>,
}

pub struct WorkItem {
    item: NonNull<u8>,
    context: PoolBox<Context>,
}

// SAFETY: the IO_WORKITEM is a kernel object queued from any thread; the context is immutable
// but for the atomic device pointer.
unsafe impl Send for WorkItem {}
// SAFETY: as above.
unsafe impl Sync for WorkItem {}

impl WorkItem {
    /// Allocates and initializes the item; `routine` is what every queueing runs.
    pub fn try_new(routine: fn(DeviceRef)) -> Result<WorkItem, NtStatus> {
        let driver = super::entry::driver_object();
        if driver.is_null() {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        let context = PoolBox::try_new(
            CONTEXT_TAG,
            Context {
                routine,
                device: AtomicPtr::new(ptr::null_mut()),
            },
        )?;
        // SAFETY: IoSizeofWorkItem has no preconditions.
        let size = unsafe { wdk_sys::ntddk::IoSizeofWorkItem() } as usize;
        let item = pool::allocate(WORK_ITEM_TAG, size)?;
        // SAFETY: `item` is IoSizeofWorkItem bytes of nonpaged pool, ours; `driver` is our
        // driver object, alive while the image is.
        unsafe { wdk_sys::ntddk::IoInitializeWorkItem(driver.cast(), item.as_ptr().cast()) };
        Ok(WorkItem { item, context })
    }

    /// IoQueueWorkItemEx(DelayedWorkQueue): the routine runs later with `device`. The caller
    /// queues it only when it is not queued already (the routine may queue it again).
    pub fn queue(&self, device: DeviceRef) {
        self.context
            .device
            .store(device.as_raw(), Ordering::Release);
        let context: *const Context = &*self.context;
        // SAFETY: the item was initialized in try_new and is not queued (caller's rule); the
        // context block lives as long as the item, which its owner keeps while it is queued.
        unsafe {
            wdk_sys::ntddk::IoQueueWorkItemEx(
                self.item.as_ptr().cast::<c_void>() as PIO_WORKITEM,
                Some(run),
                _WORK_QUEUE_TYPE::DelayedWorkQueue,
                context.cast_mut().cast(),
            );
        }
    }
}

/// The worker routine: calls the item's routine with the device it was queued for.
unsafe extern "C" fn run(_io_object: PVOID, context: PVOID, _item: PIO_WORKITEM) {
    let Some(context) = NonNull::new(context.cast::<Context>()) else {
        return;
    };
    // SAFETY: `context` is the live context block of the queued item (its owner keeps it
    // until the routine below lets go); the routine may free the item, so nothing here reads
    // the block after calling it.
    let (routine, device) = unsafe {
        let context = context.as_ref();
        (context.routine, context.device.load(Ordering::Acquire))
    };
    if device.is_null() {
        return;
    }
    // SAFETY: the device was live when queued and its owner's hold keeps it so.
    routine(unsafe { DeviceRef::from_raw(device) });
}

impl Drop for WorkItem {
    fn drop(&mut self) {
        // SAFETY: the item is not queued (its owner's rule); uninitialized once, then freed.
        // Dropping it from inside its own routine is allowed: the I/O manager reads nothing of
        // an IoQueueWorkItemEx item once the routine runs.
        unsafe {
            wdk_sys::ntddk::IoUninitializeWorkItem(
                self.item.as_ptr().cast::<c_void>() as PIO_WORKITEM
            );
            pool::free(self.item, WORK_ITEM_TAG);
        }
    }
}
