//! Fast I/O: the process a fast I/O routine runs for, and FsRtl's generic fast reads.
//!
//! The file system fills a FAST_IO_DISPATCH; rustfsd's FastIoRead is FsRtl's own
//! FsRtlCopyRead, and its MdlRead / MdlReadComplete FsRtlMdlReadDev / FsRtlMdlReadCompleteDev,
//! as CDFS's are (`filesys/cdfs/cdinit.c`, CdInitializeGlobalData), so the model implements
//! them here, after ReactOS `ntoskrnl/fsrtl/fastio.c`:
//! - a zero length is TRUE with STATUS_SUCCESS; an offset plus length past MAXLONGLONG FALSE;
//! - FsRtlEnterFileSystem, Header.Resource shared: waiting if the caller's Wait is TRUE, else
//!   tried once and FALSE if busy (FsRtlCopyRead; FsRtlMdlReadDev always waits);
//! - FALSE without a private cache map or with IsFastIoPossible == FastIoIsNotPossible;
//!   FastIoIsQuestionable asks the file system's FastIoCheckIfPossible (Wait TRUE,
//!   CheckForReadOperation TRUE) and FALSE if it says no;
//! - at or past end of file TRUE with STATUS_END_OF_FILE; a read running past it is cut;
//! - the thread's top-level IRP is FSRTL_FAST_IO_TOP_LEVEL_IRP around CcCopyRead / CcMdlRead
//!   (whose misses send paging reads to the driver, nested); an exception from it (the model's
//!   failed paging read) makes the call FALSE, and the caller retries with an IRP;
//! - CcCopyRead with Wait FALSE copies nothing and is FALSE when a page is not resident
//!   (Learn, CcCopyRead; `cache::copy_bytes_no_wait`): FsRtlCopyRead is then FALSE;
//! - FsRtlCopyRead on success sets CurrentByteOffset = offset + bytes read;
//! - FsRtlMdlReadDev hands the chain to the caller (no IRP holds it) and
//!   FsRtlMdlReadCompleteDev gives it back with CcMdlReadComplete2; the verifier's chain
//!   checks (MdlChainLeak, MdlChainNotOutstanding) cover these chains as the IRP path's.

use std::format;
use std::sync::Arc;
use std::vec::Vec;

use super::cache::{copy_bytes, copy_bytes_no_wait, mdl_read_chain, mdl_read_complete_chain};
use super::file_object::FileObject;
use super::slab::ObjId;
use super::state::{Kernel, with_state};
use crate::kernel::{FastIoPossible, IoStatus, NtStatus};

/// FSRTL_FAST_IO_TOP_LEVEL_IRP: what IoGetTopLevelIrp returns inside a fast I/O read.
pub const FSRTL_FAST_IO_TOP_LEVEL_IRP: u64 = 2;

/// A process, as fast I/O routines receive it (PEPROCESS in `nt`): the lock owner's process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Process {
    pub(crate) pid: u32,
}

/// PsGetCurrentProcess.
pub fn current_process() -> Process {
    Process {
        pid: with_state(|state| state.current_process).unwrap_or(0),
    }
}

/// What FsRtlCopyRead / FsRtlMdlReadDev do once the checks pass: `count` bytes at `offset`
/// (within end of file), or FALSE.
type FastBody<'a, R> = &'a mut dyn FnMut(usize) -> Option<(IoStatus, R)>;

/// FsRtlCopyRead(file_object, offset, length, wait, key, buffer, IoStatus, device): `None` is
/// FALSE; `Some` the IO_STATUS_BLOCK and the bytes copied. `check_if_possible` is the file
/// system's FastIoCheckIfPossible(file_object, offset, length, TRUE, key, TRUE). With `wait`
/// FALSE the header's resource is tried without waiting and CcCopyRead runs with Wait FALSE,
/// which is FALSE when a page is not resident (`cache::copy_bytes_no_wait`).
pub(crate) fn fs_rtl_copy_read(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    (offset, length, wait): (u64, u32, bool),
    check_if_possible: impl FnOnce() -> bool,
) -> Option<(IoStatus, Vec<u8>)> {
    if length == 0 {
        return Some((IoStatus::new(NtStatus::SUCCESS, 0), Vec::new()));
    }
    let mut body = |count: usize| {
        let bytes = top_level_fast_io(kernel, "FsRtlCopyRead", || {
            let file = FileObject { id: file_object };
            if wait {
                copy_bytes(&file, offset, count).map(Some)
            } else {
                copy_bytes_no_wait(&file, offset, count)
            }
        })??;
        let mut state = kernel.lock();
        if let Some(entry) = state.file_objects.get_mut(file_object) {
            entry.current_byte_offset = offset.saturating_add(bytes.len() as u64);
        }
        Some((IoStatus::new(NtStatus::SUCCESS, bytes.len()), bytes))
    };
    under_header(
        kernel,
        file_object,
        (offset, length, wait),
        check_if_possible,
        &mut body,
    )
}

/// FsRtlMdlReadDev(file_object, offset, length, key, MdlChain, IoStatus, device), after ReactOS
/// `ntoskrnl/fsrtl/fastio.c`: FsRtlCopyRead's checks (always waiting), then CcMdlRead into the
/// caller's MdlChain. `None` is FALSE; `Some` the IO_STATUS_BLOCK and the chain (none at end
/// of file).
pub(crate) fn fs_rtl_mdl_read_dev(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    (offset, length): (u64, u32),
    check_if_possible: impl FnOnce() -> bool,
) -> Option<(IoStatus, Option<u64>)> {
    if length == 0 {
        return Some((IoStatus::new(NtStatus::SUCCESS, 0), None));
    }
    let mut body = |count: usize| {
        let (chain, count) = top_level_fast_io(kernel, "FsRtlMdlReadDev", || {
            mdl_read_chain(&FileObject { id: file_object }, offset, count)
        })?;
        Some((IoStatus::new(NtStatus::SUCCESS, count), Some(chain)))
    };
    under_header(
        kernel,
        file_object,
        (offset, length, true),
        check_if_possible,
        &mut body,
    )
}

/// FsRtlMdlReadCompleteDev(file_object, MdlChain, device): CcMdlReadComplete2, TRUE.
pub(crate) fn fs_rtl_mdl_read_complete_dev(file_object: ObjId, chain: u64) -> Option<()> {
    mdl_read_complete_chain(file_object, chain);
    Some(())
}

/// The part FsRtlCopyRead and FsRtlMdlReadDev share: FsRtlEnterFileSystem, Header.Resource
/// shared (FALSE if it cannot be had without waiting and `wait` is FALSE), FALSE without a
/// private cache map or when fast I/O is not possible (or questionable and the file system's
/// check refuses), END_OF_FILE at or past end of file, otherwise `body` with the length cut at
/// end of file.
fn under_header<R: Default>(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    (offset, length, wait): (u64, u32, bool),
    check_if_possible: impl FnOnce() -> bool,
    body: FastBody<'_, R>,
) -> Option<(IoStatus, R)> {
    if u64::from(length) > (i64::MAX as u64).saturating_sub(offset) {
        return None;
    }
    let header = {
        let state = kernel.lock();
        let fcb = state.file_objects.get(file_object)?.fs_context?.id;
        state.sections.headers.get(&fcb)?.clone()
    };
    // FsRtlEnterFileSystem.
    kernel.lock().thread().apc_disable += 1;
    let outcome = {
        let guard = header.header_resource().acquire_shared(wait);
        if guard.is_none() {
            let mut state = kernel.lock();
            state.fast_read_busy += 1;
            let thread = state.current_thread;
            state.push_trace(format!(
                "t{thread}: FsRtl fast read: Header.Resource busy (Wait {wait}), FALSE"
            ));
        }
        let cached = kernel.lock().cache.private.contains_key(&file_object);
        let possible = header.fast_io_possible();
        if guard.is_none()
            || !cached
            || possible == FastIoPossible::NotPossible
            || (possible == FastIoPossible::Questionable && !check_if_possible())
        {
            None
        } else {
            let file_size = header.sizes().file_size;
            if offset >= file_size {
                Some((IoStatus::new(NtStatus::END_OF_FILE, 0), R::default()))
            } else {
                body(file_size.saturating_sub(offset).min(u64::from(length)) as usize)
            }
        }
    };
    // FsRtlExitFileSystem.
    let mut state = kernel.lock();
    let thread = state.thread();
    thread.apc_disable = thread.apc_disable.saturating_sub(1);
    outcome
}

/// Runs the cache manager's part under FSRTL_FAST_IO_TOP_LEVEL_IRP; an exception from it (the
/// model's failed paging read) makes the call FALSE, and the caller retries with an IRP.
fn top_level_fast_io<R>(
    kernel: &Arc<Kernel>,
    who: &str,
    cache_call: impl FnOnce() -> Result<R, NtStatus>,
) -> Option<R> {
    let previous = core::mem::replace(
        &mut kernel.lock().thread().top_level_irp,
        FSRTL_FAST_IO_TOP_LEVEL_IRP,
    );
    let done = cache_call();
    let mut state = kernel.lock();
    state.thread().top_level_irp = previous;
    let thread = state.current_thread;
    match done {
        Ok(result) => Some(result),
        Err(status) => {
            state.fast_read_raised += 1;
            state.push_trace(format!(
                "t{thread}: {who}: the cache manager raised {status:?}, FALSE"
            ));
            None
        }
    }
}
