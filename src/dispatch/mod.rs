//! IRP dispatch: one file per IRP_MJ_* as each is implemented. This module routes a request to
//! its handler; every major without one completes with STATUS_INVALID_DEVICE_REQUEST.

use crate::kernel::{DeviceRef, Irp, IrpMajor, NtStatus};

/// The single entry point for every IRP the I/O manager sends to our devices.
pub fn dispatch(_device: DeviceRef, irp: Irp) -> NtStatus {
    match irp.major() {
        // Not implemented yet: the lifecycle and read issues add handlers here.
        Some(_) | None => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

/// True for the majors the driver will handle; the dispatch table covers all of them.
pub fn handles(major: IrpMajor) -> bool {
    !matches!(major, IrpMajor::CreateNamedPipe | IrpMajor::CreateMailslot)
}
