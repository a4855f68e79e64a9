//! Pool allocations (ExAllocatePool2 / ExFreePoolWithTag), tracked by tag and generation.
//!
//! Boundary items: `PoolTag`, `PoolBox<T>` (one owner, freed on drop) and `PoolArc<T>`
//! (counted, freed when the last count goes; a CCB). `PoolRef` is the raw pointer FsContext /
//! FsContext2 hold, model-internal: in the model it is a generation-checked name, so a stale one
//! is caught. FCBs are `FcbArc` (fcb.rs), which registers its block here as `ObjectKind::Fcb`.

use std::any::Any;
use std::boxed::Box;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::NtStatus;

/// A four-character pool tag, as written in source ('RfFc').
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PoolTag(pub [u8; 4]);

impl PoolTag {
    pub fn as_string(&self) -> String {
        self.0
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '?' })
            .collect()
    }
}

/// The model's record of one allocation.
pub struct PoolEntry {
    pub tag: PoolTag,
    pub size: usize,
    pub kind: ObjectKind,
    /// Counted references (PoolArc) or 1 (PoolBox).
    pub strong: usize,
    /// The value, for PoolArc (so a PoolRef can be turned back into one).
    pub value: Option<Arc<dyn Any + Send + Sync>>,
    /// The driver that allocated it (None: the model itself, e.g. the filter observer).
    pub owner: Option<ObjId>,
    /// FsRtlSetupAdvancedHeader was called: filters may attach per-stream contexts.
    pub advanced_header: bool,
    /// Per-stream contexts attached through the advanced header (FsRtlInsertPerStreamContext).
    pub stream_contexts: Vec<ObjId>,
}

/// An id no kernel knows: used when pool is allocated outside any modelled kernel.
pub(crate) const DETACHED: ObjId = ObjId {
    index: u32::MAX,
    generation: 0,
};

fn register(tag: PoolTag, size: usize, value: Option<Arc<dyn Any + Send + Sync>>) -> ObjId {
    register_kind(tag, size, value, false)
}

/// Counts one fallible allocation (ExAllocatePool2 and whatever allocates pool in `nt`) and
/// answers STATUS_INSUFFICIENT_RESOURCES if it is the one `Session::fail_nth_allocation` chose.
pub(crate) fn allocate() -> Result<(), NtStatus> {
    let failed = with_state(|state| {
        state.allocations += 1;
        match state.allocation_failure_countdown {
            Some(1) => {
                state.allocation_failure_countdown = None;
                let thread = state.current_thread;
                state.push_trace(std::format!("t{thread}: allocation fails (injected)"));
                true
            }
            Some(n) => {
                state.allocation_failure_countdown = Some(n - 1);
                false
            }
            None => false,
        }
    });
    if failed == Some(true) {
        Err(NtStatus::INSUFFICIENT_RESOURCES)
    } else {
        Ok(())
    }
}

/// Records an allocation; `fcb`: an FCB block whose advanced header is set up
/// (FsRtlSetupAdvancedHeader), so filters may attach per-stream contexts to it.
pub(crate) fn register_kind(
    tag: PoolTag,
    size: usize,
    value: Option<Arc<dyn Any + Send + Sync>>,
    fcb: bool,
) -> ObjId {
    with_state(|state| {
        if !state.require_irql("ExAllocatePool2", 2) {
            // Allocation still succeeds (the model cannot bugcheck); the finding is the point.
        }
        let owner = state.current_driver;
        insert_entry(
            state,
            PoolEntry {
                tag,
                size,
                kind: if fcb {
                    ObjectKind::Fcb
                } else {
                    ObjectKind::Pool
                },
                strong: 1,
                value,
                owner,
                advanced_header: fcb,
                stream_contexts: Vec::new(),
            },
        )
    })
    .unwrap_or(DETACHED)
}

/// Records a pool block, with the statistics (`Session::pool_bytes` and friends).
pub(crate) fn insert_entry(state: &mut State, entry: PoolEntry) -> ObjId {
    state.pool_bytes = state.pool_bytes.saturating_add(entry.size);
    state.pool_blocks += 1;
    state.pool_peak_bytes = state.pool_peak_bytes.max(state.pool_bytes);
    state.pool.insert(entry)
}

/// Drops one strong count of pool entry `id`; true when it was the last. A stale `id` is
/// reported as a use-after-free of `kind`.
pub(crate) fn drop_strong(state: &mut State, id: ObjId, kind: ObjectKind) -> bool {
    match state.pool.get_mut(id) {
        Some(entry) => {
            entry.strong = entry.strong.saturating_sub(1);
            entry.strong == 0
        }
        None => {
            state.report_stale_pool(id, kind);
            false
        }
    }
}

/// Frees an entry whose last reference went: checks the advanced-header rule first.
pub fn free_entry(state: &mut State, id: ObjId) {
    let Some(entry) = state.pool.remove(id) else {
        state.report_stale_pool(id, ObjectKind::Pool);
        return;
    };
    state
        .freed_pool
        .insert(id.index, (id.generation, entry.tag, entry.kind));
    state.pool_bytes = state.pool_bytes.saturating_sub(entry.size);
    state.pool_blocks = state.pool_blocks.saturating_sub(1);
    if entry.advanced_header && !entry.stream_contexts.is_empty() {
        let contexts = entry.stream_contexts.len();
        state.report(FindingKind::StreamContextsNotTornDown { fcb: id, contexts });
    }
}

/// A pool allocation with one owner; freed (ExFreePoolWithTag) on drop.
pub struct PoolBox<T> {
    id: ObjId,
    value: Box<T>,
}

impl<T> PoolBox<T> {
    pub fn try_new(tag: PoolTag, value: T) -> Result<PoolBox<T>, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::preempt::point();
        allocate()?;
        let id = register(tag, core::mem::size_of::<T>(), None);
        Ok(PoolBox {
            id,
            value: Box::new(value),
        })
    }
}

impl<T> core::ops::Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> core::ops::DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        if self.id != DETACHED {
            let id = self.id;
            with_state(|state| free_entry(state, id));
        }
    }
}

/// A counted pool allocation: freed when the last count is dropped.
pub struct PoolArc<T: Send + Sync + 'static> {
    id: ObjId,
    value: Arc<T>,
}

/// The raw pointer to a counted allocation, as stored in FsContext. Copying it takes no count.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PoolRef {
    pub(crate) id: ObjId,
}

impl<T: Send + Sync + 'static> PoolArc<T> {
    pub fn try_new(tag: PoolTag, value: T) -> Result<PoolArc<T>, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::preempt::point();
        allocate()?;
        let value = Arc::new(value);
        let shared: Arc<dyn Any + Send + Sync> = value.clone();
        let id = register(tag, core::mem::size_of::<T>(), Some(shared));
        Ok(PoolArc { id, value })
    }

    /// Gives up this count as a raw pointer (for FsContext); `from_raw` takes it back. Only
    /// the modelled count moves to the pointer: this value's host `Arc` is still dropped.
    pub(crate) fn into_raw(mut self) -> PoolRef {
        let raw = PoolRef { id: self.id };
        self.id = DETACHED;
        raw
    }

    /// Takes back the count `into_raw` gave up. A stale pointer is a use-after-free finding.
    pub(crate) fn from_raw(raw: PoolRef) -> Option<PoolArc<T>> {
        lookup::<T>(raw, false)
    }

    /// A raw pointer without giving up a count (what a borrowed `&Fcb` is in C).
    pub(crate) fn as_raw(&self) -> PoolRef {
        PoolRef { id: self.id }
    }
}

impl PoolRef {
    /// A new counted reference from a raw pointer (the pointer keeps its own count).
    pub(crate) fn clone_arc<T: Send + Sync + 'static>(&self) -> Option<PoolArc<T>> {
        lookup::<T>(*self, true)
    }
}

fn lookup<T: Send + Sync + 'static>(raw: PoolRef, add_count: bool) -> Option<PoolArc<T>> {
    with_state(|state| {
        let Some(entry) = state.pool.get_mut(raw.id) else {
            state.report_stale_pool(raw.id, ObjectKind::Pool);
            return None;
        };
        let value = entry.value.clone()?.downcast::<T>().ok()?;
        if add_count {
            entry.strong += 1;
        }
        Some(PoolArc { id: raw.id, value })
    })
    .flatten()
}

impl<T: Send + Sync + 'static> Clone for PoolArc<T> {
    fn clone(&self) -> Self {
        let id = self.id;
        with_state(|state| {
            if let Some(entry) = state.pool.get_mut(id) {
                entry.strong += 1;
            }
        });
        PoolArc {
            id,
            value: self.value.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> core::ops::Deref for PoolArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Send + Sync + 'static> Drop for PoolArc<T> {
    fn drop(&mut self) {
        if self.id == DETACHED {
            return;
        }
        let id = self.id;
        with_state(|state| {
            if drop_strong(state, id, ObjectKind::Pool) {
                free_entry(state, id);
            }
        });
    }
}
