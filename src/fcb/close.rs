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

use crate::fcb::{FcbRef, FcbTable};
use crate::kernel::{DeviceRef, queue_work_item, remaining_stack};
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

/// The async close path: the rest of the CLOSE on the system worker thread.
fn post(device: DeviceRef, fcb: Option<FcbRef>, key: Option<u64>) {
    let work = move || {
        drop(fcb);
        device.with_extension(|vcb: &Vcb| {
            if let Ok(mut inner) = vcb.inner() {
                note_closed(vcb, &mut inner.fcbs, key);
            }
        });
        lifetime::release_file_object(device);
    };
    if let Err((_, work)) = queue_work_item(work) {
        // No worker: do it here after all. The idle note may be skipped (the FCB then stays
        // listed until dismount clears the table), but the volume is never kept alive.
        work();
    }
}

fn note_closed(vcb: &Vcb, fcbs: &mut FcbTable, key: Option<u64>) {
    if let Some(key) = key
        && !vcb.is_dismounted()
    {
        fcbs.note_closed(key);
    }
}
