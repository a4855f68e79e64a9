//! Directory change notification (FsRtlNotifyFullChangeDirectory and friends), as FsRtl does it
//! for a file system: the IRP is marked pending and queued on the volume's notify list with a
//! cancel routine; FsRtlNotifyCleanup completes an open's IRPs with STATUS_NOTIFY_CLEANUP;
//! a cancel completes one with STATUS_CANCELLED; an IRP that comes after its open's cleanup
//! (FO_CLEANUP_COMPLETE) completes at once with STATUS_NOTIFY_CLEANUP. (ReactOS
//! `ntoskrnl/fsrtl/notify.c` FsRtlNotifyFilterChangeDirectory, FsRtlNotifyCleanup,
//! FsRtlCancelNotify; Learn's FsRtlNotifyFullChangeDirectory page.) A read-only volume reports
//! no change, so nothing else completes them.

use std::vec::Vec;

use super::file_object::{FO_CLEANUP_COMPLETE, FileObject};
use super::irp::Irp;
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::FindingKind;
use crate::kernel::NtStatus;

/// The IRPs one notify list holds: (IRP, the FILE_OBJECT of the open it watches for), and
/// the opens that have a notify structure (allocated at their first watch, freed at cleanup).
#[derive(Default)]
pub struct NotifyListEntry {
    pending: Vec<(ObjId, ObjId)>,
    watchers: Vec<ObjId>,
}

/// The name FsRtl keeps for a watched directory (a pool string in `nt`).
pub struct NotifyName {
    _name: Vec<u16>,
}

impl NotifyName {
    pub fn try_new(name: &[u16]) -> Result<NotifyName, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::pool::allocate()?;
        Ok(NotifyName {
            _name: name.to_vec(),
        })
    }
}

/// A volume's notify list and NOTIFY_SYNC.
pub struct NotifyList {
    id: Option<ObjId>,
}

impl NotifyList {
    /// FsRtlNotifyInitializeSync + InitializeListHead.
    pub fn try_new() -> Result<NotifyList, NtStatus> {
        let _model = super::heap_faults::Scope::model();
        super::pool::allocate()?;
        let id = with_state(|state| state.notify_lists.insert(NotifyListEntry::default()));
        Ok(NotifyList { id })
    }

    /// FsRtlNotifyFullChangeDirectory: takes `irp` and returns STATUS_PENDING, or hands it back
    /// with the status FsRtl raised (the open's first watch allocates its notify structure).
    pub fn watch(
        &self,
        file_object: &FileObject,
        _name: &NotifyName,
        _watch_tree: bool,
        _filter: u32,
        mut irp: Irp,
    ) -> Result<NtStatus, (Irp, NtStatus)> {
        super::preempt::kernel_call();
        let Some(list) = self.id else {
            irp.mark_pending();
            irp.complete(NtStatus::NOTIFY_CLEANUP);
            return Ok(NtStatus::PENDING);
        };
        if file_object.flags() & FO_CLEANUP_COMPLETE != 0 {
            irp.mark_pending();
            irp.complete(NtStatus::NOTIFY_CLEANUP);
            return Ok(NtStatus::PENDING);
        }
        let fo = file_object.id;
        let watching = with_state(|state| {
            state
                .notify_lists
                .get(list)
                .is_some_and(|entry| entry.watchers.contains(&fo))
        })
        .unwrap_or(false);
        if !watching {
            if let Err(status) = super::pool::allocate() {
                return Err((irp, status));
            }
            with_state(|state| {
                if let Some(entry) = state.notify_lists.get_mut(list) {
                    entry.watchers.push(fo);
                }
            });
        }
        irp.mark_pending();
        let irp_id = irp.id;
        core::mem::forget(irp);
        with_state(|state| {
            if let Some(entry) = state.notify_lists.get_mut(list) {
                entry.pending.push((irp_id, fo));
            }
            if let Some(entry) = state.irps.get_mut(irp_id) {
                entry.cancel_notify = Some(list);
            }
        });
        Ok(NtStatus::PENDING)
    }

    /// FsRtlNotifyCleanup: the open's IRPs complete with STATUS_NOTIFY_CLEANUP.
    pub fn cleanup(&self, file_object: &FileObject) {
        super::preempt::kernel_call();
        let Some(list) = self.id else { return };
        let fo = file_object.id;
        let taken = with_state(|state| {
            if let Some(entry) = state.notify_lists.get_mut(list) {
                entry.watchers.retain(|watcher| *watcher != fo);
            }
            take(state, list, |(_, f)| *f == fo)
        })
        .unwrap_or_default();
        for irp in taken {
            Irp { id: irp }.complete(NtStatus::NOTIFY_CLEANUP);
        }
    }
}

impl Drop for NotifyList {
    /// FsRtlNotifyUninitializeSync: an IRP still listed would never complete.
    fn drop(&mut self) {
        super::preempt::kernel_call();
        let Some(list) = self.id else { return };
        with_state(|state| {
            let left = state
                .notify_lists
                .remove(list)
                .map(|entry| entry.pending)
                .unwrap_or_default();
            for (irp, _) in left {
                state.report(FindingKind::IrpNeverCompleted { irp });
            }
        });
    }
}

/// Takes the listed IRPs that `which` selects, clearing their cancel routine.
fn take(state: &mut State, list: ObjId, which: impl Fn(&(ObjId, ObjId)) -> bool) -> Vec<ObjId> {
    let Some(entry) = state.notify_lists.get_mut(list) else {
        return Vec::new();
    };
    let (taken, kept): (Vec<_>, Vec<_>) = entry.pending.drain(..).partition(|p| which(p));
    entry.pending = kept;
    let taken: Vec<ObjId> = taken.into_iter().map(|(irp, _)| irp).collect();
    for irp in &taken {
        if let Some(entry) = state.irps.get_mut(*irp) {
            entry.cancel_notify = None;
        }
    }
    taken
}

/// FsRtl's cancel routine for a listed IRP (IoCancelIrp calls it): the IRP leaves the list
/// and completes with STATUS_CANCELLED. False if the IRP has no cancel routine.
pub fn cancel(irp: ObjId) -> bool {
    let listed = with_state(|state| {
        let list = state.irps.get(irp).and_then(|entry| entry.cancel_notify)?;
        Some(take(state, list, |(i, _)| *i == irp))
    })
    .flatten();
    match listed {
        Some(taken) if !taken.is_empty() => {
            Irp { id: irp }.complete(NtStatus::CANCELLED);
            true
        }
        _ => false,
    }
}
