//! DriverEntry and DriverUnload, written once against the kernel boundary.
//!
//! Load: read the service parameters, create the file system control device, point every major
//! function at our dispatcher, register the section-synchronization callbacks and the shutdown
//! notification, then register the file system (after which
//! the I/O manager may send us mount requests). Unload undoes that in reverse. Unload is allowed
//! only while no volume is mounted: the driver withdraws its unload routine at the first mount
//! and restores it when the last volume is gone, so the service cannot stop under a volume.
//!
//! A registered file system never unloads: IoRegisterFileSystem references the control device,
//! and NtUnloadDriver only marks such a driver unload-pending. The supported stop is
//! FSCTL_PREPARE_UNLOAD on the control device, which unregisters once no volume is left; the
//! unload requested after its handle is closed then runs DriverUnload.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use alloc::vec::Vec;

use crate::info::AttributeOptions;
use crate::kernel::{
    ControlDevice, DeviceRef, DriverObject, Locked, LockedGuard, NtStatus, VolumeDevice,
};

/// The control device's name in the object manager namespace.
pub const CONTROL_DEVICE_NAME: &str = "\\RustFsd";

/// The service key value (under `Parameters`) that bounds the delayed-close queue.
pub const DELAYED_CLOSE_LIMIT_PARAMETER: &str = "DelayedCloseLimit";

/// The service key value (under `Parameters`) that marks names starting with `.` hidden
/// (FILE_ATTRIBUTE_HIDDEN) when non-zero. Off by default.
pub const HIDE_DOT_FILES_PARAMETER: &str = "HideDotFiles";

/// The service key value (under `Parameters`) that gives symlinks WSL's
/// IO_REPARSE_TAG_LX_SYMLINK instead of IO_REPARSE_TAG_SYMLINK when non-zero. Off by default.
pub const LX_SYMLINKS_PARAMETER: &str = "LxSymlinks";

/// The service key value (under `Parameters`) that turns the access checks at CREATE off
/// when 0 (every open is granted what it asks). On by default.
pub const CHECK_ACCESS_PARAMETER: &str = "CheckAccess";

/// How many FCBs no FILE_OBJECT uses each volume keeps for a quick reopen, by default.
pub const DEFAULT_DELAYED_CLOSE_LIMIT: u32 = 64;

/// The most the parameter may ask for.
pub const MAX_DELAYED_CLOSE_LIMIT: u32 = 4096;

/// Sent to the control device before stopping the service: CTL_CODE(FILE_DEVICE_FILE_SYSTEM,
/// 0x800 (the first function code left to vendors), METHOD_BUFFERED, FILE_ANY_ACCESS). The
/// control device's DACL admits only SYSTEM and Administrators. With the file system device
/// type, Win32 DeviceIoControl sends it as an FSCTL.
pub const FSCTL_PREPARE_UNLOAD: u32 = (0x9 << 16) | (0x800 << 2);

/// The service key value (under `Parameters`) that turns the IRP trace on at load (nonzero).
pub const TRACE_IRPS_PARAMETER: &str = "TraceIrps";

/// Turns the IRP trace on or off at run time, on the control device: CTL_CODE(
/// FILE_DEVICE_FILE_SYSTEM, 0x801, METHOD_BUFFERED, FILE_ANY_ACCESS), with a 4-byte input
/// (0 off, 1 on). If the output holds 4 bytes, it receives the previous setting.
pub const FSCTL_SET_IRP_TRACE: u32 = (0x9 << 16) | (0x801 << 2);

/// Driver-wide state, kept in the control device's extension (no mutable statics).
pub struct DriverGlobals {
    mounted_volumes: AtomicU32,
    /// The control device is registered as a file system (IoRegisterFileSystem done and not
    /// yet undone).
    registered: AtomicBool,
    delayed_close_limit: u32,
    /// Every IRP in and out goes to the kernel debugger (dispatch::trace).
    trace_irps: AtomicBool,
    /// How inode metadata maps to file attributes on every volume.
    attribute_options: AttributeOptions,
    /// Dismounted volumes whose last FILE_OBJECT has closed but whose VPB still counted an
    /// open on its way to them: their devices are deleted by `volume::lifetime::sweep_retired`.
    /// Its capacity covers every volume device alive, reserved at mount, so adding one never
    /// allocates.
    retired: Locked<Vec<DeviceRef>>,
}

impl DriverGlobals {
    pub fn try_new(delayed_close_limit: u32) -> Result<DriverGlobals, NtStatus> {
        Ok(DriverGlobals {
            mounted_volumes: AtomicU32::new(0),
            registered: AtomicBool::new(false),
            delayed_close_limit: delayed_close_limit.min(MAX_DELAYED_CLOSE_LIMIT),
            trace_irps: AtomicBool::new(false),
            attribute_options: AttributeOptions::default(),
            retired: Locked::try_new(Vec::new())?,
        })
    }

    /// The same globals with `options` for the attribute mapping.
    pub fn with_attribute_options(mut self, options: AttributeOptions) -> DriverGlobals {
        self.attribute_options = options;
        self
    }

    /// How inode metadata maps to file attributes.
    pub fn attribute_options(&self) -> AttributeOptions {
        self.attribute_options
    }

    /// With the default delayed-close limit.
    pub fn try_default() -> Result<DriverGlobals, NtStatus> {
        DriverGlobals::try_new(DEFAULT_DELAYED_CLOSE_LIMIT)
    }

    /// How many unused FCBs each volume's delayed-close queue keeps.
    pub fn delayed_close_limit(&self) -> usize {
        self.delayed_close_limit as usize
    }

    pub fn trace_irps(&self) -> bool {
        self.trace_irps.load(Ordering::Relaxed)
    }

    /// Turns the IRP trace on or off; returns the previous setting.
    pub fn set_trace_irps(&self, on: bool) -> bool {
        self.trace_irps.swap(on, Ordering::Relaxed)
    }

    pub fn mounted_volumes(&self) -> u32 {
        self.mounted_volumes.load(Ordering::Acquire)
    }

    /// The retired volumes, behind their lock (`None` if this thread holds it already).
    pub fn retired(&self) -> Option<LockedGuard<'_, Vec<DeviceRef>>> {
        self.retired.lock()
    }

    /// Makes room in the retired list for one more volume device than are alive now (at
    /// mount, before the volume counts).
    pub fn reserve_retired_slot(&self) -> Result<(), NtStatus> {
        let mut retired = self.retired.lock().ok_or(NtStatus::POSSIBLE_DEADLOCK)?;
        let wanted = self.mounted_volumes() as usize + 1;
        let additional = wanted.saturating_sub(retired.len());
        retired
            .try_reserve(additional)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)
    }
}

/// The portable body of DriverEntry.
pub fn entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let limit = driver
        .parameter_u32(DELAYED_CLOSE_LIMIT_PARAMETER)
        .unwrap_or(DEFAULT_DELAYED_CLOSE_LIMIT);
    let options = AttributeOptions {
        hide_dot_files: driver
            .parameter_u32(HIDE_DOT_FILES_PARAMETER)
            .is_some_and(|value| value != 0),
        lx_symlinks: driver
            .parameter_u32(LX_SYMLINKS_PARAMETER)
            .is_some_and(|value| value != 0),
        ignore_access: driver.parameter_u32(CHECK_ACCESS_PARAMETER) == Some(0),
    };
    let globals = DriverGlobals::try_new(limit)?.with_attribute_options(options);
    globals.set_trace_irps(driver.parameter_u32(TRACE_IRPS_PARAMETER).unwrap_or(0) != 0);
    let control = driver.create_control_device(CONTROL_DEVICE_NAME, globals)?;
    driver.install_dispatch();
    driver.install_fast_io();
    if let Err(status) = driver.register_section_sync_callbacks() {
        control.delete();
        return Err(status);
    }
    if let Err(status) = control.register_shutdown_notification() {
        control.delete();
        return Err(status);
    }
    // Windows' own file systems first: a disk they recognise is theirs.
    control.set_low_priority();
    register_file_system(&control);
    driver.set_unload_allowed(true);
    Ok(())
}

/// The portable body of DriverUnload. Only reachable with no volume mounted.
pub fn unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        unregister_file_system(&control);
        control.unregister_shutdown_notification();
        control.delete();
    }
}

/// IoRegisterFileSystem, remembered so that it is undone exactly once.
pub fn register_file_system(control: &ControlDevice) {
    control.register_file_system();
    control.globals().registered.store(true, Ordering::Release);
}

/// IoUnregisterFileSystem, if the file system is still registered.
pub fn unregister_file_system(control: &ControlDevice) {
    if control.globals().registered.swap(false, Ordering::AcqRel) {
        control.unregister_file_system();
    }
}

/// FSCTL_PREPARE_UNLOAD on the control device: with no volume left, unregister the file
/// system, so that the unload the service control manager asks for next can run. While a
/// volume exists (mounted, or dismounted with FILE_OBJECTs still open) the answer is
/// STATUS_DEVICE_BUSY, as CDFS answers a PnP query-remove while its volume remains
/// (CdPnpQueryRemove). A mount racing this request either finished before the unregistration
/// (its volume then withdraws DriverUnload, so the driver stays until it is gone) or is never
/// sent: IoUnregisterFileSystem waits for the mount in progress.
pub fn prepare_unload(control_device: DeviceRef) -> NtStatus {
    let Some(control) = control_device
        .driver_object()
        .and_then(|driver| driver.control_device())
    else {
        return NtStatus::INVALID_DEVICE_REQUEST;
    };
    crate::volume::lifetime::sweep_retired(control.globals());
    if control.globals().mounted_volumes() > 0 {
        return NtStatus::DEVICE_BUSY;
    }
    unregister_file_system(&control);
    NtStatus::SUCCESS
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

/// Deletes a volume device whose volume is gone (with whatever its extension holds), then
/// lets the driver unload again if it was the last one.
pub fn delete_volume_device(device: DeviceRef) {
    let Some(mut driver) = device.driver_object() else {
        return;
    };
    if let Some(volume) = VolumeDevice::from_device(device) {
        volume.delete();
    }
    if let Some(control) = driver.control_device() {
        volume_gone(&mut driver, control.globals());
    }
}
