//! Oplocks: the oplock FSCTLs, answered by FsRtl's oplock package on the FCB's OPLOCK, and the
//! oplock check of the requests that can break one (CREATE, READ, LOCK_CONTROL; CLEANUP lets
//! go of the handle's oplocks in `cleanup.rs`).
//!
//! As CDFS's CdOplockRequest and FastFAT's FatOplockRequest: only a file open may ask
//! (STATUS_INVALID_PARAMETER otherwise); a request is made under the FCB's resource exclusive,
//! an acknowledgement under it shared; Level 1, Batch and Filter oplocks are granted only to
//! the one handle of the file (OpenCount = the handles not cleaned up), a Level 2 oplock only
//! while no byte-range lock exists (OpenCount = whether one does). FSCTL_REQUEST_OPLOCK (the
//! Windows 7 oplocks) is not answered (STATUS_INVALID_DEVICE_REQUEST, as CDFS).
//!
//! An operation that must wait for an acknowledgement is posted as CDFS posts it
//! (CdOplockComplete): FsRtl keeps the IRP pending and gives it back to `resume` when the
//! break is acknowledged (or cancelled), and the request runs again, whole, on a worker.

use crate::fcb::{Fcb, FcbKind, FcbRef};
use crate::kernel::{
    FSCTL_OPBATCH_ACK_CLOSE_PENDING, FSCTL_OPLOCK_BREAK_ACK_NO_2, FSCTL_OPLOCK_BREAK_ACKNOWLEDGE,
    FSCTL_OPLOCK_BREAK_NOTIFY, FSCTL_REQUEST_BATCH_OPLOCK, FSCTL_REQUEST_FILTER_OPLOCK,
    FSCTL_REQUEST_OPLOCK_LEVEL_1, FSCTL_REQUEST_OPLOCK_LEVEL_2, Irp, Locked, NtStatus, OplockCheck,
    PoolArc, PoolTag, charge_stack_frame, queue_work_item,
};
use crate::volume::Vcb;

/// True for the FSCTLs `request` answers.
pub fn is_oplock_fsctl(code: u32) -> bool {
    matches!(
        code,
        FSCTL_REQUEST_OPLOCK_LEVEL_1
            | FSCTL_REQUEST_OPLOCK_LEVEL_2
            | FSCTL_REQUEST_BATCH_OPLOCK
            | FSCTL_REQUEST_FILTER_OPLOCK
            | FSCTL_OPLOCK_BREAK_ACKNOWLEDGE
            | FSCTL_OPBATCH_ACK_CLOSE_PENDING
            | FSCTL_OPLOCK_BREAK_NOTIFY
            | FSCTL_OPLOCK_BREAK_ACK_NO_2
    )
}

/// An oplock FSCTL (`is_oplock_fsctl(code)`): FsRtlOplockFsctrl completes or pends the IRP.
pub fn request(irp: Irp, code: u32) -> NtStatus {
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(fcb) = file_object.fcb::<Fcb>() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if fcb.kind() != FcbKind::File {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    let asks = matches!(
        code,
        FSCTL_REQUEST_OPLOCK_LEVEL_1
            | FSCTL_REQUEST_OPLOCK_LEVEL_2
            | FSCTL_REQUEST_BATCH_OPLOCK
            | FSCTL_REQUEST_FILTER_OPLOCK
    );
    if asks {
        // A dismounted volume grants nothing new; acknowledgements still go through, so that
        // what waits for them is released.
        let dismounted = irp
            .device()
            .and_then(|device| device.with_extension(|vcb: &Vcb| vcb.is_dismounted()))
            .unwrap_or(true);
        if dismounted {
            return irp.complete(NtStatus::VOLUME_DISMOUNTED);
        }
    }
    let held = if asks {
        fcb.resource().acquire_exclusive(true)
    } else {
        fcb.resource().acquire_shared(true)
    };
    let Some(_held) = held else {
        return irp.complete(NtStatus::POSSIBLE_DEADLOCK);
    };
    let open_count = match code {
        FSCTL_REQUEST_OPLOCK_LEVEL_2 => u32::from(fcb.has_byte_range_locks()),
        _ if asks => match fcb.state().lock() {
            Some(state) => state.open_handles,
            None => return irp.complete(NtStatus::POSSIBLE_DEADLOCK),
        },
        _ => 0,
    };
    let device = irp.device();
    let status = fcb.oplock().fsctrl(irp, open_count);
    // CDFS CdOplockRequest: the new oplock state decides fast I/O anew.
    if let Some(device) = device {
        super::fastio::refresh(device, &fcb);
    }
    status
}

/// FsRtlCheckOplock for a request on a file: `Some((irp, status))` to go on (status SUCCESS,
/// or OPLOCK_BREAK_IN_PROGRESS for a CREATE with FILE_COMPLETE_IF_OPLOCKED), `None` if the
/// IRP now waits for an acknowledgement (the dispatch routine returns STATUS_PENDING).
pub fn check(fcb: &FcbRef, irp: Irp) -> Option<(Irp, NtStatus)> {
    match fcb.oplock().check(irp, resume) {
        OplockCheck::Proceed(irp, status) => Some((irp, status)),
        OplockCheck::Pending => None,
    }
}

/// FsRtlOplockIsFastIoPossible on the FCB's oplock: the fast I/O helper reports
/// FastIoIsQuestionable (or not possible) while this is false, so the IRP path breaks oplocks.
pub fn oplock_allows_fast_io(fcb: &FcbRef) -> bool {
    fcb.oplock().is_fast_io_possible()
}

/// The oplock package's completion routine for a request that waited (CDFS CdOplockComplete):
/// acknowledged, the request runs again from the start on a worker; cancelled, it completes
/// with the status FsRtl gives. The IRP waits for the worker in a pool slot both sides share,
/// so that a work item that cannot be allocated still leaves the IRP here to complete.
fn resume(irp: Irp, status: NtStatus) {
    if status != NtStatus::SUCCESS {
        irp.complete(status);
        return;
    }
    let Some(device) = irp.device() else {
        irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
        return;
    };
    let slot = match Locked::try_new(None).and_then(|slot| PoolArc::try_new(POSTED_TAG, slot)) {
        Ok(slot) => slot,
        Err(status) => {
            irp.complete(status);
            return;
        }
    };
    match slot.lock() {
        Some(mut posted) => *posted = Some(irp),
        None => {
            irp.complete(NtStatus::POSSIBLE_DEADLOCK);
            return;
        }
    }
    let worker_slot = slot.clone();
    let queued = queue_work_item(move || {
        let posted = worker_slot.lock().and_then(|mut posted| posted.take());
        if let Some(irp) = posted {
            // The worker's own frame under the request: what Cc and Mm send from inside it
            // nests, as on the thread that first dispatched it.
            let _frame = charge_stack_frame(POSTED_FRAME);
            let _ = super::dispatch(device, irp);
        }
    });
    if let Err((status, unrun)) = queued {
        drop(unrun);
        if let Some(irp) = slot.lock().and_then(|mut posted| posted.take()) {
            irp.complete(status);
        }
    }
}

/// The stack a posted request's worker routine declares (the model's accounting).
const POSTED_FRAME: usize = 256;

/// Pool tag of the slot a posted request waits in.
const POSTED_TAG: PoolTag = PoolTag(*b"RfOp");
