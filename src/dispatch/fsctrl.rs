//! IRP_MJ_FILE_SYSTEM_CONTROL: mount requests on the control device; volume FSCTLs come with
//! volume opens.

use crate::kernel::{DeviceRef, IRP_MN_MOUNT_VOLUME, Irp, NtStatus};
use crate::volume;

pub fn file_system_control(device: DeviceRef, irp: Irp) -> NtStatus {
    if device.is_control_device() && irp.minor() == IRP_MN_MOUNT_VOLUME {
        return volume::mount::mount(device, irp);
    }
    irp.complete(NtStatus::INVALID_DEVICE_REQUEST)
}
