//! DRIVER_OBJECT and the devices the driver creates.

use core::mem::size_of;
use core::ptr;

use wdk_sys::{
    DO_DEVICE_INITIALIZING, FILE_DEVICE_DISK_FILE_SYSTEM, FS_FILTER_CALLBACKS, PDEVICE_OBJECT,
    PDRIVER_OBJECT,
};

use super::entry;
use super::unicode::OwnedUnicode;
use crate::driver::DriverGlobals;
use crate::kernel::{IrpMajor, NtStatus};

/// The driver object, borrowed for the duration of DriverEntry, DriverUnload or a mount.
pub struct DriverObject {
    raw: PDRIVER_OBJECT,
}

/// The file system control device: the object the I/O manager sends mount requests to.
pub struct ControlDevice {
    raw: PDEVICE_OBJECT,
}

/// A device object of ours that an IRP was sent to.
#[derive(Clone, Copy)]
pub struct DeviceRef {
    raw: PDEVICE_OBJECT,
}

impl DriverObject {
    /// # Safety
    /// `raw` is the driver object the I/O manager passed to DriverEntry or DriverUnload.
    pub(super) unsafe fn from_raw(raw: PDRIVER_OBJECT) -> DriverObject {
        DriverObject { raw }
    }

    /// Creates the named control device with `globals` in its extension.
    pub fn create_control_device(
        &mut self,
        name: &str,
        globals: DriverGlobals,
    ) -> Result<ControlDevice, NtStatus> {
        let mut name = OwnedUnicode::from_str(name)?;
        let mut name = name.as_unicode_string();
        let mut device: PDEVICE_OBJECT = ptr::null_mut();
        // SAFETY: `raw` is our driver object; `name` outlives the call (the I/O manager copies
        // it); the extension size is that of the value we write into it below.
        let status = unsafe {
            wdk_sys::ntddk::IoCreateDevice(
                self.raw,
                size_of::<DriverGlobals>() as u32,
                &mut name,
                FILE_DEVICE_DISK_FILE_SYSTEM,
                0,
                0,
                &mut device,
            )
        };
        if status < 0 || device.is_null() {
            return Err(NtStatus(status));
        }
        // SAFETY: IoCreateDevice succeeded, so `device` is a valid device object whose
        // DeviceExtension has room for a DriverGlobals (pool memory, 16-byte aligned).
        unsafe {
            ptr::write((*device).DeviceExtension.cast::<DriverGlobals>(), globals);
            (*device).Flags &= !DO_DEVICE_INITIALIZING;
        }
        Ok(ControlDevice { raw: device })
    }

    /// The control device, found through the driver's device list (it is the one device of
    /// type FILE_DEVICE_DISK_FILE_SYSTEM).
    pub fn control_device(&self) -> Option<ControlDevice> {
        // SAFETY: `raw` is our driver object; its device list is stable while no device is
        // being created or deleted, which holds in DriverUnload and DriverEntry.
        let mut device = unsafe { (*self.raw).DeviceObject };
        while !device.is_null() {
            // SAFETY: `device` is a member of our driver's device list.
            let (kind, next) = unsafe { ((*device).DeviceType, (*device).NextDevice) };
            if kind == FILE_DEVICE_DISK_FILE_SYSTEM {
                return Some(ControlDevice { raw: device });
            }
            device = next;
        }
        None
    }

    /// Points every major function at the dispatcher.
    pub fn install_dispatch(&mut self) {
        for major in IrpMajor::ALL {
            if crate::dispatch::handles(major) {
                // SAFETY: `raw` is our driver object; MajorFunction has IRP_MJ_MAXIMUM_FUNCTION+1
                // entries and every IrpMajor code is below that.
                unsafe {
                    (*self.raw).MajorFunction[major as usize] = Some(entry::dispatch_irp);
                }
            }
        }
    }

    /// Registers the section-synchronization callbacks with FsRtl.
    pub fn register_section_sync_callbacks(&mut self) -> Result<(), NtStatus> {
        // SAFETY: all-zero is a valid FS_FILTER_CALLBACKS (no callbacks, size 0).
        let mut callbacks: FS_FILTER_CALLBACKS = unsafe { core::mem::zeroed() };
        callbacks.SizeOfFsFilterCallbacks = size_of::<FS_FILTER_CALLBACKS>() as u32;
        callbacks.PreAcquireForSectionSynchronization = Some(entry::pre_acquire_for_section_sync);
        // SAFETY: `raw` is our driver object in DriverEntry; FsRtl copies the structure.
        let status = unsafe {
            wdk_sys::ntddk::FsRtlRegisterFileSystemFilterCallbacks(self.raw, &mut callbacks)
        };
        if status < 0 {
            Err(NtStatus(status))
        } else {
            Ok(())
        }
    }

    /// Installs or withdraws DriverUnload. Without one, the service control manager refuses to
    /// stop the driver.
    pub fn set_unload_allowed(&mut self, allowed: bool) {
        let routine = if allowed {
            Some(entry::driver_unload as _)
        } else {
            None
        };
        // SAFETY: `raw` is our driver object; DriverUnload is a pointer-sized field the I/O
        // manager reads only when asked to unload.
        unsafe {
            ptr::write_volatile(&mut (*self.raw).DriverUnload, routine);
        }
    }
}

impl ControlDevice {
    pub fn register_file_system(&self) {
        // SAFETY: `raw` is our initialized control device.
        unsafe { wdk_sys::ntddk::IoRegisterFileSystem(self.raw) }
    }

    pub fn unregister_file_system(&self) {
        // SAFETY: `raw` is our control device, registered in DriverEntry.
        unsafe { wdk_sys::ntddk::IoUnregisterFileSystem(self.raw) }
    }

    pub fn globals(&self) -> &DriverGlobals {
        // SAFETY: the extension holds the DriverGlobals written at creation, alive until delete.
        unsafe { &*(*self.raw).DeviceExtension.cast::<DriverGlobals>() }
    }

    /// Drops the globals and deletes the device.
    pub fn delete(self) {
        // SAFETY: the extension holds a DriverGlobals (written at creation, dropped only here);
        // after this the device is deleted and `self` is gone.
        unsafe {
            ptr::drop_in_place((*self.raw).DeviceExtension.cast::<DriverGlobals>());
            wdk_sys::ntddk::IoDeleteDevice(self.raw);
        }
    }
}

impl DeviceRef {
    /// # Safety
    /// `raw` is a device object of this driver, alive for the duration of the dispatch call.
    pub(super) unsafe fn from_raw(raw: PDEVICE_OBJECT) -> DeviceRef {
        DeviceRef { raw }
    }

    pub fn is_control_device(&self) -> bool {
        // SAFETY: `raw` is one of our live device objects (type invariant).
        unsafe { (*self.raw).DeviceType == FILE_DEVICE_DISK_FILE_SYSTEM }
    }
}
