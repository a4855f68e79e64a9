//! Access rights, share modes and the share-access rule (the kernel's SHARE_ACCESS), shared by
//! both backends. An open conflicts if it wants an access some current open does not share, or
//! refuses to share an access some current open holds. The backends add the IoCheckShareAccess
//! family over FILE_OBJECTs.

pub const FILE_READ_DATA: u32 = 0x0001;
pub const FILE_WRITE_DATA: u32 = 0x0002;
pub const FILE_APPEND_DATA: u32 = 0x0004;
pub const FILE_EXECUTE: u32 = 0x0020;
pub const DELETE: u32 = 0x0001_0000;
pub const FILE_SHARE_READ: u16 = 0x1;
pub const FILE_SHARE_WRITE: u16 = 0x2;
pub const FILE_SHARE_DELETE: u16 = 0x4;

/// SHARE_ACCESS: counts over every open of one stream (the kernel's layout, 0x1c bytes).
#[repr(C)]
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

    /// False for an open for attributes only, which share access does not count.
    pub fn counts(&self) -> bool {
        self.read || self.write || self.delete
    }
}

fn step(count: u32, present: bool, add: bool) -> u32 {
    match (present, add) {
        (false, _) => count,
        (true, true) => count.saturating_add(1),
        (true, false) => count.saturating_sub(1),
    }
}

impl ShareAccess {
    /// The pure rule: does `access` conflict with the opens counted here?
    pub fn conflicts(&self, access: &FileAccess) -> bool {
        let all = self.open_count;
        let wants_unshared = (access.read && self.shared_read < all)
            || (access.write && self.shared_write < all)
            || (access.delete && self.shared_delete < all);
        let refuses_held = (self.readers > 0 && !access.shared_read)
            || (self.writers > 0 && !access.shared_write)
            || (self.deleters > 0 && !access.shared_delete);
        wants_unshared || refuses_held
    }

    fn count(&mut self, access: &FileAccess, add: bool) {
        if !access.counts() {
            return;
        }
        self.open_count = step(self.open_count, true, add);
        self.readers = step(self.readers, access.read, add);
        self.writers = step(self.writers, access.write, add);
        self.deleters = step(self.deleters, access.delete, add);
        self.shared_read = step(self.shared_read, access.shared_read, add);
        self.shared_write = step(self.shared_write, access.shared_write, add);
        self.shared_delete = step(self.shared_delete, access.shared_delete, add);
    }

    /// Counts `access` in.
    pub fn add(&mut self, access: &FileAccess) {
        self.count(access, true);
    }

    /// Counts `access` out.
    pub fn remove(&mut self, access: &FileAccess) {
        self.count(access, false);
    }
}
