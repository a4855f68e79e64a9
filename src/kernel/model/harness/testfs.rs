//! TestFs: a minimal, correct disk file system written against the boundary, used to exercise
//! the model where rustfsd does not yet implement a request (mount, CREATE, READ, CLOSE).
//!
//! It recognizes disks whose first 8 bytes are `TESTFSV1`, gives every open its own FCB (an
//! `FcbArc`, one counted reference attached to FsContext) and CCB (a `PoolArc` attached to
//! FsContext2), takes both back at CLOSE (the FCB's last drop runs
//! FsRtlTeardownPerStreamContexts), reads file data straight from the disk at the requested
//! offset, and deletes the volume device after a dismount once the last open closes.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::driver::DriverDescriptor;
use crate::driver::DriverGlobals;
use crate::kernel::model::{
    DeviceRef, DriverObject, FcbArc, Irp, OutputBuffer, PoolArc, PoolTag, TargetDevice,
    enter_file_system,
};
use crate::kernel::{FileSizes, IrpMajor, IrpParameters, NtStatus};

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
        fast_io: None,
    }
}

fn entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let control = driver.create_control_device("\\TestFs", DriverGlobals::try_default()?)?;
    driver.install_dispatch();
    crate::driver::register_file_system(&control);
    driver.set_unload_allowed(true);
    Ok(())
}

fn unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        crate::driver::unregister_file_system(&control);
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
            // The same stop path as rustfsd's.
            None => match irp.parameters() {
                IrpParameters::FileSystemControl {
                    code: crate::driver::FSCTL_PREPARE_UNLOAD,
                    ..
                } => {
                    let status = crate::driver::prepare_unload(device);
                    irp.complete(status)
                }
                _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
            },
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
    let fcb = match FcbArc::try_new(FCB_TAG, Fcb { name_len }) {
        Ok(fcb) => fcb,
        Err(status) => return irp.complete(status),
    };
    if let Some(length) = device.with_extension(|v: &Volume| v.target.length()) {
        fcb.set_file_sizes(FileSizes {
            allocation_size: length,
            file_size: length,
            valid_data_length: length,
        });
    }
    // On any failure below, whatever was made is dropped (the FCB torn down) before the
    // FILE_OBJECT is failed, so it keeps no context.
    let ccb = match PoolArc::try_new(CCB_TAG, Ccb { flags: 0 }) {
        Ok(ccb) => ccb,
        Err(status) => return irp.complete(status),
    };
    if file_object.attach_fcb(fcb).is_err() {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    if file_object.attach_ccb(ccb).is_err() {
        drop(file_object.detach_fcb::<Fcb>());
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
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
    // A counted reference for the duration of the read (FsContext keeps its own).
    let Some(fcb) = irp.file_object().and_then(|fo| fo.fcb::<Fcb>()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let end = offset.saturating_add(u64::from(length));
    if end > fcb.file_sizes().file_size {
        return irp.complete(NtStatus::END_OF_FILE);
    }
    drop(fcb);
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
        // The FILE_OBJECT's references go back exactly once; the FCB's last drop tears down
        // its per-stream contexts and frees it.
        drop(file_object.detach_ccb::<Ccb>());
        drop(file_object.detach_fcb::<Fcb>());
    }
    let last = device
        .with_extension(|v: &Volume| {
            let remaining = v.opens.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
            remaining == 0 && v.dismounted.load(Ordering::Acquire)
        })
        .unwrap_or(false);
    let status = irp.complete(NtStatus::SUCCESS);
    if last {
        crate::driver::delete_volume_device(device);
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
