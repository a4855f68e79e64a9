//! FSCTL_FILESYSTEM_GET_STATISTICS: the volume's performance counters
//! (`volume::statistics`), one 64-byte entry per processor, on any open of the volume.
//!
//! Buffer rules (MS-FSA 2.1.5.10.7; FastFAT `fsctrl.c` FatGetStatistics): no input is read; an
//! output shorter than FILESYSTEM_STATISTICS is BUFFER_TOO_SMALL; one shorter than the whole
//! answer gets what fits, BUFFER_OVERFLOW, Information = the output length.

use super::reply::complete_query;
use crate::kernel::{DeviceRef, Irp, NtStatus};
use crate::volume::Vcb;
use crate::volume::control::FsctlRequest;
use crate::volume::statistics::FILESYSTEM_STATISTICS_SIZE;

/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 24, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const FSCTL_FILESYSTEM_GET_STATISTICS: u32 = 0x0009_0060;

pub fn get_statistics(device: DeviceRef, irp: Irp, request: FsctlRequest) -> NtStatus {
    let answer = device
        .with_extension(|vcb: &Vcb| vcb.statistics().encode())
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    match answer {
        Ok(answer) => complete_query(
            irp,
            request.output_length,
            &answer,
            FILESYSTEM_STATISTICS_SIZE,
        ),
        Err(status) => irp.complete(status),
    }
}
