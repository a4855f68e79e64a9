//! FILE_OBJECT: the fields a file system owns or reads (FsContext, FsContext2,
//! SectionObjectPointer, Flags, FileName, RelatedFileObject, CurrentByteOffset).

use alloc::vec::Vec;

use wdk_sys::PFILE_OBJECT;

use super::pool::PoolRef;

/// FO_SYNCHRONOUS_IO.
pub const FO_SYNCHRONOUS_IO: u32 = wdk_sys::FO_SYNCHRONOUS_IO;
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

    pub fn fs_context(&self) -> Option<PoolRef> {
        // SAFETY: the FILE_OBJECT is live (type invariant); FsContext is ours: null or a
        // PoolRef we stored.
        unsafe { PoolRef::from_ptr((*self.raw).FsContext) }
    }

    pub fn set_fs_context(&self, value: Option<PoolRef>) {
        let value = value.map_or(core::ptr::null_mut(), |value| value.as_ptr());
        // SAFETY: as above; FsContext belongs to the file system.
        unsafe { (*self.raw).FsContext = value };
    }

    pub fn fs_context2(&self) -> Option<PoolRef> {
        // SAFETY: as for fs_context.
        unsafe { PoolRef::from_ptr((*self.raw).FsContext2) }
    }

    pub fn set_fs_context2(&self, value: Option<PoolRef>) {
        let value = value.map_or(core::ptr::null_mut(), |value| value.as_ptr());
        // SAFETY: as for set_fs_context.
        unsafe { (*self.raw).FsContext2 = value };
    }

    pub fn flags(&self) -> u32 {
        // SAFETY: the FILE_OBJECT is live.
        unsafe { (*self.raw).Flags }
    }

    pub fn set_flags(&self, flags: u32) {
        // SAFETY: the FILE_OBJECT is live; the FSD sets its own flags, as C FSDs do.
        unsafe { (*self.raw).Flags = flags };
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

    /// FileObject->SectionObjectPointer, as the PoolRef stored there.
    pub fn section_object_pointers(&self) -> Option<PoolRef> {
        // SAFETY: the FILE_OBJECT is live; the field is null or a PoolRef we stored.
        unsafe { PoolRef::from_ptr((*self.raw).SectionObjectPointer.cast()) }
    }

    pub fn set_section_object_pointers(&self, value: Option<PoolRef>) {
        let value = value.map_or(core::ptr::null_mut(), |value| value.as_ptr());
        // SAFETY: the FILE_OBJECT is live; SectionObjectPointer is set by the file system.
        unsafe { (*self.raw).SectionObjectPointer = value.cast() };
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
