//! FSCTL_GET_REPARSE_POINT: the reparse data of a symlink opened as itself
//! (FILE_OPEN_REPARSE_POINT), the same REPARSE_DATA_BUFFER a CREATE through it completes with
//! (STATUS_REPARSE), as `fsutil reparsepoint query` and `dir` read it. Statuses follow MS-FSA
//! 2.1.5.10.14: a file or directory that is not a reparse point is STATUS_NOT_A_REPARSE_POINT;
//! a buffer smaller than sizeof(REPARSE_DATA_BUFFER) is STATUS_BUFFER_TOO_SMALL; a buffer that
//! holds the fixed part but not all the data gets what fits, with STATUS_BUFFER_OVERFLOW.

use super::reply::complete_query;
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, Irp, IrpParameters, NtStatus};
use crate::name;
use crate::volume::Vcb;
use crate::volume::disk::status_of;

/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 42, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;

/// sizeof(REPARSE_DATA_BUFFER) on x64: the 8-byte header and the largest fixed member of its
/// union (the symbolic-link one: four USHORTs, a ULONG and one WCHAR, padded to 16).
const REPARSE_DATA_BUFFER_SIZE: usize = 24;

pub fn get_reparse_point(device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::FileSystemControl { output_length, .. } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    match device.with_extension(|vcb: &Vcb| vcb.is_dismounted()) {
        Some(false) => {}
        Some(true) => return irp.complete(NtStatus::VOLUME_DISMOUNTED),
        None => return irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
    let Some(fcb) = irp.file_object().and_then(|f| f.fcb::<Fcb>()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let inode = match (fcb.kind(), fcb.inode()) {
        (FcbKind::Symlink, Some(inode)) => inode,
        // A volume open is neither a file nor a directory.
        (FcbKind::Volume, _) => return irp.complete(NtStatus::INVALID_PARAMETER),
        _ => return irp.complete(NtStatus::NOT_A_REPARSE_POINT),
    };
    let target = match device.with_extension(|vcb: &Vcb| vcb.volume().read_link(inode)) {
        Some(Ok(target)) => target,
        Some(Err(error)) => return irp.complete(status_of(&error)),
        None => return irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    };
    let mut buffer = alloc::vec::Vec::new();
    if let Err(error) = name::symlink_reparse_buffer(&target, 0, &mut buffer) {
        return irp.complete(error.status());
    }
    complete_query(irp, output_length, &buffer, REPARSE_DATA_BUFFER_SIZE)
}
