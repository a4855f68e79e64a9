//! `FcbArc<T>`: the FCB block (advanced header, SECTION_OBJECT_POINTERS, the file system's
//! data), counted, set up at construction and torn down by its last reference.
//!
//! In `nt` this is one `#[repr(C)]` pool block with the Windows 10 header first. Here it is a
//! pool entry of kind `ObjectKind::Fcb` whose `advanced_header` is set from the start (so the
//! filter observer can attach per-stream contexts to it) and whose value is the block below. The
//! FILE_OBJECT's FsContext names the entry by generation, so a stale FsContext is a finding, never
//! a read of freed memory.
//!
//! The `nt` block also owns an OPLOCK (FsRtlInitializeOplock / FsRtlUninitializeOplock) and a
//! FILE_LOCK (FsRtlAllocateFileLock / FsRtlFreeFileLock). Here the OPLOCK is `oplock::Oplock`
//! and the FILE_LOCK `file_lock::FileLock`, both kept in the block and freed with it
//! (FsRtlFreeFileLock releases whatever locks remain).

use std::any::Any;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::fast_io::Process;
use super::file_lock::{FileLock, LockOwner};
use super::file_object::FileObject;
use super::fsrtl::teardown_in;
use super::harness::io::dereference;
use super::irp::Irp;
use super::oplock::Oplock;
use super::pool::{DETACHED, PoolTag, drop_strong, free_entry, register_kind};
use super::resource::Resource;
use super::section::HeaderView;
use super::slab::ObjId;
use super::state::{current, with_state};
use super::verifier::ObjectKind;
use crate::kernel::request::{
    IRP_MN_LOCK, IRP_MN_UNLOCK_ALL, IRP_MN_UNLOCK_ALL_BY_KEY, IRP_MN_UNLOCK_SINGLE, IrpParameters,
    SL_EXCLUSIVE_LOCK, SL_FAIL_IMMEDIATELY,
};
use crate::kernel::{FastIoPossible, FastLock, FileSizes, IoStatus, NtStatus};

/// What the header holds that the FSD writes, the FCB's main ERESOURCE, and the data.
struct FcbBlock<T> {
    allocation_size: AtomicU64,
    file_size: AtomicU64,
    valid_data_length: AtomicU64,
    fast_io_possible: AtomicU8,
    resource: Resource,
    file_lock: std::sync::Mutex<FileLock>,
    oplock: Oplock,
    data: T,
}

/// A counted reference to an FCB. Clone takes a count; the last drop runs
/// FsRtlTeardownPerStreamContexts and frees the block. A FILE_OBJECT holds one through
/// `FileObject::attach_fcb`.
pub struct FcbArc<T: Send + Sync + 'static> {
    id: ObjId,
    block: Arc<FcbBlock<T>>,
    /// False once the count was handed to a FILE_OBJECT (`into_id`): dropping then only lets
    /// go of the host memory handle, not of the modelled count.
    counted: bool,
}

impl<T: Send + Sync + 'static> FcbArc<T> {
    /// Allocates the FCB, initializes its ERESOURCE and sets up its advanced header.
    pub fn try_new(tag: PoolTag, value: T) -> Result<FcbArc<T>, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::pool::allocate()?;
        super::preempt::point();
        let resource = Resource::try_new()?;
        let block = Arc::new(FcbBlock {
            allocation_size: AtomicU64::new(0),
            file_size: AtomicU64::new(0),
            valid_data_length: AtomicU64::new(0),
            fast_io_possible: AtomicU8::new(0),
            resource,
            file_lock: std::sync::Mutex::new(FileLock::default()),
            oplock: Oplock::new(),
            data: value,
        });
        let shared: Arc<dyn Any + Send + Sync> = block.clone();
        let id = register_kind(tag, core::mem::size_of::<FcbBlock<T>>(), Some(shared), true);
        // What FsRtl and Mm read of the header without knowing `T` (section.rs).
        let header: Arc<dyn HeaderView> = block.clone();
        with_state(|state| state.sections.headers.insert(id, header));
        Ok(FcbArc {
            id,
            block,
            counted: true,
        })
    }

    /// The header's AllocationSize, FileSize and ValidDataLength.
    pub fn file_sizes(&self) -> FileSizes {
        self.block.sizes()
    }

    /// Sets AllocationSize, FileSize and ValidDataLength (values above `i64::MAX` are stored
    /// as `i64::MAX`, as in the LARGE_INTEGERs of `nt`).
    pub fn set_file_sizes(&self, sizes: FileSizes) {
        let clamp = |value: u64| value.min(i64::MAX as u64);
        let block = &self.block;
        block
            .allocation_size
            .store(clamp(sizes.allocation_size), Ordering::Release);
        block
            .file_size
            .store(clamp(sizes.file_size), Ordering::Release);
        block
            .valid_data_length
            .store(clamp(sizes.valid_data_length), Ordering::Release);
    }

    /// The header's IsFastIoPossible.
    pub fn fast_io_possible(&self) -> FastIoPossible {
        FastIoPossible::from_raw(self.block.fast_io_possible.load(Ordering::Acquire))
    }

    /// Sets the header's IsFastIoPossible.
    pub fn set_fast_io_possible(&self, value: FastIoPossible) {
        self.block
            .fast_io_possible
            .store(value.as_raw(), Ordering::Release);
    }

    /// The FCB's main ERESOURCE (header.Resource). PagingIoResource is null.
    pub fn resource(&self) -> &Resource {
        &self.block.resource
    }

    /// True iff this is the only counted reference (FsContext's included).
    pub fn is_unique(&self) -> bool {
        if self.id == DETACHED {
            return Arc::strong_count(&self.block) == 1;
        }
        let id = self.id;
        with_state(|state| state.pool.get(id).is_some_and(|entry| entry.strong == 1))
            .unwrap_or(false)
    }

    /// The header's OPLOCK (FsRtlInitializeOplock in `try_new`, FsRtlUninitializeOplock when
    /// the block goes).
    pub fn oplock(&self) -> &Oplock {
        &self.block.oplock
    }

    /// FsRtlFastUnlockAll on the FCB's file lock for the IRP's FILE_OBJECT and requestor
    /// process: their byte-range locks go. Counted (`Session::unlock_all_count`) and traced.
    pub fn unlock_all(&self, irp: &Irp) {
        super::preempt::kernel_call();
        let request = lock_request(irp);
        let released = match request {
            Some((_, owner, _)) => self
                .with_file_lock(|locks| locks.unlock_all(owner.file_object, owner.process, None)),
            None => 0,
        };
        with_state(|state| {
            state.require_irql("FsRtlFastUnlockAll", 1);
            state.unlock_alls += 1;
            let fo = request.map_or(String::from("-"), |(_, owner, _)| {
                format!("{}", owner.file_object)
            });
            state.push_trace(format!("FsRtlFastUnlockAll FO {fo}: {released} released"));
        });
    }

    /// FsRtlProcessFileLock(FileLock, Irp, NULL) on an IRP_MJ_LOCK_CONTROL: takes or releases
    /// the byte-range lock the IRP describes and completes the IRP (Information 0) with the
    /// outcome; `file_lock.rs` has the rules. An unknown minor is INVALID_DEVICE_REQUEST.
    pub fn process_file_lock(&self, mut irp: Irp) -> NtStatus {
        super::preempt::kernel_call();
        let status = match lock_request(&irp) {
            Some((minor, owner, parameters)) => self.apply_lock(minor, owner, parameters),
            None => NtStatus::INVALID_PARAMETER,
        };
        with_state(|state| {
            state.require_irql("FsRtlProcessFileLock", 1);
            state.push_trace(format!("FsRtlProcessFileLock -> {status:?}"));
        });
        irp.set_information(0);
        irp.complete(status)
    }

    fn apply_lock(&self, minor: u8, owner: LockOwner, parameters: (u64, u64, u8)) -> NtStatus {
        let (offset, length, flags) = parameters;
        match minor {
            IRP_MN_LOCK => {
                let exclusive = flags & SL_EXCLUSIVE_LOCK != 0;
                let fail_immediately = flags & SL_FAIL_IMMEDIATELY != 0;
                let (status, not_pended) = self.with_file_lock(|locks| {
                    locks.lock(owner, offset, length, exclusive, fail_immediately)
                });
                if not_pended {
                    with_state(|state| {
                        state.push_trace(String::from(
                            "FsRtlProcessFileLock: a waiting lock would pend (not modelled): LOCK_NOT_GRANTED",
                        ))
                    });
                }
                status
            }
            IRP_MN_UNLOCK_SINGLE => {
                self.with_file_lock(|locks| locks.unlock_single(owner, offset, length))
            }
            IRP_MN_UNLOCK_ALL | IRP_MN_UNLOCK_ALL_BY_KEY => {
                let key = (minor == IRP_MN_UNLOCK_ALL_BY_KEY).then_some(owner.key);
                self.with_file_lock(|locks| {
                    locks.unlock_all(owner.file_object, owner.process, key)
                });
                NtStatus::SUCCESS
            }
            _ => NtStatus::INVALID_DEVICE_REQUEST,
        }
    }

    /// FsRtlAreThereCurrentOrInProgressFileLocks: the FILE_LOCK holds a byte-range lock.
    pub fn has_byte_range_locks(&self) -> bool {
        super::preempt::kernel_call();
        with_state(|state| state.require_irql("FsRtlAreThereCurrentOrInProgressFileLocks", 1));
        self.with_file_lock(|locks| !locks.is_empty())
    }

    /// FsRtlCheckLockForReadAccess: true if the IRP_MJ_READ's range may be read by its
    /// FILE_OBJECT, requestor process and key (0: NtReadFile from Win32 passes none).
    pub fn check_lock_for_read(&self, irp: &Irp) -> bool {
        super::preempt::kernel_call();
        let id = irp.id;
        let read = with_state(|state| {
            state.require_irql("FsRtlCheckLockForReadAccess", 1);
            let entry = state.irps.get(id)?;
            let IrpParameters::Read { offset, length } = entry.parameters else {
                return None;
            };
            let owner = LockOwner {
                file_object: entry.file_object?,
                process: entry.requestor,
                key: 0,
            };
            Some((owner, offset, u64::from(length)))
        })
        .flatten();
        let Some((owner, offset, length)) = read else {
            return true;
        };
        self.with_file_lock(|locks| locks.can_read(owner, offset, length))
    }

    /// FsRtlAreThereCurrentFileLocks: true while the FILE_LOCK holds any byte-range lock.
    pub fn has_file_locks(&self) -> bool {
        self.with_file_lock(|locks| !locks.is_empty())
    }

    /// FsRtlFastCheckLockForRead(file lock, offset, length, key, file_object, process): may
    /// that owner read the range (FastIoCheckIfPossible's lock check)?
    pub fn fast_check_lock_for_read(
        &self,
        file_object: &FileObject,
        offset: u64,
        length: u32,
        key: u32,
        process: Process,
    ) -> bool {
        super::preempt::kernel_call();
        with_state(|state| state.require_irql("FsRtlFastCheckLockForRead", 1));
        let owner = owner_of(file_object, process, key);
        self.with_file_lock(|locks| locks.can_read(owner, offset, u64::from(length)))
    }

    /// FsRtlFastLock(file lock, file_object, offset, length, process, key, FailImmediately,
    /// ExclusiveLock, IoStatus, NULL, FALSE): TRUE with the lock's status, or FALSE
    /// (`None`) for a waiting request that conflicts: without an IRP FsRtl cannot pend it, so
    /// the I/O manager sends IRP_MJ_LOCK_CONTROL instead (ReactOS `fsrtl/filelock.c`,
    /// FsRtlPrivateLock).
    pub fn fast_lock(
        &self,
        file_object: &FileObject,
        lock: FastLock,
        process: Process,
    ) -> Option<IoStatus> {
        super::preempt::kernel_call();
        with_state(|state| state.require_irql("FsRtlFastLock", 1));
        let owner = owner_of(file_object, process, lock.key);
        let (status, would_pend) = self.with_file_lock(|locks| {
            locks.lock(
                owner,
                lock.offset,
                lock.length,
                lock.exclusive,
                lock.fail_immediately,
            )
        });
        with_state(|state| state.push_trace(format!("FsRtlFastLock -> {status:?}")));
        (!would_pend).then_some(IoStatus::new(status, 0))
    }

    /// FsRtlFastUnlockSingle(file lock, file_object, offset, length, process, key, NULL,
    /// FALSE).
    pub fn fast_unlock_single(
        &self,
        file_object: &FileObject,
        offset: u64,
        length: u64,
        process: Process,
        key: u32,
    ) -> NtStatus {
        super::preempt::kernel_call();
        with_state(|state| state.require_irql("FsRtlFastUnlockSingle", 1));
        let owner = owner_of(file_object, process, key);
        self.with_file_lock(|locks| locks.unlock_single(owner, offset, length))
    }

    /// FsRtlFastUnlockAll (`key` None) or FsRtlFastUnlockAllByKey (file lock, file_object,
    /// process[, key], NULL): the owner's locks go.
    pub fn fast_unlock_all(
        &self,
        file_object: &FileObject,
        process: Process,
        key: Option<u32>,
    ) -> NtStatus {
        super::preempt::kernel_call();
        let released =
            self.with_file_lock(|locks| locks.unlock_all(file_object.id, process.pid, key));
        with_state(|state| {
            state.require_irql("FsRtlFastUnlockAll", 1);
            state.unlock_alls += 1;
            state.push_trace(format!(
                "FsRtlFastUnlockAll FO {} key {key:?}: {released} released",
                file_object.id
            ));
        });
        NtStatus::SUCCESS
    }

    fn with_file_lock<R>(&self, f: impl FnOnce(&mut FileLock) -> R) -> R {
        let mut locks = self
            .block
            .file_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut locks)
    }

    /// The model's id of the block (what FsContext names).
    pub(crate) fn id(&self) -> ObjId {
        self.id
    }

    /// Gives up this count to whoever stores the id (FsContext).
    pub(crate) fn into_id(mut self) -> ObjId {
        self.counted = false;
        self.id
    }

    /// The FCB named `id`, if it holds a `T`: takes over the count the id stands for, or with
    /// `add_count` takes a new one. A stale id is a use-after-free finding.
    pub(crate) fn lookup(id: ObjId, add_count: bool) -> Option<FcbArc<T>> {
        with_state(|state| {
            let Some(entry) = state.pool.get_mut(id) else {
                state.report_stale_pool(id, ObjectKind::Fcb);
                return None;
            };
            let block = entry.value.clone()?.downcast::<FcbBlock<T>>().ok()?;
            if add_count {
                entry.strong += 1;
            }
            Some(FcbArc {
                id,
                block,
                counted: true,
            })
        })
        .flatten()
    }

    /// Drops this count; if it was the last, frees the block without
    /// FsRtlTeardownPerStreamContexts (the C bug; see `harness::testing`).
    pub(crate) fn release_without_teardown(mut self) {
        if self.counted {
            release(self.id, false);
        }
        self.counted = false;
    }
}

/// The owner of a fast I/O lock call: the FILE_OBJECT, the process the I/O manager passed, the
/// key.
fn owner_of(file_object: &FileObject, process: Process, key: u32) -> LockOwner {
    LockOwner {
        file_object: file_object.id,
        process: process.pid,
        key,
    }
}

/// The lock-control minor, the owner (FILE_OBJECT, requestor process, key) and (offset, length,
/// SL_* flags) of an IRP; None without a FILE_OBJECT.
fn lock_request(irp: &Irp) -> Option<(u8, LockOwner, (u64, u64, u8))> {
    let id = irp.id;
    with_state(|state| {
        let entry = state.irps.get(id)?;
        let (offset, length, key, flags) = match entry.parameters {
            IrpParameters::LockControl {
                offset,
                length,
                key,
                flags,
            } => (offset, length, key, flags),
            _ => (0, 0, 0, 0),
        };
        let owner = LockOwner {
            file_object: entry.file_object?,
            process: entry.requestor,
            key,
        };
        Some((entry.minor, owner, (offset, length, flags)))
    })
    .flatten()
}

/// Drops one modelled count of the FCB `id`; the last one tears down (if asked) and frees.
///
/// FsRtlTeardownPerStreamContexts runs the filters' free callbacks, and a filter's context
/// cleanup may drop the references it kept on FILE_OBJECTs (ObDereferenceObject). Those drops
/// are done here, after the state lock is let go and before the block is freed, so that a
/// CLOSE they send is nested inside whatever the driver holds while it drops its last `FcbArc`
/// (its table lock, say), as on Windows.
fn release(id: ObjId, teardown: bool) {
    if id == DETACHED {
        return;
    }
    let held = with_state(|state| {
        if !drop_strong(state, id, ObjectKind::Fcb) {
            return None;
        }
        if !teardown {
            state.sections.headers.remove(&id);
            free_entry(state, id);
            return None;
        }
        Some(teardown_in(state, id))
    })
    .flatten();
    let Some(held) = held else {
        return;
    };
    if !held.is_empty()
        && let Some(kernel) = current()
    {
        for file_object in held {
            dereference(&kernel, file_object);
        }
    }
    with_state(|state| {
        state.sections.headers.remove(&id);
        free_entry(state, id);
    });
}

impl<T: Send + Sync + 'static> HeaderView for FcbBlock<T> {
    fn sizes(&self) -> FileSizes {
        FileSizes {
            allocation_size: self.allocation_size.load(Ordering::Acquire),
            file_size: self.file_size.load(Ordering::Acquire),
            valid_data_length: self.valid_data_length.load(Ordering::Acquire),
        }
    }

    fn resource(&self) -> Option<ObjId> {
        self.resource.id()
    }

    fn header_resource(&self) -> &Resource {
        &self.resource
    }

    fn fast_io_possible(&self) -> FastIoPossible {
        FastIoPossible::from_raw(self.fast_io_possible.load(Ordering::Acquire))
    }
}

impl<T: Send + Sync + 'static> Clone for FcbArc<T> {
    fn clone(&self) -> Self {
        let id = self.id;
        with_state(|state| {
            if let Some(entry) = state.pool.get_mut(id) {
                entry.strong += 1;
            }
        });
        FcbArc {
            id,
            block: self.block.clone(),
            counted: true,
        }
    }
}

impl<T: Send + Sync + 'static> core::ops::Deref for FcbArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.block.data
    }
}

impl<T: Send + Sync + 'static> Drop for FcbArc<T> {
    fn drop(&mut self) {
        // The block's host memory (and its Resource) goes with the last `Arc`, after this body
        // and outside the state lock.
        if self.counted {
            release(self.id, true);
        }
    }
}
