//! FSCTL_GET_VOLUME_BITMAP on a volume open: which clusters are in use, from the block bitmaps
//! (`ext4::Volume::block_usage`), as a VOLUME_BITMAP_BUFFER. A cluster is an ext4 block, as in
//! FSCTL_GET_RETRIEVAL_POINTERS. Buffer rules and the rounding of StartingLcn down to a
//! multiple of 8 follow FastFAT's FatGetVolumeBitmap (fsctrl.c) and Learn's
//! VOLUME_BITMAP_BUFFER; a short input is INVALID_PARAMETER as MS-FSA has it for
//! FSCTL_GET_RETRIEVAL_POINTERS' input.

use alloc::vec::Vec;

use super::reply::{complete_user_buffer, leading_i64};
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, Irp, NtStatus};
use crate::volume::Vcb;
use crate::volume::control::FsctlRequest;
use crate::volume::disk::status_of;

/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 27, METHOD_NEITHER, FILE_ANY_ACCESS).
pub const FSCTL_GET_VOLUME_BITMAP: u32 = 0x0009_006F;

/// FIELD_OFFSET(VOLUME_BITMAP_BUFFER, Buffer): StartingLcn, BitmapSize.
const BITMAP_OFFSET: usize = 16;
/// sizeof(VOLUME_BITMAP_BUFFER) on x64 (one byte of bitmap, padded to 8).
const VOLUME_BITMAP_BUFFER_SIZE: usize = 24;

pub fn get_volume_bitmap(device: DeviceRef, irp: Irp, request: FsctlRequest) -> NtStatus {
    let FsctlRequest {
        input,
        output_length,
        ..
    } = request;
    let volume_open = irp
        .file_object()
        .and_then(|f| f.fcb::<Fcb>())
        .is_some_and(|fcb| fcb.kind() == FcbKind::Volume);
    let Some(starting_lcn) = leading_i64(&input).filter(|_| volume_open) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if (output_length as usize) < VOLUME_BITMAP_BUFFER_SIZE {
        return irp.complete(NtStatus::BUFFER_TOO_SMALL);
    }
    let answer = device
        .with_extension(|vcb: &Vcb| bitmap_from(vcb, starting_lcn, output_length as usize))
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    let (buffer, complete) = match answer {
        Ok(answer) => answer,
        Err(status) => return irp.complete(status),
    };
    complete_user_buffer(irp, output_length, &buffer, complete)
}

/// The VOLUME_BITMAP_BUFFER from `starting_lcn` rounded down to a multiple of 8, as much as
/// `output_length` holds, and whether that is all of it. A negative StartingLcn or one past
/// the last cluster is INVALID_PARAMETER (FastFAT).
fn bitmap_from(
    vcb: &Vcb,
    starting_lcn: i64,
    output_length: usize,
) -> Result<(Vec<u8>, bool), NtStatus> {
    let volume = vcb.volume();
    let clusters = volume.superblock().blocks_count;
    let start = u64::try_from(starting_lcn)
        .ok()
        .filter(|&lcn| lcn < clusters)
        .ok_or(NtStatus::INVALID_PARAMETER)?
        & !7;
    let bitmap_size = clusters - start;
    let needed = bitmap_size.div_ceil(8);
    let room = (output_length - BITMAP_OFFSET) as u64;
    let bytes = needed.min(room) as usize;
    let mut buffer = Vec::new();
    buffer
        .try_reserve_exact(BITMAP_OFFSET + bytes)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    buffer.extend_from_slice(&start.to_le_bytes());
    buffer.extend_from_slice(&bitmap_size.to_le_bytes());
    buffer.resize(BITMAP_OFFSET + bytes, 0);
    let bits = buffer.get_mut(BITMAP_OFFSET..).unwrap_or_default();
    volume.block_usage(start, bits).map_err(|e| status_of(&e))?;
    Ok((buffer, needed <= room))
}
