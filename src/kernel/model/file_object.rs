//! FILE_OBJECT: the boundary view the driver uses (FsContext, FsContext2, flags, name, current
//! byte offset) and the object manager's record (pointer count and handle count).

use std::vec::Vec;

use super::pool::PoolRef;
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::{FindingKind, ObjectKind};

/// FO_SYNCHRONOUS_IO.
pub const FO_SYNCHRONOUS_IO: u32 = 0x0000_0002;
/// FO_CLEANUP_COMPLETE.
pub const FO_CLEANUP_COMPLETE: u32 = 0x0000_4000;
/// FO_STREAM_FILE.
pub const FO_STREAM_FILE: u32 = 0x0000_0100;

pub struct FileObjectEntry {
    /// Object manager PointerCount: every handle plus every other reference.
    pub pointer_count: u32,
    pub handle_count: u32,
    pub fs_context: Option<PoolRef>,
    pub fs_context2: Option<PoolRef>,
    pub flags: u32,
    pub file_name: Vec<u16>,
    pub related: Option<ObjId>,
    /// The device the FILE_OBJECT was opened on (the volume device or a control device).
    pub device: ObjId,
    /// The VPB the open went through, if any.
    pub vpb: Option<ObjId>,
    pub current_byte_offset: u64,
    /// FileObject->SectionObjectPointer (the FCB's SECTION_OBJECT_POINTERS).
    pub section_object_pointers: Option<PoolRef>,
    /// ReadAccess/WriteAccess/DeleteAccess and SharedRead/SharedWrite/SharedDelete, as
    /// IoCheckShareAccess / IoSetShareAccess record them.
    pub access: crate::kernel::access::FileAccess,
}

/// A FILE_OBJECT the I/O manager handed us (through the IRP's stack location).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileObject {
    pub(crate) id: ObjId,
}

fn with_entry<R>(id: ObjId, f: impl FnOnce(&mut FileObjectEntry) -> R) -> Option<R> {
    with_state(|state: &mut State| match state.file_objects.get_mut(id) {
        Some(entry) => Some(f(entry)),
        None => {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id,
            });
            None
        }
    })
    .flatten()
}

impl FileObject {
    pub fn fs_context(&self) -> Option<PoolRef> {
        with_entry(self.id, |e| e.fs_context).flatten()
    }

    pub fn set_fs_context(&self, value: Option<PoolRef>) {
        with_entry(self.id, |e| e.fs_context = value);
    }

    pub fn fs_context2(&self) -> Option<PoolRef> {
        with_entry(self.id, |e| e.fs_context2).flatten()
    }

    pub fn set_fs_context2(&self, value: Option<PoolRef>) {
        with_entry(self.id, |e| e.fs_context2 = value);
    }

    pub fn flags(&self) -> u32 {
        with_entry(self.id, |e| e.flags).unwrap_or(0)
    }

    pub fn set_flags(&self, flags: u32) {
        with_entry(self.id, |e| e.flags = flags);
    }

    /// FileObject->FileName (UTF-16 code units).
    pub fn file_name(&self) -> Vec<u16> {
        with_entry(self.id, |e| e.file_name.clone()).unwrap_or_default()
    }

    /// FileObject->RelatedFileObject.
    pub fn related_file_object(&self) -> Option<FileObject> {
        with_entry(self.id, |e| e.related)
            .flatten()
            .map(|id| FileObject { id })
    }

    pub fn section_object_pointers(&self) -> Option<PoolRef> {
        with_entry(self.id, |e| e.section_object_pointers).flatten()
    }

    pub fn set_section_object_pointers(&self, value: Option<PoolRef>) {
        with_entry(self.id, |e| e.section_object_pointers = value);
    }

    pub fn current_byte_offset(&self) -> u64 {
        with_entry(self.id, |e| e.current_byte_offset).unwrap_or(0)
    }

    pub fn set_current_byte_offset(&self, offset: u64) {
        with_entry(self.id, |e| e.current_byte_offset = offset);
    }
}
