//! FsRtl: FsRtlEnterFileSystem/FsRtlExitFileSystem, the advanced FCB header
//! (FsRtlSetupAdvancedHeader) and FsRtlTeardownPerStreamContexts.
//!
//! mingw-w64's FSRTL_ADVANCED_FCB_HEADER is the Vista layout (0x58 bytes). The header here is
//! the Windows 10 one (0x68 bytes, with the Oplock union and ReservedContext), declared by us
//! and checked in layout.rs. `FcbHeader` bundles it with the FAST_MUTEX it points to; it is
//! set up and torn down only by `FcbArc` (fcb.rs), which owns the block it starts.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;

use core::ptr::NonNull;

use wdk_sys::{
    ERESOURCE, FAST_MUTEX, FILE_LOCK, FSRTL_FLAG_ADVANCED_HEADER,
    FSRTL_FLAG2_SUPPORTS_FILTER_CONTEXTS, LIST_ENTRY, PEPROCESS, PFILE_OBJECT,
    PFSRTL_ADVANCED_FCB_HEADER, PIRP,
};

use crate::kernel::{FastLock, NtStatus};

use super::resource::initialize_fast_mutex;

/// FSRTL_FCB_HEADER_V2: the version FsRtlSetupAdvancedHeader writes (Windows 8 and later).
/// V3 would tell FsRtl (20H2+) to use the AePushLock at 0x60, which only
/// FsRtlSetupAdvancedHeaderEx2 with an FsRtlAllocateAePushLock lock provides; we use the
/// classic PushLock and leave 0x60 zero.
const FSRTL_FCB_HEADER_V2: u8 = 2;

/// FSRTL_ADVANCED_FCB_HEADER as Windows 10/11 x64 lays it out (FSRTL_FCB_HEADER_V3 size).
#[repr(C)]
pub struct AdvancedFcbHeader {
    pub node_type_code: i16,
    pub node_byte_size: i16,
    pub flags: u8,
    pub is_fast_io_possible: u8,
    pub flags2: u8,
    /// Reserved:4 (low bits), Version:4 (high bits).
    pub reserved_and_version: u8,
    pub resource: *mut ERESOURCE,
    pub paging_io_resource: *mut ERESOURCE,
    pub allocation_size: i64,
    pub file_size: i64,
    pub valid_data_length: i64,
    pub fast_mutex: *mut FAST_MUTEX,
    pub filter_contexts: LIST_ENTRY,
    pub push_lock: usize,
    pub file_context_support_pointer: *mut *mut c_void,
    /// Oplock / ReservedForRemote.
    pub oplock: *mut c_void,
    /// ReservedContext / AePushLock.
    pub reserved_context: *mut c_void,
}

/// What an FCB block starts with (`FcbArc`, kernel/nt/fcb.rs): the advanced header and the
/// FAST_MUTEX it points to. The kernel and filters write it, hence the UnsafeCells. All-zero is
/// its state before `setup_advanced_header`.
#[repr(C)]
pub struct FcbHeader {
    header: UnsafeCell<AdvancedFcbHeader>,
    fast_mutex: UnsafeCell<FAST_MUTEX>,
}

impl FcbHeader {
    /// The advanced header, for the accessors of `FcbArc`.
    pub(super) fn advanced(&self) -> *mut AdvancedFcbHeader {
        self.header.get()
    }
}

/// FsRtlEnterFileSystem (KeEnterCriticalRegion): normal kernel APCs disabled until the guard
/// drops (FsRtlExitFileSystem). Not Send: the region belongs to this thread.
pub struct FileSystemRegion {
    _same_thread: PhantomData<*const ()>,
}

pub fn enter_file_system() -> FileSystemRegion {
    // SAFETY: KeEnterCriticalRegion at IRQL <= APC_LEVEL; balanced by the guard's drop.
    unsafe { wdk_sys::ntddk::KeEnterCriticalRegion() };
    FileSystemRegion {
        _same_thread: PhantomData,
    }
}

impl Drop for FileSystemRegion {
    fn drop(&mut self) {
        // SAFETY: balances the KeEnterCriticalRegion of `enter_file_system`, on the same
        // thread (the guard is not Send).
        unsafe { wdk_sys::ntddk::KeLeaveCriticalRegion() };
    }
}

/// FsRtlSetupAdvancedHeader (a macro in the WDK) on the header of a new FCB block: flags,
/// version V2, the filter-context list, the FAST_MUTEX, the push lock, no file-context support;
/// plus Resource (the FCB's main ERESOURCE; PagingIoResource stays null, as a read-only FSD
/// never takes paging I/O writes) and NodeByteSize.
///
/// NodeTypeCode of every rustfsd FCB (FSRTL_COMMON_FCB_HEADER's first field, which every file
/// system's FsContext starts with): checked before anything further into a block is read.
pub(super) const FCB_NODE_TYPE_CODE: i16 = 0x0E40;

/// # Safety
/// `fcb_header` points at the all-zero `FcbHeader` at the start of a pool block that never
/// moves and that nobody else sees yet; `resource` is an initialized ERESOURCE that outlives it.
pub(super) unsafe fn setup_advanced_header(
    fcb_header: *mut FcbHeader,
    resource: *mut ERESOURCE,
    node_byte_size: i16,
) {
    // SAFETY: as the caller promises; the fields are UnsafeCells written through raw pointers.
    unsafe {
        let header = (*fcb_header).header.get();
        let fast_mutex = (*fcb_header).fast_mutex.get();
        initialize_fast_mutex(fast_mutex);
        (*header).node_type_code = FCB_NODE_TYPE_CODE;
        (*header).node_byte_size = node_byte_size;
        (*header).flags |= FSRTL_FLAG_ADVANCED_HEADER as u8;
        (*header).flags2 |= FSRTL_FLAG2_SUPPORTS_FILTER_CONTEXTS as u8;
        (*header).reserved_and_version =
            ((*header).reserved_and_version & 0x0f) | (FSRTL_FCB_HEADER_V2 << 4);
        (*header).resource = resource;
        (*header).paging_io_resource = ptr::null_mut();
        let list = &raw mut (*header).filter_contexts;
        (*list).Flink = list;
        (*list).Blink = list;
        (*header).fast_mutex = fast_mutex;
        // ExInitializePushLock (an inline): an unowned push lock is zero.
        (*header).push_lock = 0;
        (*header).file_context_support_pointer = ptr::null_mut();
    }
}

/// FsRtlTeardownPerStreamContexts: frees every per-stream context filters attached to the FCB.
/// Does nothing for a header never set up.
///
/// # Safety
/// `fcb_header` points at the live `FcbHeader` of an FCB block whose last reference is going:
/// no FILE_OBJECT points at it any more, and its memory is freed right after.
pub(super) unsafe fn teardown_per_stream_contexts(fcb_header: *mut FcbHeader) {
    // SAFETY: as the caller promises. FsRtl walks the filter-context list, which exists only
    // once set up: checked through Flags2 first.
    unsafe {
        let header = (*fcb_header).header.get();
        if (*header).flags2 & FSRTL_FLAG2_SUPPORTS_FILTER_CONTEXTS as u8 == 0 {
            return;
        }
        wdk_sys::ntddk::FsRtlTeardownPerStreamContexts(header as PFSRTL_ADVANCED_FCB_HEADER);
    }
}

/// FsRtlInitializeOplock on the header's Oplock field (FSRTL_FCB_HEADER_V2 and later keep the
/// FCB's OPLOCK there, as FastFAT does on Windows 8+).
///
/// # Safety
/// `fcb_header` points at the set-up `FcbHeader` of a new FCB block that nobody else sees yet.
pub(super) unsafe fn initialize_oplock(fcb_header: *mut FcbHeader) {
    // SAFETY: as the caller promises; the Oplock field is a PVOID FsRtl owns from now on.
    unsafe {
        let header = (*fcb_header).header.get();
        wdk_sys::ntddk::FsRtlInitializeOplock(&raw mut (*header).oplock);
    }
}

/// FsRtlUninitializeOplock: completes any oplock IRPs still waiting and frees the oplock.
///
/// # Safety
/// `fcb_header` points at the live `FcbHeader` of an FCB block whose last reference is going,
/// initialized by `initialize_oplock`.
pub(super) unsafe fn uninitialize_oplock(fcb_header: *mut FcbHeader) {
    // SAFETY: as the caller promises.
    unsafe {
        let header = (*fcb_header).header.get();
        wdk_sys::ntddk::FsRtlUninitializeOplock(&raw mut (*header).oplock);
    }
}

/// A FILE_LOCK from FsRtlAllocateFileLock (no completion or unlock routine), freed
/// (FsRtlFreeFileLock) on drop.
pub(super) struct FileLock {
    raw: NonNull<FILE_LOCK>,
}

impl FileLock {
    /// STATUS_INSUFFICIENT_RESOURCES if FsRtl cannot allocate it.
    pub(super) fn try_new() -> Result<FileLock, NtStatus> {
        // SAFETY: FsRtlAllocateFileLock with no routines, at IRQL <= APC_LEVEL; a null result
        // is handled.
        let raw = unsafe { wdk_sys::ntddk::FsRtlAllocateFileLock(None, None) };
        NonNull::new(raw)
            .map(|raw| FileLock { raw })
            .ok_or(NtStatus::INSUFFICIENT_RESOURCES)
    }

    /// FsRtlFastUnlockAll: releases every byte-range lock `process` holds through
    /// `file_object`.
    ///
    /// # Safety
    /// `file_object` is a live FILE_OBJECT of the FCB owning this lock; `process` is the
    /// requestor of the IRP being dispatched for it (or null).
    pub(super) unsafe fn unlock_all(
        &self,
        file_object: PFILE_OBJECT,
        process: PEPROCESS,
    ) -> NtStatus {
        // SAFETY: as the caller promises; the lock is live while `self` is.
        NtStatus(unsafe {
            wdk_sys::ntddk::FsRtlFastUnlockAll(
                self.raw.as_ptr(),
                file_object,
                process,
                ptr::null_mut(),
            )
        })
    }
}

impl FileLock {
    /// FsRtlProcessFileLock with no context: takes or releases the lock the IRP_MJ_LOCK_CONTROL
    /// describes and completes (or, for a waiting lock, pends) the IRP.
    ///
    /// # Safety
    /// `irp` is an IRP_MJ_LOCK_CONTROL being dispatched for a FILE_OBJECT of the FCB owning
    /// this lock, at IRQL <= APC_LEVEL; FsRtl owns it from here (the caller must not touch it).
    pub(super) unsafe fn process(&self, irp: PIRP) -> NtStatus {
        // SAFETY: as the caller promises; the lock is live while `self` is.
        NtStatus(unsafe {
            wdk_sys::ntddk::FsRtlProcessFileLock(self.raw.as_ptr(), irp, ptr::null_mut())
        })
    }

    /// FsRtlAreThereCurrentOrInProgressFileLocks: a byte-range lock is held or being taken.
    pub(super) fn any_or_in_progress(&self) -> bool {
        // SAFETY: the lock is live while `self` is.
        unsafe { wdk_sys::ntddk::FsRtlAreThereCurrentOrInProgressFileLocks(self.raw.as_ptr()) != 0 }
    }

    /// FsRtlCheckLockForReadAccess.
    ///
    /// # Safety
    /// `irp` is an IRP_MJ_READ being dispatched for a FILE_OBJECT of the FCB owning this lock.
    pub(super) unsafe fn check_for_read(&self, irp: PIRP) -> bool {
        // SAFETY: as the caller promises; the lock is live while `self` is.
        unsafe { wdk_sys::ntddk::FsRtlCheckLockForReadAccess(self.raw.as_ptr(), irp) != 0 }
    }
}

impl FileLock {
    /// FsRtlAreThereCurrentFileLocks (a macro: FILE_LOCK.FastIoIsQuestionable, which FsRtl
    /// keeps set while any lock is held).
    pub(super) fn any(&self) -> bool {
        // SAFETY: the lock is live while `self` is; FsRtl updates the byte under its own
        // synchronization, and a racy read is what the macro does too.
        unsafe {
            core::ptr::read_volatile(&raw const (*self.raw.as_ptr()).FastIoIsQuestionable) != 0
        }
    }

    /// FsRtlFastCheckLockForRead.
    ///
    /// # Safety
    /// `file_object` is a live FILE_OBJECT of the FCB owning this lock; `process` a live
    /// process.
    pub(super) unsafe fn fast_check_for_read(
        &self,
        file_object: PFILE_OBJECT,
        offset: u64,
        length: u32,
        key: u32,
        process: PEPROCESS,
    ) -> bool {
        let mut offset = large(offset);
        let mut length = large(u64::from(length));
        // SAFETY: as the caller promises; the lock is live while `self` is.
        unsafe {
            wdk_sys::ntddk::FsRtlFastCheckLockForRead(
                self.raw.as_ptr(),
                &mut offset,
                &mut length,
                key,
                file_object,
                process.cast(),
            ) != 0
        }
    }

    /// FsRtlFastLock (FsRtlPrivateLock with no IRP): the IO_STATUS_BLOCK's status, or None
    /// (FALSE) for a waiting request FsRtl cannot pend without an IRP.
    ///
    /// # Safety
    /// As `fast_check_for_read`.
    pub(super) unsafe fn fast_lock(
        &self,
        file_object: PFILE_OBJECT,
        request: FastLock,
        process: PEPROCESS,
    ) -> Option<NtStatus> {
        let mut offset = large(request.offset);
        let mut length = large(request.length);
        let mut io_status = wdk_sys::IO_STATUS_BLOCK::default();
        // SAFETY: as the caller promises; the lock is live while `self` is.
        let done = unsafe {
            wdk_sys::ntddk::FsRtlPrivateLock(
                self.raw.as_ptr(),
                file_object,
                &mut offset,
                &mut length,
                process,
                request.key,
                wdk_sys::BOOLEAN::from(request.fail_immediately),
                wdk_sys::BOOLEAN::from(request.exclusive),
                &mut io_status,
                ptr::null_mut(),
                ptr::null_mut(),
                0,
            ) != 0
        };
        // SAFETY: FsRtl filled the status when it answered TRUE.
        done.then(|| NtStatus(unsafe { io_status.__bindgen_anon_1.Status }))
    }

    /// FsRtlFastUnlockSingle.
    ///
    /// # Safety
    /// As `fast_check_for_read`.
    pub(super) unsafe fn fast_unlock_single(
        &self,
        file_object: PFILE_OBJECT,
        (offset, length): (u64, u64),
        process: PEPROCESS,
        key: u32,
    ) -> NtStatus {
        let mut offset = large(offset);
        let mut length = large(length);
        // SAFETY: as the caller promises; the lock is live while `self` is.
        NtStatus(unsafe {
            wdk_sys::ntddk::FsRtlFastUnlockSingle(
                self.raw.as_ptr(),
                file_object,
                &mut offset,
                &mut length,
                process,
                key,
                ptr::null_mut(),
                0,
            )
        })
    }

    /// FsRtlFastUnlockAllByKey.
    ///
    /// # Safety
    /// As `fast_check_for_read`.
    pub(super) unsafe fn fast_unlock_all_by_key(
        &self,
        file_object: PFILE_OBJECT,
        process: PEPROCESS,
        key: u32,
    ) -> NtStatus {
        // SAFETY: as the caller promises; the lock is live while `self` is.
        NtStatus(unsafe {
            wdk_sys::ntddk::FsRtlFastUnlockAllByKey(
                self.raw.as_ptr(),
                file_object,
                process,
                key,
                ptr::null_mut(),
            )
        })
    }
}

fn large(value: u64) -> wdk_sys::LARGE_INTEGER {
    wdk_sys::LARGE_INTEGER {
        QuadPart: i64::try_from(value).unwrap_or(i64::MAX),
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: the lock came from FsRtlAllocateFileLock and is freed once, here.
        unsafe { wdk_sys::ntddk::FsRtlFreeFileLock(self.raw.as_ptr()) }
    }
}
