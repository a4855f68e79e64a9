//! The end of a volume: dismount (FSCTL_DISMOUNT_VOLUME, or a failed verify), and the
//! teardown of the volume device once the last FILE_OBJECT on a dismounted volume has closed.
//!
//! The VPB stays attached to our device until then, so opens through it fail with
//! STATUS_VOLUME_DISMOUNTED; deleting the device clears VPB_MOUNTED, and the next open of the
//! disk mounts it afresh.

use super::vcb::Vcb;
use crate::kernel::{DeviceRef, NtStatus};

/// Dismounts the volume on `device`: new opens fail from now on, the table lets go of its FCBs
/// and the volume stream is released (its CLOSE may arrive inside this call or later).
/// Call with no lock held.
pub fn dismount(device: DeviceRef) -> Result<(), NtStatus> {
    let stream = device
        .with_extension(|vcb: &Vcb| vcb.dismount())
        .ok_or(NtStatus::INVALID_DEVICE_REQUEST)??;
    drop(stream);
    Ok(())
}

/// A FILE_OBJECT on the volume has finished its CLOSE. The last one of a dismounted volume
/// deletes the volume device (and with it the VCB), then lets the driver unload again.
pub fn release_file_object(device: DeviceRef) {
    let last = device
        .with_extension(|vcb: &Vcb| vcb.file_object_closed())
        .unwrap_or(false);
    if last {
        crate::driver::delete_volume_device(device);
    }
}
