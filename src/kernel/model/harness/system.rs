//! Machine-level operations: attaching disks, loading and unloading drivers.

use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::disk::DiskModel;
use super::driver::DriverDescriptor;
use super::io::{self, IrpRequest};
use super::session::Session;
use crate::kernel::model::context::Context;
use crate::kernel::model::device::{DeviceEntry, DeviceKind, DriverEntry, DriverObject, VpbEntry};
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::{Kernel, State, enter};
use crate::kernel::model::verifier::FindingKind;
use crate::kernel::model::vpb;
use crate::kernel::{IrpMajor, NtStatus};

impl Session {
    /// Attaches a disk device named `\Device\<name>` (with its VPB), backed by `disk`.
    pub fn add_disk(&mut self, name: &str, disk: DiskModel) -> Arc<DiskModel> {
        let disk = Arc::new(disk);
        let full = format!("\\Device\\{name}");
        let mut state = self.kernel.lock();
        let device = state.devices.insert(DeviceEntry {
            kind: DeviceKind::Disk,
            name: full.clone(),
            driver: None,
            flags: super::super::device::DO_DIRECT_IO,
            extension: None,
            vpb: None,
            disk: Some(disk.clone()),
            registrations: 0,
            admin_only: false,
            secure_open: false,
            references: 0,
            delete_pending: false,
        });
        let vpb = state.vpbs.insert(VpbEntry::new(device));
        if let Some(entry) = state.devices.get_mut(device) {
            entry.vpb = Some(vpb);
        }
        drop(state);
        self.disks.push((full, device, disk.clone()));
        disk
    }

    pub fn disk(&self, name: &str) -> Option<Arc<DiskModel>> {
        let full = format!("\\Device\\{name}");
        self.disks
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&full))
            .map(|(_, _, d)| d.clone())
    }

    /// True if the disk's VPB is mounted.
    pub fn is_mounted(&self, name: &str) -> bool {
        let full = format!("\\Device\\{name}");
        let Some(device) = self
            .disks
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&full))
            .map(|d| d.1)
        else {
            return false;
        };
        let state = self.kernel.lock();
        let vpb = state.devices.get(device).and_then(|d| d.vpb);
        vpb.and_then(|v| state.vpbs.get(v))
            .is_some_and(|v| v.mounted && v.device.is_some())
    }

    /// The mounted volume's device, if any (for tests).
    pub fn volume_device_of(&self, name: &str) -> Option<ObjId> {
        let (_, vpb) = self.disk_and_vpb(name)?;
        self.kernel.lock().vpbs.get(vpb)?.device
    }

    /// The device object of disk `name`, while it exists.
    pub fn disk_device(&self, name: &str) -> Option<ObjId> {
        self.disk_and_vpb(name).map(|(device, _)| device)
    }

    /// Whether device `id` still exists (not yet IoDeleteDevice'd).
    pub fn device_exists(&self, id: ObjId) -> bool {
        self.kernel.lock().devices.get(id).is_some()
    }

    /// Vpb->ReferenceCount of the VPB whose DeviceObject is volume device `device`.
    pub fn vpb_references_of(&self, device: ObjId) -> Option<u32> {
        let state = self.kernel.lock();
        state
            .vpbs
            .iter()
            .find(|(_, vpb)| vpb.device == Some(device))
            .map(|(_, vpb)| vpb.reference_count)
    }

    /// The disk device and its VPB.
    pub(crate) fn disk_and_vpb(&self, name: &str) -> Option<(ObjId, ObjId)> {
        let full = format!("\\Device\\{name}");
        let device = self
            .disks
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&full))?
            .1;
        let state = self.kernel.lock();
        let entry = state.devices.get(device).filter(|d| !d.delete_pending)?;
        Some((device, entry.vpb?))
    }

    /// Sets DO_VERIFY_VOLUME on the disk, as a removable-media driver does when the medium may
    /// have changed.
    pub fn set_verify_required(&self, disk: &str) {
        if let Some((device, _)) = self.disk_and_vpb(disk)
            && let Some(entry) = self.kernel.lock().devices.get_mut(device)
        {
            entry.flags |= crate::kernel::model::device::DO_VERIFY_VOLUME;
        }
    }

    /// Whether the disk's DO_VERIFY_VOLUME is set.
    pub fn verify_required(&self, disk: &str) -> bool {
        self.disk_and_vpb(disk).is_some_and(|(device, _)| {
            self.kernel.lock().devices.get(device).is_some_and(|entry| {
                entry.flags & crate::kernel::model::device::DO_VERIFY_VOLUME != 0
            })
        })
    }

    /// The mounted VPB's SerialNumber and VolumeLabel (`VolumeDevice::set_vpb_identity`);
    /// `None` if there is no such disk or it is not mounted.
    pub fn vpb_identity(&self, disk: &str) -> Option<(u32, Vec<u16>)> {
        let (_, vpb) = self.disk_and_vpb(disk)?;
        let state = self.kernel.lock();
        let entry = state.vpbs.get(vpb)?;
        (entry.mounted && entry.device.is_some()).then(|| (entry.serial, entry.label.clone()))
    }

    /// A REG_DWORD under the service key's Parameters subkey, for `DriverObject::parameter_u32`
    /// (set it before `load_driver`; the name compares case-insensitively).
    pub fn set_driver_parameter(&mut self, driver: &str, name: &str, value: u32) {
        let mut state = self.kernel.lock();
        state
            .driver_parameters
            .retain(|(d, n, _)| !(d == driver && n.eq_ignore_ascii_case(name)));
        state
            .driver_parameters
            .push((String::from(driver), String::from(name), value));
    }

    /// IoShutdownSystem's notification pass: a synchronous IRP_MJ_SHUTDOWN to every device
    /// registered with IoRegisterShutdownNotification, most recently registered first. Returns
    /// their statuses in that order. A shutdown IRP pended and never completed is a finding
    /// (`IrpNeverCompleted`), as is a dispatch routine that waits for what never comes.
    pub fn shutdown(&mut self) -> Vec<NtStatus> {
        let devices = self.kernel.lock().shutdown_devices.clone();
        self.note(String::from("IoShutdownSystem: shutdown notifications"));
        let mut statuses = Vec::new();
        for device in devices {
            let request = IrpRequest::new(IrpMajor::Shutdown, None);
            statuses.push(io::call_driver(&self.kernel, device, request).status);
        }
        statuses
    }

    /// IoVerifyVolume on a disk, as the I/O manager does it (`harness::io::verify_volume`).
    /// STATUS_VOLUME_DISMOUNTED if the disk is not mounted.
    pub fn verify_volume(&mut self, disk: &str) -> NtStatus {
        let Some((disk_device, _)) = self.disk_and_vpb(disk) else {
            return NtStatus::OBJECT_NAME_NOT_FOUND;
        };
        self.note(format!("IoVerifyVolume {disk}"));
        io::verify_volume(&self.kernel, disk_device)
    }

    /// A new medium in the drive: the disk's contents change and, if a volume is mounted on
    /// it, the disk driver sets DO_VERIFY_VOLUME, so reads without SL_OVERRIDE_VERIFY_VOLUME
    /// fail with STATUS_VERIFY_REQUIRED until a file system has verified the volume.
    pub fn change_media(&mut self, disk: &str, contents: Vec<u8>) {
        let Some((disk_device, vpb)) = self.disk_and_vpb(disk) else {
            return;
        };
        if let Some(model) = self.disk(disk) {
            model.replace_contents(contents);
        }
        let mut state = self.kernel.lock();
        let mounted = state.vpbs.get(vpb).is_some_and(|entry| entry.mounted);
        if mounted && let Some(entry) = state.devices.get_mut(disk_device) {
            entry.flags |= crate::kernel::model::device::DO_VERIFY_VOLUME;
        }
        state.push_trace(format!(
            "media change on {disk} (verify required: {mounted})"
        ));
    }

    fn driver_id(&self, name: &str) -> Option<ObjId> {
        let state = self.kernel.lock();
        state
            .drivers
            .iter()
            .find(|(_, d)| d.loaded && d.name == name)
            .map(|(id, _)| id)
    }

    /// Loads a driver: creates its DRIVER_OBJECT and calls DriverEntry.
    pub fn load_driver(&mut self, descriptor: DriverDescriptor) -> Result<(), NtStatus> {
        let _entered = enter(&self.kernel);
        let id = {
            let mut state = self.kernel.lock();
            let id = state.drivers.insert(DriverEntry {
                name: String::from(descriptor.name),
                descriptor,
                dispatch_installed: false,
                fast_io_installed: false,
                section_sync_callbacks: false,
                unload_allowed: false,
                loaded: true,
                unload_pending: false,
                devices: Vec::new(),
                in_driver_entry: true,
                control_device: None,
            });
            state.current_driver = Some(id);
            state.context = Context::from(format!("DriverEntry of {}", descriptor.name));
            state.push_trace(format!("load {}", descriptor.name));
            id
        };
        let mut driver = DriverObject { id };
        let result =
            crate::kernel::model::heap_faults::in_driver(|| (descriptor.entry)(&mut driver));
        let mut state = self.kernel.lock();
        state.current_driver = None;
        if let Some(entry) = state.drivers.get_mut(id) {
            entry.in_driver_entry = false;
        }
        match result {
            Ok(()) => Ok(()),
            Err(status) => {
                // A failed DriverEntry: the image is unloaded without DriverUnload.
                state.push_trace(format!(
                    "DriverEntry of {} failed: {status:?}",
                    descriptor.name
                ));
                finish_unload(&mut state, id);
                Err(status)
            }
        }
    }

    /// NtUnloadDriver, as `sc stop` sends it (ReactOS `ntoskrnl/io/iomgr/driver.c`,
    /// IopUnloadDriver):
    /// - refused (STATUS_INVALID_DEVICE_REQUEST) while DriverUnload is absent;
    /// - deferred while one of its devices is referenced, by FILE_OBJECTs or by
    ///   IoRegisterFileSystem: the request succeeds, the devices are marked unload-pending (new
    ///   opens of them fail with STATUS_NO_SUCH_DEVICE, a pending file system is asked to mount
    ///   no more) and DriverUnload runs when the last FILE_OBJECT goes with no registration
    ///   left. A file system still registered therefore never unloads this way (a zombie);
    ///   see `stop_file_system` for the supported path;
    /// - otherwise DriverUnload runs now, then the leak check (every pool block the driver still
    ///   owns is a finding, by tag).
    pub fn unload_driver(&mut self, name: &str) -> NtStatus {
        let Some(id) = self.driver_id(name) else {
            return NtStatus::OBJECT_NAME_NOT_FOUND;
        };
        {
            let mut state = self.kernel.lock();
            let Some(entry) = state.drivers.get(id) else {
                return NtStatus::OBJECT_NAME_NOT_FOUND;
            };
            if !entry.unload_allowed {
                state.push_trace(format!("unload {name} refused: no DriverUnload"));
                return NtStatus::INVALID_DEVICE_REQUEST;
            }
            let open = open_file_objects(&state, id);
            let registrations = file_system_registrations(&state, id);
            if open > 0 || registrations > 0 {
                if let Some(entry) = state.drivers.get_mut(id) {
                    entry.unload_pending = true;
                }
                state.push_trace(format!(
                    "unload {name} deferred: {open} file object(s) open, \
                     {registrations} file system registration(s)"
                ));
                return NtStatus::SUCCESS;
            }
        }
        run_driver_unload(&self.kernel, id);
        NtStatus::SUCCESS
    }

    /// The supported way to stop a file system driver (docs/installing-on-a-test-vm.md): for
    /// each of its control devices registered as a file system, open it by name, send
    /// `FSCTL_PREPARE_UNLOAD` (the driver unregisters, or refuses while a volume is mounted)
    /// and close the handle; then NtUnloadDriver. A refused FSCTL's status is returned and
    /// nothing is unloaded. A driver that registered no file system is simply unloaded.
    pub fn stop_file_system(&mut self, name: &str) -> NtStatus {
        let Some(id) = self.driver_id(name) else {
            return NtStatus::OBJECT_NAME_NOT_FOUND;
        };
        let controls: Vec<String> = {
            let state = self.kernel.lock();
            state
                .devices
                .iter()
                .filter(|(_, d)| d.driver == Some(id) && d.registrations > 0)
                .map(|(_, d)| d.name.clone())
                .collect()
        };
        let pid = self.initial_process();
        for control in controls {
            let opened = self.nt_create_file(pid, &super::session::CreateRequest::open(&control));
            let Some(handle) = opened.handle else {
                return opened.status;
            };
            let status = self
                .fs_control_file(handle, crate::driver::FSCTL_PREPARE_UNLOAD, &[], 0)
                .status;
            self.close_handle(handle);
            if status != NtStatus::SUCCESS {
                return status;
            }
        }
        self.unload_driver(name)
    }

    /// Whether an unload of the driver is pending (requested, waiting for references to go).
    pub fn is_unload_pending(&self, name: &str) -> bool {
        let Some(id) = self.driver_id(name) else {
            return false;
        };
        self.kernel
            .lock()
            .drivers
            .get(id)
            .is_some_and(|d| d.unload_pending)
    }

    /// Whether a driver of that name is loaded.
    pub fn is_loaded(&self, name: &str) -> bool {
        self.driver_id(name).is_some()
    }

    /// Pool blocks currently allocated, as (tag, count).
    pub fn pool_usage(&self) -> Vec<(String, usize)> {
        let state = self.kernel.lock();
        let mut usage: Vec<(String, usize)> = Vec::new();
        for (_, entry) in state.pool.iter() {
            let tag = entry.tag.as_string();
            match usage.iter_mut().find(|(t, _)| *t == tag) {
                Some(slot) => slot.1 += 1,
                None => usage.push((tag, 1)),
            }
        }
        usage
    }
}

/// FILE_OBJECTs opened on any device of `driver`.
pub(crate) fn open_file_objects(state: &State, driver: ObjId) -> usize {
    state
        .file_objects
        .iter()
        .filter(|(_, f)| state.devices.get(f.device).and_then(|d| d.driver) == Some(driver))
        .count()
}

/// IoRegisterFileSystem references still held on `driver`'s devices.
pub(crate) fn file_system_registrations(state: &State, driver: ObjId) -> u32 {
    state
        .devices
        .iter()
        .filter(|(_, d)| d.driver == Some(driver))
        .map(|(_, d)| d.registrations)
        .sum()
}

/// True if `device` belongs to a driver whose unload is pending.
pub(crate) fn unload_pending_for_device(state: &State, device: ObjId) -> bool {
    let driver = state.devices.get(device).and_then(|d| d.driver);
    driver
        .and_then(|d| state.drivers.get(d))
        .is_some_and(|d| d.unload_pending)
}

/// After a FILE_OBJECT on one of `driver`'s devices is deleted: runs a pending unload once
/// nothing is open and no file system registration is left (IopDecrementDeviceObjectRef,
/// IopUnloadDevice).
pub(crate) fn check_deferred_unload(kernel: &Arc<Kernel>, driver: Option<ObjId>) {
    let Some(driver) = driver else { return };
    let driver = {
        let state = kernel.lock();
        let pending = state
            .drivers
            .get(driver)
            .is_some_and(|d| d.unload_pending && d.loaded);
        if !pending
            || open_file_objects(&state, driver) > 0
            || file_system_registrations(&state, driver) > 0
        {
            return;
        }
        driver
    };
    run_driver_unload(kernel, driver);
}

/// Calls DriverUnload, then the leak check.
pub(crate) fn run_driver_unload(kernel: &Arc<Kernel>, id: ObjId) {
    let _entered = enter(kernel);
    let (descriptor, previous_driver, previous_context) = {
        let mut state = kernel.lock();
        let Some(entry) = state.drivers.get(id) else {
            return;
        };
        let (name, descriptor) = (entry.name.clone(), entry.descriptor);
        let previous_context = core::mem::replace(
            &mut state.context,
            Context::from(format!("DriverUnload of {name}")),
        );
        let previous_driver = state.current_driver.replace(id);
        state.push_trace(format!("unload {name}"));
        (descriptor, previous_driver, previous_context)
    };
    let mut driver = DriverObject { id };
    crate::kernel::model::heap_faults::in_driver(|| (descriptor.unload)(&mut driver));
    let mut state = kernel.lock();
    state.current_driver = previous_driver;
    finish_unload(&mut state, id);
    state.context = previous_context;
}

/// The image leaves memory: devices still present are reported; so is every pool block the
/// driver still owns, by tag.
fn finish_unload(state: &mut State, id: ObjId) {
    let devices = state.drivers.get(id).map_or(0, |d| d.devices.len());
    if devices > 0 {
        state.report(FindingKind::DevicesRemainAtUnload { count: devices });
    }
    let leaks: Vec<(ObjId, String, usize)> = state
        .pool
        .iter()
        .filter(|(_, e)| e.owner == Some(id))
        .map(|(pool, e)| (pool, e.tag.as_string(), e.size))
        .collect();
    for (pool, tag, size) in leaks {
        state.report(FindingKind::PoolLeak {
            tag,
            id: pool,
            size,
        });
    }
    vpb::report_leaks(state, id);
    crate::kernel::model::cache::report_mdl_chain_leaks(state);
    if let Some(entry) = state.drivers.get_mut(id) {
        entry.loaded = false;
        entry.unload_pending = false;
    }
}
