//! The end of IRP_MJ_CLOSE, after the FILE_OBJECT's FCB and CCB references were dropped: note
//! the FCB as possibly idle in the table, and release the FILE_OBJECT's hold on the volume.
//!
//! CLOSE can arrive on any thread, hours after CLEANUP, or nested inside a call that holds the
//! table lock further up this very stack (a Cc/Mm call, a filter freeing a context). So CLOSE
//! never waits for the table lock: it tries it, and if it is taken, the rest is posted to a
//! worker thread (the async close path), which may wait. The volume stays alive meanwhile,
//! because the FILE_OBJECT's hold on it is released only after the bookkeeping.

use crate::kernel::{DeviceRef, queue_work_item};
use crate::volume::{Vcb, lifetime};

/// Finishes the CLOSE of a FILE_OBJECT of the volume on `device` whose FCB had table key
/// `key` (`None`: it had no FCB).
pub fn finish_close(device: DeviceRef, key: Option<u64>) {
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
        return;
    }
    let posted = queue_work_item(move || {
        device.with_extension(|vcb: &Vcb| {
            if let Ok(mut inner) = vcb.inner() {
                note_closed(vcb, &mut inner.fcbs, key);
            }
        });
        lifetime::release_file_object(device);
    });
    if posted.is_err() {
        // No worker: skip the idle note (the FCB stays listed until dismount clears the table)
        // but never keep the volume alive.
        lifetime::release_file_object(device);
    }
}

fn note_closed(vcb: &Vcb, fcbs: &mut crate::fcb::FcbTable, key: Option<u64>) {
    if let Some(key) = key
        && !vcb.is_dismounted()
    {
        fcbs.note_closed(key);
    }
}
