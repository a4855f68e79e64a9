//! SHARE_ACCESS: IoCheckShareAccess, IoSetShareAccess, IoRemoveShareAccess, IoUpdateShareAccess.
//!
//! The FCB holds a `ShareAccess`; each FILE_OBJECT remembers what it was granted. The rules are
//! the documented ones: an open conflicts if it wants an access some current open does not
//! share, or refuses to share an access some current open holds.

use super::file_object::FileObject;
use super::state::with_state;
use crate::kernel::NtStatus;
use crate::kernel::access::{FileAccess, ShareAccess};

impl ShareAccess {
    /// IoCheckShareAccess: records the granted access in `file_object`, and counts it here if
    /// `update`. An open for attributes only (no read, write or delete) always succeeds.
    pub fn check(
        &mut self,
        desired_access: u32,
        share_access: u16,
        file_object: &FileObject,
        update: bool,
    ) -> Result<(), NtStatus> {
        super::preempt::kernel_call();
        let access = FileAccess::from_request(desired_access, share_access);
        let id = file_object.id;
        with_state(|state| {
            if let Some(entry) = state.file_objects.get_mut(id) {
                entry.access = access;
            }
        });
        if !access.counts() {
            return Ok(());
        }
        if self.conflicts(&access) {
            return Err(NtStatus::SHARING_VIOLATION);
        }
        if update {
            self.add(&access);
        }
        Ok(())
    }

    /// IoSetShareAccess: the first open of a stream.
    pub fn set(&mut self, desired_access: u32, share_access: u16, file_object: &FileObject) {
        super::preempt::kernel_call();
        *self = ShareAccess::default();
        let _ = self.check(desired_access, share_access, file_object, true);
    }

    /// IoUpdateShareAccess: counts in what an earlier `check(.., false)` granted `file_object`.
    pub fn update(&mut self, file_object: &FileObject) {
        super::preempt::kernel_call();
        let id = file_object.id;
        let access = with_state(|state| state.file_objects.get(id).map(|e| e.access)).flatten();
        if let Some(access) = access {
            self.add(&access);
        }
    }

    /// IoRemoveShareAccess: at CLEANUP, what `file_object` was granted is counted out.
    pub fn remove_file_object(&mut self, file_object: &FileObject) {
        super::preempt::kernel_call();
        let id = file_object.id;
        let access = with_state(|state| state.file_objects.get(id).map(|e| e.access)).flatten();
        if let Some(access) = access {
            self.remove(&access);
        }
    }
}
