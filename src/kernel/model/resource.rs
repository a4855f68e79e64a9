//! ERESOURCE (ExInitializeResourceLite and friends) and FAST_MUTEX.
//!
//! `ResourceState` is the documented grant logic as a pure state machine; `Resource` is the
//! boundary item over it. Guards release on drop; forgetting a guard leaves the resource held,
//! which the verifier reports when the thread returns to the I/O manager.

use std::vec::Vec;

use super::preempt;
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::FindingKind;
use crate::kernel::NtStatus;

/// How a thread asks for the resource.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AcquireMode {
    /// ExAcquireResourceExclusiveLite.
    Exclusive,
    /// ExAcquireResourceSharedLite.
    Shared,
    /// ExAcquireSharedStarveExclusive.
    SharedStarveExclusive,
    /// ExAcquireSharedWaitForExclusive.
    SharedWaitForExclusive,
}

/// The outcome of an acquire attempt.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Grant {
    Granted,
    /// Not grantable now; a waiting caller blocks until it is.
    MustWait,
    /// Never grantable: the caller holds it shared and asks for exclusive.
    Deadlock,
}

/// One ERESOURCE's ownership, by modelled thread id.
#[derive(Default, Debug)]
pub struct ResourceState {
    pub exclusive_owner: Option<u32>,
    pub exclusive_count: u32,
    /// (thread, recursion count)
    pub shared: Vec<(u32, u32)>,
    /// Threads blocked waiting for exclusive access.
    pub exclusive_waiters: Vec<u32>,
}

impl ResourceState {
    fn shared_count(&self, thread: u32) -> u32 {
        self.shared
            .iter()
            .find(|(t, _)| *t == thread)
            .map_or(0, |(_, n)| *n)
    }

    pub fn held_by(&self, thread: u32) -> bool {
        self.exclusive_owner == Some(thread) || self.shared_count(thread) > 0
    }

    /// Decides an acquire as the ERESOURCE documentation describes, without recording it.
    fn decide(&self, thread: u32, mode: AcquireMode) -> Grant {
        if self.exclusive_owner == Some(thread) {
            // Recursive acquisition by the exclusive owner, in any mode, is granted (as exclusive).
            return Grant::Granted;
        }
        let held_shared = self.shared_count(thread) > 0;
        let waiters = self.exclusive_waiters.iter().any(|&t| t != thread);
        let grant = match mode {
            AcquireMode::Exclusive => {
                if held_shared {
                    return Grant::Deadlock;
                }
                self.exclusive_owner.is_none() && self.shared.is_empty()
            }
            AcquireMode::Shared => self.exclusive_owner.is_none() && (held_shared || !waiters),
            AcquireMode::SharedStarveExclusive => self.exclusive_owner.is_none(),
            AcquireMode::SharedWaitForExclusive => self.exclusive_owner.is_none() && !waiters,
        };
        if grant {
            Grant::Granted
        } else {
            Grant::MustWait
        }
    }

    /// True if `thread` would be granted `mode` now.
    pub fn would_grant(&self, thread: u32, mode: AcquireMode) -> bool {
        self.decide(thread, mode) == Grant::Granted
    }

    /// Decides an acquire and records it if granted.
    pub fn try_acquire(&mut self, thread: u32, mode: AcquireMode) -> Grant {
        let grant = self.decide(thread, mode);
        if grant != Grant::Granted {
            return grant;
        }
        if self.exclusive_owner == Some(thread) {
            self.exclusive_count += 1;
        } else if mode == AcquireMode::Exclusive {
            self.exclusive_owner = Some(thread);
            self.exclusive_count = 1;
            self.exclusive_waiters.retain(|&t| t != thread);
        } else if let Some(entry) = self.shared.iter_mut().find(|(t, _)| *t == thread) {
            entry.1 += 1;
        } else {
            self.shared.push((thread, 1));
        }
        Grant::Granted
    }

    /// Records that `thread` is blocked waiting for exclusive access.
    pub fn add_exclusive_waiter(&mut self, thread: u32) {
        if !self.exclusive_waiters.contains(&thread) {
            self.exclusive_waiters.push(thread);
        }
    }

    /// ExReleaseResourceLite. False (nothing released) if `thread` holds nothing.
    pub fn release(&mut self, thread: u32) -> bool {
        if self.exclusive_owner == Some(thread) {
            self.exclusive_count -= 1;
            if self.exclusive_count == 0 {
                self.exclusive_owner = None;
            }
            return true;
        }
        let Some(position) = self.shared.iter().position(|(t, _)| *t == thread) else {
            return false;
        };
        self.shared[position].1 -= 1;
        if self.shared[position].1 == 0 {
            self.shared.remove(position);
        }
        true
    }
}

/// An ERESOURCE. Lives in pool memory in the real driver (never moved after init).
pub struct Resource {
    id: Option<ObjId>,
}

/// Held access to a `Resource`; released (ExReleaseResourceLite) on drop.
pub struct ResourceGuard<'a> {
    resource: &'a Resource,
}

impl Resource {
    /// ExInitializeResourceLite (on a pool block in `nt`, hence fallible; the model's
    /// allocation does not fail).
    pub fn try_new() -> Result<Resource, NtStatus> {
        super::pool::allocate()?;
        let id = with_state(|state| state.resources.insert(ResourceState::default()));
        Ok(Resource { id })
    }

    fn acquire(&self, mode: AcquireMode, wait: bool) -> Option<ResourceGuard<'_>> {
        let Some(id) = self.id else {
            return Some(ResourceGuard { resource: self });
        };
        preempt::point();
        let thread = with_state(|state| check_acquire(state, id, mode))?;
        loop {
            match with_state(|state| attempt(state, id, thread, mode, wait))? {
                Attempt::Granted => return Some(ResourceGuard { resource: self }),
                Attempt::Refused => return None,
                Attempt::MustWait if preempt::on_job() => {
                    preempt::block(preempt::Wait::Resource { resource: id, mode });
                }
                Attempt::MustWait => {
                    let freed = preempt::run_jobs_until(|state| {
                        state
                            .resources
                            .get(id)
                            .is_none_or(|r| r.would_grant(thread, mode))
                    });
                    if !freed {
                        // No other thread can run to release it: the wait never ends.
                        with_state(|state| {
                            if let Some(resource) = state.resources.get_mut(id) {
                                resource.exclusive_waiters.retain(|&t| t != thread);
                            }
                            state.report(FindingKind::Deadlock { resource: id });
                        });
                        return None;
                    }
                }
            }
        }
    }

    /// ExAcquireResourceExclusiveLite. `None` only when `wait` is false and it is not free
    /// (or, in the model, when waiting could never end: reported as a deadlock). A waiting
    /// caller blocks until the owner releases it (`preempt`).
    pub fn acquire_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(AcquireMode::Exclusive, wait)
    }

    /// ExAcquireResourceSharedLite.
    pub fn acquire_shared(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(AcquireMode::Shared, wait)
    }

    /// ExAcquireSharedStarveExclusive.
    pub fn acquire_shared_starve_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(AcquireMode::SharedStarveExclusive, wait)
    }

    /// ExAcquireSharedWaitForExclusive.
    pub fn acquire_shared_wait_for_exclusive(&self, wait: bool) -> Option<ResourceGuard<'_>> {
        self.acquire(AcquireMode::SharedWaitForExclusive, wait)
    }

    /// ExReleaseResourceLite of a hold a guard left with `hand_to_cache_manager`, by the thread
    /// that took it. A release by a thread that holds nothing is a finding.
    pub fn release_for_cache_manager(&self) {
        self.release_by_current_thread();
    }

    /// ExReleaseResourceLite by the current thread.
    fn release_by_current_thread(&self) {
        let Some(id) = self.id else { return };
        with_state(|state| {
            let thread = state.current_thread;
            let released = state.resources.get_mut(id).map(|r| r.release(thread));
            if released != Some(true) {
                state.report(FindingKind::UnbalancedRelease { resource: id });
            }
        });
        preempt::point();
    }

    /// The model's id of the ERESOURCE (`None` outside any modelled kernel).
    pub(crate) fn id(&self) -> Option<ObjId> {
        self.id
    }

    /// ExIsResourceAcquiredExclusiveLite.
    pub fn is_acquired_exclusive(&self) -> bool {
        let Some(id) = self.id else { return false };
        with_state(|state| {
            let thread = state.current_thread;
            state
                .resources
                .get(id)
                .is_some_and(|r| r.exclusive_owner == Some(thread))
        })
        .unwrap_or(false)
    }
}

/// The checks made once per acquire; the acquiring thread.
fn check_acquire(state: &mut State, id: ObjId, mode: AcquireMode) -> u32 {
    state.require_irql("ExAcquireResourceLite", 1);
    if state.thread().apc_disable == 0 {
        state.report(FindingKind::AcquireWithApcsEnabled { resource: id });
    }
    if state.thread().paging_io > 0 && mode == AcquireMode::Exclusive {
        state.report(FindingKind::ExclusiveResourceInPagingIo { resource: id });
    }
    state.current_thread
}

enum Attempt {
    Granted,
    /// Not granted and not waiting (Wait = FALSE, a deadlock, or a freed resource).
    Refused,
    /// The caller waits until the owner releases it.
    MustWait,
}

fn attempt(state: &mut State, id: ObjId, thread: u32, mode: AcquireMode, wait: bool) -> Attempt {
    let Some(resource) = state.resources.get_mut(id) else {
        state.report(FindingKind::UseAfterFree {
            kind: super::verifier::ObjectKind::Pool,
            id,
        });
        return Attempt::Refused;
    };
    match resource.try_acquire(thread, mode) {
        Grant::Granted => Attempt::Granted,
        Grant::MustWait | Grant::Deadlock if !wait => Attempt::Refused,
        Grant::MustWait => {
            if mode == AcquireMode::Exclusive {
                resource.add_exclusive_waiter(thread);
            }
            Attempt::MustWait
        }
        // A shared owner asking for exclusive access waits for itself.
        Grant::Deadlock => {
            state.report(FindingKind::Deadlock { resource: id });
            Attempt::Refused
        }
    }
}

impl ResourceGuard<'_> {
    /// Leaves the resource held for FsRtl to release (FsRtlReleaseFile releases Header.Resource
    /// after a PreAcquireForSectionSynchronization that said the file is locked; `section.rs`).
    pub fn hand_to_fsrtl(self) {
        core::mem::forget(self);
    }

    /// Leaves the resource held for the cache manager's callback pair: AcquireForReadAhead
    /// (or AcquireForLazyWrite) returns with it held and ReleaseFromReadAhead releases it with
    /// `Resource::release_for_cache_manager`, on the same Cc thread (`src/cache/callbacks.rs`).
    pub fn hand_to_cache_manager(self) {
        core::mem::forget(self);
    }
}

impl Drop for ResourceGuard<'_> {
    fn drop(&mut self) {
        self.resource.release_by_current_thread();
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        // ExDeleteResourceLite.
        if let Some(id) = self.id {
            with_state(|state| {
                let owned = state
                    .resources
                    .remove(id)
                    .is_some_and(|r| r.exclusive_owner.is_some() || !r.shared.is_empty());
                if owned {
                    state.report(FindingKind::ResourceDeletedWhileOwned { resource: id });
                }
            });
        }
    }
}

/// Ids of resources the current thread holds (for the return-to-user-mode check).
pub fn held_by_current(state: &State) -> Vec<ObjId> {
    let thread = state.current_thread;
    state
        .resources
        .iter()
        .filter(|(_, r)| r.held_by(thread))
        .map(|(id, _)| id)
        .collect()
}

/// FAST_MUTEX: exclusive, not recursive, raises to APC_LEVEL while held.
pub struct FastMutex {
    resource: Resource,
}

pub struct FastMutexGuard<'a> {
    _inner: ResourceGuard<'a>,
    /// The IRQL before the acquire (FAST_MUTEX.OldIrql), restored at release.
    old_irql: u8,
}

impl FastMutex {
    /// ExInitializeFastMutex (on a pool block in `nt`, hence fallible).
    pub fn try_new() -> Result<FastMutex, NtStatus> {
        Ok(FastMutex {
            resource: Resource::try_new()?,
        })
    }

    /// ExAcquireFastMutex (IRQL <= APC_LEVEL; raises to APC_LEVEL). Waits while another
    /// modelled thread holds it. `None` if this thread already holds it (a `Deadlock` finding:
    /// a FAST_MUTEX is not recursive), or if no thread can run to release it (also `Deadlock`).
    pub fn acquire(&self) -> Option<FastMutexGuard<'_>> {
        if self.resource.is_acquired_exclusive() {
            // FAST_MUTEX is not recursive: a second acquire by the owner never returns.
            if let Some(id) = self.resource.id {
                with_state(|state| state.report(FindingKind::Deadlock { resource: id }));
            }
            return None;
        }
        let old_irql = raise_for_fast_mutex("ExAcquireFastMutex");
        let Some(guard) = self.resource.acquire_exclusive(true) else {
            lower_after_fast_mutex(old_irql);
            return None;
        };
        Some(FastMutexGuard {
            _inner: guard,
            old_irql,
        })
    }

    /// ExTryToAcquireFastMutex: `None` if any thread (this one included) holds it; never a
    /// finding.
    pub(crate) fn try_acquire(&self) -> Option<FastMutexGuard<'_>> {
        if let Some(id) = self.resource.id {
            let held = with_state(|state| {
                state
                    .resources
                    .get(id)
                    .is_some_and(|r| r.exclusive_owner.is_some() || !r.shared.is_empty())
            });
            if held == Some(true) {
                return None;
            }
        }
        let old_irql = raise_for_fast_mutex("ExTryToAcquireFastMutex");
        let Some(guard) = self.resource.acquire_exclusive(false) else {
            lower_after_fast_mutex(old_irql);
            return None;
        };
        Some(FastMutexGuard {
            _inner: guard,
            old_irql,
        })
    }
}

/// Checks the IRQL and raises to APC_LEVEL (APCs disabled, as a critical region); returns the
/// previous IRQL.
fn raise_for_fast_mutex(routine: &'static str) -> u8 {
    with_state(|state| {
        state.require_irql(routine, 1);
        let thread = state.thread();
        let old = thread.irql;
        thread.apc_disable += 1;
        thread.irql = 1;
        old
    })
    .unwrap_or(0)
}

fn lower_after_fast_mutex(old_irql: u8) {
    with_state(|state| {
        let thread = state.thread();
        thread.apc_disable = thread.apc_disable.saturating_sub(1);
        thread.irql = old_irql;
    });
}

impl Drop for FastMutexGuard<'_> {
    fn drop(&mut self) {
        // The inner guard releases after this body runs; lowering first is harmless here.
        lower_after_fast_mutex(self.old_irql);
    }
}
