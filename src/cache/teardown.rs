//! Where cache maps and sections are torn down:
//! - a FILE_OBJECT's cache map at its CLEANUP (CcUninitializeCacheMap with an uninitialize
//!   event, waited for), as FastFAT and CDFS do;
//! - the sections of a volume's files at lock, dismount and PnP removal: for every FCB the
//!   memory manager or the cache manager created a section for (`Fcb::has_section`; Cc's
//!   segment keeps its FILE_OBJECT after the shared map goes), MmFlushImageSection
//!   (MmFlushForDelete), then CcPurgeCacheSection, as FastFAT's FatPurgeReferencedFileObjects
//!   and CDFS's CdPurgeVolume do;
//! - before a lock is granted, that purge, then CcWaitForCurrentLazyWriterActivity (the lazy
//!   writer's pending deletions and lazy closes finish), then the purge again, as FastFAT's
//!   FatLockVolumeInternal and CDFS's CdLockVolumeInternal do: what the first purge and the
//!   lazy writer let go of may have brought in more (`release_for_lock`);
//! - one file's sections at a CLEANUP on a dismounted volume, once its cache map is gone:
//!   nothing purges that volume again (`purge_after_dismount`; CDFS's CdCommonCleanup purges
//!   a volume no longer mounted to spark its teardown).
//!
//! Both are called with **no file system lock held**: CcUninitializeCacheMap may delete the
//! shared cache map inside the call, and the wait may let the lazy writer delete it meanwhile;
//! MmFlushImageSection and CcPurgeCacheSection may delete an unused segment inside the call.
//! Each drops a FILE_OBJECT reference, which may send that FILE_OBJECT's CLOSE through our
//! dispatch (DESIGN.md invariant 4), which takes the table lock. The callers hold counted FCB
//! references, so the FCBs outlive those CLOSEs.

use alloc::vec::Vec;

use crate::fcb::FcbRef;
use crate::kernel::{
    FileObject, MmFlushType, NtStatus, cc_purge_cache_section, cc_uninitialize_cache_map,
    cc_wait_for_current_lazy_writer_activity, has_private_cache_map, mm_flush_image_section,
};
use crate::volume::Vcb;

/// Tears down `file_object`'s cache map, if it has one, and waits until the cache manager says
/// the shared map is gone (or that other FILE_OBJECTs still use it).
pub fn at_cleanup(_fcb: &FcbRef, file_object: &FileObject) {
    if has_private_cache_map(file_object) {
        cc_uninitialize_cache_map(file_object);
    }
}

/// Flushes and purges the sections of every file of the volume that has had one. True if none
/// is left in use: false while an image section is mapped or open, or a user view of a data
/// section is mapped (those keep their FILE_OBJECTs until they are unmapped).
pub fn purge_volume_sections(vcb: &Vcb) -> Result<bool, NtStatus> {
    let fcbs: Vec<FcbRef> = vcb.fcbs_with_sections()?;
    let mut released = true;
    for fcb in &fcbs {
        released &= purge_sections(fcb);
    }
    // The FCB references go here, after every purge and with no lock held.
    drop(fcbs);
    Ok(released)
}

/// Before a lock: purge, wait for the lazy writer's current work, purge again. True if no
/// section is left in use; the wait's failure (no work queue entry) is its status.
pub fn release_for_lock(vcb: &Vcb) -> Result<bool, NtStatus> {
    purge_volume_sections(vcb)?;
    let waited = cc_wait_for_current_lazy_writer_activity();
    if !waited.is_success() {
        return Err(waited);
    }
    purge_volume_sections(vcb)
}

/// At a CLEANUP on a dismounted volume, with no lock held: the file's sections are purged.
pub fn purge_after_dismount(fcb: &FcbRef) {
    if fcb.has_section() {
        let _ = purge_sections(fcb);
    }
}

/// MmFlushImageSection(MmFlushForDelete), then CcPurgeCacheSection, on one file. True if both
/// let go of everything.
fn purge_sections(fcb: &FcbRef) -> bool {
    let image = mm_flush_image_section(fcb, MmFlushType::ForDelete);
    let data = cc_purge_cache_section(fcb);
    image && data
}
