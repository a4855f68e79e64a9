//! `Locked<T>`: data behind a FAST_MUTEX (the `nt` twin keeps it in an UnsafeCell next to a
//! FAST_MUTEX pool block; portable code cannot, hence a boundary item).
//!
//! The model keeps the value in a host mutex and does the FAST_MUTEX bookkeeping through
//! `FastMutex`: APC_LEVEL while held, `ResourceHeldOnReturn` if a guard outlives the dispatch
//! routine, a wait while another modelled thread holds it (`preempt`), `Deadlock` for a
//! recursive `lock`.

use std::sync::{Mutex, MutexGuard, TryLockError};
use std::thread::ThreadId;

use super::resource::{FastMutex, FastMutexGuard};
use crate::kernel::NtStatus;

/// A `T` that is only reached with its FAST_MUTEX held. Send + Sync when `T: Send`.
pub struct Locked<T: Send> {
    mutex: FastMutex,
    value: Mutex<T>,
    /// The OS thread holding `value` (catches recursion outside a modelled kernel, where the
    /// bookkeeping has nothing to record).
    owner: Mutex<Option<ThreadId>>,
}

/// Held access to a `Locked<T>`; the FAST_MUTEX is released on drop. Not Send.
pub struct LockedGuard<'a, T: Send> {
    value: MutexGuard<'a, T>,
    owner: &'a Mutex<Option<ThreadId>>,
    _mutex: FastMutexGuard<'a>,
}

impl<T: Send> Locked<T> {
    /// ExInitializeFastMutex on its own pool block in `nt` (so the `Locked` may move).
    pub fn try_new(value: T) -> Result<Locked<T>, NtStatus> {
        Ok(Locked {
            mutex: FastMutex::try_new()?,
            value: Mutex::new(value),
            owner: Mutex::new(None),
        })
    }

    /// ExAcquireFastMutex. `None` only if this thread already holds it (a `Deadlock` finding
    /// in the model, as for `FastMutex::acquire`), or if its owner can never release it.
    pub fn lock(&self) -> Option<LockedGuard<'_, T>> {
        let mutex = self.mutex.acquire()?;
        let value = match self.value.try_lock() {
            Ok(value) => value,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                if self.owned_here() {
                    return None;
                }
                // Another OS thread (outside any modelled kernel) holds it: really wait.
                self.value
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
            }
        };
        Some(self.guard(value, mutex))
    }

    /// ExTryToAcquireFastMutex. `None` if anyone (this thread included) holds it; never a
    /// finding.
    pub fn try_lock(&self) -> Option<LockedGuard<'_, T>> {
        let mutex = self.mutex.try_acquire()?;
        let value = match self.value.try_lock() {
            Ok(value) => value,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(self.guard(value, mutex))
    }

    /// The value, without locking: `&mut self` proves nobody holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn owned_here(&self) -> bool {
        let owner = *self
            .owner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        owner == Some(std::thread::current().id())
    }

    fn guard<'a>(
        &'a self,
        value: MutexGuard<'a, T>,
        mutex: FastMutexGuard<'a>,
    ) -> LockedGuard<'a, T> {
        *self
            .owner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(std::thread::current().id());
        LockedGuard {
            value,
            owner: &self.owner,
            _mutex: mutex,
        }
    }
}

impl<T: Send> core::ops::Deref for LockedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send> core::ops::DerefMut for LockedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Send> Drop for LockedGuard<'_, T> {
    fn drop(&mut self) {
        // The value's host lock and then the FAST_MUTEX are released after this body.
        *self
            .owner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}
