//! A loadable driver, as plain function pointers: rustfsd's real one, or a test driver.

use crate::kernel::NtStatus;
use crate::kernel::model::{DeviceRef, DriverObject, Irp};

/// What the I/O manager calls: DriverEntry, every IRP_MJ_*, DriverUnload.
#[derive(Clone, Copy)]
pub struct DriverDescriptor {
    pub name: &'static str,
    pub entry: fn(&mut DriverObject) -> Result<(), NtStatus>,
    pub dispatch: fn(DeviceRef, Irp) -> NtStatus,
    pub unload: fn(&mut DriverObject),
}

impl DriverDescriptor {
    /// rustfsd itself: crate::driver's entry/unload and crate::dispatch.
    pub fn rustfsd() -> DriverDescriptor {
        DriverDescriptor {
            name: "rustfsd",
            entry: crate::driver::entry,
            dispatch: crate::dispatch::dispatch,
            unload: crate::driver::unload,
        }
    }
}
