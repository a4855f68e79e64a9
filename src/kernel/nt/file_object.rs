//! FILE_OBJECT: the fields a file system owns or reads (FsContext, FsContext2,
//! SectionObjectPointer, Flags, FileName, RelatedFileObject, CurrentByteOffset).
//!
//! FsContext and FsContext2 are counted references: written only by `attach_fcb` /
//! `attach_ccb`, which consume an `FcbArc` / `PoolArc`, and cleared only by `detach_fcb` /
//! `detach_ccb`, which give the reference back. SectionObjectPointer is always the attached
//! FCB's embedded SECTION_OBJECT_POINTERS.

use alloc::vec::Vec;
use core::ptr::NonNull;

use wdk_sys::PFILE_OBJECT;

use super::fcb::FcbArc;
use super::pool::{PoolArc, PoolRef};

/// FO_SYNCHRONOUS_IO.
pub const FO_SYNCHRONOUS_IO: u32 = wdk_sys::FO_SYNCHRONOUS_IO;
/// FO_NO_INTERMEDIATE_BUFFERING.
pub const FO_NO_INTERMEDIATE_BUFFERING: u32 = wdk_sys::FO_NO_INTERMEDIATE_BUFFERING;
/// FO_CLEANUP_COMPLETE.
pub const FO_CLEANUP_COMPLETE: u32 = wdk_sys::FO_CLEANUP_COMPLETE;
/// FO_STREAM_FILE.
pub const FO_STREAM_FILE: u32 = wdk_sys::FO_STREAM_FILE;

/// A FILE_OBJECT the I/O manager handed us (through the IRP's stack location).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileObject {
    raw: PFILE_OBJECT,
}

// SAFETY: a FILE_OBJECT is a kernel object usable from any thread; the fields we write are the
// file system's own, serialized by the FSD's locks as in C.
unsafe impl Send for FileObject {}
// SAFETY: as above.
unsafe impl Sync for FileObject {}

impl FileObject {
    /// # Safety
    /// `raw` is a live FILE_OBJECT of an IRP in dispatch (or one the FSD holds a reference on).
    pub(super) unsafe fn from_raw(raw: PFILE_OBJECT) -> FileObject {
        FileObject { raw }
    }

    pub(super) fn raw(&self) -> PFILE_OBJECT {
        self.raw
    }

    /// Gives `fcb` (one counted reference) to the FILE_OBJECT: FsContext points at its
    /// advanced header and SectionObjectPointer at its SECTION_OBJECT_POINTERS. The reference
    /// is taken back once, by `detach_fcb` at CLOSE (or on a failed CREATE). If FsContext is
    /// already set, nothing changes and `fcb` comes back.
    pub fn attach_fcb<T: Send + Sync + 'static>(&self, fcb: FcbArc<T>) -> Result<(), FcbArc<T>> {
        // SAFETY: the FILE_OBJECT is live (type invariant); FsContext and SectionObjectPointer
        // belong to the file system.
        unsafe {
            if !(*self.raw).FsContext.is_null() {
                return Err(fcb);
            }
            (*self.raw).SectionObjectPointer = fcb.section_object_pointers();
            (*self.raw).FsContext = fcb.into_raw().as_ptr();
        }
        Ok(())
    }

    /// Takes back the FCB reference `attach_fcb` gave, clearing FsContext (and
    /// SectionObjectPointer). `None` if FsContext is empty or holds another type of FCB.
    pub fn detach_fcb<T: Send + Sync + 'static>(&self) -> Option<FcbArc<T>> {
        // SAFETY: the FILE_OBJECT is live; FsContext is null or the counted FCB pointer
        // attach_fcb stored (only attach_fcb writes a non-null value), whose count the result
        // takes over as FsContext is cleared.
        unsafe {
            let raw = NonNull::new((*self.raw).FsContext)?;
            let fcb = FcbArc::<T>::from_raw(raw)?;
            (*self.raw).FsContext = core::ptr::null_mut();
            if (*self.raw).SectionObjectPointer == fcb.section_object_pointers() {
                (*self.raw).SectionObjectPointer = core::ptr::null_mut();
            }
            Some(fcb)
        }
    }

    /// A new counted reference to the attached FCB (FsContext keeps its own). `None` if none
    /// is attached or it holds another type.
    pub fn fcb<T: Send + Sync + 'static>(&self) -> Option<FcbArc<T>> {
        // SAFETY: as in detach_fcb; FsContext's count keeps the FCB alive during the call.
        unsafe { FcbArc::<T>::clone_raw(NonNull::new((*self.raw).FsContext)?) }
    }

    /// Gives `ccb` (one counted reference) to the FILE_OBJECT's FsContext2, taken back once by
    /// `detach_ccb`. If FsContext2 is already set, nothing changes and `ccb` comes back.
    pub fn attach_ccb<C: Send + Sync + 'static>(&self, ccb: PoolArc<C>) -> Result<(), PoolArc<C>> {
        // SAFETY: the FILE_OBJECT is live; FsContext2 belongs to the file system.
        unsafe {
            if !(*self.raw).FsContext2.is_null() {
                return Err(ccb);
            }
            (*self.raw).FsContext2 = ccb.into_raw().as_ptr();
        }
        Ok(())
    }

    /// Takes back the CCB reference `attach_ccb` gave, clearing FsContext2. `None` if it is
    /// empty or holds another type.
    pub fn detach_ccb<C: Send + Sync + 'static>(&self) -> Option<PoolArc<C>> {
        // SAFETY: the FILE_OBJECT is live; FsContext2 is null or the counted PoolRef
        // attach_ccb stored, whose count the result takes over as FsContext2 is cleared.
        unsafe {
            let raw = PoolRef::from_ptr((*self.raw).FsContext2)?;
            let ccb = PoolArc::<C>::from_raw(raw)?;
            (*self.raw).FsContext2 = core::ptr::null_mut();
            Some(ccb)
        }
    }

    /// A new counted reference to the attached CCB (FsContext2 keeps its own).
    pub fn ccb<C: Send + Sync + 'static>(&self) -> Option<PoolArc<C>> {
        // SAFETY: as in detach_ccb; FsContext2's count keeps the CCB alive during the call.
        unsafe { PoolRef::from_ptr((*self.raw).FsContext2) }?.clone_arc::<C>()
    }

    /// The FILE_OBJECT's address, naming it in debug output.
    pub fn trace_id(&self) -> u64 {
        self.raw as usize as u64
    }

    pub fn flags(&self) -> u32 {
        // SAFETY: the FILE_OBJECT is live.
        unsafe { (*self.raw).Flags }
    }

    pub fn set_flags(&self, flags: u32) {
        // SAFETY: the FILE_OBJECT is live; the FSD sets its own flags, as C FSDs do.
        unsafe { (*self.raw).Flags = flags };
    }

    /// FsRtlNotifyVolumeEvent on this (volume) FILE_OBJECT. PASSIVE_LEVEL, no FSD lock held:
    /// the notification may reach user mode and filters.
    pub fn notify_volume_event(&self, event: crate::kernel::VolumeEvent) {
        // SAFETY: the FILE_OBJECT is live (type invariant). The status only says whether the
        // notification could be queued; a file system has nothing to do about a failure.
        let _ = unsafe { wdk_sys::ntddk::FsRtlNotifyVolumeEvent(self.raw, event.code()) };
    }

    /// FileObject->FileName (UTF-16 code units); empty if it cannot be copied.
    pub fn file_name(&self) -> Vec<u16> {
        let mut units = Vec::new();
        // SAFETY: the FILE_OBJECT is live; FileName is a valid counted string in kernel
        // memory (the I/O manager's capture of the caller's name).
        unsafe {
            let name = &(*self.raw).FileName;
            let count = usize::from(name.Length) / 2;
            if name.Buffer.is_null() || count == 0 || units.try_reserve_exact(count).is_err() {
                return units;
            }
            units.extend_from_slice(core::slice::from_raw_parts(name.Buffer, count));
        }
        units
    }

    /// FileObject->RelatedFileObject.
    pub fn related_file_object(&self) -> Option<FileObject> {
        // SAFETY: the FILE_OBJECT is live and holds a reference on its related file object.
        let related = unsafe { (*self.raw).RelatedFileObject };
        (!related.is_null()).then_some(FileObject { raw: related })
    }

    pub fn current_byte_offset(&self) -> u64 {
        // SAFETY: the FILE_OBJECT is live.
        unsafe { (*self.raw).CurrentByteOffset.QuadPart as u64 }
    }

    pub fn set_current_byte_offset(&self, offset: u64) {
        // SAFETY: the FILE_OBJECT is live; the FSD maintains CurrentByteOffset.
        unsafe { (*self.raw).CurrentByteOffset.QuadPart = offset as i64 };
    }
}
