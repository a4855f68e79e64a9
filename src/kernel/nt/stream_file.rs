//! `StreamFileObject`: a FILE_OBJECT the driver creates on its own volume.
//!
//! IoCreateStreamFileObjectLite(NULL, Vpb->RealDevice) makes a FILE_OBJECT with FO_STREAM_FILE
//! on the real device, counted in that device's VPB; it never gets IRP_MJ_CLEANUP. As CDFS does
//! for its internal streams (CdSetFileObject), we then set FileObject->Vpb to the volume's VPB:
//! IoGetRelatedDeviceObject sends its IRPs, IRP_MJ_CLOSE included, to Vpb->DeviceObject (our
//! volume device), and IopDeleteFile releases the VPB count. Dropping the value is
//! ObDereferenceObject: the CLOSE comes inside the drop, or later if Mm/Cc hold references.
//! Known gap: IoCreateStreamFileObjectLite raises an exception (instead of returning NULL) if
//! the object cannot be created; without SEH in Rust that would bugcheck.

use core::ptr::NonNull;

use wdk_sys::FILE_OBJECT;

use super::device::VolumeDevice;
use super::file_object::FileObject;
use crate::kernel::NtStatus;

/// A stream FILE_OBJECT on one of our volumes, with the reference its creator holds.
pub struct StreamFileObject {
    raw: NonNull<FILE_OBJECT>,
}

// SAFETY: a FILE_OBJECT is a kernel object usable from any thread; we hold a counted
// reference, and ObDereferenceObject may be called from any thread at <= DISPATCH_LEVEL.
unsafe impl Send for StreamFileObject {}
// SAFETY: as above; shared access only hands out the FileObject handle.
unsafe impl Sync for StreamFileObject {}

impl StreamFileObject {
    /// IoCreateStreamFileObjectLite on the volume's real device, pointed at its VPB.
    pub fn try_create(volume: &VolumeDevice) -> Result<StreamFileObject, NtStatus> {
        let vpb = volume.vpb();
        if vpb.is_null() {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        // SAFETY: the VPB lives as long as its real device, which outlives our volume; the
        // call runs below DISPATCH_LEVEL, as the FSD's dispatch routines do.
        let raw = unsafe {
            let real_device = (*vpb).RealDevice;
            if real_device.is_null() {
                return Err(NtStatus::INVALID_DEVICE_REQUEST);
            }
            wdk_sys::ntddk::IoCreateStreamFileObjectLite(core::ptr::null_mut(), real_device)
        };
        let raw = NonNull::new(raw).ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        // SAFETY: the FILE_OBJECT is new and ours (one reference); its Vpb field routes its
        // IRPs to our volume device, and the I/O manager counted it in this VPB.
        unsafe { (*raw.as_ptr()).Vpb = vpb };
        Ok(StreamFileObject { raw })
    }

    /// The FILE_OBJECT (to attach an FCB/CCB to, or to hand to Cc).
    pub fn file_object(&self) -> FileObject {
        // SAFETY: our reference keeps the FILE_OBJECT alive while `self` is.
        unsafe { FileObject::from_raw(self.raw.as_ptr()) }
    }
}

impl Drop for StreamFileObject {
    fn drop(&mut self) {
        // SAFETY: we own one reference, released once, here; IRP_MJ_CLOSE may run inside.
        unsafe {
            wdk_sys::ntddk::ObfDereferenceObject(self.raw.as_ptr().cast());
        }
    }
}
