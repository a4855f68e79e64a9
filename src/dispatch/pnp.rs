//! IRP_MJ_PNP on a volume device, as FastFAT's pnp.c handles it: the disk under the volume is
//! going away (or not after all). Every other PnP request belongs to the disk's stack and goes
//! down unchanged; that includes IRP_MN_QUERY_DEVICE_RELATIONS (TargetDeviceRelation), through
//! which FsRtlNotifyVolumeEvent and mount-point tools find the volume's device.

use crate::kernel::{
    DeviceRef, IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_QUERY_REMOVE_DEVICE, IRP_MN_REMOVE_DEVICE,
    IRP_MN_SURPRISE_REMOVAL, Irp, NtStatus, TargetDevice,
};
use crate::volume::{Vcb, control, lifetime};

pub fn pnp(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(target) = device.with_extension(|vcb: &Vcb| vcb.target()) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    match irp.minor() {
        IRP_MN_QUERY_REMOVE_DEVICE => query_remove(device, irp, target),
        IRP_MN_REMOVE_DEVICE | IRP_MN_SURPRISE_REMOVAL => remove(device, irp, target),
        IRP_MN_CANCEL_REMOVE_DEVICE => {
            control::unlock_for_removal(device);
            irp.forward(target)
        }
        _ => irp.forward(target),
    }
}

/// Lock the volume (vetoed while any handle is open), let the disk's stack agree, then
/// dismount, so that nothing of ours holds the disk when the remove comes.
fn query_remove(device: DeviceRef, mut irp: Irp, target: TargetDevice) -> NtStatus {
    let locked = control::lock_for_removal(device);
    if !locked.is_success() {
        return irp.complete(locked);
    }
    let status = irp.forward_and_wait(target);
    if status.is_success() {
        // The stream's CLOSE, and maybe the device's deletion, may come inside.
        let _ = lifetime::dismount(device, lifetime::VpbAfterDismount::Swap);
    }
    irp.complete(status)
}

/// The disk is gone (or going): pass the request down first, then dismount whatever handles
/// are still open; they fail with STATUS_VOLUME_DISMOUNTED from now on.
fn remove(device: DeviceRef, mut irp: Irp, target: TargetDevice) -> NtStatus {
    control::unlock_for_removal(device);
    let status = irp.forward_and_wait(target);
    let _ = lifetime::dismount(device, lifetime::VpbAfterDismount::Swap);
    irp.complete(status)
}
