//! IRP dispatch: one file per IRP_MJ_* as each is implemented. This module routes a request to
//! its handler; every major without one completes with STATUS_INVALID_DEVICE_REQUEST.

mod fsctrl;

use crate::kernel::{DeviceRef, Irp, IrpMajor, NtStatus, enter_file_system};

/// The single entry point for every IRP the I/O manager sends to our devices.
pub fn dispatch(device: DeviceRef, irp: Irp) -> NtStatus {
    // Normal kernel APCs stay disabled while we may hold file system resources.
    let _region = enter_file_system();
    match irp.major() {
        Some(IrpMajor::FileSystemControl) => fsctrl::file_system_control(device, irp),
        // Not implemented yet: the lifecycle and read issues add handlers here.
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

/// True for the majors the driver will handle; the dispatch table covers all of them.
pub fn handles(major: IrpMajor) -> bool {
    !matches!(major, IrpMajor::CreateNamedPipe | IrpMajor::CreateMailslot)
}
