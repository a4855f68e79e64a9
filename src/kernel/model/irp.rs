//! The IRP being dispatched, its typed parameters and its buffers (system buffer, MDL, user
//! buffer), plus the model's records of IRPs and MDLs.

use std::boxed::Box;
use std::string::String;
use std::vec::Vec;

use super::device::{DeviceRef, MountRequest};
use super::file_object::FileObject;
use super::slab::ObjId;
use super::state::with_state;
use super::token::Token;
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::request::{CreateParameters, IrpParameters};
use crate::kernel::{IrpMajor, NtStatus};

/// How the output buffer reaches the driver.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BufferKind {
    None,
    /// Irp->AssociatedIrp.SystemBuffer (buffered I/O).
    System,
    /// Irp->MdlAddress (direct I/O).
    Mdl,
    /// Irp->UserBuffer (neither I/O): a user-mode address.
    User,
}

pub struct IrpEntry {
    pub major: u8,
    pub minor: u8,
    pub device: ObjId,
    pub file_object: Option<ObjId>,
    pub parameters: IrpParameters,
    /// Irp->Flags (IRP_NOCACHE, IRP_PAGING_IO, IRP_SYNCHRONOUS_PAGING_IO).
    pub flags: u32,
    pub completed: Option<NtStatus>,
    pub pending: bool,
    pub information: usize,
    pub buffer_kind: BufferKind,
    pub buffer: Vec<u8>,
    pub mdl: Option<ObjId>,
    /// Irp's token was dropped without completion (already reported).
    pub abandoned: bool,
    /// Irp->Tail.Overlay.AuxiliaryBuffer of a STATUS_REPARSE create (`complete_reparse`).
    pub reparse: Option<Vec<u8>>,
    /// Pended, and the I/O manager returned STATUS_PENDING to an asynchronous caller: nobody
    /// waits, and completion finishes it (`finish_outstanding`).
    pub outstanding: bool,
    /// IoCancelIrp was called on it.
    pub cancelled: bool,
    /// FsRtl's cancel routine is set: the notify list holding it.
    pub cancel_notify: Option<ObjId>,
    /// FsRtl's oplock cancel routine is set: the OPLOCK holding it (`oplock.rs`).
    pub cancel_oplock: Option<ObjId>,
    /// Irp->UserBuffer names memory the caller cannot write (freed, read-only, a kernel
    /// address from user mode): MmProbeAndLockPages raises on it.
    pub user_buffer_invalid: bool,
    /// The process the request is made for (IoGetRequestorProcess); 0 for the system.
    pub requestor: u32,
    /// Irp->MdlAddress as an MDL chain of cache pages (IRP_MN_MDL / IRP_MN_COMPLETE_MDL).
    pub mdl_chain: Option<u64>,
    /// The driver holds the output buffer's system mapping (`Irp::map_output`): `buffer` is
    /// with the mapping meanwhile, and a write through `Mdl`/`SystemBuffer` is a finding.
    pub mapped: bool,
    /// A CREATE's ACCESS_STATE.SubjectSecurityContext: the caller's token; None for a
    /// kernel-mode requestor (its checks grant everything).
    pub subject: Option<Box<Token>>,
}

pub struct MdlEntry {
    pub irp: ObjId,
    pub length: usize,
}

/// An IRP the I/O manager handed to our dispatch routine. Completing it consumes the token.
pub struct Irp {
    pub(crate) id: ObjId,
}

/// The MDL describing the caller's buffer (MmGetSystemAddressForMdlSafe gives the view).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mdl {
    id: ObjId,
}

/// The system buffer of a buffered request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SystemBuffer {
    irp: ObjId,
}

/// A user-mode address. The driver must never dereference one; the model reports it if it does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UserBuffer {
    irp: ObjId,
}

/// The request's output buffer, in the form the device's I/O method gives it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutputBuffer {
    None,
    System(SystemBuffer),
    Mdl(Mdl),
    User(UserBuffer),
}

/// Runs `f` on a live, not yet completed IRP. After IoCompleteRequest the IRP belongs to the
/// I/O manager again (it may already be freed): any driver access is a use-after-free.
fn with_irp<R>(id: ObjId, f: impl FnOnce(&mut IrpEntry) -> R) -> Option<R> {
    with_state(|state| match state.irps.get_mut(id) {
        Some(entry) if entry.completed.is_none() => Some(f(entry)),
        _ => {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Irp,
                id,
            });
            None
        }
    })
    .flatten()
}

fn write_buffer(irp: ObjId, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
    let mapped = with_state(|state| {
        let mapped = state.irps.get(irp).is_some_and(|entry| entry.mapped);
        if mapped {
            state.report(FindingKind::Other(std::format!(
                "IRP {irp}'s buffer written through its MDL while the driver holds its mapping"
            )));
        }
        mapped
    });
    if mapped == Some(true) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    with_irp(irp, |entry| {
        let end = offset
            .checked_add(data.len())
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let target = entry
            .buffer
            .get_mut(offset..end)
            .ok_or(NtStatus::BUFFER_TOO_SMALL)?;
        target.copy_from_slice(data);
        Ok(())
    })
    .unwrap_or(Err(NtStatus::INVALID_PARAMETER))
}

impl Irp {
    /// The major function of the current stack location.
    pub fn major(&self) -> Option<IrpMajor> {
        with_irp(self.id, |e| IrpMajor::from_code(e.major)).flatten()
    }

    pub fn minor(&self) -> u8 {
        with_irp(self.id, |e| e.minor).unwrap_or(0)
    }

    /// Irp->Flags.
    pub fn flags(&self) -> u32 {
        with_irp(self.id, |e| e.flags).unwrap_or(0)
    }

    pub fn parameters(&self) -> IrpParameters {
        with_irp(self.id, |e| e.parameters.clone()).unwrap_or(IrpParameters::None)
    }

    pub fn create_parameters(&self) -> Option<CreateParameters> {
        self.parameters().into_create()
    }

    /// SeAccessCheck of the self-relative `descriptor` for `desired` access against this
    /// CREATE's subject context (locked around the check, SeLockSubjectContext), with the
    /// file object type's generic mapping, in the requestor's mode: the access granted (with
    /// `previously_granted`), or why not. The model's own oracle (`access_check.rs`).
    pub fn check_access(
        &self,
        descriptor: &[u8],
        desired: u32,
        previously_granted: u32,
    ) -> Result<u32, NtStatus> {
        super::preempt::kernel_call();
        // The kernel's own work: its allocations are not the driver's heap.
        let _model = super::heap_faults::Scope::model();
        with_state(|state| state.require_irql("SeAccessCheck", super::irql::PASSIVE_LEVEL));
        let token = with_irp(self.id, |e| e.subject.clone()).ok_or(NtStatus::INVALID_PARAMETER)?;
        super::access_check::se_access_check(
            descriptor,
            token.as_deref(),
            desired,
            previously_granted,
        )
    }

    /// What a file system does with the ACCESS_STATE of a CREATE it granted `granted` to:
    /// PreviouslyGrantedAccess gains it, and RemainingDesiredAccess loses it and
    /// MAXIMUM_ALLOWED. The handle gets both (ObpCreateHandle).
    pub fn grant_access(&mut self, granted: u32) {
        with_irp(self.id, |e| {
            if let IrpParameters::Create(create) = &mut e.parameters {
                create.previously_granted_access |= granted;
                create.remaining_desired_access &= !(granted | crate::kernel::MAXIMUM_ALLOWED);
            }
        });
    }

    /// IRP_MN_MOUNT_VOLUME's VPB and target device.
    pub fn mount_request(&self) -> Option<MountRequest> {
        self.parameters().into_mount()
    }

    /// IRP_MN_VERIFY_VOLUME's VPB and real device.
    pub fn verify_request(&self) -> Option<MountRequest> {
        self.parameters().into_verify()
    }

    /// The current stack location's FileObject.
    pub fn file_object(&self) -> Option<FileObject> {
        with_irp(self.id, |e| e.file_object)
            .flatten()
            .map(|id| FileObject { id })
    }

    /// The current stack location's DeviceObject: the device the IRP was sent to.
    pub fn device(&self) -> Option<DeviceRef> {
        with_irp(self.id, |e| DeviceRef { id: e.device })
    }

    /// A number naming this IRP in debug output (the IRP's address on Windows).
    pub fn trace_id(&self) -> u64 {
        (u64::from(self.id.index) << 32) | u64::from(self.id.generation)
    }

    /// Irp->IoStatus.Information.
    pub fn set_information(&mut self, information: usize) {
        with_irp(self.id, |e| e.information = information);
    }

    /// The output buffer in the form the I/O method gives it.
    pub fn output_buffer(&self) -> OutputBuffer {
        let id = self.id;
        with_irp(id, |e| match e.buffer_kind {
            BufferKind::None => OutputBuffer::None,
            BufferKind::System => OutputBuffer::System(SystemBuffer { irp: id }),
            // A user buffer locked by `lock_user_buffer` is reached through its MDL.
            BufferKind::User => match e.mdl {
                Some(mdl) => OutputBuffer::Mdl(Mdl { id: mdl }),
                None => OutputBuffer::User(UserBuffer { irp: id }),
            },
            BufferKind::Mdl => match e.mdl {
                Some(mdl) => OutputBuffer::Mdl(Mdl { id: mdl }),
                None => OutputBuffer::None,
            },
        })
        .unwrap_or(OutputBuffer::None)
    }

    /// The output buffer as bytes the driver writes in place: MmGetSystemAddressForMdlSafe
    /// (NormalPagePriority | MdlMappingNoExecute) over Irp->MdlAddress, or the system buffer
    /// of a buffered request
    /// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmgetsystemaddressformdlsafe>).
    /// A null mapping (the model never fails one) is STATUS_INSUFFICIENT_RESOURCES; a user
    /// address is never mapped (STATUS_INVALID_USER_BUFFER, nothing touched). The IRP stays
    /// borrowed while mapped, so it cannot be completed (and its MDL unlocked) under the
    /// mapping; writing it meanwhile through a copied `Mdl`/`SystemBuffer` is a finding.
    /// IRQL <= DISPATCH_LEVEL.
    pub fn map_output(&mut self) -> Result<MappedBuffer<'_>, NtStatus> {
        let id = self.id;
        with_state(|state| {
            state.require_irql("MmGetSystemAddressForMdlSafe", 2);
            let Some(entry) = state.irps.get_mut(id).filter(|e| e.completed.is_none()) else {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Irp,
                    id,
                });
                return Err(NtStatus::INVALID_PARAMETER);
            };
            let len = match (entry.buffer_kind, entry.mdl) {
                (BufferKind::System, _) => entry.buffer.len(),
                (BufferKind::Mdl | BufferKind::User, Some(mdl)) => {
                    state.mdls.get(mdl).map_or(0, |m| m.length)
                }
                _ => return Err(NtStatus::INVALID_USER_BUFFER),
            };
            let Some(entry) = state.irps.get_mut(id) else {
                return Err(NtStatus::INVALID_PARAMETER);
            };
            if entry.mapped {
                state.report(FindingKind::Other(std::format!(
                    "IRP {id}'s buffer mapped twice at once"
                )));
                return Err(NtStatus::INVALID_PARAMETER);
            }
            entry.mapped = true;
            let bytes = core::mem::take(&mut entry.buffer);
            let len = len.min(bytes.len());
            Ok(MappedBuffer {
                irp: id,
                bytes,
                len,
                _irp: core::marker::PhantomData,
            })
        })
        .unwrap_or(Err(NtStatus::INSUFFICIENT_RESOURCES))
    }

    /// Locks a neither-I/O request's user buffer (Irp->UserBuffer, `length` bytes) for writing,
    /// as FastFAT's FatLockUserBuffer does (deviosup.c): IoAllocateMdl charged to the IRP
    /// (Irp->MdlAddress, which the I/O manager unlocks and frees at completion), then
    /// MmProbeAndLockPages(RequestorMode, IoWriteAccess) under an exception handler. A buffer
    /// the caller cannot write fails with STATUS_INVALID_USER_BUFFER (the raised status is not
    /// one FsRtlIsNtstatusExpected accepts) and leaves no MDL. Afterwards `output_buffer`
    /// gives the MDL. Nothing happens for a buffered or direct request, one already locked, or
    /// a zero length. IRQL <= APC_LEVEL (MmProbeAndLockPages on pageable user memory).
    pub fn lock_user_buffer(&mut self, length: u32) -> Result<(), NtStatus> {
        super::preempt::kernel_call();
        let id = self.id;
        with_state(|state| {
            state.require_irql("MmProbeAndLockPages", 1);
            let Some(entry) = state.irps.get(id).filter(|e| e.completed.is_none()) else {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Irp,
                    id,
                });
                return Err(NtStatus::INVALID_PARAMETER);
            };
            if entry.buffer_kind != BufferKind::User || entry.mdl.is_some() || length == 0 {
                return Ok(());
            }
            if entry.user_buffer_invalid || length as usize > entry.buffer.len() {
                state.push_trace(std::format!(
                    "MmProbeAndLockPages on IRP {id}: access violation"
                ));
                return Err(NtStatus::INVALID_USER_BUFFER);
            }
            let mdl = state.mdls.insert(MdlEntry {
                irp: id,
                length: length as usize,
            });
            if let Some(entry) = state.irps.get_mut(id) {
                entry.mdl = Some(mdl);
            }
            Ok(())
        })
        .unwrap_or(Err(NtStatus::INVALID_PARAMETER))
    }

    /// IoMarkIrpPending: the dispatch routine will return STATUS_PENDING and complete later.
    pub fn mark_pending(&mut self) {
        with_irp(self.id, |e| e.pending = true);
    }

    /// Sets the final status and completes the IRP. Returns the status for the dispatch routine.
    pub fn complete(self, status: NtStatus) -> NtStatus {
        super::preempt::kernel_call();
        let id = self.id;
        core::mem::forget(self);
        with_state(|state| {
            state.require_irql("IoCompleteRequest", 2);
            match state.irps.get_mut(id) {
                None => state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Irp,
                    id,
                }),
                Some(entry) if entry.completed.is_some() => {
                    state.report(FindingKind::IrpCompletedTwice { irp: id })
                }
                Some(entry) => {
                    entry.completed = Some(status);
                    if entry.outstanding {
                        // IopCompleteRequest's last stage runs later (an APC to the thread
                        // that asked; the worker here): the IRP goes, the FILE_OBJECT's
                        // reference with it.
                        state.work_queue.push_back((
                            String::from("IopCompleteRequest"),
                            std::boxed::Box::new(move || {
                                super::harness::io::finish_outstanding(id);
                            }),
                        ));
                    }
                }
            }
        });
        status
    }
}

impl Irp {
    /// Completes IRP_MJ_CREATE with STATUS_REPARSE: IoStatus.Information = `tag` and
    /// Tail.Overlay.AuxiliaryBuffer = a pool copy of `buffer` (the I/O manager frees it). Used on
    /// another major function it is a finding, and the IRP completes with
    /// STATUS_INVALID_PARAMETER. (`nt` completes with STATUS_INSUFFICIENT_RESOURCES when the copy
    /// cannot be allocated; the model's allocation does not fail.)
    pub fn complete_reparse(self, tag: u32, buffer: &[u8]) -> NtStatus {
        super::preempt::kernel_call();
        let id = self.id;
        let is_create = with_irp(id, |e| e.major == IrpMajor::Create as u8);
        match is_create {
            Some(true) => {
                with_irp(id, |e| {
                    e.information = tag as usize;
                    e.reparse = Some(buffer.to_vec());
                });
                self.complete(NtStatus::REPARSE)
            }
            Some(false) => {
                with_state(|state| {
                    state.report(FindingKind::Other(String::from(
                        "complete_reparse on an IRP that is not IRP_MJ_CREATE",
                    )))
                });
                self.complete(NtStatus::INVALID_PARAMETER)
            }
            // A stale IRP (already reported by with_irp): complete reports it again as such.
            None => self.complete(NtStatus::INVALID_PARAMETER),
        }
    }
}

impl Irp {
    /// Completes IRP_MJ_CREATE with STATUS_REPARSE and IoStatus.Information = IO_REMOUNT: the
    /// I/O manager parses the name again, which mounts whatever the disk holds now (FastFAT
    /// FatPerformVerify and CDFS CdPerformVerify answer a create so after a verify found
    /// another volume). On another major function it is a finding and STATUS_INVALID_PARAMETER.
    pub fn complete_remount(self) -> NtStatus {
        super::preempt::kernel_call();
        let id = self.id;
        match with_irp(id, |e| e.major == IrpMajor::Create as u8) {
            Some(true) => {
                with_irp(id, |e| e.information = IO_REMOUNT);
                self.complete(NtStatus::REPARSE)
            }
            Some(false) => {
                with_state(|state| {
                    state.report(FindingKind::Other(String::from(
                        "complete_remount on an IRP that is not IRP_MJ_CREATE",
                    )))
                });
                self.complete(NtStatus::INVALID_PARAMETER)
            }
            None => self.complete(NtStatus::INVALID_PARAMETER),
        }
    }
}

/// IO_REMOUNT: STATUS_REPARSE's Information asking the I/O manager to parse the name again.
pub const IO_REMOUNT: usize = 0;

impl Drop for Irp {
    fn drop(&mut self) {
        let id = self.id;
        with_state(|state| {
            if let Some(entry) = state.irps.get_mut(id)
                && entry.completed.is_none()
            {
                entry.abandoned = true;
                state.report(FindingKind::IrpNeverCompleted { irp: id });
            }
        });
    }
}

/// An IRP's output buffer mapped for the driver (`Irp::map_output`): its bytes, written in
/// place. The model lends the IRP's buffer to the mapping and takes it back on drop.
pub struct MappedBuffer<'a> {
    irp: ObjId,
    bytes: Vec<u8>,
    /// MmGetMdlByteCount (a locked user buffer's MDL may be shorter than the buffer).
    len: usize,
    _irp: core::marker::PhantomData<&'a mut Irp>,
}

impl core::ops::Deref for MappedBuffer<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl core::ops::DerefMut for MappedBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        self.bytes.get_mut(..len).unwrap_or_default()
    }
}

impl Drop for MappedBuffer<'_> {
    fn drop(&mut self) {
        let id = self.irp;
        let bytes = core::mem::take(&mut self.bytes);
        with_state(|state| match state.irps.get_mut(id) {
            Some(entry) if entry.mapped => {
                entry.mapped = false;
                entry.buffer = bytes;
            }
            _ => state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Mdl,
                id,
            }),
        });
    }
}

impl Mdl {
    /// MmGetSystemAddressForMdlSafe + a copy into the described buffer at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
        let id = self.id;
        let irp = with_state(|state| {
            state.require_irql("MmGetSystemAddressForMdlSafe", 2);
            let irp = state.mdls.get(id).map(|mdl| mdl.irp);
            // The MDL goes with its IRP: once the IRP is completed, the MDL may be unlocked and
            // freed (IoFreeMdl during completion).
            let live = irp
                .and_then(|irp| state.irps.get(irp))
                .is_some_and(|e| e.completed.is_none());
            if !live {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Mdl,
                    id,
                });
                return None;
            }
            irp
        })
        .flatten()
        .ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        write_buffer(irp, offset, data)
    }

    /// MmGetMdlByteCount.
    pub fn len(&self) -> usize {
        let id = self.id;
        with_state(|state| state.mdls.get(id).map(|m| m.length))
            .flatten()
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SystemBuffer {
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
        write_buffer(self.irp, offset, data)
    }

    pub fn len(&self) -> usize {
        with_irp(self.irp, |e| e.buffer.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl UserBuffer {
    /// Dereferences the user address. Never do this from the driver: there is no SEH in Rust,
    /// and the address may be gone or hostile. The model reports it and performs the write.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
        let irp = self.irp;
        with_state(|state| state.report(FindingKind::UserBufferTouched { irp }));
        write_buffer(irp, offset, data)
    }
}

/// Name for a major code, for traces (formatted where it is printed: no string of its own).
pub fn major_name(major: u8) -> MajorName {
    MajorName(major)
}

/// A major code that displays as IRP_MJ_<name>.
pub struct MajorName(u8);

impl core::fmt::Display for MajorName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match IrpMajor::from_code(self.0) {
            Some(major) => write!(f, "IRP_MJ_{major:?}"),
            None => write!(f, "IRP_MJ_{:#x}", self.0),
        }
    }
}

/// IoGetTopLevelIrp / IoSetTopLevelIrp around a request, as FastFAT's and CDFS's FSD entry
/// points do: `enter` makes the IRP the thread's top-level IRP if none is set, and the drop
/// clears it again. A request that finds one already set (a paging read Cc sends from inside
/// our cached read, a CLOSE sent from inside a Cc or Mm call, anything on the cache manager's
/// threads) is recursive: `is_top_level` is false.
pub struct TopLevelIrp {
    owned: bool,
}

impl TopLevelIrp {
    pub fn enter(irp: &Irp) -> TopLevelIrp {
        let id = irp.id;
        let owned = with_state(|state| {
            let thread = state.thread();
            if thread.top_level_irp == 0 {
                thread.top_level_irp = (u64::from(id.index) << 32 | u64::from(id.generation)) + 1;
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
        TopLevelIrp { owned }
    }

    /// True if this request set the thread's top-level IRP (nothing of ours is above it).
    pub fn is_top_level(&self) -> bool {
        self.owned
    }
}

impl Drop for TopLevelIrp {
    fn drop(&mut self) {
        if self.owned {
            with_state(|state| state.thread().top_level_irp = 0);
        }
    }
}
