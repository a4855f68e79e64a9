//! DRIVER_OBJECT, our DEVICE_OBJECTs (control and volume) and the mount target.
//!
//! Every device we create carries a typed extension: an `ExtensionHeader` (which kind of device,
//! the Rust type of the value, how to drop it) followed by the value. Nothing relies on
//! `sizeof(DEVICE_OBJECT)`; the I/O manager gives us `DeviceExtension`.

use core::any::TypeId;
use core::mem::{align_of, size_of};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::{
    DEVICE_OBJECT, DO_DEVICE_INITIALIZING, FILE_DEVICE_DISK_FILE_SYSTEM, FILE_DEVICE_SECURE_OPEN,
    FS_FILTER_CALLBACKS, KIRQL, PCUNICODE_STRING, PDEVICE_OBJECT, PDRIVER_OBJECT, PUNICODE_STRING,
    PVPB, VPB_LOCKED, VPB_MOUNTED,
};

use super::device_security;
use super::entry;
use super::lower_io;
use super::registry;
use super::unicode::OwnedUnicode;
use crate::driver::DriverGlobals;
use crate::kernel::{IrpMajor, NtStatus};

/// Our control device, recorded when it is created and cleared when it is deleted, so that
/// nothing walks DriverObject->DeviceObject (a list only the I/O manager may walk, under its
/// database lock).
static CONTROL_DEVICE: AtomicPtr<DEVICE_OBJECT> = AtomicPtr::new(ptr::null_mut());

/// DO_BUFFERED_IO.
pub const DO_BUFFERED_IO: u32 = wdk_sys::DO_BUFFERED_IO;
/// DO_DIRECT_IO.
pub const DO_DIRECT_IO: u32 = wdk_sys::DO_DIRECT_IO;

/// Which of our devices an extension belongs to (a tag, readable in a debugger).
#[derive(Clone, Copy, PartialEq, Eq)]
struct DeviceKind(u32);

impl DeviceKind {
    const CONTROL: DeviceKind = DeviceKind(u32::from_le_bytes(*b"RfCd"));
    const VOLUME: DeviceKind = DeviceKind(u32::from_le_bytes(*b"RfVd"));
}

/// The start of every extension of ours.
#[repr(C)]
struct ExtensionHeader {
    kind: DeviceKind,
    type_id: TypeId,
    /// Drops the value that follows the header.
    drop_value: unsafe fn(*mut ExtensionHeader),
    /// Volume devices: the VPB we were mounted through.
    vpb: PVPB,
}

#[repr(C)]
struct Extension<T> {
    header: ExtensionHeader,
    value: T,
}

/// # Safety
/// `header` starts a live `Extension<T>` whose value has not been dropped yet.
unsafe fn drop_extension_value<T>(header: *mut ExtensionHeader) {
    // SAFETY: as the caller promises.
    unsafe { ptr::drop_in_place(&raw mut (*header.cast::<Extension<T>>()).value) }
}

/// The driver object, borrowed for the duration of DriverEntry, DriverUnload or a mount.
pub struct DriverObject {
    raw: PDRIVER_OBJECT,
    /// DriverEntry's RegistryPath (the service key); null outside DriverEntry.
    registry_path: PCUNICODE_STRING,
}

/// The file system control device: the object the I/O manager sends mount requests to.
pub struct ControlDevice {
    raw: PDEVICE_OBJECT,
}

/// A device object of ours that an IRP was sent to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeviceRef {
    raw: PDEVICE_OBJECT,
}

// SAFETY: a device object is a kernel object usable from any thread; DeviceRef only reads
// fields that are fixed after creation.
unsafe impl Send for DeviceRef {}
// SAFETY: as above.
unsafe impl Sync for DeviceRef {}

/// A volume device this driver created at mount.
#[derive(Debug)]
pub struct VolumeDevice {
    raw: PDEVICE_OBJECT,
}

// SAFETY: as for DeviceRef.
unsafe impl Send for VolumeDevice {}
// SAFETY: as for DeviceRef.
unsafe impl Sync for VolumeDevice {}

/// The device a mount request asks us to mount (IrpSp->Parameters.MountVolume.DeviceObject),
/// as a read target.
///
/// Its sector size is asked once, when the mount or verify request is decoded, and travels
/// with the (Copy) value: a mounted volume's reader keeps its TargetDevice for the volume's
/// life, so reads send no IOCTL. A change of media under a mounted volume comes back as a
/// verify, whose request asks again.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TargetDevice {
    raw: PDEVICE_OBJECT,
    /// Bytes per sector, valid (a power of two in 512..=64 KiB).
    sector_size: u32,
    /// Reads carry SL_OVERRIDE_VERIFY_VOLUME (mount and verify reads only).
    override_verify: bool,
}

// SAFETY: the target device is referenced by the VPB for as long as the volume is mounted, and
// the I/O manager allows IRPs to it from any thread.
unsafe impl Send for TargetDevice {}
// SAFETY: as above.
unsafe impl Sync for TargetDevice {}

/// IRP_MN_MOUNT_VOLUME's parameters: the VPB and the device to mount.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MountRequest {
    vpb: PVPB,
    pub target: TargetDevice,
}

// SAFETY: as for TargetDevice; the VPB lives as long as the real device.
unsafe impl Send for MountRequest {}
// SAFETY: as above.
unsafe impl Sync for MountRequest {}

impl MountRequest {
    /// Asks the target for its sector size (one IOCTL_DISK_GET_DRIVE_GEOMETRY, see
    /// `TargetDevice::from_raw`).
    ///
    /// # Safety
    /// `vpb` and `target` are the MountVolume parameters of an IRP_MN_MOUNT_VOLUME, or the
    /// VerifyVolume VPB and its RealDevice, of an IRP in dispatch (at PASSIVE_LEVEL).
    pub(super) unsafe fn from_raw(vpb: PVPB, target: PDEVICE_OBJECT) -> MountRequest {
        MountRequest {
            vpb,
            // SAFETY: `target` is the live device of the request (our caller's promise), and
            // mount and verify requests are dispatched at PASSIVE_LEVEL, where we may wait.
            target: unsafe { TargetDevice::from_raw(target) },
        }
    }
}

/// The extension header of one of our devices, or None for a device without one.
///
/// # Safety
/// `device` is a live device object created by this driver.
unsafe fn header_of(device: PDEVICE_OBJECT) -> Option<*mut ExtensionHeader> {
    // SAFETY: as the caller promises; every device we create has an ExtensionHeader at
    // DeviceExtension (written before DO_DEVICE_INITIALIZING is cleared).
    let extension = unsafe { (*device).DeviceExtension };
    (!extension.is_null()).then_some(extension.cast::<ExtensionHeader>())
}

impl DriverObject {
    /// # Safety
    /// `raw` is our driver object, as the I/O manager passed it to DriverEntry or
    /// DriverUnload, or as a device of ours names it.
    pub(super) unsafe fn from_raw(raw: PDRIVER_OBJECT) -> DriverObject {
        DriverObject {
            raw,
            registry_path: ptr::null(),
        }
    }

    /// The driver object DriverEntry gets, with its RegistryPath.
    ///
    /// # Safety
    /// As for `from_raw`, from DriverEntry; `registry_path` is its RegistryPath argument, valid
    /// until DriverEntry returns (the `DriverObject` does not outlive it).
    pub(super) unsafe fn for_entry(
        raw: PDRIVER_OBJECT,
        registry_path: PCUNICODE_STRING,
    ) -> DriverObject {
        DriverObject { raw, registry_path }
    }

    /// The REG_DWORD `<RegistryPath>\Parameters\<name>` of the service key. Only during
    /// DriverEntry (the RegistryPath is valid only then): `None` at any other time, and when
    /// the value is missing or not a REG_DWORD.
    pub fn parameter_u32(&self, name: &str) -> Option<u32> {
        if self.registry_path.is_null() {
            return None;
        }
        // SAFETY: a non-null registry_path is DriverEntry's RegistryPath, valid while this
        // DriverObject (made by for_entry inside DriverEntry) exists.
        unsafe { registry::parameter_u32(self.registry_path, name) }
    }

    /// IoCreateDevice with an `Extension<T>`; the device is still initializing on return.
    fn create_device<T: 'static>(
        &mut self,
        name: Option<&str>,
        kind: DeviceKind,
        characteristics: u32,
        vpb: PVPB,
        value: T,
    ) -> Result<PDEVICE_OBJECT, NtStatus> {
        let mut owned_name = match name {
            Some(name) => Some(OwnedUnicode::from_str(name)?),
            None => None,
        };
        let mut unicode = owned_name.as_mut().map(|name| name.as_unicode_string());
        let name_ptr: PUNICODE_STRING = match unicode.as_mut() {
            Some(unicode) => unicode,
            None => ptr::null_mut(),
        };
        let mut device: PDEVICE_OBJECT = ptr::null_mut();
        // SAFETY: `raw` is our driver object; the name (if any) outlives the call (the I/O
        // manager copies it); the extension size is that of the value written below.
        let status = unsafe {
            wdk_sys::ntddk::IoCreateDevice(
                self.raw,
                size_of::<Extension<T>>() as u32,
                name_ptr,
                FILE_DEVICE_DISK_FILE_SYSTEM,
                characteristics,
                0,
                &mut device,
            )
        };
        if status < 0 || device.is_null() {
            return Err(NtStatus(status));
        }
        // SAFETY: IoCreateDevice succeeded: `device` is valid and its extension has room for
        // an Extension<T>, which we check is suitably aligned before writing it.
        unsafe {
            let extension = (*device).DeviceExtension.cast::<Extension<T>>();
            if extension.is_null() || !extension.is_aligned() {
                wdk_sys::ntddk::IoDeleteDevice(device);
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
            extension.write(Extension {
                header: ExtensionHeader {
                    kind,
                    type_id: TypeId::of::<T>(),
                    drop_value: drop_extension_value::<T>,
                    vpb,
                },
                value,
            });
        }
        Ok(device)
    }

    /// Creates the named control device with `globals` in its extension: FILE_DEVICE_SECURE_OPEN
    /// and a DACL for SYSTEM and Administrators only (see `device_security`), set before the
    /// device can be opened. Recorded for `control_device`.
    pub fn create_control_device(
        &mut self,
        name: &str,
        globals: DriverGlobals,
    ) -> Result<ControlDevice, NtStatus> {
        let device = self.create_device(
            Some(name),
            DeviceKind::CONTROL,
            FILE_DEVICE_SECURE_OPEN,
            ptr::null_mut(),
            globals,
        )?;
        // SAFETY: `device` was just created by us and is still initializing, at PASSIVE_LEVEL
        // (DriverEntry).
        if let Err(status) = unsafe { device_security::restrict_to_administrators(device) } {
            // SAFETY: nothing else knows the device yet.
            unsafe { delete_device(device) };
            return Err(status);
        }
        let _ = CONTROL_DEVICE.compare_exchange(
            ptr::null_mut(),
            device,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        // SAFETY: `device` was just created and is fully initialized.
        unsafe { (*device).Flags &= !DO_DEVICE_INITIALIZING };
        Ok(ControlDevice { raw: device })
    }

    /// The control device, as recorded when it was created (`None` once it is deleted).
    pub fn control_device(&self) -> Option<ControlDevice> {
        let device = CONTROL_DEVICE.load(Ordering::Acquire);
        (!device.is_null()).then_some(ControlDevice { raw: device })
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

    /// DriverObject->FastIoDispatch = our FAST_IO_DISPATCH (`fast_io.rs`).
    pub fn install_fast_io(&mut self) {
        // SAFETY: `raw` is our driver object in DriverEntry; the table is a static the kernel
        // only reads.
        unsafe {
            (*self.raw).FastIoDispatch = (&raw const super::fast_io::FAST_IO).cast_mut();
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

    /// At IRP_MN_MOUNT_VOLUME: creates the (unnamed) volume device with `extension`, with
    /// DO_DIRECT_IO, sized for the target's stack, and links it into the VPB
    /// (Vpb->DeviceObject; the I/O manager sets VPB_MOUNTED when the mount IRP succeeds).
    pub fn create_volume_device<T: Send + Sync + 'static>(
        &mut self,
        mount: &MountRequest,
        extension: T,
    ) -> Result<VolumeDevice, NtStatus> {
        let device = self.create_device(None, DeviceKind::VOLUME, 0, mount.vpb, extension)?;
        let target = mount.target.raw;
        // SAFETY: `device` is ours and still initializing; `target` and `vpb` are the live
        // MountVolume parameters of the IRP being dispatched (MountRequest's invariant).
        unsafe {
            let stack_size = (*target).StackSize;
            (*device).StackSize = stack_size.saturating_add(1);
            (*device).SectorSize = (*target).SectorSize;
            (*device).AlignmentRequirement = (*target).AlignmentRequirement;
            (*device).Flags |= DO_DIRECT_IO;
            (*mount.vpb).DeviceObject = device;
            (*device).Flags &= !DO_DEVICE_INITIALIZING;
        }
        Ok(VolumeDevice { raw: device })
    }
}

/// Drops a device's extension value and deletes it.
///
/// # Safety
/// `device` is one of our devices, not yet deleted; nothing uses it afterwards.
unsafe fn delete_device(device: PDEVICE_OBJECT) {
    // SAFETY: as the caller promises; the value is dropped once, here.
    unsafe {
        if let Some(header) = header_of(device) {
            ((*header).drop_value)(header);
        }
        wdk_sys::ntddk::IoDeleteDevice(device);
    }
}

impl ControlDevice {
    pub fn register_file_system(&self) {
        // SAFETY: `raw` is our initialized control device.
        unsafe { wdk_sys::ntddk::IoRegisterFileSystem(self.raw) }
    }

    /// Sets DO_LOW_PRIORITY_FILESYSTEM (before `register_file_system`): IoRegisterFileSystem
    /// then queues us after Windows' own disk file systems, so NTFS, FAT and exFAT are asked to
    /// mount first.
    pub fn set_low_priority(&self) {
        // SAFETY: `raw` is our control device; its Flags are ours to set before registration.
        unsafe { (*self.raw).Flags |= wdk_sys::DO_LOW_PRIORITY_FILESYSTEM };
    }

    pub fn unregister_file_system(&self) {
        // SAFETY: `raw` is our control device, registered in DriverEntry.
        unsafe { wdk_sys::ntddk::IoUnregisterFileSystem(self.raw) }
    }

    /// IoRegisterShutdownNotification: IRP_MJ_SHUTDOWN comes to this device at shutdown.
    pub fn register_shutdown_notification(&self) -> Result<(), NtStatus> {
        // SAFETY: `raw` is our initialized control device, at PASSIVE_LEVEL.
        let status = unsafe { wdk_sys::ntddk::IoRegisterShutdownNotification(self.raw) };
        if status < 0 {
            Err(NtStatus(status))
        } else {
            Ok(())
        }
    }

    /// IoUnregisterShutdownNotification (IoDeleteDevice also does it).
    pub fn unregister_shutdown_notification(&self) {
        // SAFETY: `raw` is our control device; unregistering one not registered is harmless.
        unsafe { wdk_sys::ntddk::IoUnregisterShutdownNotification(self.raw) }
    }

    pub fn globals(&self) -> &DriverGlobals {
        // SAFETY: the control device's extension is an Extension<DriverGlobals> written at
        // creation and dropped only by `delete`, which consumes self.
        unsafe {
            &(*(*self.raw)
                .DeviceExtension
                .cast::<Extension<DriverGlobals>>())
            .value
        }
    }

    /// The control device as a device of ours (to find it again from a work item).
    pub fn device(&self) -> DeviceRef {
        DeviceRef { raw: self.raw }
    }

    /// Forgets the recorded control device, drops the globals and deletes the device.
    pub fn delete(self) {
        let _ = CONTROL_DEVICE.compare_exchange(
            self.raw,
            ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        // SAFETY: `raw` is our control device; `self` is consumed.
        unsafe { delete_device(self.raw) }
    }
}

impl DeviceRef {
    /// # Safety
    /// `raw` is a device object of this driver, alive for the duration of the dispatch call.
    pub(super) unsafe fn from_raw(raw: PDEVICE_OBJECT) -> DeviceRef {
        DeviceRef { raw }
    }

    /// The device object, for a work item's context.
    pub(super) fn as_raw(&self) -> PDEVICE_OBJECT {
        self.raw
    }

    fn kind(&self) -> Option<DeviceKind> {
        // SAFETY: `raw` is one of our live devices (type invariant).
        unsafe { header_of(self.raw).map(|header| (*header).kind) }
    }

    pub fn is_control_device(&self) -> bool {
        self.kind() == Some(DeviceKind::CONTROL)
    }

    /// Runs `f` on the device extension if it holds a `T`.
    pub fn with_extension<T: Send + Sync + 'static, R>(
        &self,
        f: impl FnOnce(&T) -> R,
    ) -> Option<R> {
        // SAFETY: `raw` is one of our live devices; its extension is an Extension<U> for the
        // U named by type_id, so when that is T the cast is exact.
        unsafe {
            let header = header_of(self.raw)?;
            if (*header).type_id != TypeId::of::<T>() {
                return None;
            }
            Some(f(&(*header.cast::<Extension<T>>()).value))
        }
    }

    /// The driver object that owns this device (DeviceObject->DriverObject).
    pub fn driver_object(&self) -> Option<DriverObject> {
        // SAFETY: `raw` is one of our live devices; DriverObject is fixed at creation.
        let driver = unsafe { (*self.raw).DriverObject };
        (!driver.is_null()).then(|| {
            // SAFETY: the owner of one of our devices is our driver object.
            unsafe { DriverObject::from_raw(driver) }
        })
    }
}

impl VolumeDevice {
    /// The volume device an IRP was sent to, if it is one.
    pub fn from_device(device: DeviceRef) -> Option<VolumeDevice> {
        (device.kind() == Some(DeviceKind::VOLUME)).then_some(VolumeDevice { raw: device.raw })
    }

    pub fn device(&self) -> DeviceRef {
        DeviceRef { raw: self.raw }
    }

    /// The VPB the volume was mounted through (recorded in the extension header at creation).
    pub(super) fn vpb(&self) -> PVPB {
        // SAFETY: `raw` is our live volume device; its header's vpb is fixed at creation.
        unsafe { header_of(self.raw).map_or(ptr::null_mut(), |header| (*header).vpb) }
    }

    /// Forgets the VPB the volume was mounted through, once `release_vpb` has let go of it
    /// (and maybe freed it): nothing of ours may touch it afterwards.
    pub(super) fn forget_vpb(&self) {
        // SAFETY: `raw` is our live volume device; only the thread releasing the volume (its
        // last reference gone) writes the header's vpb.
        unsafe {
            if let Some(header) = header_of(self.raw) {
                (*header).vpb = ptr::null_mut();
            }
        }
    }

    /// Vpb->SerialNumber and Vpb->VolumeLabel (truncated to MAXIMUM_VOLUME_LABEL_LENGTH, 32
    /// WCHARs) with VolumeLabelLength in bytes; set at mount, before the mount IRP completes.
    pub fn set_vpb_identity(&self, serial: u32, label: &[u16]) {
        let vpb = self.vpb();
        if vpb.is_null() {
            return;
        }
        // SAFETY: the VPB lives as long as its real device, which outlives our volume; during
        // mount nobody else writes these fields (the I/O manager reads them afterwards).
        unsafe {
            let slots = &mut (*vpb).VolumeLabel;
            let count = label.len().min(slots.len());
            for (slot, unit) in slots.iter_mut().zip(label.iter().take(count)) {
                *slot = *unit;
            }
            (*vpb).SerialNumber = serial;
            (*vpb).VolumeLabelLength = (count * 2) as u16;
        }
    }

    /// Sets or clears VPB_LOCKED (under the VPB spin lock): while set, the I/O manager refuses
    /// new opens through the VPB with STATUS_ACCESS_DENIED before they reach us.
    pub fn set_vpb_locked(&self, locked: bool) {
        let vpb = self.vpb();
        if vpb.is_null() {
            return;
        }
        // SAFETY: the VPB lives as long as its real device, which outlives our volume; its
        // Flags change only under the VPB spin lock.
        unsafe {
            let mut irql: KIRQL = 0;
            wdk_sys::ntddk::IoAcquireVpbSpinLock(&mut irql);
            if locked {
                (*vpb).Flags |= VPB_LOCKED as u16;
            } else {
                (*vpb).Flags &= !(VPB_LOCKED as u16);
            }
            wdk_sys::ntddk::IoReleaseVpbSpinLock(irql);
        }
    }

    /// Detaches from the VPB (clears VPB_MOUNTED and Vpb->DeviceObject, under the VPB spin
    /// lock) and deletes the device (IoDeleteDevice).
    pub fn delete(self) {
        // SAFETY: `raw` is our volume device, so its header records the VPB it was mounted
        // through, which lives as long as the real device. The VPB fields are changed under
        // the VPB spin lock, as the I/O manager requires.
        unsafe {
            if let Some(header) = header_of(self.raw) {
                let vpb = (*header).vpb;
                if !vpb.is_null() {
                    let mut irql: KIRQL = 0;
                    wdk_sys::ntddk::IoAcquireVpbSpinLock(&mut irql);
                    if (*vpb).DeviceObject == self.raw {
                        (*vpb).Flags &= !((VPB_MOUNTED | VPB_LOCKED) as u16);
                        (*vpb).DeviceObject = ptr::null_mut();
                    }
                    wdk_sys::ntddk::IoReleaseVpbSpinLock(irql);
                }
            }
            delete_device(self.raw);
        }
    }
}

/// A counted reference on the mount target (ObReferenceObject), given back on drop
/// (ObDereferenceObject): the device object stays while it is held, even after its driver
/// deleted it (a disk removed by PnP).
#[derive(Debug)]
pub struct TargetReference {
    raw: PDEVICE_OBJECT,
}

// SAFETY: a referenced device object may be used and dereferenced from any thread.
unsafe impl Send for TargetReference {}
// SAFETY: as above; `&TargetReference` gives no access to the device.
unsafe impl Sync for TargetReference {}

impl Drop for TargetReference {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: the reference was taken in `TargetDevice::reference` and is given back
            // once, here.
            unsafe { wdk_sys::ntddk::ObfDereferenceObject(self.raw.cast()) };
        }
    }
}

impl TargetDevice {
    /// ObReferenceObject on the device: it stays until the reference is dropped.
    pub fn reference(&self) -> TargetReference {
        if !self.raw.is_null() {
            // SAFETY: the target is live while its mount request or volume is (type invariant).
            unsafe { wdk_sys::ntddk::ObfReferenceObject(self.raw.cast()) };
        }
        TargetReference { raw: self.raw }
    }

    /// The target with its sector size: IOCTL_DISK_GET_DRIVE_GEOMETRY, else
    /// DeviceObject->SectorSize, else 512.
    ///
    /// # Safety
    /// `raw` is null or a live device object that stays alive while the value is used (the
    /// mount target of a request in dispatch, referenced by its VPB), at PASSIVE_LEVEL.
    unsafe fn from_raw(raw: PDEVICE_OBJECT) -> TargetDevice {
        let valid = |size: u32| size.is_power_of_two() && (512..=0x1_0000).contains(&size);
        let sector_size = if raw.is_null() {
            512
        } else if let Ok(size) = lower_io::bytes_per_sector(raw)
            && valid(size)
        {
            size
        } else {
            // SAFETY: `raw` is live (the caller's promise) and not null.
            let field = u32::from(unsafe { (*raw).SectorSize });
            if valid(field) { field } else { 512 }
        };
        TargetDevice {
            raw,
            sector_size,
            override_verify: false,
        }
    }

    /// A synchronous read from the target device through an IRP we allocate (see
    /// `lower_io`). Any offset and length: the I/O is widened to whole sectors through a pool
    /// buffer. Returns the bytes read (fewer at the end of the device).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, NtStatus> {
        if self.raw.is_null() {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        lower_io::read(
            self.raw,
            self.sector_size,
            offset,
            buf,
            self.override_verify,
        )
    }

    /// How many read IRPs `read` of `length` bytes at `offset` sends to the device.
    pub fn transfers(&self, offset: u64, length: usize) -> u32 {
        lower_io::transfers(self.sector_size, offset, length)
    }

    /// The same device, with SL_OVERRIDE_VERIFY_VOLUME on its reads: for a mount's and a
    /// verify's reads, which must reach the medium whatever DO_VERIFY_VOLUME says.
    pub fn with_verify_override(self) -> TargetDevice {
        TargetDevice {
            override_verify: true,
            ..self
        }
    }

    /// DO_VERIFY_VOLUME on the real device: its medium may have changed since the mount.
    pub fn verify_required(&self) -> bool {
        if self.raw.is_null() {
            return false;
        }
        // SAFETY: the target is live while its volume is (type invariant); the disk driver
        // sets this bit at any time, so the read is volatile.
        unsafe { ptr::read_volatile(&(*self.raw).Flags) & wdk_sys::DO_VERIFY_VOLUME != 0 }
    }

    /// IoVerifyVolume(target, FALSE) at PASSIVE_LEVEL with no lock held: the I/O manager sends
    /// IRP_MN_VERIFY_VOLUME to the mounted volume (ours, nested) and, if it answers
    /// STATUS_WRONG_VOLUME, mounts the disk afresh.
    pub fn verify_volume(&self) -> NtStatus {
        if self.raw.is_null() {
            return NtStatus::INVALID_DEVICE_REQUEST;
        }
        // SAFETY: the target is live while its volume is (type invariant); callers run at
        // PASSIVE_LEVEL and hold no lock the verify path takes.
        NtStatus(unsafe { wdk_sys::ntddk::IoVerifyVolume(self.raw, 0) })
    }

    /// The device's size in bytes (IOCTL_DISK_GET_LENGTH_INFO); 0 if it cannot be read.
    pub fn length(&self) -> u64 {
        if self.raw.is_null() {
            return 0;
        }
        lower_io::length(self.raw).unwrap_or(0)
    }

    /// The device, for passing IRPs down (null for a target that was never set).
    pub(super) fn raw(&self) -> PDEVICE_OBJECT {
        self.raw
    }

    /// Bytes per sector, as asked once when the request was decoded (see `from_raw`).
    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    /// Clears DO_VERIFY_VOLUME on the disk: the file system has checked the medium (at mount,
    /// or at IRP_MN_VERIFY_VOLUME), as CDFS and FastFAT do. Left set, the disk driver would go
    /// on failing I/O with STATUS_VERIFY_REQUIRED.
    pub fn clear_verify_required(&self) {
        if self.raw.is_null() {
            return;
        }
        // SAFETY: the target is live while its mount/verify request or volume is (type
        // invariant); file systems own this bit of the real device's Flags during mount and
        // verify, which the I/O manager serializes.
        unsafe { (*self.raw).Flags &= !wdk_sys::DO_VERIFY_VOLUME };
    }
}

const _: () = assert!(align_of::<ExtensionHeader>() <= 16);
