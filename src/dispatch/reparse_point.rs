//! FSCTL_GET_REPARSE_POINT: the reparse data of a symlink or special file opened as itself
//! (FILE_OPEN_REPARSE_POINT), the same REPARSE_DATA_BUFFER a CREATE through it completes with
//! (STATUS_REPARSE), as `fsutil reparsepoint query` and `dir` read it. Statuses follow MS-FSA
//! 2.1.5.10.14: a file or directory that is not a reparse point is STATUS_NOT_A_REPARSE_POINT;
//! a buffer smaller than sizeof(REPARSE_DATA_BUFFER) is STATUS_BUFFER_TOO_SMALL; a buffer that
//! holds the fixed part but not all the data gets what fits, with STATUS_BUFFER_OVERFLOW.

use alloc::vec::Vec;

use super::reply::complete_query;
use crate::ext4;
use crate::fcb::{Fcb, FcbKind};
use crate::info::facts::{IO_REPARSE_TAG_LX_SYMLINK, IO_REPARSE_TAG_SYMLINK, reparse_tag};
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
        // A volume open is neither a file nor a directory.
        (FcbKind::Volume, _) => return irp.complete(NtStatus::INVALID_PARAMETER),
        (_, Some(inode)) => inode,
        (_, None) => return irp.complete(NtStatus::NOT_A_REPARSE_POINT),
    };
    let buffer = match device.with_extension(|vcb: &Vcb| reparse_data(vcb, inode, 0)) {
        Some(Ok(Some((_, buffer)))) => buffer,
        Some(Ok(None)) => return irp.complete(NtStatus::NOT_A_REPARSE_POINT),
        Some(Err(status)) => return irp.complete(status),
        None => return irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    };
    // The fixed size applies to every Microsoft tag, even one whose whole buffer is shorter
    // (the 8-byte header of a FIFO's).
    if (output_length as usize) < REPARSE_DATA_BUFFER_SIZE {
        return irp.complete(NtStatus::BUFFER_TOO_SMALL);
    }
    complete_query(irp, output_length, &buffer, REPARSE_DATA_BUFFER_SIZE)
}

/// The reparse tag and REPARSE_DATA_BUFFER of `inode` (Reserved = `unparsed_bytes`), or
/// `None` for a regular file or directory: a symlink's target as an NT symlink, or as WSL
/// writes it with the LxSymlinks option; a FIFO, device or socket its WSL tag and no data.
pub(crate) fn reparse_data(
    vcb: &Vcb,
    inode: &ext4::Inode,
    unparsed_bytes: u16,
) -> Result<Option<(u32, Vec<u8>)>, NtStatus> {
    let Some(file_type) = inode.file_type() else {
        return Ok(None);
    };
    let tag = reparse_tag(file_type, vcb.attribute_options());
    let mut buffer = Vec::new();
    let built = match tag {
        0 => return Ok(None),
        IO_REPARSE_TAG_SYMLINK | IO_REPARSE_TAG_LX_SYMLINK => {
            let target = vcb
                .volume()
                .read_link(inode)
                .map_err(|error| status_of(&error))?;
            if tag == IO_REPARSE_TAG_SYMLINK {
                name::symlink_reparse_buffer(&target, unparsed_bytes, &mut buffer)
            } else {
                name::lx_symlink_reparse_buffer(tag, &target, unparsed_bytes, &mut buffer)
            }
        }
        _ => name::empty_reparse_buffer(tag, unparsed_bytes, &mut buffer),
    };
    built.map_err(|error| error.status())?;
    Ok(Some((tag, buffer)))
}
