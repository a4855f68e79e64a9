//! The FsRtl FILE_LOCK package: byte-range locks on one stream, as FsRtlProcessFileLock,
//! FsRtlCheckLockForReadAccess and FsRtlFastUnlockAll keep them.
//!
//! Semantics (Learn: LockFileEx, UnlockFileEx, NtLockFile, NtUnlockFile, FsRtlProcessFileLock,
//! FsRtlCheckLockForReadAccess, FsRtlFastUnlockAll; ReactOS `ntoskrnl/fsrtl/filelock.c`):
//! - a lock belongs to its owner: the FILE_OBJECT it was taken through, the requesting process
//!   and the caller's Key;
//! - ranges are [offset, offset + length); two overlap when either one's start lies inside
//!   the other (ReactOS LockCompare), so a zero-length lock at p overlaps a range that starts
//!   at or before p and ends after it: Windows refuses LockFile(98, 4) and LockFile(100, 10)
//!   but grants LockFile(90, 10) over a zero-byte lock at 100 (Wine
//!   `dlls/kernel32/tests/file.c`, test_LockFile, run against Windows); an offset plus length
//!   that overflows is STATUS_INVALID_PARAMETER;
//! - an exclusive lock conflicts with every overlapping lock; a shared lock conflicts with an
//!   overlapping exclusive lock unless both have the same owner (LockFileEx: "a shared lock can
//!   overlap an exclusive lock if both locks were created using the same file handle");
//! - a conflict with FailImmediately is STATUS_LOCK_NOT_GRANTED (NtLockFile; ReactOS answers
//!   STATUS_FILE_LOCK_CONFLICT there, Windows and Learn do not). Without FailImmediately
//!   Windows pends the IRP until the range is free: the model's calls are synchronous and it
//!   cannot pend one, so it answers STATUS_LOCK_NOT_GRANTED too and says so in the trace (a
//!   documented simplification);
//! - an unlock names exactly a range its owner locked (STATUS_RANGE_NOT_LOCKED otherwise),
//!   and releases one such lock; unlock-all releases every lock of the FILE_OBJECT and
//!   process, unlock-all-by-key those with the key too;
//! - a read is refused if an overlapping exclusive lock has another owner (shared locks let
//!   everyone read).

use std::vec::Vec;

use crate::kernel::NtStatus;
use crate::kernel::model::slab::ObjId;

/// Who holds a lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LockOwner {
    pub file_object: ObjId,
    /// The requestor's process id (0: the system).
    pub process: u32,
    pub key: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Lock {
    owner: LockOwner,
    start: u64,
    end: u64,
    exclusive: bool,
}

impl Lock {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        let inside = |point: u64, from: u64, to: u64| from <= point && point < to;
        inside(start, self.start, self.end) || inside(self.start, start, end)
    }
}

/// The locks of one stream (the FCB's FILE_LOCK).
#[derive(Default, Debug)]
pub struct FileLock {
    locks: Vec<Lock>,
}

/// [offset, offset + length), or None if it overflows.
fn range(offset: u64, length: u64) -> Option<(u64, u64)> {
    Some((offset, offset.checked_add(length)?))
}

impl FileLock {
    /// No lock is held.
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }

    /// IRP_MN_LOCK. The second value is true when a waiting request was refused because the
    /// model cannot pend it.
    pub fn lock(
        &mut self,
        owner: LockOwner,
        offset: u64,
        length: u64,
        exclusive: bool,
        fail_immediately: bool,
    ) -> (NtStatus, bool) {
        let _model = super::heap_faults::Scope::model();
        let Some((start, end)) = range(offset, length) else {
            return (NtStatus::INVALID_PARAMETER, false);
        };
        let conflict = self.locks.iter().any(|held| {
            held.overlaps(start, end) && (exclusive || (held.exclusive && held.owner != owner))
        });
        if conflict {
            return (NtStatus::LOCK_NOT_GRANTED, !fail_immediately);
        }
        self.locks.push(Lock {
            owner,
            start,
            end,
            exclusive,
        });
        (NtStatus::SUCCESS, false)
    }

    /// IRP_MN_UNLOCK_SINGLE (NtUnlockFile).
    pub fn unlock_single(&mut self, owner: LockOwner, offset: u64, length: u64) -> NtStatus {
        let Some((start, end)) = range(offset, length) else {
            return NtStatus::RANGE_NOT_LOCKED;
        };
        let found = self
            .locks
            .iter()
            .position(|held| held.owner == owner && held.start == start && held.end == end);
        match found {
            Some(index) => {
                self.locks.remove(index);
                NtStatus::SUCCESS
            }
            None => NtStatus::RANGE_NOT_LOCKED,
        }
    }

    /// IRP_MN_UNLOCK_ALL / FsRtlFastUnlockAll (`key` None) and IRP_MN_UNLOCK_ALL_BY_KEY.
    /// Returns how many locks went.
    pub fn unlock_all(&mut self, file_object: ObjId, process: u32, key: Option<u32>) -> usize {
        let before = self.locks.len();
        self.locks.retain(|held| {
            !(held.owner.file_object == file_object
                && held.owner.process == process
                && key.is_none_or(|key| held.owner.key == key))
        });
        before - self.locks.len()
    }

    /// FsRtlCheckLockForReadAccess: may `owner` read [offset, offset + length)?
    pub fn can_read(&self, owner: LockOwner, offset: u64, length: u64) -> bool {
        let end = offset.saturating_add(length);
        !self
            .locks
            .iter()
            .any(|held| held.exclusive && held.overlaps(offset, end) && held.owner != owner)
    }

    /// Locks held through `file_object`.
    #[cfg(test)]
    fn held_through(&self, file_object: ObjId) -> usize {
        self.locks
            .iter()
            .filter(|held| held.owner.file_object == file_object)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(index: u32, process: u32, key: u32) -> LockOwner {
        LockOwner {
            file_object: ObjId {
                index,
                generation: 1,
            },
            process,
            key,
        }
    }

    #[test]
    fn exclusive_and_shared_rules() {
        let mut locks = FileLock::default();
        let a = owner(1, 100, 0);
        let b = owner(2, 100, 0);
        assert_eq!(locks.lock(a, 0, 10, true, true).0, NtStatus::SUCCESS);
        // Another FILE_OBJECT of the same process conflicts, shared or exclusive.
        assert_eq!(
            locks.lock(b, 5, 10, false, true).0,
            NtStatus::LOCK_NOT_GRANTED
        );
        assert_eq!(
            locks.lock(b, 9, 1, true, true).0,
            NtStatus::LOCK_NOT_GRANTED
        );
        // Adjacent ranges do not overlap; a zero-length lock overlaps the range around it.
        assert_eq!(locks.lock(b, 10, 5, true, true).0, NtStatus::SUCCESS);
        assert_eq!(
            locks.lock(b, 3, 0, true, true).0,
            NtStatus::LOCK_NOT_GRANTED
        );
        assert_eq!(locks.lock(b, 20, 0, true, true).0, NtStatus::SUCCESS);
        // The owner may add a shared lock over its exclusive one, not another exclusive one.
        assert_eq!(locks.lock(a, 2, 2, false, true).0, NtStatus::SUCCESS);
        assert_eq!(
            locks.lock(a, 2, 2, true, true),
            (NtStatus::LOCK_NOT_GRANTED, false)
        );
        // A waiting request that conflicts is flagged as not modelled.
        assert_eq!(
            locks.lock(b, 0, 1, true, false),
            (NtStatus::LOCK_NOT_GRANTED, true)
        );
        assert!(!locks.can_read(b, 0, 1));
        assert!(locks.can_read(a, 0, 10));
        assert!(locks.can_read(owner(1, 100, 7), 30, 5));
        assert!(
            !locks.can_read(owner(1, 100, 7), 0, 1),
            "another key is another owner"
        );
        assert_eq!(
            locks.lock(a, u64::MAX, 2, true, true).0,
            NtStatus::INVALID_PARAMETER
        );
    }

    /// Wine's test_LockFile, as Windows answers it: a zero-byte lock at 100.
    #[test]
    fn zero_byte_lock() {
        let mut locks = FileLock::default();
        let a = owner(1, 100, 0);
        assert_eq!(locks.lock(a, 100, 0, true, true).0, NtStatus::SUCCESS);
        assert_eq!(
            locks.lock(a, 98, 4, true, true).0,
            NtStatus::LOCK_NOT_GRANTED
        );
        assert_eq!(locks.lock(a, 90, 10, true, true).0, NtStatus::SUCCESS);
        assert_eq!(
            locks.lock(a, 100, 10, true, true).0,
            NtStatus::LOCK_NOT_GRANTED
        );
        assert_eq!(locks.unlock_single(a, 90, 10), NtStatus::SUCCESS);
        assert_eq!(locks.unlock_single(a, 100, 10), NtStatus::RANGE_NOT_LOCKED);
        assert_eq!(locks.unlock_single(a, 100, 0), NtStatus::SUCCESS);
    }

    #[test]
    fn unlocks() {
        let mut locks = FileLock::default();
        let a = owner(1, 100, 0);
        let a_key = owner(1, 100, 9);
        assert_eq!(locks.lock(a, 0, 10, false, true).0, NtStatus::SUCCESS);
        assert_eq!(locks.lock(a, 0, 10, false, true).0, NtStatus::SUCCESS);
        assert_eq!(locks.lock(a_key, 20, 10, true, true).0, NtStatus::SUCCESS);
        assert_eq!(locks.unlock_single(a, 0, 5), NtStatus::RANGE_NOT_LOCKED);
        assert_eq!(
            locks.unlock_single(owner(1, 104, 0), 0, 10),
            NtStatus::RANGE_NOT_LOCKED
        );
        assert_eq!(locks.unlock_single(a, 0, 10), NtStatus::SUCCESS);
        assert_eq!(locks.held_through(a.file_object), 2);
        assert_eq!(locks.unlock_all(a.file_object, 100, Some(9)), 1);
        assert_eq!(locks.unlock_all(a.file_object, 104, None), 0);
        assert_eq!(locks.unlock_all(a.file_object, 100, None), 1);
        assert_eq!(locks.held_through(a.file_object), 0);
    }
}
