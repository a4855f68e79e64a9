//! IRP_MN_MOUNT_VOLUME: is this disk an ext2/3/4 volume we can serve? If so, create its volume
//! device with a VCB and withdraw the driver's unload routine while it is mounted.

use super::disk::{DiskReader, status_of};
use super::vcb::Vcb;
use crate::ext4;
use crate::kernel::{DeviceRef, Irp, NtStatus};

/// Handles a mount request sent to the control device.
pub fn mount(control: DeviceRef, irp: Irp) -> NtStatus {
    let Some(request) = irp.mount_request() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let volume = match ext4::Volume::mount(DiskReader::new(request.target)) {
        Ok(volume) => volume,
        Err(error) => return irp.complete(refusal_status(&error)),
    };
    let Some(mut driver) = control.driver_object() else {
        return irp.complete(NtStatus::UNSUCCESSFUL);
    };
    if let Err(status) = driver.create_volume_device(&request, Vcb::new(volume)) {
        return irp.complete(status);
    }
    if let Some(control) = driver.control_device() {
        crate::driver::volume_mounted(&mut driver, control.globals());
    }
    irp.complete(NtStatus::SUCCESS)
}

/// Why a disk is not mounted. Anything that is not a readable ext volume of a kind we support
/// (another file system, an unsupported feature, a damaged superblock) is "not ours": the I/O
/// manager then asks the next file system, and RAW takes it last. A device error or a lack of
/// memory is reported as such, since it says nothing about what the disk holds.
fn refusal_status(error: &ext4::Error) -> NtStatus {
    match error {
        ext4::Error::Io { .. } | ext4::Error::NoMemory | ext4::Error::Cap { .. } => {
            status_of(error)
        }
        _ => NtStatus::UNRECOGNIZED_VOLUME,
    }
}
