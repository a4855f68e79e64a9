//! The verifier's findings: what went wrong, where, and which object.
//!
//! The model never panics on a driver bug; it records a finding and carries on as Windows would
//! (or as safely as it can). The harness reports findings; a run with any finding fails.

use std::string::String;

use super::slab::ObjId;

/// The kind of object a use-after-free touched.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ObjectKind {
    Pool,
    Fcb,
    Irp,
    Mdl,
    FileObject,
    Device,
    StreamContext,
    Vpb,
}

/// What the verifier found. Each names the object involved.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FindingKind {
    /// A stale (freed) object was used.
    UseAfterFree { kind: ObjectKind, id: ObjId },
    /// Pool still allocated when the driver unloaded.
    PoolLeak { tag: String, id: ObjId, size: usize },
    /// IoCompleteRequest on an IRP already completed.
    IrpCompletedTwice { irp: ObjId },
    /// An IRP was never completed (dropped, or still outstanding at the end).
    IrpNeverCompleted { irp: ObjId },
    /// A FILE_OBJECT was freed while an IRP naming it was still outstanding (the IRP should have
    /// held a reference on it).
    FileObjectFreedUnderIrp { file_object: ObjId, irp: ObjId },
    /// The dispatch routine returned STATUS_PENDING without IoMarkIrpPending.
    PendingWithoutMark { irp: ObjId },
    /// The dispatch routine returned a status other than the one it completed with, or returned
    /// without completing while not pending.
    DispatchStatusMismatch { irp: ObjId },
    /// A resource released that the thread does not own, or released more often than acquired.
    UnbalancedRelease { resource: ObjId },
    /// Returned to the I/O manager (user mode) with a resource held.
    ResourceHeldOnReturn { resource: ObjId },
    /// Returned to the I/O manager with normal kernel APCs still disabled.
    ApcsDisabledOnReturn { count: u32 },
    /// ExDeleteResourceLite on a resource some thread still owns.
    ResourceDeletedWhileOwned { resource: ObjId },
    /// A wait that can never be satisfied (the owner cannot run until this wait ends).
    Deadlock { resource: ObjId },
    /// ERESOURCE acquired with normal kernel APCs enabled.
    AcquireWithApcsEnabled { resource: ObjId },
    /// The driver dereferenced a user-mode address.
    UserBufferTouched { irp: ObjId },
    /// The modelled kernel stack overflowed.
    StackOverflow { used: usize, limit: usize },
    /// A routine was called at an IRQL it does not allow.
    WrongIrql {
        routine: &'static str,
        irql: u8,
        max: u8,
    },
    /// A failed IRP_MJ_CREATE left FsContext/FsContext2 set (the I/O manager sends no CLOSE).
    FailedCreateLeftContext { file_object: ObjId },
    /// An FCB with an advanced header was freed without FsRtlTeardownPerStreamContexts while
    /// filter contexts were attached.
    StreamContextsNotTornDown { fcb: ObjId, contexts: usize },
    /// DriverUnload returned with device objects still present.
    DevicesRemainAtUnload { count: usize },
    /// A volume device was deleted while a VPB naming it still counted references: an open
    /// that passed IopCheckVpbMounted would be sent to the deleted device.
    VolumeDeletedWithVpbReferences { vpb: ObjId, references: u32 },
    /// A VPB the file system owned (swapped out, or replaced after STATUS_WRONG_VOLUME) was
    /// never freed.
    VpbLeak { vpb: ObjId },
    /// CcCopyRead (or another cached access) on a FILE_OBJECT with no private cache map
    /// (CcInitializeCacheMap never called for it): a CACHE_MANAGER bugcheck on Windows.
    CachedReadWithoutCacheMap { file_object: ObjId },
    /// A paging read acquired an ERESOURCE exclusively: the thread that faulted (Cc, Mm, or a
    /// cached read of ours) may hold it shared, so this can deadlock.
    ExclusiveResourceInPagingIo { resource: ObjId },
    /// A paging read completed with bytes past end of file that were not zeroed: Mm maps the
    /// whole page into user space.
    PagingReadTailNotZeroed { file_object: ObjId, offset: u64 },
    /// A dispatch routine (or work item) returned with the thread's top-level IRP still set:
    /// the next request on the thread would take itself for a recursive one, and the pointer
    /// names an IRP already completed.
    TopLevelIrpLeftSet,
    /// An MDL chain CcMdlRead handed out that nobody will give back with CcMdlReadComplete: its
    /// IRP failed after the chain was made (the caller never sees it), or it was still out at
    /// unload. The cache pages it locks stay locked.
    MdlChainLeak { file_object: ObjId, chain: u64 },
    /// CcMdlReadComplete of a chain already completed, or of none (Irp->MdlAddress NULL).
    MdlChainNotOutstanding { chain: Option<u64> },
    /// A fault the model cannot classify more precisely.
    Other(String),
}

/// One finding: what, plus where (the modelled thread and the operation in progress).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Finding {
    pub kind: FindingKind,
    pub thread: u32,
    pub context: String,
}

impl core::fmt::Display for Finding {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "VERIFIER [thread {}] {:?} during {}",
            self.thread, self.kind, self.context
        )
    }
}
