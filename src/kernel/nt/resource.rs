//! ERESOURCE and FAST_MUTEX, each in its own nonpaged pool block (both are linked into kernel
//! lists or wait queues by address, so they never move).
//!
//! Guards release on drop. A resource guard also holds a critical region
//! (KeEnterCriticalRegion before the acquire, KeLeaveCriticalRegion after the release), so the
//! ERESOURCE rule "normal kernel APCs disabled while held" holds even if the caller forgot
//! FsRtlEnterFileSystem; the model still reports that omission. Guards are not Send: an
//! ERESOURCE or FAST_MUTEX is released by the thread that acquired it.

use core::marker::PhantomData;
use core::ptr::NonNull;

use wdk_sys::{_EVENT_TYPE, ERESOURCE, FAST_MUTEX, FM_LOCK_BIT};

use super::pool::{self, PoolTag};
use crate::kernel::NtStatus;

const RESOURCE_TAG: PoolTag = PoolTag(*b"RfEr");
const FAST_MUTEX_TAG: PoolTag = PoolTag(*b"RfFm");

/// An ERESOURCE (ExInitializeResourceLite / ExDeleteResourceLite) in its own pool block.
pub struct Resource {
    raw: NonNull<ERESOURCE>,
}

// SAFETY: an ERESOURCE is designed for use from any thread.
unsafe impl Send for Resource {}
// SAFETY: as above.
unsafe impl Sync for Resource {}

/// Held access to a `Resource`; released (ExReleaseResourceLite) on drop.
pub struct ResourceGuard<'a> {
    resource: NonNull<ERESOURCE>,
    _borrow: PhantomData<&'a Resource>,
    _same_thread: PhantomData<*const ()>,
}

type AcquireRoutine = unsafe extern "C" fn(*mut ERESOURCE, u8) -> u8;

impl Resource {
    /// ExInitializeResourceLite on a fresh pool block. STATUS_INSUFFICIENT_RESOURCES if pool
    /// is exhausted.
    pub fn try_new() -> Result<Resource, NtStatus> {
        let block = pool::allocate(RESOURCE_TAG, size_of::<ERESOURCE>())?;
        let resource = block.cast::<ERESOURCE>();
        // SAFETY: a zeroed nonpaged block of ERESOURCE size, 16-byte aligned, never moved.
        let status = unsafe { wdk_sys::ntddk::ExInitializeResourceLite(resource.as_ptr()) };
        if status < 0 {
            // SAFETY: the block is ours and was not initialized.
            unsafe { pool::free(block, RESOURCE_TAG) };
            return Err(NtStatus(status));
        }
        Ok(Resource { raw: resource })
    }

    /// The ERESOURCE, for an FCB header's Resource field. Valid while `self` lives.
    pub(super) fn raw_ptr(&self) -> *mut ERESOURCE {
        self.raw.as_ptr()
    }

    fn acquire(&self, routine: AcquireRoutine, wait: bool) -> Option<ResourceGuard<'_>> {
        let resource = self.raw;
        // SAFETY: the resource is initialized and alive while `self` is; the critical region
        // is entered before the acquire and left after the release (or the failed acquire).
        let acquired = unsafe {
            wdk_sys::ntddk::KeEnterCriticalRegion();
            let acquired = routine(resource.as_ptr(), u8::from(wait)) != 0;
            if !acquired {
                wdk_sys::ntddk::KeLeaveCriticalRegion();
            }
            acquired
        };
        acquired.then_some(ResourceGuard {
            resource,
            _borrow: PhantomData,
            _same_thread: PhantomData,
        })
    }

    /// ExAcquireResourceExclusiveLite. `None` when `wait` is false and it is not free.
    pub fn acquire_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(wdk_sys::ntddk::ExAcquireResourceExclusiveLite, wait)
    }

    /// ExAcquireResourceSharedLite.
    pub fn acquire_shared(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(wdk_sys::ntddk::ExAcquireResourceSharedLite, wait)
    }

    /// ExAcquireSharedStarveExclusive.
    pub fn acquire_shared_starve_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(wdk_sys::ntddk::ExAcquireSharedStarveExclusive, wait)
    }

    /// ExAcquireSharedWaitForExclusive.
    pub fn acquire_shared_wait_for_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(wdk_sys::ntddk::ExAcquireSharedWaitForExclusive, wait)
    }

    /// ExIsResourceAcquiredExclusiveLite.
    pub fn is_acquired_exclusive(&self) -> bool {
        // SAFETY: the resource is initialized and alive while `self` is.
        unsafe { wdk_sys::ntddk::ExIsResourceAcquiredExclusiveLite(self.raw.as_ptr()) != 0 }
    }

    /// ExReleaseResourceLite of a hold a guard left with `hand_to_cache_manager`, on the
    /// thread that took it (the cache manager calls its release callback on the thread that
    /// called the acquire callback).
    pub fn release_for_cache_manager(&self) {
        // SAFETY: the resource is initialized and alive while `self` is; the caller's thread
        // holds it (the callbacks' pairing, `src/cache/callbacks.rs`).
        unsafe { wdk_sys::ntddk::ExReleaseResourceLite(self.raw.as_ptr()) };
    }
}

impl ResourceGuard<'_> {
    /// Leaves the resource held for FsRtl to release (FsRtlReleaseFile releases Header.Resource
    /// after a PreAcquireForSectionSynchronization that said the file is locked). Only for a
    /// resource acquired inside FsRtl's own FsRtlEnterFileSystem, which keeps APCs off until
    /// that release: the critical region `acquire` entered is left here.
    pub fn hand_to_fsrtl(self) {
        // SAFETY: `acquire` entered this critical region; the release FsRtl does later needs
        // none of ours (its own region is still entered).
        unsafe { wdk_sys::ntddk::KeLeaveCriticalRegion() };
        core::mem::forget(self);
    }

    /// Leaves the resource held for the cache manager's callback pair: AcquireForReadAhead
    /// returns with it held and ReleaseFromReadAhead releases it with
    /// `Resource::release_for_cache_manager`, on the same Cc system thread. As CDFS's
    /// CdAcquireForCache, the hold keeps no critical region of ours: the region `acquire`
    /// entered is left here.
    pub fn hand_to_cache_manager(self) {
        self.hand_to_fsrtl();
    }
}

impl Drop for ResourceGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread holds the resource (the guard is not Send) and the critical
        // region entered in `acquire`; the resource outlives the guard ('a).
        unsafe {
            wdk_sys::ntddk::ExReleaseResourceLite(self.resource.as_ptr());
            wdk_sys::ntddk::KeLeaveCriticalRegion();
        }
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        let resource = self.raw;
        // SAFETY: no guard exists (guards borrow self), so nobody holds it through us; the
        // block is ours, initialized, and freed once.
        unsafe {
            // Fails only for a resource that is not initialized; ours always is.
            let _ = wdk_sys::ntddk::ExDeleteResourceLite(resource.as_ptr());
            pool::free(resource.cast(), RESOURCE_TAG);
        }
    }
}

/// ExInitializeFastMutex (an inline in the WDK): unowned, no contention, a synchronization
/// event not signalled.
///
/// # Safety
/// `mutex` points at writable FAST_MUTEX storage that will not move while in use.
pub(super) unsafe fn initialize_fast_mutex(mutex: *mut FAST_MUTEX) {
    // SAFETY: as the caller promises.
    unsafe {
        (*mutex).Count = FM_LOCK_BIT as i32;
        (*mutex).Owner = core::ptr::null_mut();
        (*mutex).Contention = 0;
        wdk_sys::ntddk::KeInitializeEvent(
            &mut (*mutex).Event,
            _EVENT_TYPE::SynchronizationEvent,
            0,
        );
    }
}

/// FAST_MUTEX: exclusive, not recursive, raises to APC_LEVEL while held; in its own pool block.
pub struct FastMutex {
    raw: NonNull<FAST_MUTEX>,
}

// SAFETY: a FAST_MUTEX is designed for use from any thread.
unsafe impl Send for FastMutex {}
// SAFETY: as above.
unsafe impl Sync for FastMutex {}

pub struct FastMutexGuard<'a> {
    mutex: NonNull<FAST_MUTEX>,
    _borrow: PhantomData<&'a FastMutex>,
    _same_thread: PhantomData<*const ()>,
}

impl FastMutex {
    /// ExInitializeFastMutex on a fresh pool block. STATUS_INSUFFICIENT_RESOURCES if pool is
    /// exhausted.
    pub fn try_new() -> Result<FastMutex, NtStatus> {
        let mutex = pool::allocate(FAST_MUTEX_TAG, size_of::<FAST_MUTEX>())?.cast::<FAST_MUTEX>();
        // SAFETY: a fresh nonpaged block of FAST_MUTEX size that never moves.
        unsafe { initialize_fast_mutex(mutex.as_ptr()) };
        Ok(FastMutex { raw: mutex })
    }

    /// ExAcquireFastMutex (IRQL <= APC_LEVEL; raises to APC_LEVEL). `None` if this thread
    /// already owns it (a FAST_MUTEX is not recursive: waiting would never end).
    pub fn acquire(&self) -> Option<FastMutexGuard<'_>> {
        let mutex = self.raw;
        // SAFETY: the mutex is initialized and alive while `self` is; Owner is written by the
        // owner only, so reading our own thread there means we hold it.
        unsafe {
            if (*mutex.as_ptr()).Owner == super::ffi::KeGetCurrentThread() {
                return None;
            }
            wdk_sys::ntddk::ExAcquireFastMutex(mutex.as_ptr());
        }
        Some(FastMutexGuard {
            mutex,
            _borrow: PhantomData,
            _same_thread: PhantomData,
        })
    }
}

impl FastMutex {
    /// ExTryToAcquireFastMutex: `None` if any thread (this one included) holds it.
    pub(super) fn try_acquire(&self) -> Option<FastMutexGuard<'_>> {
        let mutex = self.raw;
        // SAFETY: the mutex is initialized and alive while `self` is; the call never waits.
        let acquired = unsafe { wdk_sys::ntddk::ExTryToAcquireFastMutex(mutex.as_ptr()) } != 0;
        acquired.then_some(FastMutexGuard {
            mutex,
            _borrow: PhantomData,
            _same_thread: PhantomData,
        })
    }
}

impl Drop for FastMutexGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread owns the mutex (the guard is not Send); it outlives the guard.
        unsafe { wdk_sys::ntddk::ExReleaseFastMutex(self.mutex.as_ptr()) }
    }
}

impl Drop for FastMutex {
    fn drop(&mut self) {
        // SAFETY: no guard exists (guards borrow self); the block is ours and freed once.
        unsafe { pool::free(self.raw.cast(), FAST_MUTEX_TAG) }
    }
}
