//! The volume FSCTLs (IRP_MN_USER_FS_REQUEST on our volume device): lock, unlock, dismount and
//! is-mounted. Lock, unlock and dismount need a volume open; every request on a dismounted
//! volume fails with STATUS_VOLUME_DISMOUNTED.

use super::lifetime;
use super::vcb::Vcb;
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{
    DeviceRef, FileObject, Irp, IrpParameters, NtStatus, VolumeDevice, VolumeEvent,
};

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
        (FSCTL_DISMOUNT_VOLUME, Some(file_object)) => dismount(device, file_object),
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
/// volume. Whoever else holds handles is told first (FSRTL_VOLUME_LOCK), so it can close them.
/// While locked, VPB_LOCKED makes the I/O manager refuse new opens, and ours refuse too.
fn lock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    file_object.notify_volume_event(VolumeEvent::Lock);
    let status = device
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
        .unwrap_or(NtStatus::INVALID_DEVICE_REQUEST);
    if status.is_success() {
        if let Some(volume) = VolumeDevice::from_device(device) {
            volume.set_vpb_locked(true);
        }
    } else {
        file_object.notify_volume_event(VolumeEvent::LockFailed);
    }
    status
}

/// Unlocks the volume if `file_object` holds its lock (FSCTL_UNLOCK_VOLUME, or that open's
/// CLEANUP), and says so (FSRTL_VOLUME_UNLOCK). STATUS_NOT_LOCKED otherwise.
pub fn unlock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    let status = device
        .with_extension(|vcb: &Vcb| {
            let mut inner = match vcb.inner() {
                Ok(inner) => inner,
                Err(status) => return status,
            };
            if inner.locked_by != Some(file_object) {
                return NtStatus::NOT_LOCKED;
            }
            inner.locked_by = None;
            NtStatus::SUCCESS
        })
        .unwrap_or(NtStatus::INVALID_DEVICE_REQUEST);
    if status.is_success() {
        if let Some(volume) = VolumeDevice::from_device(device) {
            volume.set_vpb_locked(false);
        }
        file_object.notify_volume_event(VolumeEvent::Unlock);
    }
    status
}

/// FSCTL_DISMOUNT_VOLUME, announced first (FSRTL_VOLUME_DISMOUNT). The volume stream's CLOSE
/// may come inside the dismount.
fn dismount(device: DeviceRef, file_object: FileObject) -> NtStatus {
    file_object.notify_volume_event(VolumeEvent::Dismount);
    match lifetime::dismount(device, lifetime::VpbAfterDismount::Swap) {
        Ok(()) => NtStatus::SUCCESS,
        Err(status) => {
            file_object.notify_volume_event(VolumeEvent::DismountFailed);
            status
        }
    }
}

/// True while some open, or a removal under way, holds the volume lock.
pub fn is_locked(vcb: &Vcb) -> Result<bool, NtStatus> {
    let inner = vcb.inner()?;
    Ok(inner.locked_by.is_some() || inner.locked_for_removal)
}

/// The lock IRP_MN_QUERY_REMOVE_DEVICE takes (FastFAT FatLockVolumeInternal with no
/// FILE_OBJECT): granted only when no handle at all is open on the volume, else
/// STATUS_ACCESS_DENIED, which vetoes the removal.
pub fn lock_for_removal(device: DeviceRef) -> NtStatus {
    let status = device
        .with_extension(|vcb: &Vcb| {
            let mut inner = match vcb.inner() {
                Ok(inner) => inner,
                Err(status) => return status,
            };
            if inner.locked_by.is_some() || inner.locked_for_removal || vcb.open_handles() != 0 {
                return NtStatus::ACCESS_DENIED;
            }
            inner.locked_for_removal = true;
            NtStatus::SUCCESS
        })
        .unwrap_or(NtStatus::INVALID_DEVICE_REQUEST);
    if status.is_success()
        && let Some(volume) = VolumeDevice::from_device(device)
    {
        volume.set_vpb_locked(true);
    }
    status
}

/// Ends a removal's lock (at IRP_MN_CANCEL_REMOVE_DEVICE or the remove); harmless without one.
pub fn unlock_for_removal(device: DeviceRef) {
    let was_locked = device
        .with_extension(|vcb: &Vcb| {
            vcb.inner()
                .map(|mut inner| core::mem::replace(&mut inner.locked_for_removal, false))
                .unwrap_or(false)
        })
        .unwrap_or(false);
    let dismounted = device
        .with_extension(|vcb: &Vcb| vcb.is_dismounted())
        .unwrap_or(true);
    if was_locked
        && !dismounted
        && let Some(volume) = VolumeDevice::from_device(device)
    {
        volume.set_vpb_locked(false);
    }
}
