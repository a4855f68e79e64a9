//! The end of IRP_MJ_CLOSE, after the FILE_OBJECT's CCB was dropped and its FCB reference
//! detached: drop that reference, note the FCB as possibly idle in the table, and release the
//! FILE_OBJECT's hold on the volume.
//!
//! CLOSE can arrive on any thread, hours after CLEANUP, or nested inside a call that holds the
//! table lock further up this very stack (a Cc/Mm call, a filter freeing a context that held a
//! FILE_OBJECT). So CLOSE never waits for the table lock: it tries it, and if it is taken, the
//! rest is posted to a worker thread (the async close path), which may wait. Dropping an FCB
//! can itself send a nested CLOSE (a filter context torn down with it may release a FILE_OBJECT
//! of ours), so a chain of them could nest without bound: when the stack runs low, the drop
//! moves to the worker too (DESIGN.md invariant 5). The volume stays alive meanwhile, because
//! the FILE_OBJECT's hold on it is released only after the bookkeeping.
//!
//! Posting must not fail where it matters most, on a low stack: a CLOSE that cannot leave the
//! stack runs in place and nests. So each volume has a `CloseQueue` with a work item allocated
//! at mount and room kept for one pending close per FILE_OBJECT open (reserved at CREATE):
//! posting pushes onto the queue and queues the work item, neither of which allocates.

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::fcb::{FcbRef, FcbTable};
use crate::kernel::{DeviceRef, Locked, NtStatus, WorkItem, remaining_stack};
use crate::volume::{Vcb, lifetime};

/// Below this much stack left, a CLOSE does not drop an FCB in place: the drop may run filter
/// callbacks and a nested CLOSE, each with its own frames.
pub const CLOSE_STACK_RESERVE: usize = 8 * 1024;

/// Finishes the CLOSE of a FILE_OBJECT of the volume on `device` that held `fcb`.
pub fn finish_close(device: DeviceRef, fcb: Option<FcbRef>) {
    let key = fcb.as_ref().map(|fcb| fcb.key());
    if remaining_stack() < CLOSE_STACK_RESERVE {
        post(device, fcb, key);
        return;
    }
    // If the table no longer lists it, this frees the FCB.
    drop(fcb);
    let noted = device
        .with_extension(|vcb: &Vcb| match vcb.try_inner() {
            Some(mut inner) => {
                note_closed(vcb, &mut inner.fcbs, key);
                true
            }
            None => false,
        })
        .unwrap_or(true);
    if noted {
        lifetime::release_file_object(device);
    } else {
        post(device, None, key);
    }
}

/// The async close path: the rest of the CLOSE on the system worker thread, through the
/// volume's close queue.
fn post(device: DeviceRef, fcb: Option<FcbRef>, key: Option<u64>) {
    let rejected = device
        .with_extension(|vcb: &Vcb| vcb.closes().post(vcb, device, fcb, key))
        .unwrap_or(None);
    if let Some((fcb, key)) = rejected {
        // No room and none to be had, or the queue's lock is held up this very stack: do it
        // here after all. The idle note may be skipped (the FCB then stays listed until
        // dismount clears the table), but the volume is never kept alive.
        drop(fcb);
        device.with_extension(|vcb: &Vcb| {
            if let Ok(mut inner) = vcb.inner() {
                note_closed(vcb, &mut inner.fcbs, key);
            }
        });
        lifetime::release_file_object(device);
    }
}

/// The rest of a CLOSE that could not finish in place.
struct PendingClose {
    fcb: Option<FcbRef>,
    key: Option<u64>,
}

/// A volume's pending closes and the work item that finishes them.
pub struct CloseQueue {
    pending: Locked<VecDeque<PendingClose>>,
    /// The work item is queued and has not started yet.
    queued: AtomicBool,
    work: WorkItem,
}

impl CloseQueue {
    pub fn try_new() -> Result<CloseQueue, NtStatus> {
        Ok(CloseQueue {
            pending: Locked::try_new(VecDeque::new())?,
            queued: AtomicBool::new(false),
            work: WorkItem::try_new(drain)?,
        })
    }

    /// Keeps room for one pending close per FILE_OBJECT that may be open once the one being
    /// opened counts (called before it does).
    pub fn reserve(&self, open_file_objects: u32) -> Result<(), NtStatus> {
        let mut pending = self.pending.lock().ok_or(NtStatus::POSSIBLE_DEADLOCK)?;
        let wanted = (open_file_objects as usize).saturating_add(1);
        let additional = wanted.saturating_sub(pending.len());
        pending
            .try_reserve(additional)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)
    }

    /// Queues the rest of a CLOSE; gives it back if it cannot be queued.
    fn post(
        &self,
        vcb: &Vcb,
        device: DeviceRef,
        fcb: Option<FcbRef>,
        key: Option<u64>,
    ) -> Option<(Option<FcbRef>, Option<u64>)> {
        let Some(mut pending) = self.pending.lock() else {
            return Some((fcb, key));
        };
        // The room reserved at CREATE; past it (opens racing the reservation), one allocation.
        if pending.len() == pending.capacity() && pending.try_reserve(1).is_err() {
            return Some((fcb, key));
        }
        pending.push_back(PendingClose { fcb, key });
        drop(pending);
        if !self.queued.swap(true, Ordering::AcqRel) {
            // The queued work item holds the volume like a FILE_OBJECT until it has run.
            vcb.file_object_opened(false);
            self.work.queue(device);
        }
        None
    }
}

/// The close queue's work item: finishes every pending close, then lets go of the volume.
fn drain(device: DeviceRef) {
    // A close posted from now on queues the item again (it is no longer queued).
    device.with_extension(|vcb: &Vcb| vcb.closes().queued.store(false, Ordering::Release));
    loop {
        let next = device
            .with_extension(|vcb: &Vcb| vcb.closes().pending.lock()?.pop_front())
            .flatten();
        let Some(PendingClose { fcb, key }) = next else {
            break;
        };
        drop(fcb);
        device.with_extension(|vcb: &Vcb| {
            if let Ok(mut inner) = vcb.inner() {
                note_closed(vcb, &mut inner.fcbs, key);
            }
        });
        // Never the volume's last: the work item's own hold is released below.
        lifetime::release_file_object(device);
    }
    lifetime::release_file_object(device);
}

fn note_closed(vcb: &Vcb, fcbs: &mut FcbTable, key: Option<u64>) {
    if let Some(key) = key
        && !vcb.is_dismounted()
    {
        fcbs.note_closed(key);
    }
}
