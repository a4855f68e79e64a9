//! `FcbArc<T>`: the FCB as kernel-visible memory. One counted nonpaged pool block laid out
//! `#[repr(C)] { header: FcbHeader, section_object_pointers: SECTION_OBJECT_POINTERS,
//! control, data: T }`:
//! - `header` (offset 0) is the Windows 10 FSRTL_ADVANCED_FCB_HEADER and its FAST_MUTEX, so
//!   FsContext (the block's address) reads as the advanced header, as FltMgr and FsRtl expect;
//! - `section_object_pointers` (0xa0) is what FileObject->SectionObjectPointer points at;
//! - `control` (0xc0) is ours: the type, the reference count, the pool tag, the FCB's main
//!   ERESOURCE (header.Resource) and its FILE_LOCK (FsRtlAllocateFileLock);
//! - `data` is the file system's FCB.
//!
//! `try_new` sets the header up (FsRtlSetupAdvancedHeader, FsRtlInitializeOplock on the
//! header's Oplock) before anyone can see the block; the last reference's drop runs
//! FsRtlTeardownPerStreamContexts, drops `data`, FsRtlUninitializeOplock, drops the ERESOURCE
//! and the FILE_LOCK (FsRtlFreeFileLock), and frees the block. Neither step can be forgotten or done twice. Layout: layout.rs.

use core::any::TypeId;
use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ops::Deref;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering, fence};

use wdk_sys::SECTION_OBJECT_POINTERS;

use super::fast_io::Process;
use super::file_object::FileObject;
use super::fsrtl::{
    AdvancedFcbHeader, FCB_NODE_TYPE_CODE, FcbHeader, FileLock, initialize_oplock,
    setup_advanced_header, teardown_per_stream_contexts, uninitialize_oplock,
};
use super::irp::Irp;
use super::oplock::Oplock;
use super::pool::{self, PoolTag};
use super::resource::Resource;
use crate::kernel::{FastIoPossible, FastLock, FileSizes, IoStatus, NtStatus};

/// Our bookkeeping, after the parts the kernel reads. Its offset is the same for every `T`.
#[repr(C, align(16))]
pub(super) struct FcbControl {
    type_id: TypeId,
    count: AtomicUsize,
    tag: PoolTag,
    resource: Resource,
    /// The FCB's byte-range locks (FsRtlAllocateFileLock); freed with the control block.
    file_lock: FileLock,
}

/// The whole pool block of an FCB.
#[repr(C)]
pub(super) struct FcbBlock<T> {
    pub(super) header: FcbHeader,
    pub(super) section_object_pointers: UnsafeCell<SECTION_OBJECT_POINTERS>,
    pub(super) control: FcbControl,
    pub(super) data: T,
}

/// Offset of `control` in every `FcbBlock<T>` (asserted per `T`).
pub(super) const CONTROL_OFFSET: usize = offset_of!(FcbBlock<()>, control);

/// A counted reference to an FCB (the advanced-header block above). Clone takes a count; the
/// last drop tears the FCB down. A FILE_OBJECT holds one through `FileObject::attach_fcb`.
pub struct FcbArc<T: Send + Sync + 'static> {
    block: NonNull<FcbBlock<T>>,
    _owns: PhantomData<T>,
}

// SAFETY: like Arc<T>: the data is shared between threads, so T must be Send and Sync; the
// header is shared with the kernel, which synchronizes its own accesses (FAST_MUTEX, push lock),
// and our header writes are atomic.
unsafe impl<T: Send + Sync + 'static> Send for FcbArc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync + 'static> Sync for FcbArc<T> {}

impl<T: Send + Sync + 'static> FcbArc<T> {
    /// Allocates the FCB (nonpaged, tagged `tag`), initializes its ERESOURCE and sets up its
    /// advanced header. STATUS_INSUFFICIENT_RESOURCES if pool is exhausted.
    pub fn try_new(tag: PoolTag, value: T) -> Result<FcbArc<T>, NtStatus> {
        const { assert!(align_of::<T>() <= 16, "pool blocks are 16-byte aligned") };
        const { assert!(offset_of!(FcbBlock<T>, control) == CONTROL_OFFSET) };
        const { assert!(offset_of!(FcbBlock<T>, header) == 0) };
        let file_lock = FileLock::try_new()?;
        let resource = Resource::try_new()?;
        let resource_ptr = resource.raw_ptr();
        let block = pool::allocate(tag, size_of::<FcbBlock<T>>())?.cast::<FcbBlock<T>>();
        let node_byte_size = i16::try_from(size_of::<FcbBlock<T>>()).unwrap_or(i16::MAX);
        let control = FcbControl {
            type_id: TypeId::of::<T>(),
            count: AtomicUsize::new(1),
            tag,
            resource,
            file_lock,
        };
        // SAFETY: the block is fresh, zeroed, large enough and aligned for an FcbBlock<T>; an
        // all-zero FcbHeader (not yet set up) and SECTION_OBJECT_POINTERS (no section) are
        // valid, the other fields are written here. Nobody else sees the block yet, and it
        // never moves; the ERESOURCE lives in its own block, owned by `control`.
        unsafe {
            let raw = block.as_ptr();
            (&raw mut (*raw).control).write(control);
            (&raw mut (*raw).data).write(value);
            setup_advanced_header(&raw mut (*raw).header, resource_ptr, node_byte_size);
            initialize_oplock(&raw mut (*raw).header);
        }
        Ok(FcbArc {
            block,
            _owns: PhantomData,
        })
    }

    fn block(&self) -> &FcbBlock<T> {
        // SAFETY: the block is live while self holds a count.
        unsafe { self.block.as_ref() }
    }

    fn advanced(&self) -> *mut AdvancedFcbHeader {
        self.block().header.advanced()
    }

    /// The header's AllocationSize, FileSize and ValidDataLength.
    pub fn file_sizes(&self) -> FileSizes {
        let header = self.advanced();
        // SAFETY: the header is live and its LARGE_INTEGERs 8-byte aligned (block offset 0,
        // fields at 0x18/0x20/0x28, asserted in layout.rs); Rust touches them only atomically.
        let read = |field: *mut i64| unsafe { AtomicI64::from_ptr(field) }.load(Ordering::Acquire);
        // SAFETY: projections of a live header.
        let (allocation, file, valid) = unsafe {
            (
                read(&raw mut (*header).allocation_size),
                read(&raw mut (*header).file_size),
                read(&raw mut (*header).valid_data_length),
            )
        };
        let size = |value: i64| u64::try_from(value).unwrap_or(0);
        FileSizes {
            allocation_size: size(allocation),
            file_size: size(file),
            valid_data_length: size(valid),
        }
    }

    /// Sets AllocationSize, FileSize and ValidDataLength (Cc and FsRtl read them). Write them
    /// before the FCB is attached, or while holding its resource exclusively.
    pub fn set_file_sizes(&self, sizes: FileSizes) {
        let header = self.advanced();
        let size = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let write = |field: *mut i64, value: u64| {
            // SAFETY: as in file_sizes.
            unsafe { AtomicI64::from_ptr(field) }.store(size(value), Ordering::Release)
        };
        // SAFETY: projections of a live header.
        unsafe {
            write(&raw mut (*header).allocation_size, sizes.allocation_size);
            write(&raw mut (*header).file_size, sizes.file_size);
            write(
                &raw mut (*header).valid_data_length,
                sizes.valid_data_length,
            );
        }
    }

    /// The header's IsFastIoPossible.
    pub fn fast_io_possible(&self) -> FastIoPossible {
        let header = self.advanced();
        // SAFETY: a byte of the live header, touched by Rust only atomically.
        let raw = unsafe { AtomicU8::from_ptr(&raw mut (*header).is_fast_io_possible) }
            .load(Ordering::Acquire);
        FastIoPossible::from_raw(raw)
    }

    /// Sets the header's IsFastIoPossible.
    pub fn set_fast_io_possible(&self, value: FastIoPossible) {
        let header = self.advanced();
        // SAFETY: as in fast_io_possible.
        unsafe { AtomicU8::from_ptr(&raw mut (*header).is_fast_io_possible) }
            .store(value.as_raw(), Ordering::Release);
    }

    /// The FCB's main ERESOURCE (header.Resource, which FsRtl's fast I/O and section
    /// synchronization acquire). PagingIoResource is null.
    pub fn resource(&self) -> &Resource {
        &self.block().control.resource
    }

    /// True iff this is the only counted reference (FsContext's included).
    pub fn is_unique(&self) -> bool {
        self.block().control.count.load(Ordering::Acquire) == 1
    }

    /// The header's OPLOCK (FsRtlInitializeOplock in try_new, FsRtlUninitializeOplock at the
    /// last reference).
    pub fn oplock(&self) -> &Oplock {
        let header = self.advanced();
        // SAFETY: the header is live while self holds a count; its Oplock field is a PVOID
        // that `Oplock` (repr(transparent) over UnsafeCell<PVOID>) only hands to FsRtl.
        unsafe { &*(&raw mut (*header).oplock).cast::<Oplock>() }
    }

    /// FsRtlAreThereCurrentOrInProgressFileLocks on the FCB's file lock.
    pub fn has_byte_range_locks(&self) -> bool {
        self.block().control.file_lock.any_or_in_progress()
    }

    /// FsRtlFastUnlockAll on the FCB's file lock for the IRP's FILE_OBJECT and requestor
    /// process (IoGetRequestorProcess).
    pub fn unlock_all(&self, irp: &Irp) {
        let Some(file_object) = irp.file_object() else {
            return;
        };
        // SAFETY: `irp` is being dispatched (borrowed token) and its FILE_OBJECT is live; the
        // file lock is live while the FCB is.
        unsafe {
            let process = wdk_sys::ntddk::IoGetRequestorProcess(irp.raw());
            let _ = self
                .block()
                .control
                .file_lock
                .unlock_all(file_object.raw(), process);
        }
    }

    /// FsRtlAreThereCurrentFileLocks on the FCB's file lock.
    pub fn has_file_locks(&self) -> bool {
        self.block().control.file_lock.any()
    }

    /// FsRtlFastCheckLockForRead(file lock, offset, length, key, file_object, process).
    pub fn fast_check_lock_for_read(
        &self,
        file_object: &FileObject,
        offset: u64,
        length: u32,
        key: u32,
        process: Process,
    ) -> bool {
        // SAFETY: the FILE_OBJECT is live (type invariant) and names this FCB in the fast I/O
        // call; the process came from the I/O manager or PsGetCurrentProcess.
        unsafe {
            self.block().control.file_lock.fast_check_for_read(
                file_object.raw(),
                offset,
                length,
                key,
                process.raw(),
            )
        }
    }

    /// FsRtlFastLock on the FCB's file lock: TRUE with its status, or None (FALSE).
    pub fn fast_lock(
        &self,
        file_object: &FileObject,
        lock: FastLock,
        process: Process,
    ) -> Option<IoStatus> {
        // SAFETY: as in fast_check_lock_for_read.
        let status = unsafe {
            self.block()
                .control
                .file_lock
                .fast_lock(file_object.raw(), lock, process.raw())
        };
        status.map(|status| IoStatus::new(status, 0))
    }

    /// FsRtlFastUnlockSingle on the FCB's file lock.
    pub fn fast_unlock_single(
        &self,
        file_object: &FileObject,
        offset: u64,
        length: u64,
        process: Process,
        key: u32,
    ) -> NtStatus {
        // SAFETY: as in fast_check_lock_for_read.
        unsafe {
            self.block().control.file_lock.fast_unlock_single(
                file_object.raw(),
                (offset, length),
                process.raw(),
                key,
            )
        }
    }

    /// FsRtlFastUnlockAll (`key` None) or FsRtlFastUnlockAllByKey on the FCB's file lock.
    pub fn fast_unlock_all(
        &self,
        file_object: &FileObject,
        process: Process,
        key: Option<u32>,
    ) -> NtStatus {
        let lock = &self.block().control.file_lock;
        // SAFETY: as in fast_check_lock_for_read.
        unsafe {
            match key {
                None => lock.unlock_all(file_object.raw(), process.raw()),
                Some(key) => lock.fast_unlock_all_by_key(file_object.raw(), process.raw(), key),
            }
        }
    }

    /// FsRtlProcessFileLock on the FCB's file lock: FsRtl takes the IRP over and completes it
    /// (or pends a waiting lock); its status is returned for the dispatch routine.
    pub fn process_file_lock(&self, irp: Irp) -> NtStatus {
        let raw = irp.into_raw();
        // SAFETY: `raw` is the IRP_MJ_LOCK_CONTROL being dispatched (the token was just given
        // up, so nothing of ours touches it again); the file lock is live while the FCB is.
        unsafe { self.block().control.file_lock.process(raw) }
    }

    /// FsRtlCheckLockForReadAccess on the FCB's file lock for an IRP_MJ_READ.
    pub fn check_lock_for_read(&self, irp: &Irp) -> bool {
        // SAFETY: `irp` is being dispatched (borrowed token); the file lock is live while the
        // FCB is.
        unsafe { self.block().control.file_lock.check_for_read(irp.raw()) }
    }

    /// The block's address (the header), as FsContext holds it, giving up this count.
    pub(super) fn into_raw(self) -> NonNull<c_void> {
        let raw = self.block.cast::<c_void>();
        core::mem::forget(self);
        raw
    }

    /// The embedded SECTION_OBJECT_POINTERS, for FileObject->SectionObjectPointer.
    pub(super) fn section_object_pointers(&self) -> *mut SECTION_OBJECT_POINTERS {
        self.block().section_object_pointers.get()
    }

    /// The FCB at `raw` if it holds a `T`, taking over the count `raw` stands for.
    ///
    /// # Safety
    /// `raw` came from `into_raw` of some `FcbArc` (any `T`) and still holds its count; that
    /// count is taken over by the result (the caller stops using `raw`).
    pub(super) unsafe fn from_raw(raw: NonNull<c_void>) -> Option<FcbArc<T>> {
        // SAFETY: FsContext always points at an FSRTL_COMMON_FCB_HEADER (ours or, if a foreign
        // FILE_OBJECT ever reached us, another file system's), so its first four bytes are
        // readable whoever owns it. Only a block with our node type code and room for the
        // control is read further, as FastFAT checks NodeType before it decodes a context.
        let (node_type, node_size) = unsafe {
            let header = raw.as_ptr().cast::<i16>();
            (header.read(), header.add(1).read())
        };
        let needed = CONTROL_OFFSET + size_of::<FcbControl>();
        if node_type != FCB_NODE_TYPE_CODE || usize::try_from(node_size).ok()? < needed {
            return None;
        }
        // SAFETY: every FCB block has its control at CONTROL_OFFSET whatever its T (asserted in
        // try_new), and the block is live (the caller's count); type_id is written once.
        let type_id = unsafe {
            let control = raw
                .as_ptr()
                .cast::<u8>()
                .add(CONTROL_OFFSET)
                .cast::<FcbControl>();
            (*control).type_id
        };
        (type_id == TypeId::of::<T>()).then(|| FcbArc {
            block: raw.cast(),
            _owns: PhantomData,
        })
    }

    /// A new counted reference to the FCB at `raw`, which keeps its own count.
    ///
    /// # Safety
    /// As for `from_raw`, except that `raw` keeps its count (it stays valid for the call).
    pub(super) unsafe fn clone_raw(raw: NonNull<c_void>) -> Option<FcbArc<T>> {
        // SAFETY: as the caller promises.
        let borrowed = unsafe { FcbArc::<T>::from_raw(raw) }?;
        let counted = borrowed.clone();
        core::mem::forget(borrowed);
        Some(counted)
    }
}

impl<T: Send + Sync + 'static> Clone for FcbArc<T> {
    fn clone(&self) -> Self {
        self.block().control.count.fetch_add(1, Ordering::Relaxed);
        FcbArc {
            block: self.block,
            _owns: PhantomData,
        }
    }
}

impl<T: Send + Sync + 'static> Deref for FcbArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.block().data
    }
}

impl<T: Send + Sync + 'static> Drop for FcbArc<T> {
    fn drop(&mut self) {
        let control = &self.block().control;
        if control.count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let tag = control.tag;
        let block = self.block.as_ptr();
        // SAFETY: that was the last count: no FILE_OBJECT points at the FCB (each holds a
        // count) and nobody else can reach it. Per-stream contexts go first, while the header
        // is intact; then the data and the ERESOURCE are dropped once, and the block is freed
        // with the tag it was allocated with.
        unsafe {
            teardown_per_stream_contexts(&raw mut (*block).header);
            core::ptr::drop_in_place(&raw mut (*block).data);
            uninitialize_oplock(&raw mut (*block).header);
            core::ptr::drop_in_place(&raw mut (*block).control);
            pool::free(self.block.cast(), tag);
        }
    }
}
