//! The CCB: per-open state, in FsContext2.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::kernel::{Locked, NotifyName, NtStatus, PoolTag};

/// Pool tag of CCBs.
pub const CCB_TAG: PoolTag = PoolTag(*b"RfCc");

/// One open of an FCB.
pub struct Ccb {
    /// Opened with FILE_OPEN_BY_FILE_ID.
    pub opened_by_id: bool,
    /// Where the next directory enumeration resumes: 0 and 1 stand for `.` and `..`, n ≥ 2 for
    /// the ext4 directory cursor n - 2.
    pub directory_cursor: AtomicU64,
    /// The access this open was granted (generic rights mapped to file rights).
    pub granted_access: u32,
    /// Opened without SL_CASE_SENSITIVE: lookups and searches ignore case.
    pub case_insensitive: bool,
    /// The path the file was opened by, from the volume root (`\dir\file`), spelled as the
    /// directory entries spell it; empty for volume opens and opens by file ID.
    pub path: Vec<u16>,
    /// The enumeration's search expression, fixed at the handle's first query.
    pub search: Locked<Option<Search>>,
    /// A directory open's name as FsRtl keeps it while a change notification is pended.
    pub notify_name: Option<NotifyName>,
    /// The 0-based index of the EA an IRP_MJ_QUERY_EA scan without SL_RESTART_SCAN returns
    /// next (FastFAT's Ccb->OffsetOfNextEaToReturn).
    pub ea_cursor: AtomicU32,
}

/// A directory enumeration's expression.
pub struct Search {
    /// Upcased when the open ignores case.
    pub expression: Vec<u16>,
    /// `*`: no matching needed.
    pub matches_everything: bool,
}

impl Ccb {
    pub fn try_new(
        opened_by_id: bool,
        granted_access: u32,
        case_insensitive: bool,
        path: Vec<u16>,
        directory: bool,
    ) -> Result<Ccb, NtStatus> {
        let notify_name = if directory {
            let root = [u16::from(b'\\')];
            let name = if path.is_empty() {
                &root[..]
            } else {
                &path[..]
            };
            Some(NotifyName::try_new(name)?)
        } else {
            None
        };
        Ok(Ccb {
            opened_by_id,
            directory_cursor: AtomicU64::new(0),
            granted_access,
            case_insensitive,
            path,
            search: Locked::try_new(None)?,
            notify_name,
            ea_cursor: AtomicU32::new(0),
        })
    }
}
