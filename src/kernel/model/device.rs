//! DRIVER_OBJECT, DEVICE_OBJECT and VPB: the boundary items the driver uses at load, mount and
//! unload, and the model's records behind them.

use std::any::Any;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::harness::DriverDescriptor;
use super::harness::disk::DiskModel;
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::{FindingKind, ObjectKind};
use crate::driver::DriverGlobals;
use crate::kernel::NtStatus;

/// DO_BUFFERED_IO.
pub const DO_BUFFERED_IO: u32 = 0x0000_0004;
/// DO_DIRECT_IO.
pub const DO_DIRECT_IO: u32 = 0x0000_0010;
/// DO_VERIFY_VOLUME: the medium may have changed; the file system must verify it.
pub const DO_VERIFY_VOLUME: u32 = 0x0000_0002;
/// DO_LOW_PRIORITY_FILESYSTEM: IoRegisterFileSystem queues the file system last.
pub const DO_LOW_PRIORITY_FILESYSTEM: u32 = 0x0001_0000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeviceKind {
    /// A file system's control device (FILE_DEVICE_DISK_FILE_SYSTEM, named).
    Control,
    /// A mounted volume's device (FILE_DEVICE_DISK_FILE_SYSTEM, unnamed, attached to a VPB).
    Volume,
    /// A disk (FILE_DEVICE_DISK), the target of mounts.
    Disk,
}

pub struct DeviceEntry {
    pub kind: DeviceKind,
    pub name: String,
    pub driver: Option<ObjId>,
    pub flags: u32,
    pub extension: Option<Arc<dyn Any + Send + Sync>>,
    /// Disk: its VPB. Volume: the VPB it is mounted through.
    pub vpb: Option<ObjId>,
    pub disk: Option<Arc<DiskModel>>,
    /// The references IoRegisterFileSystem took on the device (DeviceObject->ReferenceCount;
    /// IoUnregisterFileSystem gives it back). While one is held, NtUnloadDriver can only mark
    /// the driver unload-pending.
    pub registrations: u32,
    /// The DACL admits only SYSTEM and Administrators (`D:P(A;;GA;;;SY)(A;;GA;;;BA)`); without
    /// it, IoCreateDevice's default lets everyone read, write and execute.
    pub admin_only: bool,
    /// FILE_DEVICE_SECURE_OPEN: the DACL also guards names below the device.
    pub secure_open: bool,
    /// ObReferenceObject references drivers hold on the device (`TargetDevice::reference`).
    pub references: u32,
    /// Its driver deleted it (a disk after IRP_MN_REMOVE_DEVICE) while references remained:
    /// the object goes when the last one does.
    pub delete_pending: bool,
}

pub struct DriverEntry {
    pub name: String,
    pub descriptor: DriverDescriptor,
    pub dispatch_installed: bool,
    /// DriverObject->FastIoDispatch is set (`DriverObject::install_fast_io`).
    pub fast_io_installed: bool,
    pub section_sync_callbacks: bool,
    pub unload_allowed: bool,
    pub loaded: bool,
    /// An unload was requested while FILE_OBJECTs still referenced our devices: DriverUnload
    /// runs when the last one goes (IopUnloadDriver's deferred unload).
    pub unload_pending: bool,
    /// Newest first, as IoCreateDevice links them into DriverObject->DeviceObject.
    pub devices: Vec<ObjId>,
    /// DriverEntry is running (the RegistryPath argument, hence `parameter_u32`, exists).
    pub in_driver_entry: bool,
    /// The control device, recorded when it is created: found again without walking the
    /// driver's device list (DriverObject->DeviceObject), which only the I/O manager may walk,
    /// under its database lock.
    pub control_device: Option<ObjId>,
}

pub struct VpbEntry {
    pub real_device: ObjId,
    pub device: Option<ObjId>,
    pub mounted: bool,
    /// File objects opened through this VPB (Vpb->ReferenceCount).
    pub reference_count: u32,
    /// Vpb->SerialNumber and Vpb->VolumeLabel (at most 32 WCHARs), set by the FSD at mount.
    pub serial: u32,
    pub label: Vec<u16>,
    /// VPB_LOCKED: the I/O manager refuses new opens through this VPB.
    pub locked: bool,
    /// VPB_REMOVE_PENDING: the PnP manager is removing the disk; no new mount.
    pub remove_pending: bool,
    /// The driver whose file system last mounted through this VPB (for the leak check).
    pub file_system: Option<ObjId>,
}

impl VpbEntry {
    /// A fresh, unmounted VPB for `real_device` (IopCreateVpb, or a spare swapped in).
    pub fn new(real_device: ObjId) -> VpbEntry {
        VpbEntry {
            real_device,
            device: None,
            mounted: false,
            reference_count: 0,
            serial: 0,
            label: Vec::new(),
            locked: false,
            remove_pending: false,
            file_system: None,
        }
    }
}

/// MAXIMUM_VOLUME_LABEL_LENGTH / sizeof(WCHAR).
pub const MAXIMUM_VOLUME_LABEL_CHARS: usize = 32;

/// The driver object, borrowed for the duration of DriverEntry, DriverUnload or a mount.
pub struct DriverObject {
    pub(crate) id: ObjId,
}

/// The file system control device: the object the I/O manager sends mount requests to.
pub struct ControlDevice {
    id: ObjId,
    globals: Arc<DriverGlobals>,
}

/// A device object of ours that an IRP was sent to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceRef {
    pub(crate) id: ObjId,
}

/// A volume device this driver created at mount.
#[derive(Debug)]
pub struct VolumeDevice {
    pub(crate) id: ObjId,
}

/// The device a mount request asks us to mount (the disk, Vpb->RealDevice), as a read target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TargetDevice {
    pub(crate) id: ObjId,
    /// Reads carry SL_OVERRIDE_VERIFY_VOLUME (mount and verify reads only).
    pub(crate) override_verify: bool,
}

/// A counted reference on the mount target (ObReferenceObject), given back on drop
/// (ObDereferenceObject). While one is held the device object stays, even after its driver
/// deleted it (a disk after IRP_MN_REMOVE_DEVICE).
#[derive(Debug)]
pub struct TargetReference {
    id: ObjId,
}

impl Drop for TargetReference {
    fn drop(&mut self) {
        let id = self.id;
        with_state(|state| {
            let Some(entry) = state.devices.get_mut(id) else {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Device,
                    id,
                });
                return;
            };
            entry.references = entry.references.saturating_sub(1);
            if entry.references == 0 && entry.delete_pending {
                state.devices.remove(id);
                state.push_trace(format!("device {id} freed at its last reference"));
            }
        });
    }
}

/// The device behind a target, or a use-after-free finding if it is gone.
fn live_target(state: &mut State, id: ObjId) -> Option<&mut DeviceEntry> {
    if state.devices.get(id).is_none() {
        state.report(FindingKind::UseAfterFree {
            kind: ObjectKind::Device,
            id,
        });
        return None;
    }
    state.devices.get_mut(id)
}

/// A disk's driver deletes its device (IoDeleteDevice after IRP_MN_REMOVE_DEVICE): the object
/// goes now, or at its last reference if a driver still holds one; either way its name is gone.
pub(crate) fn delete_disk_device(state: &mut State, id: ObjId) {
    let Some(entry) = state.devices.get_mut(id) else {
        return;
    };
    entry.name.clear();
    if entry.references > 0 {
        entry.delete_pending = true;
        state.push_trace(format!(
            "disk device {id} deleted, freed at its last reference"
        ));
    } else {
        state.devices.remove(id);
        state.push_trace(format!("disk device {id} deleted and freed"));
    }
}

impl TargetDevice {
    /// ObReferenceObject on the device: it stays until the reference is dropped.
    pub fn reference(&self) -> TargetReference {
        let id = self.id;
        with_state(|state| {
            if let Some(entry) = live_target(state, id) {
                entry.references += 1;
            }
        });
        TargetReference { id }
    }

    pub(crate) fn new(id: ObjId) -> TargetDevice {
        TargetDevice {
            id,
            override_verify: false,
        }
    }
}

/// IRP_MN_MOUNT_VOLUME's parameters: the VPB and the device to mount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MountRequest {
    pub(crate) vpb: ObjId,
    pub target: TargetDevice,
}

fn create_device(
    state: &mut State,
    driver: ObjId,
    kind: DeviceKind,
    name: &str,
    flags: u32,
    extension: Option<Arc<dyn Any + Send + Sync>>,
) -> Result<ObjId, NtStatus> {
    state.require_irql("IoCreateDevice", 0);
    let Some(entry) = state.drivers.get(driver) else {
        state.report(FindingKind::UseAfterFree {
            kind: ObjectKind::Device,
            id: driver,
        });
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if !name.is_empty() && state.devices.iter().any(|(_, d)| d.name == name) {
        return Err(NtStatus(0xC000_0035_u32 as i32)); // STATUS_OBJECT_NAME_COLLISION
    }
    let _ = entry;
    let id = state.devices.insert(DeviceEntry {
        kind,
        name: String::from(name),
        driver: Some(driver),
        flags,
        extension,
        vpb: None,
        disk: None,
        registrations: 0,
        admin_only: false,
        secure_open: false,
        references: 0,
        delete_pending: false,
    });
    if let Some(entry) = state.drivers.get_mut(driver) {
        entry.devices.insert(0, id);
        if kind == DeviceKind::Control && entry.control_device.is_none() {
            entry.control_device = Some(id);
        }
    }
    Ok(id)
}

/// IopParseDevice's access check of a standard user's open against the device's DACL: the
/// device itself always, a name below it only with FILE_DEVICE_SECURE_OPEN (below a device
/// without it, checking is left to its driver).
pub(crate) fn denies_standard_user(state: &State, device: ObjId, whole_device: bool) -> bool {
    state
        .devices
        .get(device)
        .is_some_and(|d| d.admin_only && (whole_device || d.secure_open))
}

/// IoDeleteDevice. Returns the extension, for the caller to drop once the state lock is
/// released (an extension may hold kernel objects whose drop reaches the model again).
fn delete_device(state: &mut State, id: ObjId) -> Option<Arc<dyn Any + Send + Sync>> {
    state.require_irql("IoDeleteDevice", 0);
    let Some(mut device) = state.devices.remove(id) else {
        state.report(FindingKind::UseAfterFree {
            kind: ObjectKind::Device,
            id,
        });
        return None;
    };
    if let Some(driver) = device.driver.and_then(|d| state.drivers.get_mut(d)) {
        driver.devices.retain(|&d| d != id);
        if driver.control_device == Some(id) {
            driver.control_device = None;
        }
    }
    state.file_systems.retain(|&d| d != id);
    // IoDeleteDevice unregisters a shutdown notification the device still has. It does not
    // touch any VPB: detaching is the file system's job (`VolumeDevice::delete`).
    state.shutdown_devices.retain(|&d| d != id);
    device.extension.take()
}

/// Deletes a device and drops its extension outside the state lock.
fn delete_device_now(id: ObjId) {
    let extension = with_state(|state| delete_device(state, id)).flatten();
    drop(extension);
}

impl DriverObject {
    /// Creates the named control device with `globals` in its extension, for SYSTEM and
    /// Administrators only, with FILE_DEVICE_SECURE_OPEN (as the `nt` backend).
    pub fn create_control_device(
        &mut self,
        name: &str,
        globals: DriverGlobals,
    ) -> Result<ControlDevice, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        let globals = Arc::new(globals);
        let extension: Arc<dyn Any + Send + Sync> = globals.clone();
        let driver = self.id;
        let id = with_state(|state| {
            let id = create_device(state, driver, DeviceKind::Control, name, 0, Some(extension))?;
            if let Some(device) = state.devices.get_mut(id) {
                device.admin_only = true;
                device.secure_open = true;
            }
            Ok(id)
        })
        .unwrap_or(Err(NtStatus::UNSUCCESSFUL))?;
        Ok(ControlDevice { id, globals })
    }

    /// The control device, as recorded when it was created (`None` once it is deleted).
    pub fn control_device(&self) -> Option<ControlDevice> {
        let driver = self.id;
        with_state(|state| {
            let id = state.drivers.get(driver)?.control_device?;
            let device = state.devices.get(id)?;
            let globals = device.extension.clone()?.downcast::<DriverGlobals>().ok()?;
            Some(ControlDevice { id, globals })
        })
        .flatten()
    }

    /// Points every major function at the dispatcher.
    pub fn install_dispatch(&mut self) {
        let driver = self.id;
        with_state(|state| {
            if let Some(entry) = state.drivers.get_mut(driver) {
                entry.dispatch_installed = true;
            }
        });
    }

    /// DriverObject->FastIoDispatch = the driver's FAST_IO_DISPATCH: from now on the I/O
    /// manager may call its fast I/O routines instead of sending IRPs (`harness::fast_io`).
    pub fn install_fast_io(&mut self) {
        let driver = self.id;
        with_state(|state| {
            if let Some(entry) = state.drivers.get_mut(driver) {
                entry.fast_io_installed = true;
            }
        });
    }

    /// FsRtlRegisterFileSystemFilterCallbacks.
    pub fn register_section_sync_callbacks(&mut self) -> Result<(), NtStatus> {
        let driver = self.id;
        with_state(|state| {
            if let Some(entry) = state.drivers.get_mut(driver) {
                entry.section_sync_callbacks = true;
            }
        });
        Ok(())
    }

    /// Installs or withdraws DriverUnload.
    pub fn set_unload_allowed(&mut self, allowed: bool) {
        let driver = self.id;
        with_state(|state| {
            if let Some(entry) = state.drivers.get_mut(driver) {
                entry.unload_allowed = allowed;
            }
        });
    }

    /// The REG_DWORD `<RegistryPath>\Parameters\<name>` of the driver's service key. Only
    /// during DriverEntry (the RegistryPath exists only then): `None` at any other time, and
    /// when the value is missing or not a REG_DWORD.
    pub fn parameter_u32(&self, name: &str) -> Option<u32> {
        let driver = self.id;
        with_state(|state| {
            state.require_irql("ZwQueryValueKey", 0);
            let entry = state.drivers.get(driver)?;
            if !entry.in_driver_entry {
                return None;
            }
            let driver_name = entry.name.clone();
            state
                .driver_parameters
                .iter()
                .find(|(d, n, _)| *d == driver_name && n.eq_ignore_ascii_case(name))
                .map(|(_, _, value)| *value)
        })
        .flatten()
    }

    /// At IRP_MN_MOUNT_VOLUME: creates the (unnamed) volume device with `extension`, with
    /// DO_DIRECT_IO, and links it into the VPB (Vpb->DeviceObject).
    pub fn create_volume_device<T: Send + Sync + 'static>(
        &mut self,
        mount: &MountRequest,
        extension: T,
    ) -> Result<VolumeDevice, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        let driver = self.id;
        let extension: Arc<dyn Any + Send + Sync> = Arc::new(extension);
        let vpb = mount.vpb;
        with_state(|state| {
            if state.vpbs.get(vpb).is_none() {
                state.report(FindingKind::Other(String::from("mount with a stale VPB")));
                return Err(NtStatus::INVALID_PARAMETER);
            }
            let id = create_device(
                state,
                driver,
                DeviceKind::Volume,
                "",
                DO_DIRECT_IO,
                Some(extension),
            )?;
            if let Some(device) = state.devices.get_mut(id) {
                device.vpb = Some(vpb);
            }
            if let Some(entry) = state.vpbs.get_mut(vpb) {
                entry.device = Some(id);
            }
            Ok(VolumeDevice { id })
        })
        .unwrap_or(Err(NtStatus::UNSUCCESSFUL))
    }
}

impl ControlDevice {
    /// IoRegisterFileSystem: from now on the I/O manager may ask us to mount. A file system
    /// goes to the head of the queue (asked first), one with DO_LOW_PRIORITY_FILESYSTEM to its
    /// tail, and the device gains a reference that keeps the driver from unloading until
    /// IoUnregisterFileSystem (ReactOS `ntoskrnl/io/iomgr/volume.c`, IoRegisterFileSystem).
    pub fn register_file_system(&self) {
        let id = self.id;
        with_state(|state| {
            state.file_systems.retain(|&d| d != id);
            if let Some(device) = state.devices.get_mut(id) {
                device.registrations += 1;
            }
            let low = state
                .devices
                .get(id)
                .is_some_and(|d| d.flags & DO_LOW_PRIORITY_FILESYSTEM != 0);
            if low {
                state.file_systems.push(id);
            } else {
                state.file_systems.insert(0, id);
            }
        });
    }

    /// Sets DO_LOW_PRIORITY_FILESYSTEM (before `register_file_system`): Windows' own disk file
    /// systems are asked to mount first.
    pub fn set_low_priority(&self) {
        let id = self.id;
        with_state(|state| {
            if let Some(device) = state.devices.get_mut(id) {
                device.flags |= DO_LOW_PRIORITY_FILESYSTEM;
            }
        });
    }

    /// IoUnregisterFileSystem: out of the queue, and the registration's reference on the
    /// device goes. It does not run an unload already pending (ReactOS drops the count without
    /// IopDecrementDeviceObjectRef). Unregistering a device not registered would take a
    /// reference someone else holds: a finding.
    pub fn unregister_file_system(&self) {
        let id = self.id;
        with_state(|state| {
            let registered = state
                .devices
                .get(id)
                .is_some_and(|device| device.registrations > 0);
            if !registered {
                state.report(FindingKind::Other(String::from(
                    "IoUnregisterFileSystem of a device that is not registered",
                )));
                return;
            }
            if let Some(device) = state.devices.get_mut(id) {
                device.registrations -= 1;
            }
            state.file_systems.retain(|&d| d != id);
        });
    }

    /// IoRegisterShutdownNotification: IRP_MJ_SHUTDOWN comes to this device at system
    /// shutdown (most recently registered first).
    pub fn register_shutdown_notification(&self) -> Result<(), NtStatus> {
        let id = self.id;
        with_state(|state| {
            state.require_irql("IoRegisterShutdownNotification", 0);
            state.shutdown_devices.retain(|&d| d != id);
            state.shutdown_devices.insert(0, id);
        });
        Ok(())
    }

    /// IoUnregisterShutdownNotification (IoDeleteDevice also does it).
    pub fn unregister_shutdown_notification(&self) {
        let id = self.id;
        with_state(|state| {
            state.require_irql("IoUnregisterShutdownNotification", 0);
            state.shutdown_devices.retain(|&d| d != id);
        });
    }

    pub fn globals(&self) -> &DriverGlobals {
        &self.globals
    }

    /// The control device as a device of ours (to find it again from a work item).
    pub fn device(&self) -> DeviceRef {
        DeviceRef { id: self.id }
    }

    /// Drops the globals and deletes the device (IoDeleteDevice).
    pub fn delete(self) {
        let id = self.id;
        delete_device_now(id);
    }
}

impl DeviceRef {
    pub fn is_control_device(&self) -> bool {
        let id = self.id;
        with_state(|state| {
            state
                .devices
                .get(id)
                .is_some_and(|d| d.kind == DeviceKind::Control)
        })
        .unwrap_or(false)
    }

    /// Runs `f` on the device extension if it holds a `T`.
    pub fn with_extension<T: Send + Sync + 'static, R>(
        &self,
        f: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        let id = self.id;
        let extension = with_state(|state| state.devices.get(id)?.extension.clone()).flatten()?;
        let value = extension.downcast::<T>().ok()?;
        Some(f(&value))
    }

    /// The driver object that owns this device (DeviceObject->DriverObject).
    pub fn driver_object(&self) -> Option<DriverObject> {
        let id = self.id;
        with_state(|state| state.devices.get(id)?.driver.map(|id| DriverObject { id })).flatten()
    }
}

impl VolumeDevice {
    /// The volume device an IRP was sent to, if it is one.
    pub fn from_device(device: DeviceRef) -> Option<VolumeDevice> {
        let id = device.id;
        with_state(|state| {
            state
                .devices
                .get(id)
                .is_some_and(|d| d.kind == DeviceKind::Volume)
        })
        .unwrap_or(false)
        .then_some(VolumeDevice { id })
    }

    pub fn device(&self) -> DeviceRef {
        DeviceRef { id: self.id }
    }

    /// Vpb->SerialNumber and Vpb->VolumeLabel (truncated to 32 WCHARs) with
    /// VolumeLabelLength in bytes; set at mount, before the mount IRP completes.
    pub fn set_vpb_identity(&self, serial: u32, label: &[u16]) {
        let id = self.id;
        with_state(|state| {
            let Some(vpb) = state.devices.get(id).and_then(|d| d.vpb) else {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Device,
                    id,
                });
                return;
            };
            if let Some(entry) = state.vpbs.get_mut(vpb) {
                entry.serial = serial;
                let count = label.len().min(MAXIMUM_VOLUME_LABEL_CHARS);
                entry.label = label.get(..count).unwrap_or_default().to_vec();
            }
        });
    }

    /// Sets or clears VPB_LOCKED.
    pub fn set_vpb_locked(&self, locked: bool) {
        let id = self.id;
        with_state(|state| {
            let vpb = state.devices.get(id).and_then(|d| d.vpb);
            match vpb.and_then(|vpb| state.vpbs.get_mut(vpb)) {
                Some(entry) => entry.locked = locked,
                None => state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Device,
                    id,
                }),
            }
        });
    }

    /// Detaches from the VPB (clears VPB_MOUNTED and Vpb->DeviceObject under the VPB spin
    /// lock) and deletes the device (IoDeleteDevice). A VPB that still counts references
    /// through this device is a finding: an open past IopCheckVpbMounted would be sent to the
    /// deleted device (FastFAT FatCheckForDismount, CDFS CdCheckForDismount).
    pub fn delete(self) {
        let id = self.id;
        with_state(|state| super::vpb::detach_deleted_device(state, id));
        delete_device_now(id);
    }
}

impl TargetDevice {
    /// A synchronous read from the disk, as `nt` sends it: IoAllocateIrp, IoCallDriver, a
    /// completion routine that signals an event and stops completion, KeWaitForSingleObject.
    /// That works at APC_LEVEL, where paging reads arrive (IoBuildSynchronousFsdRequest would
    /// not: its completion needs an APC to the waiting thread). Returns the bytes read. While the disk has DO_VERIFY_VOLUME set, a
    /// read without SL_OVERRIDE_VERIFY_VOLUME fails with STATUS_VERIFY_REQUIRED, as the disk
    /// class driver answers after a media change
    /// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ifs/irp-mn-verify-volume>).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, NtStatus> {
        super::preempt::point();
        let id = self.id;
        let override_verify = self.override_verify;
        let disk = with_state(|state| {
            state.require_irql("KeWaitForSingleObject (disk read)", 1);
            state.charge_stack(super::state::IRP_FRAME_CHARGE);
            live_target(state, id).map(|d| (d.disk.clone(), d.flags & DO_VERIFY_VOLUME != 0))
        })
        .flatten();
        let result = match disk {
            Some((_, true)) if !override_verify => Err(NtStatus::VERIFY_REQUIRED),
            Some((Some(disk), _)) => disk.read(offset, buf),
            _ => Err(NtStatus::INVALID_DEVICE_REQUEST),
        };
        with_state(|state| state.release_stack(super::state::IRP_FRAME_CHARGE));
        result
    }

    /// The disk's size in bytes.
    pub fn length(&self) -> u64 {
        let id = self.id;
        with_state(|state| live_target(state, id).and_then(|d| d.disk.as_ref().map(|d| d.len())))
            .flatten()
            .unwrap_or(0)
    }

    /// Bytes per sector.
    pub fn sector_size(&self) -> u32 {
        512
    }

    /// How many read IRPs `read` of `length` bytes at `offset` sends to the disk: one (the
    /// model's disk takes any length; the `nt` twin splits at its maximum transfer).
    pub fn transfers(&self, _offset: u64, _length: usize) -> u32 {
        1
    }

    /// The same device, with SL_OVERRIDE_VERIFY_VOLUME on its reads: for a mount's and a
    /// verify's reads, which must reach the medium whatever DO_VERIFY_VOLUME says.
    pub fn with_verify_override(self) -> TargetDevice {
        TargetDevice {
            override_verify: true,
            ..self
        }
    }

    /// DO_VERIFY_VOLUME on the disk: its medium may have changed since the mount.
    pub fn verify_required(&self) -> bool {
        let id = self.id;
        with_state(|state| live_target(state, id).is_some_and(|d| d.flags & DO_VERIFY_VOLUME != 0))
            .unwrap_or(false)
    }

    /// IoVerifyVolume(disk, FALSE): see `harness::io::verify_volume`.
    pub fn verify_volume(&self) -> NtStatus {
        match super::state::current() {
            Some(kernel) => super::harness::io::verify_volume(&kernel, self.id),
            None => NtStatus::UNSUCCESSFUL,
        }
    }

    /// Clears DO_VERIFY_VOLUME on the disk (the file system checked the medium).
    pub fn clear_verify_required(&self) {
        let id = self.id;
        with_state(|state| {
            if let Some(device) = live_target(state, id) {
                device.flags &= !DO_VERIFY_VOLUME;
            }
        });
    }
}
