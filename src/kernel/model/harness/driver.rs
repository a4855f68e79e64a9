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

    /// A test driver: one control device, [`TEST_DRIVER_DEVICE`], and `dispatch` for every IRP.
    pub fn test_driver(
        name: &'static str,
        dispatch: fn(DeviceRef, Irp) -> NtStatus,
    ) -> DriverDescriptor {
        DriverDescriptor {
            name,
            entry: test_driver_entry,
            dispatch,
            unload: test_driver_unload,
        }
    }
}

/// The control device of every [`DriverDescriptor::test_driver`].
pub const TEST_DRIVER_DEVICE: &str = "\\TestDriver";

fn test_driver_entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    driver.create_control_device(
        TEST_DRIVER_DEVICE,
        crate::driver::DriverGlobals::try_default()?,
    )?;
    driver.install_dispatch();
    driver.set_unload_allowed(true);
    Ok(())
}

fn test_driver_unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        control.delete();
    }
}
