//! The volume FSCTLs (IRP_MN_USER_FS_REQUEST on our volume device): lock, unlock, dismount,
//! is-mounted and is-dirty. Lock, unlock, dismount and is-dirty need a volume open; every
//! request on a dismounted volume fails with STATUS_VOLUME_DISMOUNTED.

use super::lifetime;
use super::vcb::Vcb;
use crate::cache::teardown::release_for_lock;
use crate::fcb::{Fcb, FcbKind};
use core::mem::size_of;

use crate::kernel::{
    DeviceRef, FileObject, Irp, IrpParameters, NtStatus, OutputBuffer, VolumeDevice, VolumeEvent,
};

pub const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
pub const FSCTL_UNLOCK_VOLUME: u32 = 0x0009_001C;
pub const FSCTL_DISMOUNT_VOLUME: u32 = 0x0009_0020;
pub const FSCTL_IS_VOLUME_MOUNTED: u32 = 0x0009_0028;
/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 30, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const FSCTL_IS_VOLUME_DIRTY: u32 = 0x0009_0078;
/// FSCTL_IS_VOLUME_DIRTY's answer: the volume needs checking (chkdsk; for ext, e2fsck).
pub const VOLUME_IS_DIRTY: u32 = 0x0000_0001;

/// ext2/3/4 s_state bits: cleanly unmounted, and errors detected.
const EXT_STATE_VALID: u16 = 0x0001;
const EXT_STATE_ERRORS: u16 = 0x0002;

/// A user FSCTL's parameters.
pub struct FsctlRequest {
    pub code: u32,
    pub input: alloc::vec::Vec<u8>,
    pub output_length: u32,
}

/// The parameters of a user FSCTL on a mounted volume; otherwise the status to complete it
/// with (INVALID_PARAMETER for a request that is no FSCTL, see `check_mounted`).
pub fn mounted_request(device: DeviceRef, irp: &Irp) -> Result<FsctlRequest, NtStatus> {
    let IrpParameters::FileSystemControl {
        code,
        input,
        output_length,
    } = irp.parameters()
    else {
        return Err(NtStatus::INVALID_PARAMETER);
    };
    check_mounted(device)?;
    Ok(FsctlRequest {
        code,
        input,
        output_length,
    })
}

/// Handles IRP_MN_USER_FS_REQUEST on a volume device.
pub fn user_request(device: DeviceRef, irp: Irp) -> NtStatus {
    let FsctlRequest {
        code,
        output_length,
        ..
    } = match mounted_request(device, &irp) {
        Ok(request) => request,
        Err(status) => return irp.complete(status),
    };
    let volume_open = irp.file_object().filter(is_volume_open);
    if code == FSCTL_IS_VOLUME_DIRTY {
        return is_volume_dirty(device, irp, output_length, volume_open.is_some());
    }
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

/// FSCTL_IS_VOLUME_DIRTY, as FastFAT's FatIsVolumeDirty answers it: an output of fewer than 4
/// bytes or a handle that is not a volume open is STATUS_INVALID_PARAMETER; otherwise a ULONG
/// of flags, VOLUME_IS_DIRTY when the superblock says the volume was not cleanly unmounted
/// (s_state without VALID, as ext2 leaves it while mounted) or has errors recorded (ERRORS):
/// what makes e2fsck check it. A journal that needs recovery is not dirt: it is replayed.
fn is_volume_dirty(
    device: DeviceRef,
    mut irp: Irp,
    output_length: u32,
    volume_open: bool,
) -> NtStatus {
    if (output_length as usize) < size_of::<u32>() || !volume_open {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    let Some(state) = device.with_extension(|vcb: &Vcb| vcb.volume().superblock().state) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    let dirty = state & EXT_STATE_VALID == 0 || state & EXT_STATE_ERRORS != 0;
    let flags = if dirty { VOLUME_IS_DIRTY } else { 0 };
    let written = match irp.output_buffer() {
        OutputBuffer::System(buffer) => buffer.write(0, &flags.to_le_bytes()),
        OutputBuffer::Mdl(mdl) => mdl.write(0, &flags.to_le_bytes()),
        OutputBuffer::User(_) | OutputBuffer::None => Err(NtStatus::INVALID_USER_BUFFER),
    };
    if let Err(status) = written {
        return irp.complete(status);
    }
    irp.set_information(size_of::<u32>());
    irp.complete(NtStatus::SUCCESS)
}

fn is_volume_open(file_object: &FileObject) -> bool {
    file_object
        .fcb::<Fcb>()
        .is_some_and(|fcb| fcb.kind() == FcbKind::Volume)
}

/// FSCTL_LOCK_VOLUME: granted only when the caller's handle is the only one open on the
/// volume. Whoever else holds handles is told first (FSRTL_VOLUME_LOCK), so it can close them.
/// Before the final check, with no lock held (the CLOSEs of what Mm and the lazy writer let go
/// of may come inside), the volume's sections are purged around a wait for the lazy writer
/// (`release_for_lock`, FastFAT FatLockVolumeInternal); a file still mapped, above all an
/// image section MmFlushImageSection cannot flush, refuses the lock as FastFAT's open-file
/// count does.
/// While locked, VPB_LOCKED makes the I/O manager refuse new opens, and ours refuse too.
fn lock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    file_object.notify_volume_event(VolumeEvent::Lock);
    let status = device
        .with_extension(|vcb: &Vcb| {
            // Another handle refuses the lock before anything is purged (FastFAT checks its
            // handle count first too).
            if vcb.open_handles() != 1 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            let released = release_for_lock(vcb)?;
            let _vcb_held = vcb.acquire_exclusive()?;
            let mut inner = vcb.inner()?;
            if !released || inner.locked_by.is_some() || vcb.open_handles() != 1 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            inner.locked_by = Some(file_object);
            set_vpb_locked(device, true);
            Ok(())
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))
        .err()
        .unwrap_or(NtStatus::SUCCESS);
    if !status.is_success() {
        file_object.notify_volume_event(VolumeEvent::LockFailed);
    }
    status
}

/// Unlocks the volume if `file_object` holds its lock (FSCTL_UNLOCK_VOLUME, or that open's
/// CLEANUP), and says so (FSRTL_VOLUME_UNLOCK). STATUS_NOT_LOCKED otherwise.
pub fn unlock(device: DeviceRef, file_object: FileObject) -> NtStatus {
    let status = device
        .with_extension(|vcb: &Vcb| {
            let _vcb_held = vcb.acquire_exclusive()?;
            let mut inner = vcb.inner()?;
            if inner.locked_by != Some(file_object) {
                return Err(NtStatus::NOT_LOCKED);
            }
            inner.locked_by = None;
            set_vpb_locked(device, false);
            Ok(())
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))
        .err()
        .unwrap_or(NtStatus::SUCCESS);
    if status.is_success() {
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

/// STATUS_VOLUME_DISMOUNTED for a dismounted volume, STATUS_INVALID_DEVICE_REQUEST for a device
/// that is not a volume.
pub fn check_mounted(device: DeviceRef) -> Result<(), NtStatus> {
    match device.with_extension(|vcb: &Vcb| vcb.is_dismounted()) {
        None => Err(NtStatus::INVALID_DEVICE_REQUEST),
        Some(true) => Err(NtStatus::VOLUME_DISMOUNTED),
        Some(false) => Ok(()),
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
    device
        .with_extension(|vcb: &Vcb| {
            if vcb.open_handles() != 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            let released = release_for_lock(vcb)?;
            let _vcb_held = vcb.acquire_exclusive()?;
            let mut inner = vcb.inner()?;
            if !released
                || inner.locked_by.is_some()
                || inner.locked_for_removal
                || vcb.open_handles() != 0
            {
                return Err(NtStatus::ACCESS_DENIED);
            }
            inner.locked_for_removal = true;
            set_vpb_locked(device, true);
            Ok(())
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))
        .err()
        .unwrap_or(NtStatus::SUCCESS)
}

/// Ends a removal's lock (at IRP_MN_CANCEL_REMOVE_DEVICE or the remove); harmless without one.
pub fn unlock_for_removal(device: DeviceRef) {
    device.with_extension(|vcb: &Vcb| {
        let Ok(_vcb_held) = vcb.acquire_exclusive() else {
            return;
        };
        let was_locked = vcb
            .inner()
            .map(|mut inner| core::mem::replace(&mut inner.locked_for_removal, false))
            .unwrap_or(false);
        if was_locked && !vcb.is_dismounted() {
            set_vpb_locked(device, false);
        }
    });
}

/// VPB_LOCKED on the volume's VPB (the I/O manager then refuses new opens).
fn set_vpb_locked(device: DeviceRef, locked: bool) {
    if let Some(volume) = VolumeDevice::from_device(device) {
        volume.set_vpb_locked(locked);
    }
}
