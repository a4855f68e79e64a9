//! The volume FSCTLs (IRP_MN_USER_FS_REQUEST on our volume device): lock, unlock, dismount and
//! is-mounted. Lock, unlock and dismount need a volume open; every request on a dismounted
//! volume fails with STATUS_VOLUME_DISMOUNTED.

use super::lifetime;
use super::vcb::Vcb;
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, FileObject, Irp, IrpParameters, NtStatus};

pub const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
pub const FSCTL_UNLOCK_VOLUME: u32 = 0x0009_001C;
pub const FSCTL_DISMOUNT_VOLUME: u32 = 0x0009_0020;
pub const FSCTL_IS_VOLUME_MOUNTED: u32 = 0x0009_0028;

/// Handles IRP_MN_USER_FS_REQUEST on a volume device.
pub fn user_request(device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::FileSystemControl { code, .. } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(dismounted) = device.with_extension(|vcb: &Vcb| vcb.is_dismounted()) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    if dismounted {
        return irp.complete(NtStatus::VOLUME_DISMOUNTED);
    }
    let volume_open = irp.file_object().filter(is_volume_open);
    let status = match (code, volume_open) {
        (FSCTL_IS_VOLUME_MOUNTED, _) => NtStatus::SUCCESS,
        (FSCTL_LOCK_VOLUME | FSCTL_UNLOCK_VOLUME | FSCTL_DISMOUNT_VOLUME, None) => {
            NtStatus::INVALID_PARAMETER
        }
        (FSCTL_LOCK_VOLUME, Some(file_object)) => lock(device, file_object),
        (FSCTL_UNLOCK_VOLUME, Some(file_object)) => unlock(device, file_object),
        (FSCTL_DISMOUNT_VOLUME, Some(_)) => {
            // Completed first: the volume stream's CLOSE may come inside the dismount.
            let status = irp.complete(NtStatus::SUCCESS);
            let _ = lifetime::dismount(device);
            return status;
        }
        _ => NtStatus::INVALID_DEVICE_REQUEST,
    };
    irp.complete(status)
}

fn is_volume_open(file_object: &FileObject) -> bool {
    file_object
        .fcb::<Fcb>()
        .is_some_and(|fcb| fcb.kind() == FcbKind::Volume)
}

/// FSCTL_LOCK_VOLUME: granted only when the caller's handle is the only one open on the
/// volume. While locked, other opens fail with STATUS_ACCESS_DENIED.
fn lock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    device
        .with_extension(|vcb: &Vcb| {
            let mut inner = match vcb.inner() {
                Ok(inner) => inner,
                Err(status) => return status,
            };
            if inner.locked_by.is_some() || vcb.open_handles() != 1 {
                return NtStatus::ACCESS_DENIED;
            }
            inner.locked_by = Some(file_object);
            NtStatus::SUCCESS
        })
        .unwrap_or(NtStatus::INVALID_DEVICE_REQUEST)
}

/// FSCTL_UNLOCK_VOLUME: only the open that locked the volume may unlock it.
fn unlock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    device
        .with_extension(|vcb: &Vcb| release_lock(vcb, file_object))
        .unwrap_or(NtStatus::INVALID_DEVICE_REQUEST)
}

/// Unlocks the volume if `file_object` holds its lock (also at that open's CLEANUP).
pub fn release_lock(vcb: &Vcb, file_object: FileObject) -> NtStatus {
    let mut inner = match vcb.inner() {
        Ok(inner) => inner,
        Err(status) => return status,
    };
    if inner.locked_by != Some(file_object) {
        return NtStatus::NOT_LOCKED;
    }
    inner.locked_by = None;
    NtStatus::SUCCESS
}

/// True while some open holds the volume lock.
pub fn is_locked(vcb: &Vcb) -> Result<bool, NtStatus> {
    Ok(vcb.inner()?.locked_by.is_some())
}
