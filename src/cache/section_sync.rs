//! Section-synchronization callbacks (FsRtlRegisterFileSystemFilterCallbacks).
//!
//! The memory manager calls PreAcquireForSectionSynchronization before it creates a section for
//! one of our files (FsRtlAcquireToCreateMappedSection). That is the only reliable signal that
//! a section, and the memory manager's reference on a FILE_OBJECT, is about to exist: the FCB
//! records it here, so that lock, dismount and removal know which files to purge.
//!
//! As CDFS does (CdFilterCallbackAcquireForCreateSection), the FCB's main resource
//! (Header.Resource) is taken shared-starve-exclusive and left held for FsRtlReleaseFile, which
//! releases Header.Resource once Mm has read the sizes (we register no fast I/O
//! ReleaseFileForNtCreateSection, so that default release is the one that runs). The answer is
//! STATUS_FILE_LOCKED_WITH_ONLY_READERS: the volume is read-only, so nobody can write the file
//! (FastFAT answers WITH_WRITERS when a handle has write access). FsRtl then trusts the lock to
//! be ours and takes none itself.

use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{FileObject, NtStatus};

/// What the memory manager is about to do (FS_FILTER_SECTION_SYNC_TYPE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SectionSyncKind {
    /// A section for data or image access is about to be created.
    CreateSection,
    /// Any other synchronization (e.g. an existing section is being mapped).
    Other,
}

pub fn pre_acquire_for_section_sync(file_object: &FileObject, kind: SectionSyncKind) -> NtStatus {
    let Some(fcb) = file_object.fcb::<Fcb>() else {
        return NtStatus::INVALID_PARAMETER;
    };
    if kind == SectionSyncKind::CreateSection && fcb.kind() != FcbKind::File {
        // Directories, symbolic links and the volume have no data stream to map.
        return NtStatus::INVALID_FILE_FOR_SECTION;
    }
    // FsRtl entered the file system (APCs off) before calling us, and waits here if a purge
    // holds the resource exclusive.
    let Some(held) = fcb.resource().acquire_shared_starve_exclusive(true) else {
        return NtStatus::POSSIBLE_DEADLOCK;
    };
    if kind == SectionSyncKind::CreateSection {
        fcb.note_section_created();
    }
    held.hand_to_fsrtl();
    match kind {
        SectionSyncKind::CreateSection => NtStatus::FILE_LOCKED_WITH_ONLY_READERS,
        SectionSyncKind::Other => NtStatus::FSFILTER_OP_COMPLETED_SUCCESSFULLY,
    }
}
