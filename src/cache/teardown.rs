//! Where a FILE_OBJECT's cache map is torn down: at its CLEANUP (CcUninitializeCacheMap with an
//! uninitialize event, waited for), as FastFAT and CDFS do.
//!
//! Called from `dispatch::cleanup` after the FCB's share access was removed and with **no file
//! system lock held**: CcUninitializeCacheMap may delete the shared cache map inside the call,
//! and the wait may let the lazy writer delete it meanwhile; either drops the cache manager's
//! FILE_OBJECT reference, which may send that FILE_OBJECT's CLOSE through our dispatch
//! (DESIGN.md invariant 4), which takes the table lock. The caller holds its own counted FCB
//! reference, so the FCB outlives that CLOSE.

use crate::fcb::FcbRef;
use crate::kernel::{FileObject, cc_uninitialize_cache_map, has_private_cache_map};

/// Tears down `file_object`'s cache map, if it has one, and waits until the cache manager says
/// the shared map is gone (or that other FILE_OBJECTs still use it).
pub fn at_cleanup(_fcb: &FcbRef, file_object: &FileObject) {
    if has_private_cache_map(file_object) {
        cc_uninitialize_cache_map(file_object);
    }
}
