//! The cache manager: CcInitializeCacheMap, CcCopyRead and CcUninitializeCacheMap with its
//! completion event, and the cache manager callbacks (forwarded to `src/cache/callbacks.rs`).
//!
//! CcInitializeCacheMap and CcCopyRead report failures by raising an exception (ExRaiseStatus:
//! no memory, or the failed paging read's status). Rust has no SEH, so both are called through
//! `c/seh.c` (built by build.rs): a `__try` that turns an exception FsRtlIsNtstatusExpected
//! accepts into its status. Unexpected exceptions are not caught.

use core::ffi::c_void;
use core::ptr::{self, NonNull};

use wdk_sys::{
    _EVENT_TYPE, _KWAIT_REASON, _MODE, BOOLEAN, CACHE_MANAGER_CALLBACKS, CACHE_UNINITIALIZE_EVENT,
    CC_FILE_SIZES, FSRTL_CACHE_TOP_LEVEL_IRP, IO_STATUS_BLOCK, LARGE_INTEGER, PIRP, PVOID,
};

use super::fcb::FcbArc;
use super::file_object::FileObject;
use crate::cache::callbacks;
use crate::fcb::{Fcb, FcbRef};

unsafe extern "C" {
    /// `c/seh.c`: CcInitializeCacheMap(PinAccess = FALSE) under `__try`.
    fn rustfsd_cc_initialize_cache_map(
        file_object: wdk_sys::PFILE_OBJECT,
        sizes: *mut CC_FILE_SIZES,
        callbacks: *mut CACHE_MANAGER_CALLBACKS,
        context: PVOID,
    ) -> i32;
    /// `c/seh.c`: CcCopyRead(Wait = TRUE) under `__try`; its result in `done`.
    fn rustfsd_cc_copy_read(
        file_object: wdk_sys::PFILE_OBJECT,
        offset: *mut i64,
        length: u32,
        buffer: *mut c_void,
        io_status: *mut IO_STATUS_BLOCK,
        done: *mut BOOLEAN,
    ) -> i32;
    /// `c/seh.c`: CcMdlRead under `__try`.
    fn rustfsd_cc_mdl_read(
        file_object: wdk_sys::PFILE_OBJECT,
        offset: *mut i64,
        length: u32,
        chain: *mut wdk_sys::PMDL,
        io_status: *mut IO_STATUS_BLOCK,
    ) -> i32;
}
use super::irp::{Irp, OutputBuffer};
use crate::kernel::{FileSizes, NtStatus};

/// The cache manager's callbacks: each forwards to the portable one (`src/cache/callbacks.rs`)
/// with the FCB that CcInitializeCacheMap was given as the context.
static CALLBACKS: CACHE_MANAGER_CALLBACKS = CACHE_MANAGER_CALLBACKS {
    AcquireForLazyWrite: Some(acquire_for_cache),
    ReleaseFromLazyWrite: Some(release_from_cache),
    AcquireForReadAhead: Some(acquire_for_cache),
    ReleaseFromReadAhead: Some(release_from_cache),
};

/// The FCB the context names, with a counted reference of its own for the call.
///
/// # Safety
/// `context` is the FsContext CcInitializeCacheMap was given (`cc_initialize_cache_map`): an
/// FCB block kept alive by the FILE_OBJECT the shared cache map references.
unsafe fn context_fcb(context: PVOID) -> Option<FcbRef> {
    // SAFETY: as the caller promises; the block keeps its own counts.
    unsafe { FcbArc::<Fcb>::clone_raw(NonNull::new(context)?) }
}

unsafe extern "C" fn acquire_for_cache(context: PVOID, wait: BOOLEAN) -> BOOLEAN {
    // SAFETY: Cc passes back the context of our CcInitializeCacheMap while its shared cache
    // map, and so the FILE_OBJECT holding the FCB, lives.
    let Some(fcb) = (unsafe { context_fcb(context) }) else {
        return 0;
    };
    u8::from(callbacks::acquire_for_cache(&fcb, wait != 0))
}

unsafe extern "C" fn release_from_cache(context: PVOID) {
    // SAFETY: as in acquire_for_cache.
    if let Some(fcb) = unsafe { context_fcb(context) } {
        callbacks::release_from_cache(&fcb);
    }
}

/// IoSetTopLevelIrp(FSRTL_CACHE_TOP_LEVEL_IRP) if the thread has no top-level IRP (the cache
/// manager's threads never have one when they call us). True if it was set.
pub fn enter_cache_top_level() -> bool {
    // SAFETY: the top-level IRP is this thread's own state; a marker value is stored.
    unsafe {
        if !wdk_sys::ntddk::IoGetTopLevelIrp().is_null() {
            return false;
        }
        wdk_sys::ntddk::IoSetTopLevelIrp(FSRTL_CACHE_TOP_LEVEL_IRP as usize as PIRP);
    }
    true
}

/// IoSetTopLevelIrp(NULL) if the thread's top-level IRP is FSRTL_CACHE_TOP_LEVEL_IRP.
pub fn leave_cache_top_level() {
    // SAFETY: as in enter_cache_top_level: only our own marker is taken back.
    unsafe {
        if wdk_sys::ntddk::IoGetTopLevelIrp() == FSRTL_CACHE_TOP_LEVEL_IRP as usize as PIRP {
            wdk_sys::ntddk::IoSetTopLevelIrp(ptr::null_mut());
        }
    }
}

fn large(value: u64) -> LARGE_INTEGER {
    LARGE_INTEGER {
        QuadPart: i64::try_from(value).unwrap_or(i64::MAX),
    }
}

/// FileObject->PrivateCacheMap != NULL.
pub fn has_private_cache_map(file_object: &FileObject) -> bool {
    // SAFETY: the FILE_OBJECT is live (type invariant); PrivateCacheMap is read, never
    // dereferenced.
    unsafe { !(*file_object.raw()).PrivateCacheMap.is_null() }
}

/// CcInitializeCacheMap(file_object, sizes, PinAccess = FALSE, our callbacks, the FCB as the
/// LazyWriteContext). Cc keeps the context of the call that creates the shared cache map;
/// every FILE_OBJECT of a stream names the same FCB.
pub fn cc_initialize_cache_map(file_object: &FileObject, sizes: FileSizes) -> Result<(), NtStatus> {
    let mut sizes = CC_FILE_SIZES {
        AllocationSize: large(sizes.allocation_size),
        FileSize: large(sizes.file_size),
        ValidDataLength: large(sizes.valid_data_length),
    };
    // SAFETY: the FILE_OBJECT is live with SectionObjectPointer set to its FCB's (attach_fcb);
    // Cc copies the sizes; the callbacks table is static and never written by Cc; the context
    // is the FsContext FCB, alive while the shared map references this or another
    // FILE_OBJECT of the stream (`src/cache/callbacks.rs`).
    let status = unsafe {
        rustfsd_cc_initialize_cache_map(
            file_object.raw(),
            &mut sizes,
            (&raw const CALLBACKS).cast_mut(),
            (*file_object.raw()).FsContext,
        )
    };
    if status < 0 {
        return Err(NtStatus(status));
    }
    Ok(())
}

/// CcSetReadAheadGranularity(file_object, granularity): Cc's read-ahead for this FILE_OBJECT
/// comes in multiples of `granularity` (a power of 2, at least PAGE_SIZE; the FILE_OBJECT must
/// have its private cache map, which the call writes).
pub fn cc_set_read_ahead_granularity(file_object: &FileObject, granularity: u32) {
    // SAFETY: the FILE_OBJECT is live (type invariant) and cached (the caller's rule: it comes
    // right after cc_initialize_cache_map); CcSetReadAheadGranularity only sets its private
    // map's read-ahead mask.
    unsafe { wdk_sys::ntddk::CcSetReadAheadGranularity(file_object.raw(), granularity) }
}

/// CcCopyRead(Wait = TRUE) of `length` bytes at `offset` into `buffer` at `buffer_offset`:
/// the MDL's system address or the system buffer, never a user address.
pub fn cc_copy_read(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    buffer: &OutputBuffer,
    buffer_offset: usize,
) -> Result<usize, NtStatus> {
    let (start, capacity) = match buffer {
        OutputBuffer::Mdl(mdl) => (mdl.system_address()?, mdl.len()),
        OutputBuffer::System(system) => (system.start(), system.len()),
        OutputBuffer::User(_) | OutputBuffer::None => return Err(NtStatus::INVALID_USER_BUFFER),
    };
    let end = buffer_offset
        .checked_add(length)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    if end > capacity {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    let length = u32::try_from(length).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut file_offset = i64::try_from(offset).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut status = IO_STATUS_BLOCK::default();
    let mut done: BOOLEAN = 0;
    // SAFETY: [buffer_offset, end) lies inside the `capacity` bytes of locked kernel memory at
    // `start` (checked above), valid until the IRP completes; the FILE_OBJECT is live and was
    // given its cache map by cc_initialize_cache_map.
    let raised = unsafe {
        rustfsd_cc_copy_read(
            file_object.raw(),
            &mut file_offset,
            length,
            start.as_ptr().add(buffer_offset).cast(),
            &mut status,
            &mut done,
        )
    };
    if raised < 0 {
        return Err(NtStatus(raised));
    }
    // SAFETY: CcCopyRead filled the IO_STATUS_BLOCK.
    let code = unsafe { status.__bindgen_anon_1.Status };
    if done == 0 {
        return Err(NtStatus::UNSUCCESSFUL);
    }
    if code < 0 {
        return Err(NtStatus(code));
    }
    Ok(status.Information as usize)
}

/// CcMdlRead(file_object, offset, length, &Irp->MdlAddress, &IoStatus) for an IRP_MN_MDL read:
/// the cache's pages as an MDL chain in the IRP, given back by IRP_MN_COMPLETE_MDL.
pub fn cc_mdl_read(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    irp: &Irp,
) -> Result<usize, NtStatus> {
    let length = u32::try_from(length).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut file_offset = i64::try_from(offset).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut status = IO_STATUS_BLOCK::default();
    // SAFETY: the IRP is the IRP_MN_MDL read being dispatched, its MdlAddress NULL (the caller
    // asks us to fill it); the FILE_OBJECT is live and cached (cc_initialize_cache_map).
    let raised = unsafe {
        rustfsd_cc_mdl_read(
            file_object.raw(),
            &mut file_offset,
            length,
            &raw mut (*irp.raw()).MdlAddress,
            &mut status,
        )
    };
    if raised < 0 {
        return Err(NtStatus(raised));
    }
    // SAFETY: CcMdlRead filled the IO_STATUS_BLOCK.
    let code = unsafe { status.__bindgen_anon_1.Status };
    if code < 0 {
        return Err(NtStatus(code));
    }
    Ok(status.Information as usize)
}

/// CcMdlReadComplete(file_object, Irp->MdlAddress), then Irp->MdlAddress = NULL (FastFAT's
/// FatCompleteMdl), for an IRP_MN_COMPLETE_MDL read.
pub fn cc_mdl_read_complete(file_object: &FileObject, irp: &Irp) {
    // SAFETY: the IRP is the IRP_MN_COMPLETE_MDL being dispatched; its MdlAddress is the chain
    // an earlier CcMdlRead gave its caller, freed here once and no longer named by the IRP.
    unsafe {
        let raw = irp.raw();
        let chain = (*raw).MdlAddress;
        if !chain.is_null() {
            wdk_sys::ntddk::CcMdlReadComplete(file_object.raw(), chain);
            (*raw).MdlAddress = core::ptr::null_mut();
        }
    }
}

/// CcUninitializeCacheMap(file_object, NULL, event) and a wait on the event, which Cc sets
/// once the shared cache map is really gone (possibly later, from the lazy writer) or at once
/// if other FILE_OBJECTs still use it. Returns what CcUninitializeCacheMap returned.
pub fn cc_uninitialize_cache_map(file_object: &FileObject) -> bool {
    // SAFETY: all-zero is valid storage for a CACHE_UNINITIALIZE_EVENT whose KEVENT
    // KeInitializeEvent then sets up; it stays in this frame, unmoved, until the wait below
    // has returned, and Cc lets go of it before it sets the event.
    let mut event: CACHE_UNINITIALIZE_EVENT = unsafe { core::mem::zeroed() };
    let event_ptr: *mut CACHE_UNINITIALIZE_EVENT = &mut event;
    // SAFETY: the FILE_OBJECT is live; the event outlives the call and the wait.
    unsafe {
        wdk_sys::ntddk::KeInitializeEvent(
            &raw mut (*event_ptr).Event,
            _EVENT_TYPE::NotificationEvent,
            0,
        );
        let had =
            wdk_sys::ntddk::CcUninitializeCacheMap(file_object.raw(), ptr::null_mut(), event_ptr);
        // KernelMode, not alertable, no timeout: the only outcome is STATUS_SUCCESS.
        let _ = wdk_sys::ntddk::KeWaitForSingleObject(
            (&raw mut (*event_ptr).Event).cast(),
            _KWAIT_REASON::Executive,
            _MODE::KernelMode as i8,
            0,
            ptr::null_mut(),
        );
        had != 0
    }
}

/// CcWaitForCurrentLazyWriterActivity: waits until the work items now in the lazy writer's
/// queues have run (their CLOSEs may come through us meanwhile). Call with no lock held.
pub fn cc_wait_for_current_lazy_writer_activity() -> crate::kernel::NtStatus {
    // SAFETY: no arguments; called at PASSIVE_LEVEL with no resource held, as Learn asks.
    crate::kernel::NtStatus(unsafe { wdk_sys::ntddk::CcWaitForCurrentLazyWriterActivity() })
}
