//! IRP_MJ_QUERY_SECURITY and IRP_MJ_SET_SECURITY.
//!
//! A query answers the descriptor `info::security` derives from the inode's mode, uid and gid,
//! holding the parts SECURITY_INFORMATION asks for. The buffer is Irp->UserBuffer (the I/O
//! manager's IopGetSetSecurityObject sends it neither buffered nor direct); it is locked into
//! an MDL before it is written, never touched from Rust. A buffer too small for the descriptor
//! gets nothing, STATUS_BUFFER_OVERFLOW and Information = the length needed, as NTFS answers
//! (the warning status lets Information reach the caller; the I/O manager then reports
//! STATUS_BUFFER_TOO_SMALL with that length). A set is STATUS_MEDIA_WRITE_PROTECTED, NTFS's
//! answer on a read-only volume.

use alloc::vec::Vec;

use crate::fcb::{Fcb, FcbKind};
use crate::info::security;
use crate::kernel::{DeviceRef, Irp, IrpParameters, NtStatus};
use crate::volume::Vcb;

pub fn query_security(device: DeviceRef, mut irp: Irp) -> NtStatus {
    let IrpParameters::QuerySecurity {
        information,
        length,
    } = irp.parameters()
    else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(fcb) = irp.file_object().and_then(|f| f.fcb::<Fcb>()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let mut descriptor = Vec::new();
    let built = device
        .with_extension(|vcb: &Vcb| {
            if vcb.is_dismounted() {
                return Err(NtStatus::VOLUME_DISMOUNTED);
            }
            // A volume open reaches us only from a kernel caller that built the IRP itself:
            // the I/O manager answers a volume handle from the device's own descriptor.
            let inode = match (fcb.kind(), fcb.inode()) {
                (FcbKind::Volume, _) | (_, None) => return Err(NtStatus::INVALID_PARAMETER),
                (_, Some(inode)) => inode,
            };
            let stat = vcb.volume().stat(inode);
            security::descriptor(stat.mode, stat.uid, stat.gid, information, &mut descriptor)
                .map_err(NtStatus::from)
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    drop(fcb);
    if let Err(status) = built {
        return irp.complete(status);
    }
    if descriptor.len() > length as usize {
        irp.set_information(descriptor.len());
        return irp.complete(NtStatus::BUFFER_OVERFLOW);
    }
    if let Err(status) = irp.lock_user_buffer(length) {
        return irp.complete(status);
    }
    if let Err(status) = super::reply::write_output(&irp, &descriptor) {
        return irp.complete(status);
    }
    irp.set_information(descriptor.len());
    irp.complete(NtStatus::SUCCESS)
}

/// Nothing on a read-only volume changes.
pub fn set_security(irp: Irp) -> NtStatus {
    irp.complete(NtStatus::MEDIA_WRITE_PROTECTED)
}
