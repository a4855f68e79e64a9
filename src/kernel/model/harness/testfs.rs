//! TestFs: a minimal, correct disk file system written against the boundary, used to exercise
//! the model where rustfsd does not yet implement a request (mount, CREATE, READ, CLOSE).
//!
//! It recognizes disks whose first 8 bytes are `TESTFSV1`, gives every open its own FCB (an
//! advanced-header `PoolArc`, one counted reference held by FsContext) and CCB, frees them at
//! CLOSE after FsRtlTeardownPerStreamContexts, reads file data straight from the disk at the
//! requested offset, and deletes the volume device after a dismount once the last open closes.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::driver::DriverDescriptor;
use crate::driver::DriverGlobals;
use crate::kernel::model::{
    DeviceRef, DriverObject, Irp, OutputBuffer, PoolArc, PoolTag, TargetDevice, VolumeDevice,
    enter_file_system, setup_advanced_header, teardown_per_stream_contexts,
};
use crate::kernel::{IrpMajor, IrpParameters, NtStatus};

/// The signature TestFs mounts.
pub const MAGIC: &[u8; 8] = b"TESTFSV1";
pub const FCB_TAG: PoolTag = PoolTag(*b"TFcb");
pub const CCB_TAG: PoolTag = PoolTag(*b"TCcb");
const FSCTL_DISMOUNT_VOLUME: u32 = 0x0009_0020;

pub struct Fcb {
    pub name_len: usize,
}

pub struct Ccb {
    pub flags: u32,
}

struct Volume {
    target: TargetDevice,
    opens: AtomicU32,
    dismounted: AtomicBool,
}

pub fn descriptor() -> DriverDescriptor {
    DriverDescriptor {
        name: "testfs",
        entry,
        dispatch,
        unload,
    }
}

fn entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let control = driver.create_control_device("\\TestFs", DriverGlobals::new())?;
    driver.install_dispatch();
    control.register_file_system();
    driver.set_unload_allowed(true);
    Ok(())
}

fn unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        control.unregister_file_system();
        control.delete();
    }
}

fn dispatch(device: DeviceRef, irp: Irp) -> NtStatus {
    let _region = enter_file_system();
    if device.is_control_device() {
        return control_dispatch(device, irp);
    }
    match irp.major() {
        Some(IrpMajor::Create) => create(device, irp),
        Some(IrpMajor::Read) => read(device, irp),
        Some(IrpMajor::Close) => close(device, irp),
        Some(IrpMajor::Cleanup) => irp.complete(NtStatus::SUCCESS),
        Some(IrpMajor::FileSystemControl) => fsctl(device, irp),
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

fn control_dispatch(device: DeviceRef, irp: Irp) -> NtStatus {
    match irp.major() {
        Some(IrpMajor::FileSystemControl) => match irp.mount_request() {
            Some(mount) => {
                let mut header = [0u8; 8];
                let recognized =
                    matches!(mount.target.read(0, &mut header), Ok(8)) && &header == MAGIC;
                if !recognized {
                    return irp.complete(NtStatus::UNRECOGNIZED_VOLUME);
                }
                let Some(mut driver) = device.driver_object() else {
                    return irp.complete(NtStatus::UNSUCCESSFUL);
                };
                let volume = Volume {
                    target: mount.target,
                    opens: AtomicU32::new(0),
                    dismounted: AtomicBool::new(false),
                };
                if let Err(status) = driver.create_volume_device(&mount, volume) {
                    return irp.complete(status);
                }
                if let Some(control) = driver.control_device() {
                    crate::driver::volume_mounted(&mut driver, control.globals());
                }
                irp.complete(NtStatus::SUCCESS)
            }
            None => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
        },
        Some(IrpMajor::Create | IrpMajor::Cleanup | IrpMajor::Close) => {
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

fn create(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let dismounted = device.with_extension(|v: &Volume| v.dismounted.load(Ordering::Acquire));
    if dismounted != Some(false) {
        return irp.complete(NtStatus::VOLUME_DISMOUNTED);
    }
    let name_len = file_object.file_name().len();
    let fcb = match PoolArc::try_new(FCB_TAG, Fcb { name_len }) {
        Ok(fcb) => fcb,
        Err(status) => return irp.complete(status),
    };
    setup_advanced_header(&fcb);
    let ccb = match PoolArc::try_new(CCB_TAG, Ccb { flags: 0 }) {
        Ok(ccb) => ccb,
        Err(status) => {
            teardown_per_stream_contexts(&fcb);
            return irp.complete(status);
        }
    };
    file_object.set_fs_context(Some(fcb.into_raw()));
    file_object.set_fs_context2(Some(ccb.into_raw()));
    device.with_extension(|v: &Volume| v.opens.fetch_add(1, Ordering::AcqRel));
    irp.complete(NtStatus::SUCCESS)
}

fn read(device: DeviceRef, mut irp: Irp) -> NtStatus {
    let IrpParameters::Read { offset, length } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(target) = device.with_extension(|v: &Volume| v.target) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    let OutputBuffer::Mdl(mdl) = irp.output_buffer() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let mut data = alloc::vec![0u8; length as usize];
    let count = match target.read(offset, &mut data) {
        Ok(count) => count,
        Err(status) => return irp.complete(status),
    };
    if let Err(status) = mdl.write(0, &data[..count]) {
        return irp.complete(status);
    }
    if let Some(file_object) = irp.file_object() {
        file_object.set_current_byte_offset(offset + count as u64);
    }
    irp.set_information(count);
    irp.complete(NtStatus::SUCCESS)
}

fn close(device: DeviceRef, irp: Irp) -> NtStatus {
    if let Some(file_object) = irp.file_object() {
        if let Some(raw) = file_object.fs_context2() {
            drop(PoolArc::<Ccb>::from_raw(raw));
            file_object.set_fs_context2(None);
        }
        if let Some(raw) = file_object.fs_context()
            && let Some(fcb) = PoolArc::<Fcb>::from_raw(raw)
        {
            file_object.set_fs_context(None);
            teardown_per_stream_contexts(&fcb);
            drop(fcb);
        }
    }
    let last = device
        .with_extension(|v: &Volume| {
            let remaining = v.opens.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
            remaining == 0 && v.dismounted.load(Ordering::Acquire)
        })
        .unwrap_or(false);
    let status = irp.complete(NtStatus::SUCCESS);
    if last {
        volume_gone(device);
    }
    status
}

fn fsctl(device: DeviceRef, irp: Irp) -> NtStatus {
    match irp.parameters() {
        IrpParameters::FileSystemControl {
            code: FSCTL_DISMOUNT_VOLUME,
            ..
        } => {
            device.with_extension(|v: &Volume| v.dismounted.store(true, Ordering::Release));
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

fn volume_gone(device: DeviceRef) {
    let Some(mut driver) = device.driver_object() else {
        return;
    };
    if let Some(volume) = VolumeDevice::from_device(device) {
        volume.delete();
    }
    if let Some(control) = driver.control_device() {
        crate::driver::volume_gone(&mut driver, control.globals());
    }
}
