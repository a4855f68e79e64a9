//! The object manager's handle tables: one per process. A handle names a FILE_OBJECT and holds
//! one of its references (and one of its handle counts), and the access it was granted. Each
//! process has its primary token: the identity its opens are checked against.

use std::collections::BTreeMap;

use crate::kernel::model::ObjId;
use crate::kernel::model::token::Token;

pub struct Process {
    handles: BTreeMap<u32, ObjId>,
    /// Each handle's GrantedAccess (ObpCreateHandle; DuplicateHandle copies it).
    access: BTreeMap<u32, u32>,
    next_handle: u32,
    /// Runs without the Administrators group (not elevated).
    pub standard_user: bool,
    /// The process's primary token (default: an ordinary user, `Token::ordinary_user`).
    pub token: Token,
}

impl Default for Process {
    fn default() -> Process {
        Process {
            handles: BTreeMap::new(),
            access: BTreeMap::new(),
            next_handle: 0,
            standard_user: false,
            token: Token::ordinary_user(),
        }
    }
}

impl Process {
    /// Handle values are multiples of 4, as on Windows.
    pub fn insert(&mut self, file_object: ObjId, granted_access: u32) -> u32 {
        self.next_handle += 4;
        self.handles.insert(self.next_handle, file_object);
        self.access.insert(self.next_handle, granted_access);
        self.next_handle
    }

    /// The access the handle was granted.
    pub fn granted_access(&self, handle: u32) -> Option<u32> {
        self.access.get(&handle).copied()
    }

    pub fn get(&self, handle: u32) -> Option<ObjId> {
        self.handles.get(&handle).copied()
    }

    pub fn remove(&mut self, handle: u32) -> Option<ObjId> {
        self.access.remove(&handle);
        self.handles.remove(&handle)
    }

    /// Every handle, in handle order (process exit closes them in this order).
    pub fn take_all(&mut self) -> BTreeMap<u32, ObjId> {
        self.access.clear();
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
