//! SHARE_ACCESS: IoCheckShareAccess, IoSetShareAccess, IoUpdateShareAccess,
//! IoRemoveShareAccess. `ShareAccess` has the layout of the kernel's SHARE_ACCESS, so the
//! kernel routines work on it directly (the pure rule is in `kernel::access`).

use wdk_sys::PSHARE_ACCESS;

use super::file_object::FileObject;
use crate::kernel::NtStatus;
use crate::kernel::access::ShareAccess;

impl ShareAccess {
    fn raw(&mut self) -> PSHARE_ACCESS {
        (self as *mut ShareAccess).cast()
    }

    /// IoCheckShareAccess: records the granted access in `file_object`, and counts it here if
    /// `update`.
    pub fn check(
        &mut self,
        desired_access: u32,
        share_access: u16,
        file_object: &FileObject,
        update: bool,
    ) -> Result<(), NtStatus> {
        // SAFETY: `self` has SHARE_ACCESS's layout (asserted in layout.rs) and is exclusively
        // borrowed; the FILE_OBJECT is live (FileObject's invariant).
        let status = unsafe {
            wdk_sys::ntddk::IoCheckShareAccess(
                desired_access,
                u32::from(share_access),
                file_object.raw(),
                self.raw(),
                u8::from(update),
            )
        };
        if status < 0 {
            Err(NtStatus(status))
        } else {
            Ok(())
        }
    }

    /// IoSetShareAccess: the first open of a stream.
    pub fn set(&mut self, desired_access: u32, share_access: u16, file_object: &FileObject) {
        // SAFETY: as in check.
        unsafe {
            wdk_sys::ntddk::IoSetShareAccess(
                desired_access,
                u32::from(share_access),
                file_object.raw(),
                self.raw(),
            )
        }
    }

    /// IoUpdateShareAccess: counts in what an earlier `check(.., false)` granted `file_object`.
    pub fn update(&mut self, file_object: &FileObject) {
        // SAFETY: as in check.
        unsafe { wdk_sys::ntddk::IoUpdateShareAccess(file_object.raw(), self.raw()) }
    }

    /// IoRemoveShareAccess: at CLEANUP, what `file_object` was granted is counted out.
    pub fn remove_file_object(&mut self, file_object: &FileObject) {
        // SAFETY: as in check.
        unsafe { wdk_sys::ntddk::IoRemoveShareAccess(file_object.raw(), self.raw()) }
    }
}
