//! IRP_MJ_LOCK_CONTROL: byte-range locks (LockFileEx, UnlockFileEx, and the unlock-all the
//! I/O manager sends when a process closes its last handle to a locked FILE_OBJECT), kept by
//! FsRtl in the FCB's FILE_LOCK (allocated with the FCB), as FastFAT's FatCommonLockControl and
//! CDFS's CdCommonLockControl do: FsRtlProcessFileLock decodes the request, completes the IRP
//! (or pends a waiting lock) and its status is ours. Only a file's data can be locked: a
//! directory, symlink or volume open is STATUS_INVALID_PARAMETER (CDFS's answer for anything
//! but a user file open). Locks need no disk access, so a dismounted volume still answers, and
//! the I/O manager's unlock-all at handle close never fails.
//!
//! FsRtlCheckOplock comes first, as in CDFS's CdCommonLockControl: a lock breaks Level 2
//! oplocks and another handle's Level 1 or Batch oplock to none (waiting for the
//! acknowledgement, `oplock.rs`). Reads honour the locks (`read.rs`), and CLEANUP releases the
//! closing process's locks through the FILE_OBJECT (FsRtlFastUnlockAll).
//! After every change the header's IsFastIoPossible is recomputed (`fastio.rs`).

use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, Irp, NtStatus};

pub fn lock_control(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(fcb) = irp.file_object().and_then(|f| f.fcb::<Fcb>()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if fcb.kind() != FcbKind::File {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    let Some((irp, _)) = super::oplock::check(&fcb, irp) else {
        return NtStatus::PENDING;
    };
    let status = fcb.process_file_lock(irp);
    // Fast reads become questionable while locks exist (CDFS CdCommonLockControl).
    super::fastio::refresh(device, &fcb);
    status
}
