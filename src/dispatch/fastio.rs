//! The fast I/O routines (FAST_IO_DISPATCH): calls the I/O manager makes instead of an IRP, for
//! cached reads, the common information queries and byte-range locks. Each answers `None`
//! (FALSE: the I/O manager sends the IRP instead) or `Some(IoStatus)` (the request is done).
//! The table, as CDFS's (`filesys/cdfs/cdinit.c`, CdInitializeGlobalData) for a read-only
//! file system:
//! - FastIoRead is FsRtl's FsRtlCopyRead, MdlRead / MdlReadComplete FsRtlMdlReadDev /
//!   FsRtlMdlReadCompleteDev: they read through the cache under Header.Resource shared, and
//!   ask `check_if_possible` when the header says FastIoIsQuestionable;
//! - FastIoCheckIfPossible, FastIoQueryBasicInfo / StandardInfo / NetworkOpenInfo, FastIoLock,
//!   FastIoUnlockSingle / UnlockAll / UnlockAllByKey are below;
//! - no FastIoWrite, PrepareMdlWrite or FastIoDeviceControl (writes and IOCTLs take IRPs);
//! - no AcquireFileForNtCreateSection: the section-sync filter callback replaced it
//!   (`cache::section_sync`); no ReleaseFileForNtCreateSection, so FsRtlReleaseFile releases
//!   Header.Resource itself; no AcquireForCcFlush / ReleaseForCcFlush: nothing is ever dirty
//!   on a read-only volume, and CDFS registers none either (FsRtl then takes the header's
//!   resources itself).
//!
//! Header.IsFastIoPossible (`state_of`, the one place that decides it) is FastIoIsPossible
//! for a file of a mounted volume, FastIoIsQuestionable while byte-range locks exist (so
//! FsRtl asks `check_if_possible`, which checks the read against them), and FastIoIsNotPossible
//! once the volume is dismounted (FastFAT's FatIsFastIoPossible and CDFS's CdIsFastIoPossible:
//! FsRtlAreThereCurrentFileLocks, the volume's condition). It is recomputed at CREATE, after
//! every lock change (IRP or fast) and at CLEANUP's unlock-all, as CDFS does in
//! CdCommonLockControl, CdFastLock and CdFastUnlock*; the dismount sets NotPossible on every
//! FCB (`FcbTable::stop_fast_io`).

use alloc::vec::Vec;

use crate::fcb::{Ccb, Fcb, FcbKind, FcbRef};
use crate::kernel::{
    DeviceRef, FO_CLEANUP_COMPLETE, FastIoPossible, FastLock, FastQuery, FileObject, IoStatus,
    NtStatus, Process, current_process, enter_file_system,
};
use crate::volume::Vcb;

/// Header.IsFastIoPossible for `fcb` now, as CDFS's CdIsFastIoPossible decides it: not
/// possible on a dismounted volume or while the oplock refuses fast I/O
/// (FsRtlOplockIsFastIoPossible), questionable while byte-range locks exist.
pub fn state_of(vcb: &Vcb, fcb: &FcbRef) -> FastIoPossible {
    if vcb.is_dismounted()
        || fcb.kind() != FcbKind::File
        || !super::oplock::oplock_allows_fast_io(fcb)
    {
        FastIoPossible::NotPossible
    } else if fcb.has_file_locks() {
        FastIoPossible::Questionable
    } else {
        FastIoPossible::Possible
    }
}

/// Recomputes Header.IsFastIoPossible of `fcb` on the volume of `vcb`.
pub fn refresh_in(vcb: &Vcb, fcb: &FcbRef) {
    fcb.set_fast_io_possible(state_of(vcb, fcb));
}

/// Recomputes Header.IsFastIoPossible of `fcb` on the volume of `device`.
pub fn refresh(device: DeviceRef, fcb: &FcbRef) {
    device.with_extension(|vcb: &Vcb| refresh_in(vcb, fcb));
}

/// The FCB of a user file open on a mounted volume device, or None.
fn user_file(device: DeviceRef, file_object: &FileObject) -> Option<FcbRef> {
    let fcb = file_object.fcb::<Fcb>()?;
    let mounted = device
        .with_extension(|vcb: &Vcb| !vcb.is_dismounted())
        .unwrap_or(false);
    (mounted && fcb.kind() == FcbKind::File).then_some(fcb)
}

/// FastIoCheckIfPossible: FsRtl asks it before a fast read of a file whose header says
/// FastIoIsQuestionable. Only reads of a user file qualify (CDFS CdFastIoCheckIfPossible), and
/// only if the byte-range locks let this FILE_OBJECT, process and key read the range
/// (FsRtlFastCheckLockForRead); a FILE_OBJECT already cleaned up, or a dismounted volume, takes
/// the IRP path, which refuses them.
pub fn check_if_possible(
    device: DeviceRef,
    file_object: &FileObject,
    offset: u64,
    length: u32,
    _wait: bool,
    key: u32,
    check_for_read: bool,
) -> bool {
    let Some(fcb) = user_file(device, file_object) else {
        return false;
    };
    if !check_for_read || file_object.flags() & FO_CLEANUP_COMPLETE != 0 {
        return false;
    }
    fcb.fast_check_lock_for_read(file_object, offset, length, key, current_process())
}

/// FastIoQueryBasicInfo, FastIoQueryStandardInfo, FastIoQueryNetworkOpenInfo: the structure,
/// as IRP_MJ_QUERY_INFORMATION answers it, for a file or directory open of a mounted volume,
/// under the FCB's resource shared (CDFS CdFastQueryBasicInfo). FALSE when the resource is
/// busy and the caller cannot wait, or anything else would need the IRP's answer.
pub fn query(
    device: DeviceRef,
    file_object: &FileObject,
    wait: bool,
    which: FastQuery,
) -> Option<(IoStatus, Vec<u8>)> {
    let _region = enter_file_system();
    let fcb = file_object.fcb::<Fcb>()?;
    let ccb = file_object.ccb::<Ccb>()?;
    if !matches!(fcb.kind(), FcbKind::File | FcbKind::Directory) {
        return None;
    }
    let _shared = fcb.resource().acquire_shared(wait)?;
    let (data, _) = super::fileinfo::answer(device, file_object, &fcb, &ccb, which.class()).ok()?;
    let length = data.len();
    Some((IoStatus::new(NtStatus::SUCCESS, length), data))
}

/// FastIoLock: FsRtlFastLock on the FCB's FILE_LOCK (CDFS CdFastLock). A waiting request that
/// conflicts comes back FALSE and is sent as IRP_MN_LOCK, which FsRtl can pend; so does any
/// lock or unlock while the oplock refuses fast I/O (a Level 2 oplock to break, or a break
/// under way).
pub fn lock(
    device: DeviceRef,
    file_object: &FileObject,
    lock: FastLock,
    process: Process,
) -> Option<IoStatus> {
    let Some(fcb) = lockable(file_object) else {
        return Some(IoStatus::new(NtStatus::INVALID_PARAMETER, 0));
    };
    // A lock may have to break an oplock, which only the IRP path does (CDFS CdFastLock).
    if !super::oplock::oplock_allows_fast_io(&fcb) {
        return None;
    }
    let _region = enter_file_system();
    let status = fcb.fast_lock(file_object, lock, process)?;
    refresh(device, &fcb);
    Some(status)
}

/// FastIoUnlockSingle (CDFS CdFastUnlockSingle): RANGE_NOT_LOCKED at once if the file has no
/// lock at all.
pub fn unlock_single(
    device: DeviceRef,
    file_object: &FileObject,
    offset: u64,
    length: u64,
    process: Process,
    key: u32,
) -> Option<IoStatus> {
    let Some(fcb) = lockable(file_object) else {
        return Some(IoStatus::new(NtStatus::INVALID_PARAMETER, 0));
    };
    if !fcb.has_file_locks() {
        return Some(IoStatus::new(NtStatus::RANGE_NOT_LOCKED, 0));
    }
    if !super::oplock::oplock_allows_fast_io(&fcb) {
        return None;
    }
    let _region = enter_file_system();
    let status = fcb.fast_unlock_single(file_object, offset, length, process, key);
    refresh(device, &fcb);
    Some(IoStatus::new(status, 0))
}

/// FastIoUnlockAll (`key` None) and FastIoUnlockAllByKey (CDFS CdFastUnlockAll,
/// CdFastUnlockAllByKey): SUCCESS at once if the file has no lock at all.
pub fn unlock_all(
    device: DeviceRef,
    file_object: &FileObject,
    process: Process,
    key: Option<u32>,
) -> Option<IoStatus> {
    let Some(fcb) = lockable(file_object) else {
        return Some(IoStatus::new(NtStatus::INVALID_PARAMETER, 0));
    };
    if !fcb.has_file_locks() {
        return Some(IoStatus::new(NtStatus::SUCCESS, 0));
    }
    if !super::oplock::oplock_allows_fast_io(&fcb) {
        return None;
    }
    let _region = enter_file_system();
    let status = fcb.fast_unlock_all(file_object, process, key);
    refresh(device, &fcb);
    Some(IoStatus::new(status, 0))
}

/// The FCB of a file open, the only kind that takes byte-range locks (as IRP_MJ_LOCK_CONTROL:
/// answered on a dismounted volume too, so the unlock-all at handle close never fails).
fn lockable(file_object: &FileObject) -> Option<FcbRef> {
    file_object
        .fcb::<Fcb>()
        .filter(|fcb| fcb.kind() == FcbKind::File)
}
