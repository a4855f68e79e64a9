//! The routines the kernel calls: DriverEntry, DriverUnload, dispatch and FsRtl callbacks. Each
//! turns raw pointers into the boundary's safe types and calls the portable code.

use core::sync::atomic::{AtomicPtr, Ordering};

use wdk_sys::{
    _FS_FILTER_SECTION_SYNC_TYPE, DRIVER_OBJECT, NTSTATUS, PCUNICODE_STRING, PDEVICE_OBJECT,
    PDRIVER_OBJECT, PFS_FILTER_CALLBACK_DATA, PIRP, PVOID,
};

use super::file_object::FileObject;
use super::{DeviceRef, DriverObject, Irp};
use crate::cache::section_sync::{self, SectionSyncKind};

/// Our driver object, recorded once in DriverEntry for IoInitializeWorkItem (work items keep
/// it referenced so the image stays loaded). One of the driver's two statics (the other is
/// `device::CONTROL_DEVICE`); never cleared, as the object outlives every work item.
static DRIVER_OBJECT_FOR_WORK_ITEMS: AtomicPtr<DRIVER_OBJECT> =
    AtomicPtr::new(core::ptr::null_mut());

/// The driver object recorded by DriverEntry (null before it runs).
pub(super) fn driver_object() -> PDRIVER_OBJECT {
    DRIVER_OBJECT_FOR_WORK_ITEMS.load(Ordering::Acquire)
}

/// DriverEntry.
///
/// # Safety
/// Called once by the I/O manager with our driver object, at PASSIVE_LEVEL.
#[unsafe(export_name = "DriverEntry")]
pub unsafe extern "system" fn driver_entry(
    driver: PDRIVER_OBJECT,
    registry_path: PCUNICODE_STRING,
) -> NTSTATUS {
    DRIVER_OBJECT_FOR_WORK_ITEMS.store(driver, Ordering::Release);
    // SAFETY: the I/O manager passes our own driver object and the service key's path, valid
    // until we return; the DriverObject made here does not outlive this call.
    let mut driver = unsafe { DriverObject::for_entry(driver, registry_path) };
    match crate::driver::entry(&mut driver) {
        Ok(()) => 0,
        Err(status) => status.0,
    }
}

/// DriverUnload, installed only while no volume is mounted.
pub(super) unsafe extern "C" fn driver_unload(driver: PDRIVER_OBJECT) {
    // SAFETY: the I/O manager passes our own driver object.
    let mut driver = unsafe { DriverObject::from_raw(driver) };
    crate::driver::unload(&mut driver);
}

/// Every IRP_MJ_* we handle.
pub(super) unsafe extern "C" fn dispatch_irp(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
    // SAFETY: the I/O manager calls dispatch routines with one of our devices and an IRP that
    // we now own until we complete it.
    let (device, irp) = unsafe { (DeviceRef::from_raw(device), Irp::from_raw(irp)) };
    crate::dispatch::dispatch(device, irp).0
}

/// PreAcquireForSectionSynchronization.
pub(super) unsafe extern "C" fn pre_acquire_for_section_sync(
    data: PFS_FILTER_CALLBACK_DATA,
    _context: *mut PVOID,
) -> NTSTATUS {
    // SAFETY: FsRtl passes valid callback data whose FileObject is live for the call; for this
    // operation the parameters are the AcquireForSectionSynchronization arm of the union.
    let (file_object, kind) = unsafe {
        let kind = match (*data).Parameters.AcquireForSectionSynchronization.SyncType {
            _FS_FILTER_SECTION_SYNC_TYPE::SyncTypeCreateSection => SectionSyncKind::CreateSection,
            _ => SectionSyncKind::Other,
        };
        (FileObject::from_raw((*data).FileObject), kind)
    };
    section_sync::pre_acquire_for_section_sync(&file_object, kind).0
}
