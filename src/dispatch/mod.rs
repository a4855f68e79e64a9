//! IRP dispatch: one file per IRP_MJ_* handled. This module routes a request to its handler;
//! every major without one completes with STATUS_INVALID_DEVICE_REQUEST.

mod access;
mod cleanup;
mod close;
mod create;
mod dirctrl;
mod ea;
pub mod fastio;
mod fileinfo;
mod fsctrl;
mod lockctrl;
mod notify;
pub mod oplock;
mod pnp;
mod read;
mod reparse_point;
mod reply;
mod retrieval_pointers;
mod security;
mod shutdown;
mod stack;
mod statistics;
mod trace;
mod volinfo;
mod volume_bitmap;
mod volume_state;

use crate::kernel::{DeviceRef, Irp, IrpMajor, NtStatus, TopLevelIrp, enter_file_system};

/// The single entry point for every IRP the I/O manager sends to our devices.
pub fn dispatch(device: DeviceRef, irp: Irp) -> NtStatus {
    // Normal kernel APCs stay disabled while we may hold file system resources.
    let _region = enter_file_system();
    // The first request of ours on this thread is the top-level one; the paging reads Cc
    // sends from inside a cached read, and CLOSEs sent from inside Cc or Mm, find it set.
    let _top_level = TopLevelIrp::enter(&irp);
    let traced = trace::irp_in(device, &irp);
    let status = route(device, irp);
    if let Some(traced) = traced {
        trace::irp_out(traced, status);
    }
    status
}

fn route(device: DeviceRef, irp: Irp) -> NtStatus {
    if device.is_control_device() {
        return control_device(device, irp);
    }
    match irp.major() {
        Some(IrpMajor::Create) => create::create(device, irp),
        Some(IrpMajor::Cleanup) => cleanup::cleanup(device, irp),
        Some(IrpMajor::Close) => close::close(device, irp),
        Some(IrpMajor::FileSystemControl) => fsctrl::file_system_control(device, irp),
        Some(IrpMajor::Pnp) => pnp::pnp(device, irp),
        Some(IrpMajor::Read) => read::read(device, irp),
        Some(IrpMajor::QueryInformation) => fileinfo::query_information(device, irp),
        Some(IrpMajor::SetInformation) => fileinfo::set_information(irp),
        Some(IrpMajor::QueryVolumeInformation) => volinfo::query_volume_information(device, irp),
        Some(IrpMajor::SetVolumeInformation) => volinfo::set_volume_information(irp),
        Some(IrpMajor::DirectoryControl) => dirctrl::directory_control(device, irp),
        Some(IrpMajor::QuerySecurity) => security::query_security(device, irp),
        Some(IrpMajor::SetSecurity) => security::set_security(irp),
        Some(IrpMajor::LockControl) => lockctrl::lock_control(device, irp),
        Some(IrpMajor::QueryEa) => ea::query_ea(device, irp),
        Some(IrpMajor::SetEa) => ea::set_ea(irp),
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

/// The file system's control device: mount requests and shutdown. Opening it (to send it
/// FSCTLs) succeeds with no context attached.
fn control_device(device: DeviceRef, irp: Irp) -> NtStatus {
    match irp.major() {
        Some(IrpMajor::FileSystemControl) => fsctrl::file_system_control(device, irp),
        Some(IrpMajor::Shutdown) => shutdown::shutdown(irp),
        Some(IrpMajor::Create | IrpMajor::Cleanup | IrpMajor::Close) => {
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

/// True for the majors the driver will handle; the dispatch table covers all of them.
pub fn handles(major: IrpMajor) -> bool {
    !matches!(major, IrpMajor::CreateNamedPipe | IrpMajor::CreateMailslot)
}
