//! Cache and section support: CcInitializeCacheMap/CcUninitializeCacheMap, section teardown,
//! and the section-synchronization callbacks registered at DriverEntry.
//!
//! A FILE_OBJECT is cached from its first cached read (`ensure_cached`) to its CLEANUP
//! (`teardown::at_cleanup`). The first FILE_OBJECT of a stream to be cached becomes the one
//! the cache manager's shared map references, and, if the stream had no data segment yet, the
//! one Cc's section creates it with: its CLOSE comes only once both are gone. The shared map
//! goes inside CcUninitializeCacheMap or later on the lazy writer's thread; the segment when a
//! purge or memory pressure deletes it, so a cached file counts as having a section.

pub mod callbacks;
pub mod section_sync;
pub mod teardown;

use crate::fcb::FcbRef;
use crate::kernel::{
    FileObject, Irp, NtStatus, OutputBuffer, cc_copy_read, cc_initialize_cache_map, cc_mdl_read,
    cc_mdl_read_complete, cc_set_read_ahead_granularity, has_private_cache_map,
};

/// Cc's read-ahead granularity for our files: 64 KiB, as FastFAT's and CDFS's
/// READ_AHEAD_GRANULARITY (`fastfat/fatdata.h`, `cdfs/read.c`).
const READ_AHEAD_GRANULARITY: u32 = 0x10000;

/// CcInitializeCacheMap for `file_object` unless it already has its private cache map, with
/// the FCB header's sizes, then CcSetReadAheadGranularity (as FastFAT's FatCommonRead and
/// CDFS's CdCommonRead do right after it).
pub fn ensure_cached(fcb: &FcbRef, file_object: &FileObject) -> Result<(), NtStatus> {
    if has_private_cache_map(file_object) {
        return Ok(());
    }
    // Cc's section on the stream is its data section, whose segment may outlive the cache
    // map: lock, dismount and removal must purge it.
    fcb.note_section_created();
    cc_initialize_cache_map(file_object, fcb.file_sizes())?;
    cc_set_read_ahead_granularity(file_object, READ_AHEAD_GRANULARITY);
    Ok(())
}

/// CcCopyRead (waiting) of `count` bytes at `offset` into the start of `buffer`.
pub fn copy_read(
    file_object: &FileObject,
    offset: u64,
    count: usize,
    buffer: &OutputBuffer,
) -> Result<usize, NtStatus> {
    cc_copy_read(file_object, offset, count, buffer, 0)
}

/// CcMdlRead of `count` bytes at `offset`: the chain goes into the IRP's MdlAddress.
pub fn mdl_read(
    file_object: &FileObject,
    offset: u64,
    count: usize,
    irp: &Irp,
) -> Result<usize, NtStatus> {
    cc_mdl_read(file_object, offset, count, irp)
}

/// CcMdlReadComplete of the chain the IRP's MdlAddress names, then MdlAddress = NULL.
pub fn mdl_read_complete(file_object: &FileObject, irp: &Irp) {
    cc_mdl_read_complete(file_object, irp);
}
