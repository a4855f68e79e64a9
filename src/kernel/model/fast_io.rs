//! Fast I/O: the process a fast I/O routine runs for, and FsRtl's generic fast read.
//!
//! The file system fills a FAST_IO_DISPATCH; rustfsd's FastIoRead is FsRtl's own
//! FsRtlCopyRead, as CDFS's and FastFAT's are (`filesys/cdfs/cdinit.c`, CdInitializeGlobalData),
//! so the model implements FsRtlCopyRead here, after ReactOS `ntoskrnl/fsrtl/fastio.c`:
//! - a zero length is TRUE with STATUS_SUCCESS; an offset plus length past MAXLONGLONG FALSE;
//! - FsRtlEnterFileSystem, Header.Resource shared (waiting: the I/O manager passes Wait TRUE);
//! - FALSE without a private cache map or with IsFastIoPossible == FastIoIsNotPossible;
//!   FastIoIsQuestionable asks the file system's FastIoCheckIfPossible (Wait TRUE,
//!   CheckForReadOperation TRUE) and FALSE if it says no;
//! - at or past end of file TRUE with STATUS_END_OF_FILE; a read running past it is cut;
//! - the thread's top-level IRP is FSRTL_FAST_IO_TOP_LEVEL_IRP around CcCopyRead (whose
//!   misses send paging reads to the driver, nested); an exception from it (the model's
//!   failed paging read) makes the call FALSE, and the I/O manager retries with an IRP;
//! - on success CurrentByteOffset = offset + bytes read.

use std::format;
use std::sync::Arc;
use std::vec::Vec;

use super::cache::copy_bytes;
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

/// FsRtlCopyRead(file_object, offset, length, Wait = TRUE, key, buffer, IoStatus, device):
/// `None` is FALSE; `Some` the IO_STATUS_BLOCK and the bytes copied. `check_if_possible` is
/// the file system's FastIoCheckIfPossible(file_object, offset, length, TRUE, key, TRUE).
pub(crate) fn fs_rtl_copy_read(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    offset: u64,
    length: u32,
    check_if_possible: impl FnOnce() -> bool,
) -> Option<(IoStatus, Vec<u8>)> {
    if length == 0 {
        return Some((IoStatus::new(NtStatus::SUCCESS, 0), Vec::new()));
    }
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
        let guard = header.header_resource().acquire_shared(true);
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
                Some((IoStatus::new(NtStatus::END_OF_FILE, 0), Vec::new()))
            } else {
                let count = file_size.saturating_sub(offset).min(u64::from(length)) as usize;
                copy_cached(kernel, file_object, offset, count)
            }
        }
    };
    // FsRtlExitFileSystem.
    let mut state = kernel.lock();
    let thread = state.thread();
    thread.apc_disable = thread.apc_disable.saturating_sub(1);
    outcome
}

/// CcCopyRead (Wait TRUE) under FSRTL_FAST_IO_TOP_LEVEL_IRP, then CurrentByteOffset.
fn copy_cached(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    offset: u64,
    count: usize,
) -> Option<(IoStatus, Vec<u8>)> {
    let previous = core::mem::replace(
        &mut kernel.lock().thread().top_level_irp,
        FSRTL_FAST_IO_TOP_LEVEL_IRP,
    );
    let copied = copy_bytes(&FileObject { id: file_object }, offset, count);
    let mut state = kernel.lock();
    state.thread().top_level_irp = previous;
    let thread = state.current_thread;
    match copied {
        Ok(bytes) => {
            if let Some(entry) = state.file_objects.get_mut(file_object) {
                entry.current_byte_offset = offset.saturating_add(bytes.len() as u64);
            }
            Some((IoStatus::new(NtStatus::SUCCESS, bytes.len()), bytes))
        }
        Err(status) => {
            state.fast_read_raised += 1;
            state.push_trace(format!(
                "t{thread}: FsRtlCopyRead: CcCopyRead raised {status:?}, FALSE"
            ));
            None
        }
    }
}
