//! The file system's calls on its files' sections: CcPurgeCacheSection and MmFlushImageSection
//! on an FCB's SECTION_OBJECT_POINTERS. Either may drop the memory manager's FILE_OBJECT
//! reference inside the call, so IRP_MJ_CLOSE can re-enter the driver here: call with no lock
//! held that CLOSE takes (DESIGN.md invariant 4).

use core::ptr;

use wdk_sys::_MMFLUSH_TYPE;

use super::fcb::FcbArc;
use crate::kernel::MmFlushType;

/// CcPurgeCacheSection(SectionObjectPointer, NULL, 0, FALSE): the whole file's cached pages.
/// FALSE while a user has a view of the file mapped.
pub fn cc_purge_cache_section<T: Send + Sync + 'static>(fcb: &FcbArc<T>) -> bool {
    // SAFETY: the SECTION_OBJECT_POINTERS live in the FCB block, which `fcb` keeps alive for
    // the call; Cc and Mm synchronize their own use of it. PASSIVE_LEVEL (our caller's rule).
    unsafe {
        wdk_sys::ntddk::CcPurgeCacheSection(fcb.section_object_pointers(), ptr::null_mut(), 0, 0)
            != 0
    }
}

/// MmFlushImageSection(SectionObjectPointer, flush): TRUE if no image section of the file is
/// in use (an unused one is deleted now), FALSE while one is mapped or open.
pub fn mm_flush_image_section<T: Send + Sync + 'static>(
    fcb: &FcbArc<T>,
    flush: MmFlushType,
) -> bool {
    let flush = match flush {
        MmFlushType::ForDelete => _MMFLUSH_TYPE::MmFlushForDelete,
        MmFlushType::ForWrite => _MMFLUSH_TYPE::MmFlushForWrite,
    };
    // SAFETY: as above.
    unsafe { wdk_sys::ntddk::MmFlushImageSection(fcb.section_object_pointers(), flush) != 0 }
}
