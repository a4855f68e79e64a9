//! The cache manager's callbacks (CACHE_MANAGER_CALLBACKS), given to CcInitializeCacheMap
//! with the FCB as their context (LazyWriteContext).
//!
//! **Why the context outlives every call.** The shared cache map keeps a reference on the
//! FILE_OBJECT the cache (and its section) was set up with until the map is deleted, and that
//! FILE_OBJECT's FsContext holds one counted reference on the FCB (DESIGN.md invariant 1): the
//! FCB cannot be freed while Cc can still call us with it. A read-ahead also holds its own
//! reference on the FILE_OBJECT it reads for (ReactOS `ntoskrnl/cc` CcScheduleReadAhead).
//!
//! **What they do**, as CDFS's CdAcquireForCache / CdReleaseFromCache (`cdfs/resrcsup.c`,
//! installed for all four callbacks in `cdfs/cdinit.c`) and FastFAT's
//! FatAcquireFcbForReadAhead / FatReleaseFcbFromReadAhead (`fastfat/resrcsup.c`): take the
//! FCB's main resource (Header.Resource) shared, which keeps purges (taken exclusive) out of
//! the read-ahead, honouring Wait = FALSE (no wait; FALSE back, nothing held); then mark the
//! thread with IoSetTopLevelIrp(FSRTL_CACHE_TOP_LEVEL_IRP), so the paging reads Cc then sends
//! are seen as the cache manager's, not a user's (never top level). The release undoes both, in
//! the opposite order.
//!
//! **Lazy write on a read-only volume.** Cc calls AcquireForLazyWrite only to write dirty
//! pages back, and nothing ever dirties a page of ours. If it is called anyway (a flush of
//! clean pages), it does what CDFS, also read-only, does: the same as for read-ahead, so the
//! lazy writer is synchronised with purges and recognised as Cc. The NT model never calls it
//! and reports a finding if it ever does (docs/nt-model.md, "Cache manager").

use crate::fcb::FcbRef;
use crate::kernel::{enter_cache_top_level, enter_file_system, leave_cache_top_level};

/// AcquireForReadAhead (and AcquireForLazyWrite): true with the FCB's resource held shared
/// and the thread marked as the cache manager's; false, holding nothing, if `wait` is false
/// and the resource is not free.
pub fn acquire_for_cache(fcb: &FcbRef, wait: bool) -> bool {
    // Cc's threads are system threads; the region keeps APCs off across the acquire itself.
    let _region = enter_file_system();
    let Some(held) = fcb.resource().acquire_shared(wait) else {
        return false;
    };
    held.hand_to_cache_manager();
    enter_cache_top_level();
    true
}

/// ReleaseFromReadAhead (and ReleaseFromLazyWrite): undoes `acquire_for_cache`.
pub fn release_from_cache(fcb: &FcbRef) {
    leave_cache_top_level();
    fcb.resource().release_for_cache_manager();
}
