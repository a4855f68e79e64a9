//! IRP_MJ_CLEANUP: the last handle to a FILE_OBJECT is gone (DuplicateHandle adds handles
//! without an IRP, so this comes once per FILE_OBJECT, at the last one). Handle-level state is
//! released here; memory waits for CLOSE, which may come much later.

use crate::cache;
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, FO_CLEANUP_COMPLETE, Irp, NtStatus};
use crate::volume::{Vcb, control};

pub fn cleanup(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::SUCCESS);
    };
    // A counted reference for the duration of this request; FsContext keeps its own.
    let Some(fcb) = file_object.fcb::<Fcb>() else {
        return irp.complete(NtStatus::SUCCESS);
    };
    // First, under the FCB's resource exclusive: a read holds it shared from its
    // FO_CLEANUP_COMPLETE check to its end, so none is half-way through when the cache map goes
    // below, and none after this starts one (FastFAT sets the flag under its FCB too).
    {
        let _exclusive = fcb.resource().acquire_exclusive(true);
        file_object.set_flags(file_object.flags() | FO_CLEANUP_COMPLETE);
    }
    match fcb.kind() {
        FcbKind::Volume => {
            // A lock held by this open ends with it.
            let _ = control::unlock(device, file_object);
        }
        FcbKind::File => {
            // Its oplocks go (their requests complete BROKEN_TO_NONE) and what waited for
            // its acknowledgement goes on, as FastFAT's and CDFS's cleanup of a user file.
            fcb.oplock().cleanup(&irp);
            fcb.unlock_all(&irp);
            super::fastio::refresh(device, &fcb);
        }
        FcbKind::Directory => {
            // Its pended change notifications end (STATUS_NOTIFY_CLEANUP), as FastFAT's
            // FatCommonCleanup does for a directory open.
            device.with_extension(|vcb: &Vcb| vcb.notify().cleanup(&file_object));
        }
        FcbKind::Symlink => {}
    }
    if let Some(mut state) = fcb.state().lock() {
        state.share_access.remove_file_object(&file_object);
        state.open_handles = state.open_handles.saturating_sub(1);
    }
    device.with_extension(|vcb: &Vcb| vcb.handle_closed());
    cache::teardown::at_cleanup(&fcb, &file_object);
    // On a dismounted volume nothing purges later: Cc's section segment would keep the
    // FILE_OBJECT (CDFS cdfs/cleanup.c purges the volume at cleanup to spark teardown).
    if device.with_extension(|vcb: &Vcb| vcb.is_dismounted()) == Some(true) {
        cache::teardown::purge_after_dismount(&fcb);
    }
    irp.complete(NtStatus::SUCCESS)
}
