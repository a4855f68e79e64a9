//! `Locked<T>`: a `T` reached only with its FAST_MUTEX held. The FAST_MUTEX is its own pool
//! block (`FastMutex`), so the `Locked` itself may move; the value sits in an UnsafeCell.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use super::resource::{FastMutex, FastMutexGuard};
use crate::kernel::NtStatus;

/// A `T` behind a FAST_MUTEX. Send + Sync when `T: Send`.
pub struct Locked<T: Send> {
    mutex: FastMutex,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only by the one thread holding the FAST_MUTEX (a guard) or
// through `&mut self`, so sharing a `Locked` hands `T` from thread to thread but never to two
// at once: `T: Send` suffices, as for std's Mutex.
unsafe impl<T: Send> Sync for Locked<T> {}

/// Held access to a `Locked<T>`; released (ExReleaseFastMutex) on drop. Not Send: a
/// FAST_MUTEX is released by the thread that acquired it.
pub struct LockedGuard<'a, T: Send> {
    locked: &'a Locked<T>,
    _mutex: FastMutexGuard<'a>,
}

impl<T: Send> Locked<T> {
    /// ExInitializeFastMutex on a fresh pool block. STATUS_INSUFFICIENT_RESOURCES if pool is
    /// exhausted.
    pub fn try_new(value: T) -> Result<Locked<T>, NtStatus> {
        Ok(Locked {
            mutex: FastMutex::try_new()?,
            value: UnsafeCell::new(value),
        })
    }

    /// ExAcquireFastMutex. `None` only if this thread already holds it.
    pub fn lock(&self) -> Option<LockedGuard<'_, T>> {
        let mutex = self.mutex.acquire()?;
        Some(LockedGuard {
            locked: self,
            _mutex: mutex,
        })
    }

    /// ExTryToAcquireFastMutex. `None` if anyone (this thread included) holds it.
    pub fn try_lock(&self) -> Option<LockedGuard<'_, T>> {
        let mutex = self.mutex.try_acquire()?;
        Some(LockedGuard {
            locked: self,
            _mutex: mutex,
        })
    }

    /// The value, without locking: `&mut self` proves nobody holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Send> Deref for LockedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the FAST_MUTEX, so no other reference to the value exists
        // except through this guard (borrowed for as long as the result).
        unsafe { &*self.locked.value.get() }
    }
}

impl<T: Send> DerefMut for LockedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes this the only access through the guard.
        unsafe { &mut *self.locked.value.get() }
    }
}
