//! SHARE_ACCESS: IoCheckShareAccess, IoSetShareAccess, IoRemoveShareAccess, IoUpdateShareAccess.
//!
//! The FCB holds a `ShareAccess`; each FILE_OBJECT remembers what it was granted. The rules are
//! the documented ones: an open conflicts if it wants an access some current open does not
//! share, or refuses to share an access some current open holds.

use super::file_object::FileObject;
use super::state::with_state;
use crate::kernel::NtStatus;

pub const FILE_READ_DATA: u32 = 0x0001;
pub const FILE_WRITE_DATA: u32 = 0x0002;
pub const FILE_APPEND_DATA: u32 = 0x0004;
pub const FILE_EXECUTE: u32 = 0x0020;
pub const DELETE: u32 = 0x0001_0000;
pub const FILE_SHARE_READ: u16 = 1;
pub const FILE_SHARE_WRITE: u16 = 2;
pub const FILE_SHARE_DELETE: u16 = 4;

/// SHARE_ACCESS: counts over every open of one stream.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct ShareAccess {
    pub open_count: u32,
    pub readers: u32,
    pub writers: u32,
    pub deleters: u32,
    pub shared_read: u32,
    pub shared_write: u32,
    pub shared_delete: u32,
}

/// What one FILE_OBJECT was granted (FILE_OBJECT.ReadAccess ... SharedDelete).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct FileAccess {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
    pub shared_read: bool,
    pub shared_write: bool,
    pub shared_delete: bool,
}

impl FileAccess {
    pub fn from_request(desired_access: u32, share_access: u16) -> FileAccess {
        FileAccess {
            read: desired_access & (FILE_READ_DATA | FILE_EXECUTE) != 0,
            write: desired_access & (FILE_WRITE_DATA | FILE_APPEND_DATA) != 0,
            delete: desired_access & DELETE != 0,
            shared_read: share_access & FILE_SHARE_READ != 0,
            shared_write: share_access & FILE_SHARE_WRITE != 0,
            shared_delete: share_access & FILE_SHARE_DELETE != 0,
        }
    }

    fn any(&self) -> bool {
        self.read || self.write || self.delete
    }
}

impl ShareAccess {
    /// The pure rule: does `access` conflict with the opens counted here?
    pub fn conflicts(&self, access: &FileAccess) -> bool {
        let open = self.open_count;
        (access.read && self.shared_read < open)
            || (access.write && self.shared_write < open)
            || (access.delete && self.shared_delete < open)
            || (self.readers != 0 && !access.shared_read)
            || (self.writers != 0 && !access.shared_write)
            || (self.deleters != 0 && !access.shared_delete)
    }

    /// Counts `access` in (IoSetShareAccess / the update half of IoCheckShareAccess).
    pub fn add(&mut self, access: &FileAccess) {
        if !access.any() {
            return;
        }
        self.open_count += 1;
        self.readers += u32::from(access.read);
        self.writers += u32::from(access.write);
        self.deleters += u32::from(access.delete);
        self.shared_read += u32::from(access.shared_read);
        self.shared_write += u32::from(access.shared_write);
        self.shared_delete += u32::from(access.shared_delete);
    }

    /// Counts `access` out (IoRemoveShareAccess).
    pub fn remove(&mut self, access: &FileAccess) {
        if !access.any() {
            return;
        }
        self.open_count = self.open_count.saturating_sub(1);
        self.readers = self.readers.saturating_sub(u32::from(access.read));
        self.writers = self.writers.saturating_sub(u32::from(access.write));
        self.deleters = self.deleters.saturating_sub(u32::from(access.delete));
        self.shared_read = self
            .shared_read
            .saturating_sub(u32::from(access.shared_read));
        self.shared_write = self
            .shared_write
            .saturating_sub(u32::from(access.shared_write));
        self.shared_delete = self
            .shared_delete
            .saturating_sub(u32::from(access.shared_delete));
    }

    /// IoCheckShareAccess: records the granted access in `file_object`, and counts it here if
    /// `update`. An open for attributes only (no read, write or delete) always succeeds.
    pub fn check(
        &mut self,
        desired_access: u32,
        share_access: u16,
        file_object: &FileObject,
        update: bool,
    ) -> Result<(), NtStatus> {
        let access = FileAccess::from_request(desired_access, share_access);
        let id = file_object.id;
        with_state(|state| {
            if let Some(entry) = state.file_objects.get_mut(id) {
                entry.access = access;
            }
        });
        if !access.any() {
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
        *self = ShareAccess::default();
        let _ = self.check(desired_access, share_access, file_object, true);
    }

    /// IoUpdateShareAccess: counts in what an earlier `check(.., false)` granted `file_object`.
    pub fn update(&mut self, file_object: &FileObject) {
        let id = file_object.id;
        let access = with_state(|state| state.file_objects.get(id).map(|e| e.access)).flatten();
        if let Some(access) = access {
            self.add(&access);
        }
    }

    /// IoRemoveShareAccess: at CLEANUP, what `file_object` was granted is counted out.
    pub fn remove_file_object(&mut self, file_object: &FileObject) {
        let id = file_object.id;
        let access = with_state(|state| state.file_objects.get(id).map(|e| e.access)).flatten();
        if let Some(access) = access {
            self.remove(&access);
        }
    }
}
