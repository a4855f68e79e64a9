//! IRP_MJ_READ: file data (cached through Cc, non-cached, and the paging reads Cc and Mm send),
//! and raw reads of an opened volume (DASD).
//!
//! Rules, as FastFAT's and CDFS's read paths apply them (docs/architecture.md, "Reads"):
//! - a zero-length read succeeds with nothing; one starting at or past end of file gets
//!   STATUS_END_OF_FILE; one running past it is cut at it;
//! - a non-cached, non-paging read must be sector-aligned in offset and length
//!   (STATUS_INVALID_PARAMETER otherwise);
//! - a paging read takes no lock at all (whoever faulted may hold any of ours), fills whole
//!   pages and zeroes what lies past end of file;
//! - a cached read initializes the FILE_OBJECT's cache map on first use and copies through
//!   CcCopyRead into the MDL's system address (never a user address); CLEANUP uninitializes it;
//! - an MDL read (IRP_MN_MDL, a cached read only, as FastFAT's) hands out the cache's pages as
//!   an MDL chain in Irp->MdlAddress (CcMdlRead); the caller gives it back with
//!   IRP_MN_COMPLETE_MDL (CcMdlReadComplete), which is served before every other check;
//! - synchronous FILE_OBJECTs advance CurrentByteOffset, paging reads never do;
//! - a non-paging read of a file first breaks another handle's Level 1 or Batch oplock to
//!   Level 2 and waits for the acknowledgement (FsRtlCheckOplock, as CDFS's CdCommonRead);
//!   a Level 2 oplock is not broken by reads;
//! - a non-paging read of a file honours byte-range locks: a range another owner holds
//!   exclusively is STATUS_FILE_LOCK_CONFLICT (FsRtlCheckLockForReadAccess, as in FastFAT's
//!   and CDFS's read paths, before the end-of-file check);
//! - directories refuse data reads (STATUS_INVALID_DEVICE_REQUEST, as NTFS and CDFS);
//!   a symbolic link opened as a reparse point has an empty data stream (STATUS_END_OF_FILE);
//! - a read that finds less stack left than its own frames and the disk stack below it need
//!   runs on an expanded stack (`stack.rs`).

use super::stack;
use crate::cache;
use crate::ext4::{self, BlockDevice};
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{
    DeviceRef, FO_CLEANUP_COMPLETE, FO_NO_INTERMEDIATE_BUFFERING, FO_SYNCHRONOUS_IO, FileObject,
    IRP_MN_COMPLETE, IRP_MN_MDL, IRP_NOCACHE, IRP_PAGING_IO, Irp, IrpParameters, NtStatus,
    OutputBuffer,
};
use crate::volume::Vcb;
use crate::volume::disk::status_of;

/// What the request asks for.
struct Request<'a> {
    path: Path,
    offset: u64,
    length: u32,
    buffer: &'a OutputBuffer,
}

/// How the request wants its data.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    Cached,
    /// IRP_MN_MDL: the cache's pages as an MDL chain in Irp->MdlAddress (CcMdlRead).
    CachedMdl,
    NonCached,
    Paging,
}

// A frame of its own, so that `cargo xtask stack-depth` and the debugger see the request's
// entry.
#[inline(never)]
pub fn read(device: DeviceRef, irp: Irp) -> NtStatus {
    stack::with_stack_for(stack::READ_FRAMES, device, irp, read_here)
}

fn read_here(device: DeviceRef, mut irp: Irp) -> NtStatus {
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    // The caller gives back the MDL chain of an earlier IRP_MN_MDL read: before any check, as
    // FastFAT's FatFsdRead does (FatCompleteMdl), since the chain must go back even after the
    // handle's CLEANUP or a dismount.
    if irp.minor() & IRP_MN_COMPLETE != 0 {
        cache::mdl_read_complete(&file_object, &irp);
        return irp.complete(NtStatus::SUCCESS);
    }
    let Some(fcb) = file_object.fcb::<Fcb>() else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    let IrpParameters::Read { offset, length } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let flags = irp.flags();
    if flags & IRP_PAGING_IO == 0 && fcb.kind() == FcbKind::File {
        // Another handle's Level 1 or Batch oplock breaks to Level 2 first (CdCommonRead).
        match super::oplock::check(&fcb, irp) {
            Some((checked, _)) => irp = checked,
            None => return NtStatus::PENDING,
        }
    }
    let path = if flags & IRP_PAGING_IO != 0 {
        Path::Paging
    } else if flags & IRP_NOCACHE != 0 {
        Path::NonCached
    } else if irp.minor() & IRP_MN_MDL != 0 {
        Path::CachedMdl
    } else {
        Path::Cached
    };
    // Only a cached read can hand out the cache's pages: not a paging or non-cached one, nor
    // one on a FILE_OBJECT opened without intermediate buffering (a kernel caller builds the
    // MDL read itself and may leave IRP_NOCACHE out; caching it would start a cache map its
    // opener refused).
    let unbuffered = file_object.flags() & FO_NO_INTERMEDIATE_BUFFERING != 0;
    if irp.minor() & IRP_MN_MDL != 0 && (path != Path::CachedMdl || unbuffered) {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    let buffer = irp.output_buffer();
    let request = Request {
        path,
        offset,
        length,
        buffer: &buffer,
    };
    let result = device
        .with_extension(|vcb: &Vcb| {
            if vcb.is_dismounted() {
                return Err(NtStatus::VOLUME_DISMOUNTED);
            }
            // The FCB's resource, shared, keeps CLEANUP out from the check below to the end
            // of the read: a read on a FILE_OBJECT already cleaned up (its handle closed on
            // another thread while the IRP was on its way) is STATUS_FILE_CLOSED, as FastFAT's
            // FatVerifyOperationIsLegal and CDFS's CdVerifyFcbOperation answer; serving it
            // would start a cache map no CLEANUP tears down. Paging reads take no resource.
            let _shared = match path {
                Path::Paging => None,
                _ => Some(
                    fcb.resource()
                        .acquire_shared(true)
                        .ok_or(NtStatus::POSSIBLE_DEADLOCK)?,
                ),
            };
            if path != Path::Paging && file_object.flags() & FO_CLEANUP_COMPLETE != 0 {
                return Err(NtStatus::FILE_CLOSED);
            }
            match fcb.kind() {
                FcbKind::Directory => Err(NtStatus::INVALID_DEVICE_REQUEST),
                _ if length == 0 => Ok(0),
                FcbKind::File if path != Path::Paging && !fcb.check_lock_for_read(&irp) => {
                    Err(NtStatus::FILE_LOCK_CONFLICT)
                }
                FcbKind::Symlink => Err(NtStatus::END_OF_FILE),
                FcbKind::Volume if path == Path::CachedMdl => Err(NtStatus::INVALID_PARAMETER),
                FcbKind::Volume => read_volume(vcb, &request, &mut irp),
                FcbKind::File => read_file(vcb, &fcb, &file_object, &request, &mut irp),
            }
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    drop(fcb);
    match result {
        Ok(count) => {
            if path != Path::Paging && file_object.flags() & FO_SYNCHRONOUS_IO != 0 {
                file_object.set_current_byte_offset(offset.saturating_add(count as u64));
            }
            irp.set_information(count);
            irp.complete(NtStatus::SUCCESS)
        }
        Err(status) => irp.complete(status),
    }
}

/// True if `offset` and `length` are whole sectors.
fn sector_aligned(vcb: &Vcb, offset: u64, length: u32) -> bool {
    let sector = u64::from(vcb.target().sector_size().max(1));
    offset.is_multiple_of(sector) && u64::from(length).is_multiple_of(sector)
}

/// A read of a volume opened as a whole (DASD): sector-aligned, never past the volume's end,
/// straight from the target device into the request's buffer.
fn read_volume(vcb: &Vcb, request: &Request, irp: &mut Irp) -> Result<usize, NtStatus> {
    let Request { offset, length, .. } = *request;
    if !sector_aligned(vcb, offset, length) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let size = vcb.volume().device().size().unwrap_or(0);
    if offset >= size {
        return Err(NtStatus::END_OF_FILE);
    }
    let count = size.saturating_sub(offset).min(u64::from(length)) as usize;
    let mut mapped = irp.map_output()?;
    let out = mapped.get_mut(..count).ok_or(NtStatus::BUFFER_TOO_SMALL)?;
    vcb.volume()
        .device()
        .read_raw(offset, out)
        .map_err(|error| status_of(&error))?;
    Ok(count)
}

/// A read of a regular file's data.
fn read_file(
    vcb: &Vcb,
    fcb: &crate::fcb::FcbRef,
    file_object: &FileObject,
    request: &Request,
    irp: &mut Irp,
) -> Result<usize, NtStatus> {
    let Request {
        path,
        offset,
        length,
        buffer,
    } = *request;
    let inode = fcb.inode().ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
    let file_size = fcb.file_sizes().file_size;
    if offset >= file_size {
        return Err(NtStatus::END_OF_FILE);
    }
    if path == Path::NonCached && !sector_aligned(vcb, offset, length) {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let count = file_size.saturating_sub(offset).min(u64::from(length)) as usize;
    match path {
        Path::Cached => {
            cache::ensure_cached(fcb, file_object)?;
            cache::copy_read(file_object, offset, count, buffer)
        }
        Path::CachedMdl => {
            cache::ensure_cached(fcb, file_object)?;
            cache::mdl_read(file_object, offset, count, irp)
        }
        Path::NonCached => {
            let mut mapped = irp.map_output()?;
            let out = mapped.get_mut(..count).ok_or(NtStatus::BUFFER_TOO_SMALL)?;
            read_disk(vcb, fcb, inode, offset, out)?;
            vcb.statistics().user_file_read(count);
            Ok(count)
        }
        Path::Paging => {
            // Mm and Cc read whole pages: the part past end of file must read as zeros.
            let whole = length as usize;
            let mut mapped = irp.map_output()?;
            let out = mapped.get_mut(..whole).ok_or(NtStatus::BUFFER_TOO_SMALL)?;
            let (data, tail) = out.split_at_mut(count.min(whole));
            read_disk(vcb, fcb, inode, offset, data)?;
            tail.fill(0);
            vcb.statistics().user_file_read(whole);
            Ok(whole)
        }
    }
}

/// The file's bytes at `offset` into all of `out`, through the ext4 block map (holes and
/// unwritten extents read as zeros, nothing past i_size), straight into the request's buffer:
/// no bounce buffer (the target device's reads land in it; in `nt` the lower IRP describes
/// its pages). The stream's block map cache (last run, last extent leaf) spares a sequential
/// reader the walk of the extent tree and the leaf's read and checksum on every request.
fn read_disk(
    vcb: &Vcb,
    fcb: &Fcb,
    inode: &ext4::Inode,
    offset: u64,
    out: &mut [u8],
) -> Result<(), NtStatus> {
    let mut cache = fcb.take_map_cache();
    let read = vcb.volume().read_cached(inode, &mut cache, offset, out);
    fcb.give_back_map_cache(cache);
    let done = read.map_err(|error| status_of(&error))?;
    if done == out.len() {
        Ok(())
    } else {
        Err(NtStatus::FILE_CORRUPT_ERROR)
    }
}
