//! The CCB: per-open state, in FsContext2.

use core::sync::atomic::AtomicU64;

use crate::kernel::PoolTag;

/// Pool tag of CCBs.
pub const CCB_TAG: PoolTag = PoolTag(*b"RfCc");

/// One open of an FCB.
pub struct Ccb {
    /// Opened with FILE_OPEN_BY_FILE_ID.
    pub opened_by_id: bool,
    /// Where the next directory enumeration resumes (an ext4 directory cursor).
    pub directory_cursor: AtomicU64,
}

impl Ccb {
    pub fn new(opened_by_id: bool) -> Ccb {
        Ccb {
            opened_by_id,
            directory_cursor: AtomicU64::new(0),
        }
    }
}
