//! `SpinLocked<T>`: a `T` reached only with its executive spin lock (KSPIN_LOCK) held, at
//! DISPATCH_LEVEL. The lock lives inline (KeInitializeSpinLock zeroes it); a `SpinLocked` may
//! move while nobody holds it (moving needs ownership, a guard borrows it).

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};

use wdk_sys::{KIRQL, KSPIN_LOCK};

/// A `T` behind a KSPIN_LOCK. Send + Sync when `T: Send`.
pub struct SpinLocked<T: Send> {
    lock: UnsafeCell<KSPIN_LOCK>,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only by the one thread holding the spin lock (a guard) or
// through `&mut self`, so sharing a `SpinLocked` hands `T` from thread to thread but never to
// two at once: `T: Send` suffices, as for std's Mutex.
unsafe impl<T: Send> Sync for SpinLocked<T> {}

/// Held access to a `SpinLocked<T>`; KeReleaseSpinLock on drop. Not Send: the IRQL it restores
/// is this processor's.
pub struct SpinLockedGuard<'a, T: Send> {
    locked: &'a SpinLocked<T>,
    old_irql: KIRQL,
    _same_thread: PhantomData<*const ()>,
}

impl<T: Send> SpinLocked<T> {
    /// KeInitializeSpinLock (an inline in the WDK: the lock is zero when free).
    pub fn new(value: T) -> SpinLocked<T> {
        SpinLocked {
            lock: UnsafeCell::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// KeAcquireSpinLock (KeAcquireSpinLockRaiseToDpc on x64; IRQL <= DISPATCH_LEVEL). Always
    /// `Some` here; the model answers `None` for a recursive acquire, which would spin forever.
    pub fn lock(&self) -> Option<SpinLockedGuard<'_, T>> {
        // SAFETY: the lock is a live, initialized KSPIN_LOCK in this object, which outlives the
        // guard; the caller runs at IRQL <= DISPATCH_LEVEL (the boundary's rule).
        let old_irql = unsafe { wdk_sys::ntddk::KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        Some(SpinLockedGuard {
            locked: self,
            old_irql,
            _same_thread: PhantomData,
        })
    }

    /// The value, without locking: `&mut self` proves nobody holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Send> Deref for SpinLockedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the spin lock, so no other reference to the value exists
        // except through this guard (borrowed for as long as the result).
        unsafe { &*self.locked.value.get() }
    }
}

impl<T: Send> DerefMut for SpinLockedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.locked.value.get() }
    }
}

impl<T: Send> Drop for SpinLockedGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard acquired the lock on this thread and processor, at DISPATCH_LEVEL
        // since; releasing restores the IRQL KeAcquireSpinLockRaiseToDpc returned.
        unsafe { wdk_sys::ntddk::KeReleaseSpinLock(self.locked.lock.get(), self.old_irql) }
    }
}
