//! Section-synchronization callbacks (FsRtlRegisterFileSystemFilterCallbacks).
//!
//! The memory manager calls PreAcquireForSectionSynchronization before it creates a section for
//! one of our files. That is the only reliable signal that a section (and the memory manager's
//! reference on a FILE_OBJECT) is about to exist. A read-only file system has nothing to flush
//! or lock out, so for now the callbacks only allow the operation; the cache issue records the
//! section on the FCB here.

use crate::kernel::NtStatus;

/// What the memory manager is about to do (FS_FILTER_SECTION_SYNC_TYPE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SectionSyncKind {
    /// A section for data or image access is about to be created.
    CreateSection,
    /// Any other synchronization (e.g. an existing section is being mapped).
    Other,
}

pub fn pre_acquire_for_section_sync(_kind: SectionSyncKind) -> NtStatus {
    // STATUS_SUCCESS (not STATUS_FSFILTER_OP_COMPLETED_SUCCESSFULLY): we hold no lock for the
    // memory manager, so it proceeds and acquires what it needs itself.
    NtStatus::SUCCESS
}
