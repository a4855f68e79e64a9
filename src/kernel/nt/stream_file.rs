//! `StreamFileObject`: a FILE_OBJECT the driver creates on its own volume.
//!
//! IoCreateStreamFileObjectEx2 on Vpb->RealDevice, without IO_CREATE_STREAM_FILE_LITE, makes a
//! FILE_OBJECT with FO_STREAM_FILE on the real device, counted in that device's VPB. The I/O
//! manager inserts it with a handle and, since we ask for none, closes that handle before it
//! returns: our volume device gets IRP_MJ_CLEANUP for it (no FsContext yet) inside the call,
//! as FastFAT's and CDFS's IoCreateStreamFileObject streams do. Not LITE, because Learn's
//! IO_CREATE_STREAM_FILE_OPTIONS page says no close operation is sent for a LITE object when
//! it is deleted, and the volume FCB the stream holds is released only by its CLOSE. As CDFS
//! does for its internal streams (CdSetFileObject), we then set FileObject->Vpb to the volume's
//! VPB: IoGetRelatedDeviceObject sends its IRPs, IRP_MJ_CLOSE included, to Vpb->DeviceObject
//! (our volume device), and IopDeleteFile releases the VPB count. Dropping the value is
//! ObDereferenceObject: the CLOSE comes inside the drop, or later if Mm/Cc hold references.
//!
//! Why Ex2 (Windows 8 and later): IoCreateStreamFileObject, ...Ex and ...Lite raise an
//! exception when the object cannot be created, and Rust cannot catch SEH, so that would be a
//! bugcheck. Ex2 without IO_CREATE_STREAM_FILE_RAISE_ON_ERROR returns the failure as an
//! NTSTATUS instead. (Its page on Microsoft Learn still says it "raises" on a pool failure, a
//! sentence carried over from the older routines; the options page is specific: the raise is
//! what IO_CREATE_STREAM_FILE_RAISE_ON_ERROR asks for.)

use core::mem::size_of;
use core::ptr::{self, NonNull};

use wdk_sys::{FILE_OBJECT, IO_CREATE_STREAM_FILE_OPTIONS};

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
    /// IoCreateStreamFileObjectEx2 (not lite, handle closed at once, no raise) on the volume's
    /// real device, pointed at its VPB. A failure to create the object is an `Err`, never an
    /// exception.
    pub fn try_create(volume: &VolumeDevice) -> Result<StreamFileObject, NtStatus> {
        let vpb = volume.vpb();
        if vpb.is_null() {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        let mut options = IO_CREATE_STREAM_FILE_OPTIONS {
            Size: size_of::<IO_CREATE_STREAM_FILE_OPTIONS>() as u16,
            // Neither IO_CREATE_STREAM_FILE_RAISE_ON_ERROR (errors come back as a status) nor
            // IO_CREATE_STREAM_FILE_LITE (whose CLOSE is not certain).
            Flags: 0,
            TargetDeviceObject: ptr::null_mut(),
        };
        let mut raw: *mut FILE_OBJECT = ptr::null_mut();
        // SAFETY: the VPB lives as long as its real device, which outlives our volume; the
        // call runs at PASSIVE_LEVEL, as mount does. `options` and `raw` outlive the call; no
        // related FILE_OBJECT, and FileHandle is optional: NULL asks for none, so the handle
        // the I/O manager creates is closed inside the call (our CLEANUP runs then).
        let status = unsafe {
            let real_device = (*vpb).RealDevice;
            if real_device.is_null() {
                return Err(NtStatus::INVALID_DEVICE_REQUEST);
            }
            wdk_sys::ntddk::IoCreateStreamFileObjectEx2(
                &mut options,
                ptr::null_mut(),
                real_device,
                &mut raw,
                ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err(NtStatus(status));
        }
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
