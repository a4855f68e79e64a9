//! FILE_OBJECT: the boundary view the driver uses (FsContext, FsContext2, flags, name, current
//! byte offset) and the object manager's record (pointer count and handle count).
//!
//! FsContext and FsContext2 are counted references: set only by `attach_fcb` / `attach_ccb`
//! (which consume an `FcbArc` / `PoolArc`) and cleared only by `detach_fcb` / `detach_ccb`
//! (which give it back); SectionObjectPointer is always the attached FCB's.

use std::vec::Vec;

use super::fcb::FcbArc;
use super::harness::io::{IrpRequest, call_driver};
use super::pool::{PoolArc, PoolRef};
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::{FindingKind, ObjectKind};

/// FO_SYNCHRONOUS_IO.
pub const FO_SYNCHRONOUS_IO: u32 = 0x0000_0002;
/// FO_NO_INTERMEDIATE_BUFFERING.
pub const FO_NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
/// FO_CLEANUP_COMPLETE.
pub const FO_CLEANUP_COMPLETE: u32 = 0x0000_4000;
/// FO_STREAM_FILE.
pub const FO_STREAM_FILE: u32 = 0x0000_0100;

pub struct FileObjectEntry {
    /// Object manager PointerCount: every handle plus every other reference.
    pub pointer_count: u32,
    pub handle_count: u32,
    pub fs_context: Option<PoolRef>,
    pub fs_context2: Option<PoolRef>,
    pub flags: u32,
    pub file_name: Vec<u16>,
    pub related: Option<ObjId>,
    /// The device the FILE_OBJECT was opened on (the volume device or a control device).
    pub device: ObjId,
    /// The VPB the open went through, if any.
    pub vpb: Option<ObjId>,
    pub current_byte_offset: u64,
    /// FileObject->SectionObjectPointer (the FCB's SECTION_OBJECT_POINTERS).
    pub section_object_pointers: Option<PoolRef>,
    /// ReadAccess/WriteAccess/DeleteAccess and SharedRead/SharedWrite/SharedDelete, as
    /// IoCheckShareAccess / IoSetShareAccess record them.
    pub access: crate::kernel::access::FileAccess,
    /// FileObject->LockOperation: NtLockFile was called on it (IopCloseFile then sends an
    /// unlock-all when a process closes its last handle while others remain).
    pub lock_operation: bool,
}

/// A FILE_OBJECT the I/O manager handed us (through the IRP's stack location).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileObject {
    pub(crate) id: ObjId,
}

fn with_entry<R>(id: ObjId, f: impl FnOnce(&mut FileObjectEntry) -> R) -> Option<R> {
    with_state(|state: &mut State| match state.file_objects.get_mut(id) {
        Some(entry) => Some(f(entry)),
        None => {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id,
            });
            None
        }
    })
    .flatten()
}

impl FileObject {
    /// Gives `fcb` (one counted reference) to the FILE_OBJECT: FsContext names it and
    /// SectionObjectPointer names its embedded SECTION_OBJECT_POINTERS. Taken back once, by
    /// `detach_fcb`. If FsContext is already set, nothing changes and `fcb` comes back.
    pub fn attach_fcb<T: Send + Sync + 'static>(&self, fcb: FcbArc<T>) -> Result<(), FcbArc<T>> {
        super::preempt::point();
        let raw = PoolRef { id: fcb.id() };
        let attached = with_entry(self.id, |e| {
            if e.fs_context.is_some() {
                return false;
            }
            e.fs_context = Some(raw);
            e.section_object_pointers = Some(raw);
            true
        });
        if attached == Some(true) {
            fcb.into_id();
            Ok(())
        } else {
            Err(fcb)
        }
    }

    /// Takes back the FCB reference `attach_fcb` gave, clearing FsContext (and
    /// SectionObjectPointer). `None` if FsContext is empty or holds another type; a stale
    /// FsContext is a use-after-free finding.
    pub fn detach_fcb<T: Send + Sync + 'static>(&self) -> Option<FcbArc<T>> {
        super::preempt::point();
        let raw = with_entry(self.id, |e| e.fs_context).flatten()?;
        let fcb = FcbArc::<T>::lookup(raw.id, false)?;
        with_entry(self.id, |e| {
            e.fs_context = None;
            if e.section_object_pointers == Some(raw) {
                e.section_object_pointers = None;
            }
        });
        Some(fcb)
    }

    /// A new counted reference to the attached FCB (FsContext keeps its own).
    pub fn fcb<T: Send + Sync + 'static>(&self) -> Option<FcbArc<T>> {
        let raw = with_entry(self.id, |e| e.fs_context).flatten()?;
        FcbArc::<T>::lookup(raw.id, true)
    }

    /// Gives `ccb` (one counted reference) to FsContext2, taken back once by `detach_ccb`. If
    /// FsContext2 is already set, nothing changes and `ccb` comes back.
    pub fn attach_ccb<C: Send + Sync + 'static>(&self, ccb: PoolArc<C>) -> Result<(), PoolArc<C>> {
        let raw = ccb.as_raw();
        let attached = with_entry(self.id, |e| {
            if e.fs_context2.is_some() {
                return false;
            }
            e.fs_context2 = Some(raw);
            true
        });
        if attached == Some(true) {
            ccb.into_raw();
            Ok(())
        } else {
            Err(ccb)
        }
    }

    /// Takes back the CCB reference `attach_ccb` gave, clearing FsContext2. `None` if it is
    /// empty or holds another type; a stale FsContext2 is a use-after-free finding.
    pub fn detach_ccb<C: Send + Sync + 'static>(&self) -> Option<PoolArc<C>> {
        let raw = with_entry(self.id, |e| e.fs_context2).flatten()?;
        let ccb = PoolArc::<C>::from_raw(raw)?;
        with_entry(self.id, |e| e.fs_context2 = None);
        Some(ccb)
    }

    /// A new counted reference to the attached CCB (FsContext2 keeps its own).
    pub fn ccb<C: Send + Sync + 'static>(&self) -> Option<PoolArc<C>> {
        with_entry(self.id, |e| e.fs_context2)
            .flatten()?
            .clone_arc::<C>()
    }

    /// FsContext as stored (for `harness::testing`).
    pub(crate) fn raw_fs_context(&self) -> Option<PoolRef> {
        with_entry(self.id, |e| e.fs_context).flatten()
    }

    /// FsContext2 as stored (for `harness::testing`).
    pub(crate) fn raw_fs_context2(&self) -> Option<PoolRef> {
        with_entry(self.id, |e| e.fs_context2).flatten()
    }

    /// A number naming this FILE_OBJECT in debug output (its address on Windows).
    pub fn trace_id(&self) -> u64 {
        (u64::from(self.id.index) << 32) | u64::from(self.id.generation)
    }

    pub fn flags(&self) -> u32 {
        with_entry(self.id, |e| e.flags).unwrap_or(0)
    }

    pub fn set_flags(&self, flags: u32) {
        with_entry(self.id, |e| e.flags = flags);
    }

    /// FsRtlNotifyVolumeEvent (PASSIVE_LEVEL): finds the volume's target device with
    /// IRP_MJ_PNP / IRP_MN_QUERY_DEVICE_RELATIONS (TargetDeviceRelation) sent to the FILE_OBJECT's
    /// device, as IoGetRelatedTargetDevice does, and delivers the event only if that succeeds
    /// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-fsrtlnotifyvolumeevent>).
    /// Delivered events are recorded for `Session::volume_events`.
    pub fn notify_volume_event(&self, event: crate::kernel::VolumeEvent) {
        super::preempt::kernel_call();
        let id = self.id;
        let device = with_state(|state| {
            state.require_irql("FsRtlNotifyVolumeEvent", 0);
            match state.file_objects.get(id) {
                Some(entry) => Some(entry.device),
                None => {
                    state.report(FindingKind::UseAfterFree {
                        kind: ObjectKind::FileObject,
                        id,
                    });
                    None
                }
            }
        })
        .flatten();
        let (Some(device), Some(kernel)) = (device, super::state::current()) else {
            return;
        };
        let mut request = IrpRequest::new(crate::kernel::IrpMajor::Pnp, Some(id));
        request.minor = crate::kernel::request::IRP_MN_QUERY_DEVICE_RELATIONS;
        let status = call_driver(&kernel, device, request).status;
        with_state(|state| {
            if status.is_success() {
                state.push_trace(std::format!("FsRtlNotifyVolumeEvent FO {id} {event:?}"));
                state.volume_events.push(event);
            } else {
                state.push_trace(std::format!(
                    "FsRtlNotifyVolumeEvent FO {id} {event:?}: no target device ({status:?}), \
                     not delivered"
                ));
            }
        });
    }

    /// FileObject->FileName (UTF-16 code units).
    pub fn file_name(&self) -> Vec<u16> {
        with_entry(self.id, |e| e.file_name.clone()).unwrap_or_default()
    }

    /// FileObject->RelatedFileObject.
    pub fn related_file_object(&self) -> Option<FileObject> {
        with_entry(self.id, |e| e.related)
            .flatten()
            .map(|id| FileObject { id })
    }

    pub fn current_byte_offset(&self) -> u64 {
        with_entry(self.id, |e| e.current_byte_offset).unwrap_or(0)
    }

    pub fn set_current_byte_offset(&self, offset: u64) {
        with_entry(self.id, |e| e.current_byte_offset = offset);
    }
}
