//! The object manager's handle tables: one per process. A handle names a FILE_OBJECT and holds
//! one of its references (and one of its handle counts).

use std::collections::BTreeMap;

use crate::kernel::model::ObjId;

#[derive(Default)]
pub struct Process {
    handles: BTreeMap<u32, ObjId>,
    next_handle: u32,
    /// Runs without the Administrators group (not elevated).
    pub standard_user: bool,
}

impl Process {
    /// Handle values are multiples of 4, as on Windows.
    pub fn insert(&mut self, file_object: ObjId) -> u32 {
        self.next_handle += 4;
        self.handles.insert(self.next_handle, file_object);
        self.next_handle
    }

    pub fn get(&self, handle: u32) -> Option<ObjId> {
        self.handles.get(&handle).copied()
    }

    pub fn remove(&mut self, handle: u32) -> Option<ObjId> {
        self.handles.remove(&handle)
    }

    /// Every handle, in handle order (process exit closes them in this order).
    pub fn take_all(&mut self) -> BTreeMap<u32, ObjId> {
        core::mem::take(&mut self.handles)
    }

    /// True if a handle of this process names `file_object`.
    pub fn holds(&self, file_object: ObjId) -> bool {
        self.handles.values().any(|&held| held == file_object)
    }

    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }
}
