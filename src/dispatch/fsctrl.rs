//! IRP_MJ_FILE_SYSTEM_CONTROL: mount requests, FSCTL_PREPARE_UNLOAD and FSCTL_SET_IRP_TRACE on
//! the control device; verify requests, the volume FSCTLs, FSCTL_GET_REPARSE_POINT,
//! FSCTL_GET_RETRIEVAL_POINTERS, FSCTL_GET_VOLUME_BITMAP, FSCTL_QUERY_PERSISTENT_VOLUME_STATE,
//! FSCTL_FILESYSTEM_GET_STATISTICS and the oplock FSCTLs (`oplock.rs`) on a volume device.

use super::oplock;
use super::reparse_point::{FSCTL_GET_REPARSE_POINT, get_reparse_point};
use super::retrieval_pointers::{FSCTL_GET_RETRIEVAL_POINTERS, get_retrieval_pointers};
use super::statistics::{FSCTL_FILESYSTEM_GET_STATISTICS, get_statistics};
use super::volume_bitmap::{FSCTL_GET_VOLUME_BITMAP, get_volume_bitmap};
use super::volume_state::{FSCTL_QUERY_PERSISTENT_VOLUME_STATE, query_persistent_volume_state};
use crate::driver::{FSCTL_PREPARE_UNLOAD, FSCTL_SET_IRP_TRACE, prepare_unload};
use crate::kernel::{
    DeviceRef, IRP_MN_MOUNT_VOLUME, IRP_MN_USER_FS_REQUEST, IRP_MN_VERIFY_VOLUME, Irp,
    IrpParameters, NtStatus,
};
use crate::volume::control::{FsctlRequest, mounted_request};
use crate::volume::{control, mount};

pub fn file_system_control(device: DeviceRef, irp: Irp) -> NtStatus {
    match (device.is_control_device(), irp.minor()) {
        (true, IRP_MN_MOUNT_VOLUME) => mount::mount(device, irp),
        (true, IRP_MN_USER_FS_REQUEST) => match irp.parameters() {
            IrpParameters::FileSystemControl {
                code: FSCTL_PREPARE_UNLOAD,
                ..
            } => {
                let status = prepare_unload(device);
                irp.complete(status)
            }
            IrpParameters::FileSystemControl {
                code: FSCTL_SET_IRP_TRACE,
                ..
            } => super::trace::set_irp_trace(device, irp),
            _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
        },
        (false, IRP_MN_VERIFY_VOLUME) => mount::verify(device, irp),
        (false, IRP_MN_USER_FS_REQUEST) => match irp.parameters() {
            IrpParameters::FileSystemControl {
                code: FSCTL_GET_REPARSE_POINT,
                ..
            } => get_reparse_point(device, irp),
            IrpParameters::FileSystemControl { code, .. } if oplock::is_oplock_fsctl(code) => {
                oplock::request(irp, code)
            }
            IrpParameters::FileSystemControl {
                code: FSCTL_GET_RETRIEVAL_POINTERS,
                ..
            } => on_mounted_volume(device, irp, get_retrieval_pointers),
            IrpParameters::FileSystemControl {
                code: FSCTL_GET_VOLUME_BITMAP,
                ..
            } => on_mounted_volume(device, irp, get_volume_bitmap),
            IrpParameters::FileSystemControl {
                code: FSCTL_QUERY_PERSISTENT_VOLUME_STATE,
                ..
            } => on_mounted_volume(device, irp, query_persistent_volume_state),
            IrpParameters::FileSystemControl {
                code: FSCTL_FILESYSTEM_GET_STATISTICS,
                ..
            } => on_mounted_volume(device, irp, get_statistics),
            _ => control::user_request(device, irp),
        },
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

/// Hands a user FSCTL's parameters to `answer` if the volume is mounted; completes it with
/// VOLUME_DISMOUNTED (or INVALID_DEVICE_REQUEST, see `control::check_mounted`) otherwise.
fn on_mounted_volume(
    device: DeviceRef,
    irp: Irp,
    answer: fn(DeviceRef, Irp, FsctlRequest) -> NtStatus,
) -> NtStatus {
    match mounted_request(device, &irp) {
        Ok(request) => answer(device, irp, request),
        Err(status) => irp.complete(status),
    }
}
