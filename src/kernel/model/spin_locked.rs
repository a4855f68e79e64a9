//! `SpinLocked<T>`: data behind an executive spin lock (KSPIN_LOCK), for state that paging I/O
//! must reach (no ERESOURCE or FAST_MUTEX may be taken exclusively there; docs/nt-model.md,
//! "Paging I/O discipline").
//!
//! As KeAcquireSpinLock (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-keacquirespinlock>):
//! the caller must be at IRQL <= DISPATCH_LEVEL (`WrongIrql` otherwise), the IRQL is
//! DISPATCH_LEVEL while it is held (so a wait, a resource or a paged call under it is a finding
//! of its own), and KeReleaseSpinLock restores the IRQL found. A spin lock is not recursive:
//! acquiring it again on the thread holding it spins forever, a finding here.

use std::format;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::thread::ThreadId;

use super::irql::DISPATCH_LEVEL;
use super::state::with_state;
use super::verifier::FindingKind;

/// A `T` reached only with its spin lock held. Send + Sync when `T: Send`.
pub struct SpinLocked<T: Send> {
    value: Mutex<T>,
    /// The OS thread holding it (recursion is reported, not spun on).
    owner: Mutex<Option<ThreadId>>,
}

/// Held access to a `SpinLocked<T>`; KeReleaseSpinLock on drop. Not Send.
pub struct SpinLockedGuard<'a, T: Send> {
    value: MutexGuard<'a, T>,
    owner: &'a Mutex<Option<ThreadId>>,
    old_irql: u8,
}

impl<T: Send> SpinLocked<T> {
    /// KeInitializeSpinLock: the lock lives inline, nothing is allocated.
    pub fn new(value: T) -> SpinLocked<T> {
        SpinLocked {
            value: Mutex::new(value),
            owner: Mutex::new(None),
        }
    }

    /// KeAcquireSpinLock (KeAcquireSpinLockRaiseToDpc on x64). `None` only if this thread
    /// already holds it (reported: it would spin forever).
    pub fn lock(&self) -> Option<SpinLockedGuard<'_, T>> {
        let here = std::thread::current().id();
        let value = match self.value.try_lock() {
            Ok(value) => value,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) if *owner(&self.owner) == Some(here) => {
                with_state(|state| {
                    state.report(FindingKind::Other(format!(
                        "KeAcquireSpinLock on a spin lock thread t{} already holds",
                        state.current_thread
                    )))
                });
                return None;
            }
            // Another OS thread holds it for a few instructions: spin (block) until it is free.
            Err(TryLockError::WouldBlock) => self
                .value
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        let old_irql = with_state(|state| {
            state.require_irql("KeAcquireSpinLock", DISPATCH_LEVEL);
            let thread = state.thread();
            let old = thread.irql;
            thread.irql = old.max(DISPATCH_LEVEL);
            old
        })
        .unwrap_or(0);
        *owner(&self.owner) = Some(here);
        Some(SpinLockedGuard {
            value,
            owner: &self.owner,
            old_irql,
        })
    }

    /// The value, without locking: `&mut self` proves nobody holds it.
    pub fn get_mut(&mut self) -> &mut T {
        self.value
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn owner(owner: &Mutex<Option<ThreadId>>) -> MutexGuard<'_, Option<ThreadId>> {
    owner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<T: Send> core::ops::Deref for SpinLockedGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send> core::ops::DerefMut for SpinLockedGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: Send> Drop for SpinLockedGuard<'_, T> {
    /// KeReleaseSpinLock(lock, old IRQL); the value's host lock is released after this body.
    fn drop(&mut self) {
        *owner(self.owner) = None;
        let old_irql = self.old_irql;
        with_state(|state| state.thread().irql = old_irql);
    }
}
