//! Where a FILE_OBJECT's cache map is torn down: at its CLEANUP (CcUninitializeCacheMap with an
//! uninitialize event, waited for), as FastFAT and CDFS do.
//!
//! Called from `dispatch::cleanup` after the FCB's share access was removed and with **no file
//! system lock held**: CcUninitializeCacheMap may purge, and a purge may send the CLOSE of the
//! memory manager's FILE_OBJECT through our dispatch inside the call (DESIGN.md invariant 4),
//! which takes the table lock. The caller holds only its own counted FCB reference.

use crate::fcb::FcbRef;
use crate::kernel::FileObject;

/// Tears down `file_object`'s cache map. No FILE_OBJECT is cached yet (reads go straight to
/// the disk), so there is nothing to uninitialize until the cached-read issue adds
/// CcInitializeCacheMap; that issue fills this in.
pub fn at_cleanup(_fcb: &FcbRef, _file_object: &FileObject) {}
