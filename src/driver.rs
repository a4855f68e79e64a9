//! DriverEntry and DriverUnload, written once against the kernel boundary.
//!
//! Load: create the file system control device, point every major function at our dispatcher,
//! register the section-synchronization callbacks, then register the file system (after which
//! the I/O manager may send us mount requests). Unload undoes that in reverse. Unload is allowed
//! only while no volume is mounted: the driver withdraws its unload routine at the first mount
//! and restores it when the last volume is gone, so the service cannot stop under a volume.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::kernel::{DriverObject, NtStatus};

/// The control device's name in the object manager namespace.
pub const CONTROL_DEVICE_NAME: &str = "\\RustFsd";

/// Driver-wide state, kept in the control device's extension (no mutable statics).
pub struct DriverGlobals {
    mounted_volumes: AtomicU32,
}

impl DriverGlobals {
    pub const fn new() -> DriverGlobals {
        DriverGlobals {
            mounted_volumes: AtomicU32::new(0),
        }
    }

    pub fn mounted_volumes(&self) -> u32 {
        self.mounted_volumes.load(Ordering::Acquire)
    }
}

impl Default for DriverGlobals {
    fn default() -> Self {
        DriverGlobals::new()
    }
}

/// The portable body of DriverEntry.
pub fn entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let control = driver.create_control_device(CONTROL_DEVICE_NAME, DriverGlobals::new())?;
    driver.install_dispatch();
    if let Err(status) = driver.register_section_sync_callbacks() {
        control.delete();
        return Err(status);
    }
    control.register_file_system();
    driver.set_unload_allowed(true);
    Ok(())
}

/// The portable body of DriverUnload. Only reachable with no volume mounted.
pub fn unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        control.unregister_file_system();
        control.delete();
    }
}

/// Called by the volume layer when a volume mounts: from now on the driver cannot unload.
pub fn volume_mounted(driver: &mut DriverObject, globals: &DriverGlobals) {
    if globals.mounted_volumes.fetch_add(1, Ordering::AcqRel) == 0 {
        driver.set_unload_allowed(false);
    }
}

/// Called by the volume layer when a volume's last reference is gone.
pub fn volume_gone(driver: &mut DriverObject, globals: &DriverGlobals) {
    if globals.mounted_volumes.fetch_sub(1, Ordering::AcqRel) == 1 {
        driver.set_unload_allowed(true);
    }
}
