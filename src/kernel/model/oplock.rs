//! The FsRtl oplock package for one stream (the OPLOCK in an FCB's header): the legacy oplocks
//! (Level 1, Batch, Filter, Level 2) as FsRtlOplockFsctrl grants them, FsRtlCheckOplock breaks
//! them, their acknowledgements, FSCTL_OPLOCK_BREAK_NOTIFY, cleanup and cancellation.
//!
//! Sources (docs/nt-model.md, "Oplocks", cites each rule): Learn's "Oplock Semantics",
//! "Granting Oplocks", "Breaking Oplocks", "Checking the Oplock State of an IRP_MJ_CREATE
//! Operation", FsRtlOplockFsctrl, FsRtlCheckOplock, FsRtlOplockIsFastIoPossible,
//! FsRtlCurrentBatchOplock and the FSCTL_REQUEST_OPLOCK_* / FSCTL_OPLOCK_BREAK_* pages;
//! ReactOS `ntoskrnl/fsrtl/oplock.c` for the behaviour Learn leaves open.
//!
//! In short: a granted request IRP pends (marked pending, FsRtl's cancel routine set, the
//! FILE_OBJECT referenced) until the oplock breaks, when it completes with STATUS_SUCCESS and
//! the level it broke to in IoStatus.Information. An operation that breaks a Level 1, Batch or
//! Filter oplock waits for the owner's acknowledgement: FsRtl marks its IRP pending and calls
//! the file system's completion routine (`OplockResume`) when the acknowledgement (or the
//! owner's cleanup, or a cancel) comes, unless a CREATE asked FILE_COMPLETE_IF_OPLOCKED, which
//! goes on at once with STATUS_OPLOCK_BREAK_IN_PROGRESS. Level 2 oplocks break without waiting.

use std::format;
use std::string::String;
use std::vec::Vec;

use super::file_object::{FO_CLEANUP_COMPLETE, FO_SYNCHRONOUS_IO};
use super::harness::io::dereference;
use super::irp::Irp;
use super::slab::ObjId;
use super::state::{State, current, with_state};
use crate::kernel::request::{
    FILE_COMPLETE_IF_OPLOCKED, FILE_OPLOCK_BROKEN_TO_LEVEL_2, FILE_OPLOCK_BROKEN_TO_NONE,
    FILE_RESERVE_OPFILTER, FSCTL_OPBATCH_ACK_CLOSE_PENDING, FSCTL_OPLOCK_BREAK_ACK_NO_2,
    FSCTL_OPLOCK_BREAK_ACKNOWLEDGE, FSCTL_OPLOCK_BREAK_NOTIFY, FSCTL_REQUEST_BATCH_OPLOCK,
    FSCTL_REQUEST_FILTER_OPLOCK, FSCTL_REQUEST_OPLOCK_LEVEL_1, FSCTL_REQUEST_OPLOCK_LEVEL_2,
    IRP_PAGING_IO, IRP_SYNCHRONOUS_PAGING_IO, IrpParameters,
};
use crate::kernel::{IrpMajor, NtStatus};

/// The file system's completion routine for an operation that waited for an oplock break
/// (POPLOCK_WAIT_COMPLETE_ROUTINE): it gets the IRP back with STATUS_SUCCESS (go on) or
/// STATUS_CANCELLED, and must post or complete it.
pub type OplockResume = fn(Irp, NtStatus);

/// What FsRtlCheckOplock decided.
pub enum OplockCheck {
    /// Go on with the IRP: STATUS_SUCCESS, or STATUS_OPLOCK_BREAK_IN_PROGRESS (a CREATE with
    /// FILE_COMPLETE_IF_OPLOCKED that started a break it does not wait for).
    Proceed(Irp, NtStatus),
    /// The IRP waits for an acknowledgement; FsRtl marked it pending and owns it until it
    /// calls the `OplockResume` given. The dispatch routine returns STATUS_PENDING.
    Pending,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Exclusive {
    Level1,
    Batch,
    Filter,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Broken {
    ToLevel2,
    ToNone,
    /// FSCTL_OPBATCH_ACK_CLOSE_PENDING: the owner will close; waiters wait for its cleanup.
    ClosePending,
}

#[derive(Default)]
enum Grant {
    #[default]
    None,
    Exclusive {
        kind: Exclusive,
        owner: ObjId,
        /// The pended request IRP, until the break completes it.
        irp: Option<ObjId>,
        broken: Option<Broken>,
    },
    /// (request IRP, owner FILE_OBJECT) of every Level 2 holder.
    Level2(Vec<(ObjId, ObjId)>),
}

struct Waiter {
    irp: ObjId,
    /// None: an FSCTL_OPLOCK_BREAK_NOTIFY, completed with STATUS_SUCCESS by FsRtl itself.
    resume: Option<OplockResume>,
}

/// One OPLOCK's state (in `State::oplocks`).
#[derive(Default)]
pub struct OplockEntry {
    grant: Grant,
    waiters: Vec<Waiter>,
}

/// What is done once the state lock is let go, in order.
enum Effect {
    Complete {
        irp: ObjId,
        status: NtStatus,
        information: usize,
    },
    Resume {
        irp: ObjId,
        resume: OplockResume,
        status: NtStatus,
    },
    /// ObDereferenceObject of the reference a grant took on its FILE_OBJECT.
    Dereference(ObjId),
}

/// How a break is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Level2,
    None,
}

/// What an FSCTL's IRP becomes.
enum Reply {
    Done(NtStatus),
    /// Pended as an oplock (or a break notify) with FsRtl's cancel routine; a new grant also
    /// references its FILE_OBJECT (ObReferenceObject) until the oplock goes.
    Pend {
        reference: bool,
    },
}

/// What FsRtlCheckOplock decided, inside the state lock.
#[derive(Clone, Copy, Debug)]
enum Checked {
    Go,
    BreakInProgress,
    Waits,
}

/// The operation FsRtlCheckOplock is asked about.
enum Operation {
    Create {
        access: u32,
        share: u16,
        disposition: u32,
        options: u32,
    },
    Read,
    LockControl,
    Other,
}

// Access rights that never break an oplock at CREATE (Learn, "Checking the Oplock State of an
// IRP_MJ_CREATE Operation": FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES, SYNCHRONIZE).
const ATTRIBUTE_ACCESS: u32 = 0x0000_0080 | 0x0000_0100 | 0x0010_0000;
// What a Filter oplock lets another open have (read, execute, attributes, EAs, READ_CONTROL)
// if it also shares read (same page; ReactOS FsRtlCheckOplock).
const FILTER_COMPATIBLE_ACCESS: u32 =
    ATTRIBUTE_ACCESS | 0x0000_0001 | 0x0000_0020 | 0x0000_0008 | 0x0002_0000;
const FILE_SHARE_READ: u16 = 0x0001;
const FILE_SUPERSEDE: u32 = 0;
const FILE_OVERWRITE: u32 = 4;
const FILE_OVERWRITE_IF: u32 = 5;

impl OplockEntry {
    fn break_in_progress(&self) -> bool {
        matches!(
            self.grant,
            Grant::Exclusive {
                broken: Some(_),
                ..
            }
        )
    }

    /// FsRtlOplockFsctrl's rules (Learn FsRtlOplockFsctrl and the FSCTL pages; ReactOS
    /// FsRtlOplockFsctrl, FsRtlRequestExclusiveOplock, FsRtlRequestOplockII,
    /// FsRtlAcknowledgeOplockBreak, FsRtlOpBatchBreakClosePending, FsRtlOplockBreakNotify).
    fn fsctrl(&mut self, request: &FsctlRequest, effects: &mut Vec<Effect>) -> Reply {
        let FsctlRequest {
            code,
            irp,
            file_object,
            grantable,
            open_count,
        } = *request;
        match code {
            FSCTL_REQUEST_OPLOCK_LEVEL_1
            | FSCTL_REQUEST_BATCH_OPLOCK
            | FSCTL_REQUEST_FILTER_OPLOCK => {
                let kind = match code {
                    FSCTL_REQUEST_OPLOCK_LEVEL_1 => Exclusive::Level1,
                    FSCTL_REQUEST_BATCH_OPLOCK => Exclusive::Batch,
                    _ => Exclusive::Filter,
                };
                // OpenCount is the handle count: only the one handle may hold it.
                let free = match &self.grant {
                    Grant::None => true,
                    Grant::Level2(holders) => holders.iter().all(|(_, o)| *o == file_object),
                    Grant::Exclusive { .. } => false,
                };
                if open_count != 1 || !grantable || !free {
                    return Reply::Done(NtStatus::OPLOCK_NOT_GRANTED);
                }
                // The handle's own Level 2 gives way to the exclusive oplock.
                if let Grant::Level2(holders) = core::mem::take(&mut self.grant) {
                    end_level2(holders, effects);
                }
                self.grant = Grant::Exclusive {
                    kind,
                    owner: file_object,
                    irp: Some(irp),
                    broken: None,
                };
                Reply::Pend { reference: true }
            }
            FSCTL_REQUEST_OPLOCK_LEVEL_2 => {
                // OpenCount is the number of byte-range locks: none may exist.
                if open_count != 0 || !grantable {
                    return Reply::Done(NtStatus::OPLOCK_NOT_GRANTED);
                }
                match &mut self.grant {
                    Grant::None => self.grant = Grant::Level2(std::vec![(irp, file_object)]),
                    Grant::Level2(holders) => holders.push((irp, file_object)),
                    Grant::Exclusive { .. } => return Reply::Done(NtStatus::OPLOCK_NOT_GRANTED),
                }
                Reply::Pend { reference: true }
            }
            FSCTL_OPLOCK_BREAK_ACKNOWLEDGE | FSCTL_OPLOCK_BREAK_ACK_NO_2 => {
                let Grant::Exclusive {
                    owner,
                    broken: Some(broken),
                    ..
                } = self.grant
                else {
                    return Reply::Done(NtStatus::INVALID_OPLOCK_PROTOCOL);
                };
                if owner != file_object {
                    return Reply::Done(NtStatus::INVALID_OPLOCK_PROTOCOL);
                }
                self.release_waiters(NtStatus::SUCCESS, effects);
                if code == FSCTL_OPLOCK_BREAK_ACKNOWLEDGE && broken == Broken::ToLevel2 {
                    // The acknowledgement becomes the Level 2 oplock's request IRP, keeping
                    // the exclusive oplock's FILE_OBJECT reference.
                    self.grant = Grant::Level2(std::vec![(irp, file_object)]);
                    return Reply::Pend { reference: false };
                }
                self.grant = Grant::None;
                effects.push(Effect::Dereference(owner));
                Reply::Done(NtStatus::SUCCESS)
            }
            FSCTL_OPBATCH_ACK_CLOSE_PENDING => match &mut self.grant {
                Grant::Exclusive {
                    owner,
                    broken: broken @ Some(_),
                    ..
                } if *owner == file_object => {
                    *broken = Some(Broken::ClosePending);
                    Reply::Done(NtStatus::SUCCESS)
                }
                _ => Reply::Done(NtStatus::INVALID_OPLOCK_PROTOCOL),
            },
            FSCTL_OPLOCK_BREAK_NOTIFY => {
                if !self.break_in_progress() {
                    return Reply::Done(NtStatus::SUCCESS);
                }
                self.waiters.push(Waiter { irp, resume: None });
                Reply::Pend { reference: false }
            }
            _ => Reply::Done(NtStatus::INVALID_PARAMETER),
        }
    }

    /// Which break `operation` by `file_object` needs (Learn "Breaking Oplocks" and "Checking
    /// the Oplock State of an IRP_MJ_CREATE Operation"; ReactOS FsRtlCheckOplock).
    fn break_needed(&self, operation: &Operation, file_object: ObjId) -> Option<Target> {
        let (kind, foreign) = match &self.grant {
            Grant::None => return None,
            Grant::Level2(_) => (None, true),
            Grant::Exclusive { kind, owner, .. } => (Some(*kind), *owner != file_object),
        };
        let filter = kind == Some(Exclusive::Filter);
        let exclusive_foreign = kind.is_some() && foreign;
        match *operation {
            Operation::Read if !filter && exclusive_foreign => Some(Target::Level2),
            Operation::LockControl if !filter && foreign => Some(Target::None),
            Operation::Create {
                access,
                share,
                disposition,
                options,
            } => {
                let reserve = options & FILE_RESERVE_OPFILTER != 0;
                if access & !ATTRIBUTE_ACCESS == 0 && !reserve {
                    return None;
                }
                if filter
                    && !reserve
                    && access & !FILTER_COMPATIBLE_ACCESS == 0
                    && share & FILE_SHARE_READ != 0
                {
                    return None;
                }
                let overwrite = matches!(
                    disposition,
                    FILE_SUPERSEDE | FILE_OVERWRITE | FILE_OVERWRITE_IF
                );
                if overwrite || reserve || filter {
                    Some(Target::None)
                } else if exclusive_foreign {
                    Some(Target::Level2)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Breaks toward `target`; true if the caller must wait for the owner's acknowledgement.
    fn break_to(&mut self, target: Target, effects: &mut Vec<Effect>) -> bool {
        match &mut self.grant {
            Grant::None => false,
            Grant::Level2(holders) => {
                if target == Target::None {
                    end_level2(core::mem::take(holders), effects);
                    self.grant = Grant::None;
                }
                false
            }
            Grant::Exclusive {
                kind, irp, broken, ..
            } => {
                match broken {
                    None => {
                        // Filter oplocks never break to Level 2 ("Breaking Oplocks").
                        let level2 = target == Target::Level2 && *kind != Exclusive::Filter;
                        if let Some(held) = irp.take() {
                            effects.push(Effect::Complete {
                                irp: held,
                                status: NtStatus::SUCCESS,
                                information: if level2 {
                                    FILE_OPLOCK_BROKEN_TO_LEVEL_2
                                } else {
                                    FILE_OPLOCK_BROKEN_TO_NONE
                                },
                            });
                        }
                        *broken = Some(if level2 {
                            Broken::ToLevel2
                        } else {
                            Broken::ToNone
                        });
                    }
                    // Broken to Level 2 and now needed gone: the acknowledgement ends it.
                    Some(Broken::ToLevel2) if target == Target::None => {
                        *broken = Some(Broken::ToNone)
                    }
                    Some(_) => {}
                }
                true
            }
        }
    }

    /// The owner's CLEANUP (FsRtlCheckOplock on IRP_MJ_CLEANUP; ReactOS FsRtlOplockCleanup):
    /// its oplocks go, their request IRPs complete with FILE_OPLOCK_BROKEN_TO_NONE, and the
    /// operations waiting for its acknowledgement go on.
    fn cleanup(&mut self, file_object: ObjId, effects: &mut Vec<Effect>) {
        match &mut self.grant {
            Grant::None => {}
            Grant::Level2(holders) => {
                let (mine, others) = core::mem::take(holders)
                    .into_iter()
                    .partition(|&(_, owner)| owner == file_object);
                end_level2(mine, effects);
                *holders = others;
                if holders.is_empty() {
                    self.grant = Grant::None;
                }
            }
            Grant::Exclusive { owner, irp, .. } => {
                if *owner != file_object {
                    return;
                }
                if let Some(held) = irp.take() {
                    effects.push(broken_to_none(held));
                }
                effects.push(Effect::Dereference(*owner));
                self.grant = Grant::None;
                self.release_waiters(NtStatus::SUCCESS, effects);
            }
        }
    }

    /// FsRtl's cancel routines (ReactOS FsRtlCancelExclusiveIrp, FsRtlCancelOplockIIIrp,
    /// FsRtlCancelWaitIrp): a cancelled request IRP gives its oplock up (STATUS_CANCELLED); a
    /// cancelled waiter is handed back to the file system with STATUS_CANCELLED.
    fn cancel(&mut self, irp: ObjId, effects: &mut Vec<Effect>) -> bool {
        let cancelled = |effects: &mut Vec<Effect>| {
            effects.push(Effect::Complete {
                irp,
                status: NtStatus::CANCELLED,
                information: 0,
            })
        };
        match &mut self.grant {
            Grant::Exclusive {
                owner,
                irp: Some(held),
                ..
            } if *held == irp => {
                cancelled(effects);
                effects.push(Effect::Dereference(*owner));
                self.grant = Grant::None;
                self.release_waiters(NtStatus::SUCCESS, effects);
                return true;
            }
            Grant::Level2(holders) => {
                if let Some(at) = holders.iter().position(|(held, _)| *held == irp) {
                    let (_, owner) = holders.remove(at);
                    cancelled(effects);
                    effects.push(Effect::Dereference(owner));
                    if holders.is_empty() {
                        self.grant = Grant::None;
                    }
                    return true;
                }
            }
            _ => {}
        }
        let Some(at) = self.waiters.iter().position(|w| w.irp == irp) else {
            return false;
        };
        let waiter = self.waiters.remove(at);
        match waiter.resume {
            Some(resume) => effects.push(Effect::Resume {
                irp,
                resume,
                status: NtStatus::CANCELLED,
            }),
            None => cancelled(effects),
        }
        true
    }

    fn release_waiters(&mut self, status: NtStatus, effects: &mut Vec<Effect>) {
        for waiter in self.waiters.drain(..) {
            effects.push(match waiter.resume {
                Some(resume) => Effect::Resume {
                    irp: waiter.irp,
                    resume,
                    status,
                },
                None => Effect::Complete {
                    irp: waiter.irp,
                    status,
                    information: 0,
                },
            });
        }
    }

    /// FsRtlUninitializeOplock: whatever still pends completes (ReactOS).
    fn uninitialize(&mut self, effects: &mut Vec<Effect>) {
        match core::mem::take(&mut self.grant) {
            Grant::None => {}
            Grant::Level2(holders) => end_level2(holders, effects),
            Grant::Exclusive { owner, irp, .. } => {
                if let Some(held) = irp {
                    effects.push(broken_to_none(held));
                }
                effects.push(Effect::Dereference(owner));
            }
        }
        self.release_waiters(NtStatus::SUCCESS, effects);
    }

    fn describe(&self) -> String {
        match &self.grant {
            Grant::None => String::from("none"),
            Grant::Level2(holders) => format!("level 2 x{}", holders.len()),
            Grant::Exclusive {
                kind,
                owner,
                broken,
                ..
            } => format!("{kind:?} FO {owner} broken {broken:?}"),
        }
    }
}

/// A pended request completed because its oplock is gone.
fn broken_to_none(irp: ObjId) -> Effect {
    Effect::Complete {
        irp,
        status: NtStatus::SUCCESS,
        information: FILE_OPLOCK_BROKEN_TO_NONE,
    }
}

/// Level 2 oplocks that go: their requests complete, their references are dropped.
fn end_level2(holders: Vec<(ObjId, ObjId)>, effects: &mut Vec<Effect>) {
    for (held, owner) in holders {
        effects.push(broken_to_none(held));
        effects.push(Effect::Dereference(owner));
    }
}

/// An FSCTL as FsRtlOplockFsctrl sees it.
#[derive(Clone, Copy)]
struct FsctlRequest {
    code: u32,
    irp: ObjId,
    file_object: ObjId,
    /// Asynchronous, not paging, FILE_OBJECT not cleaned up.
    grantable: bool,
    open_count: u32,
}

/// The FCB's OPLOCK (FsRtlInitializeOplock at FCB creation, FsRtlUninitializeOplock at its
/// teardown).
pub struct Oplock {
    id: Option<ObjId>,
}

impl Oplock {
    /// FsRtlInitializeOplock.
    pub(crate) fn new() -> Oplock {
        let id = with_state(|state| state.oplocks.insert(OplockEntry::default()));
        Oplock { id }
    }

    /// FsRtlOplockFsctrl(Oplock, Irp, OpenCount) on an oplock FSCTL: takes the IRP and
    /// completes it, or pends it as a granted oplock (STATUS_PENDING). OpenCount is the
    /// number of user handles for Level 1, Batch and Filter requests, the number of
    /// byte-range locks for Level 2 requests, unused otherwise.
    pub fn fsctrl(&self, irp: Irp, open_count: u32) -> NtStatus {
        super::preempt::point();
        let id = irp.id;
        let mut effects = Vec::new();
        let reply = with_state(|state| {
            state.require_irql("FsRtlOplockFsctrl", 1);
            let entry = state.irps.get(id)?;
            let IrpParameters::FileSystemControl { code, .. } = entry.parameters else {
                return None;
            };
            let file_object = entry.file_object?;
            let fo_flags = state.file_objects.get(file_object).map_or(0, |f| f.flags);
            let synchronous = fo_flags & FO_SYNCHRONOUS_IO != 0
                || entry.flags & (IRP_SYNCHRONOUS_PAGING_IO | IRP_PAGING_IO) != 0;
            let request = FsctlRequest {
                code,
                irp: id,
                file_object,
                grantable: !synchronous && fo_flags & FO_CLEANUP_COMPLETE == 0,
                open_count,
            };
            let oplock = self.id?;
            let entry = state.oplocks.get_mut(oplock)?;
            let reply = entry.fsctrl(&request, &mut effects);
            let now = entry.describe();
            let outcome = match &reply {
                Reply::Done(status) => format!("{status:?}"),
                Reply::Pend { reference } => {
                    pend(state, id, oplock);
                    if *reference && let Some(entry) = state.file_objects.get_mut(file_object) {
                        entry.pointer_count += 1;
                    }
                    String::from("pending")
                }
            };
            state.push_trace(format!(
                "FsRtlOplockFsctrl {code:#x} FO {file_object} count {open_count}: {outcome} (now {now})"
            ));
            // FsRtl does not say whether the acknowledgement or the operations it releases
            // complete first: either, under the seeded choice.
            Some((reply, state.choose(2) == 0))
        })
        .flatten();
        match reply {
            Some((Reply::Pend { .. }, _)) => {
                core::mem::forget(irp);
                apply(effects);
                NtStatus::PENDING
            }
            Some((Reply::Done(status), acknowledgement_first)) => {
                let mut irp = irp;
                irp.set_information(0);
                if acknowledgement_first {
                    irp.complete(status);
                    apply(effects);
                } else {
                    apply(effects);
                    irp.complete(status);
                }
                status
            }
            None => irp.complete(NtStatus::INVALID_PARAMETER),
        }
    }

    /// FsRtlCheckOplock(Oplock, Irp, Context, CompletionRoutine = `resume`, NULL): breaks
    /// what the operation conflicts with. Paging I/O never breaks anything.
    pub fn check(&self, irp: Irp, resume: OplockResume) -> OplockCheck {
        super::preempt::point();
        let id = irp.id;
        let mut effects = Vec::new();
        let outcome = with_state(|state| {
            state.require_irql("FsRtlCheckOplock", 1);
            state.oplock_checks += 1;
            let entry = state.irps.get(id)?;
            if entry.flags & IRP_PAGING_IO != 0 {
                return None;
            }
            let file_object = entry.file_object?;
            let operation = match (IrpMajor::from_code(entry.major), &entry.parameters) {
                (Some(IrpMajor::Create), IrpParameters::Create(p)) => Operation::Create {
                    access: p.desired_access,
                    share: p.share_access,
                    disposition: p.disposition,
                    options: p.options,
                },
                (Some(IrpMajor::Read), _) => Operation::Read,
                (Some(IrpMajor::LockControl), _) => Operation::LockControl,
                _ => Operation::Other,
            };
            let complete_if_oplocked = matches!(
                operation,
                Operation::Create { options, .. } if options & FILE_COMPLETE_IF_OPLOCKED != 0
            );
            let oplock = self.id?;
            let entry = state.oplocks.get_mut(oplock)?;
            let target = entry.break_needed(&operation, file_object)?;
            let must_wait = entry.break_to(target, &mut effects);
            let now = entry.describe();
            let outcome = if !must_wait {
                Checked::Go
            } else if complete_if_oplocked {
                Checked::BreakInProgress
            } else {
                entry.waiters.push(Waiter {
                    irp: id,
                    resume: Some(resume),
                });
                pend(state, id, oplock);
                Checked::Waits
            };
            let major = super::irp::major_name(state.irps.get(id).map_or(0, |e| e.major));
            state.push_trace(format!(
                "FsRtlCheckOplock {major} FO {file_object}: break (now {now}): {outcome:?}"
            ));
            Some(outcome)
        })
        .flatten();
        apply(effects);
        match outcome.unwrap_or(Checked::Go) {
            Checked::Go => OplockCheck::Proceed(irp, NtStatus::SUCCESS),
            Checked::BreakInProgress => {
                OplockCheck::Proceed(irp, NtStatus::OPLOCK_BREAK_IN_PROGRESS)
            }
            Checked::Waits => {
                core::mem::forget(irp);
                OplockCheck::Pending
            }
        }
    }

    /// FsRtlCheckOplock on an IRP_MJ_CLEANUP (never waits): the FILE_OBJECT's oplocks go.
    pub fn cleanup(&self, irp: &Irp) {
        super::preempt::point();
        let id = irp.id;
        let mut effects = Vec::new();
        with_state(|state| {
            state.require_irql("FsRtlCheckOplock", 1);
            state.oplock_checks += 1;
            let file_object = state.irps.get(id).and_then(|e| e.file_object);
            let fo = file_object.map_or(String::from("-"), |f| format!("{f}"));
            state.push_trace(format!("FsRtlCheckOplock IRP_MJ_CLEANUP FO {fo}"));
            let (Some(oplock), Some(file_object)) = (self.id, file_object) else {
                return;
            };
            if let Some(entry) = state.oplocks.get_mut(oplock) {
                entry.cleanup(file_object, &mut effects);
            }
        });
        apply(effects);
    }

    /// FsRtlOplockIsFastIoPossible: false while a Level 2 oplock is held or a break is in
    /// progress (fast I/O would bypass the checks that break them).
    pub fn is_fast_io_possible(&self) -> bool {
        super::preempt::kernel_call();
        self.with_entry(|entry| {
            !matches!(entry.grant, Grant::Level2(_)) && !entry.break_in_progress()
        })
        .unwrap_or(true)
    }

    /// FsRtlCurrentBatchOplock: a Batch or Filter oplock is held (broken or not).
    pub fn current_batch_oplock(&self) -> bool {
        super::preempt::kernel_call();
        self.with_entry(|entry| {
            matches!(
                entry.grant,
                Grant::Exclusive {
                    kind: Exclusive::Batch | Exclusive::Filter,
                    ..
                }
            )
        })
        .unwrap_or(false)
    }

    fn with_entry<R>(&self, f: impl FnOnce(&OplockEntry) -> R) -> Option<R> {
        let oplock = self.id?;
        with_state(|state| {
            state.require_irql("FsRtlOplock query", 1);
            state.oplocks.get(oplock).map(f)
        })
        .flatten()
    }
}

impl Drop for Oplock {
    /// FsRtlUninitializeOplock.
    fn drop(&mut self) {
        let Some(oplock) = self.id else { return };
        let mut effects = Vec::new();
        with_state(|state| {
            if let Some(mut entry) = state.oplocks.remove(oplock) {
                entry.uninitialize(&mut effects);
            }
        });
        apply(effects);
    }
}

/// IoMarkIrpPending and FsRtl's cancel routine on an IRP the oplock keeps.
fn pend(state: &mut State, irp: ObjId, oplock: ObjId) {
    if let Some(entry) = state.irps.get_mut(irp) {
        entry.pending = true;
        entry.cancel_oplock = Some(oplock);
    }
}

fn apply(effects: Vec<Effect>) {
    for effect in effects {
        match effect {
            Effect::Complete {
                irp,
                status,
                information,
            } => {
                clear_cancel_routine(irp);
                let mut irp = Irp { id: irp };
                irp.set_information(information);
                irp.complete(status);
            }
            Effect::Resume {
                irp,
                resume,
                status,
            } => {
                clear_cancel_routine(irp);
                resume(Irp { id: irp }, status);
            }
            Effect::Dereference(file_object) => {
                if let Some(kernel) = current() {
                    dereference(&kernel, file_object);
                }
            }
        }
    }
}

fn clear_cancel_routine(irp: ObjId) {
    with_state(|state| {
        if let Some(entry) = state.irps.get_mut(irp) {
            entry.cancel_oplock = None;
        }
    });
}

/// IoCancelIrp on an IRP an oplock keeps: FsRtl's cancel routine. False if it has none.
pub fn cancel(irp: ObjId) -> bool {
    let mut effects = Vec::new();
    let cancelled = with_state(|state| {
        let oplock = state.irps.get(irp)?.cancel_oplock?;
        let done = state.oplocks.get_mut(oplock)?.cancel(irp, &mut effects);
        state.push_trace(format!("FsRtl oplock cancel routine: IRP {irp}"));
        Some(done)
    })
    .flatten()
    .unwrap_or(false);
    apply(effects);
    cancelled
}
