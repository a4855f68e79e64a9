//! FSCTL_GET_RETRIEVAL_POINTERS on a file or directory: its block map as a
//! RETRIEVAL_POINTERS_BUFFER, VCN → LCN in clusters, a cluster being an ext4 block (VCN = file
//! block, LCN = volume block). Statuses and layout follow MS-FSA 2.1.5.10.15 and FastFAT's
//! FatGetRetrievalPointers (fsctrl.c); the runs come from `ext4::BlockRuns`.
//!
//! - Holes are extents with LCN -1, as NTFS reports the unallocated runs of a sparse file
//!   (Learn, RETRIEVAL_POINTERS_BUFFER): the structure has no start per extent, so a hole
//!   must be an extent for the VCNs after it to be right. A hole up to the end of file is one.
//! - Unwritten (preallocated) blocks are allocated clusters and are listed with their LCN;
//!   physically contiguous runs are one extent whether or not they are written.
//! - A file with no blocks (empty, inline data, a symlink, a device) is STATUS_END_OF_FILE,
//!   as NTFS answers for a resident stream (MS-FSCC 2.3.32's error table).

use alloc::vec::Vec;

use super::reply::{complete_user_buffer, leading_i64};
use crate::ext4::{self, RunKind};
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, Irp, NtStatus};
use crate::volume::Vcb;
use crate::volume::control::FsctlRequest;
use crate::volume::disk::{DiskReader, status_of};

/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 28, METHOD_NEITHER, FILE_ANY_ACCESS).
pub const FSCTL_GET_RETRIEVAL_POINTERS: u32 = 0x0009_0073;

/// FIELD_OFFSET(RETRIEVAL_POINTERS_BUFFER, Extents): ExtentCount, padding, StartingVcn.
const EXTENTS_OFFSET: usize = 16;
/// One Extents[] element: NextVcn, Lcn.
const EXTENT_SIZE: usize = 16;
/// sizeof(RETRIEVAL_POINTERS_BUFFER): the header and one extent.
const RETRIEVAL_POINTERS_BUFFER_SIZE: usize = EXTENTS_OFFSET + EXTENT_SIZE;
/// The LCN of a hole.
const NO_LCN: i64 = -1;

/// One extent as NT sees it: clusters `start .. next_vcn` at `lcn` (None for a hole).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Extent {
    start: u64,
    next_vcn: u64,
    lcn: Option<u64>,
}

pub fn get_retrieval_pointers(device: DeviceRef, irp: Irp, request: FsctlRequest) -> NtStatus {
    let FsctlRequest {
        input,
        output_length,
        ..
    } = request;
    let Some(fcb) = irp.file_object().and_then(|f| f.fcb::<Fcb>()) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(starting_vcn) = leading_i64(&input) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if (output_length as usize) < RETRIEVAL_POINTERS_BUFFER_SIZE {
        return irp.complete(NtStatus::BUFFER_TOO_SMALL);
    }
    let Ok(starting_vcn) = u64::try_from(starting_vcn) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let inode = match (fcb.kind(), fcb.inode()) {
        (FcbKind::File | FcbKind::Directory, Some(inode)) => inode,
        // A symlink's data stream is empty (its target is the reparse data), as on NTFS.
        (FcbKind::Symlink, _) => return irp.complete(NtStatus::END_OF_FILE),
        _ => return irp.complete(NtStatus::INVALID_PARAMETER),
    };
    let capacity = (output_length as usize - EXTENTS_OFFSET) / EXTENT_SIZE;
    let answer = device
        .with_extension(|vcb: &Vcb| extents_from(vcb.volume(), inode, starting_vcn, capacity))
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    let (extents, complete) = match answer {
        Ok(answer) => answer,
        Err(status) => return irp.complete(status),
    };
    let buffer = match encode(&extents) {
        Ok(buffer) => buffer,
        Err(status) => return irp.complete(status),
    };
    complete_user_buffer(irp, output_length, &buffer, complete)
}

/// Up to `capacity` extents from the one that holds `starting_vcn` (its start is where the
/// answer starts, MS-FSA's rounding down), and whether they are the last ones.
/// STATUS_END_OF_FILE when no extent reaches past `starting_vcn`.
fn extents_from(
    volume: &ext4::Volume<DiskReader>,
    inode: &ext4::Inode,
    starting_vcn: u64,
    capacity: usize,
) -> Result<(Vec<Extent>, bool), NtStatus> {
    let mut runs = volume.block_runs(inode).map_err(|e| status_of(&e))?;
    let mut next = || -> Result<Option<ext4::Run>, NtStatus> {
        runs.next_run(volume).map_err(|e| status_of(&e))
    };
    let mut extents: Vec<Extent> = Vec::new();
    let mut pending: Option<Extent> = None;
    loop {
        let run = next()?;
        let extent = run.map(|run| Extent {
            start: run.logical,
            next_vcn: run.logical.saturating_add(run.len),
            lcn: match run.kind {
                RunKind::Mapped(lcn) | RunKind::Unwritten(lcn) => Some(lcn),
                RunKind::Hole => None,
            },
        });
        // Written and unwritten runs that follow each other on disk are one extent.
        if let (Some(last), Some(extent)) = (pending.as_mut(), extent)
            && continues_on_disk(last, &extent)
        {
            last.next_vcn = extent.next_vcn;
            continue;
        }
        if let Some(done) = pending.take().filter(|e| e.next_vcn > starting_vcn) {
            if extents.len() == capacity {
                return Ok((extents, false));
            }
            extents
                .try_reserve(1)
                .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
            extents.push(done);
        }
        match extent {
            Some(extent) => pending = Some(extent),
            None if extents.is_empty() => return Err(NtStatus::END_OF_FILE),
            None => return Ok((extents, true)),
        }
    }
}

/// Whether `next` is allocated right after `extent` on disk.
fn continues_on_disk(extent: &Extent, next: &Extent) -> bool {
    match (extent.lcn, next.lcn) {
        (Some(a), Some(b)) => a.checked_add(extent.next_vcn - extent.start) == Some(b),
        _ => false,
    }
}

/// The RETRIEVAL_POINTERS_BUFFER of `extents` (at least one).
fn encode(extents: &[Extent]) -> Result<Vec<u8>, NtStatus> {
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(EXTENTS_OFFSET + EXTENT_SIZE * extents.len())
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    let count = u32::try_from(extents.len()).map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    let start = extents.first().map_or(0, |e| e.start);
    buffer.extend_from_slice(&count.to_le_bytes());
    buffer.extend_from_slice(&[0; 4]);
    buffer.extend_from_slice(&start.to_le_bytes());
    for extent in extents {
        let lcn = extent
            .lcn
            .and_then(|lcn| i64::try_from(lcn).ok())
            .unwrap_or(NO_LCN);
        buffer.extend_from_slice(&extent.next_vcn.to_le_bytes());
        buffer.extend_from_slice(&lcn.to_le_bytes());
    }
    Ok(buffer)
}
