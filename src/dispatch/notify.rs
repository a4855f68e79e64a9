//! IRP_MN_NOTIFY_CHANGE_DIRECTORY: FsRtl keeps the IRP until the handle's CLEANUP (which
//! completes it with STATUS_NOTIFY_CLEANUP) or a cancel. A read-only volume never changes, so
//! nothing else completes it. As FastFAT's FatNotifyChangeDirectory: only a directory open may
//! ask; the answer is always STATUS_PENDING once FsRtl has the IRP. If FsRtl cannot allocate
//! the open's notify structure it raises before taking the IRP, and the IRP completes with
//! that status (FastFAT's exception handler does the same).

use crate::fcb::FcbKind;
use crate::kernel::{DeviceRef, Irp, IrpParameters, NtStatus};
use crate::volume::{Vcb, control};

pub fn notify_change_directory(device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::NotifyDirectory { filter, watch_tree } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some((file_object, fcb, ccb)) = super::reply::opened(&irp) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(name) = ccb
        .notify_name
        .as_ref()
        .filter(|_| fcb.kind() == FcbKind::Directory)
    else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if let Err(status) = control::check_mounted(device) {
        return irp.complete(status);
    }
    let watched = device.with_extension(|vcb: &Vcb| {
        vcb.notify()
            .watch(&file_object, name, watch_tree, filter, irp)
    });
    match watched {
        Some(Ok(status)) => status,
        // FsRtl raised before taking the IRP (no pool for the open's notify structure).
        Some(Err((irp, status))) => irp.complete(status),
        None => NtStatus::INVALID_DEVICE_REQUEST,
    }
}
