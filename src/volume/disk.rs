//! The ext4 reader's block device: byte-range reads of the volume's target device.

use core::sync::atomic::{AtomicBool, Ordering};

use super::statistics::Statistics;
use crate::ext4::{self, BlockDevice};
use crate::kernel::{NtStatus, TargetDevice};

/// Reads of the disk or partition a volume is mounted from. Every read is an IRP the kernel
/// backend builds and owns (an MDL over a pool buffer), sent synchronously to the target.
///
/// Until `finish_mount`, reads carry SL_OVERRIDE_VERIFY_VOLUME (a mount's and a verify's reads
/// must reach whatever medium is there). After it they do not: once the disk driver notices a
/// media change (DO_VERIFY_VOLUME), the volume's reads fail with STATUS_VERIFY_REQUIRED until
/// it is verified, instead of reading the new medium as if it were the old volume.
pub struct DiskReader {
    target: TargetDevice,
    length: u64,
    mounting: AtomicBool,
    /// Every read is counted here, as file contents or as metadata.
    statistics: Statistics,
}

impl DiskReader {
    /// A reader for a mount or a verify.
    pub fn for_mount(target: TargetDevice, statistics: Statistics) -> DiskReader {
        DiskReader {
            target,
            length: target.with_verify_override().length(),
            mounting: AtomicBool::new(true),
            statistics,
        }
    }

    /// The volume's performance counters.
    pub fn statistics(&self) -> &Statistics {
        &self.statistics
    }

    /// The volume is mounted: its reads respect DO_VERIFY_VOLUME from now on.
    pub fn finish_mount(&self) {
        self.mounting.store(false, Ordering::Release);
    }

    pub fn target(&self) -> TargetDevice {
        self.target
    }
}

impl DiskReader {
    /// A read of the volume's bytes that is neither file contents nor metadata (a volume
    /// open's DASD read): counted nowhere, as FastFAT counts those only in its FAT_STATISTICS.
    pub fn read_raw(&self, offset: u64, buf: &mut [u8]) -> ext4::Result<()> {
        let io_error = |status: NtStatus| ext4::Error::Io {
            offset,
            code: i64::from(status.0),
        };
        let target = if self.mounting.load(Ordering::Acquire) {
            self.target.with_verify_override()
        } else {
            self.target
        };
        match target.read(offset, buf) {
            Ok(count) if count == buf.len() => Ok(()),
            // A short read of a volume that claims to be larger is a device error.
            Ok(_) => Err(io_error(NtStatus::END_OF_FILE)),
            Err(status) => Err(io_error(status)),
        }
    }
}

impl BlockDevice for DiskReader {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ext4::Result<()> {
        let disk_reads = self.target.transfers(offset, buf.len());
        self.statistics.metadata_read(buf.len(), disk_reads);
        self.read_raw(offset, buf)
    }

    fn read_data_at(&self, offset: u64, buf: &mut [u8]) -> ext4::Result<()> {
        self.statistics
            .user_disk_reads(self.target.transfers(offset, buf.len()));
        self.read_raw(offset, buf)
    }

    fn size(&self) -> Option<u64> {
        // Zero means the device would not say (the length query failed).
        (self.length != 0).then_some(self.length)
    }
}

/// The NTSTATUS of a reader error that reached the FSD.
pub fn status_of(error: &ext4::Error) -> NtStatus {
    match error {
        ext4::Error::Io { code, .. } => i32::try_from(*code)
            .ok()
            .map(NtStatus)
            .filter(|status| status.is_error() || *status == NtStatus::VERIFY_REQUIRED)
            .unwrap_or(NtStatus::UNSUCCESSFUL),
        ext4::Error::NoMemory | ext4::Error::Cap { .. } => NtStatus::INSUFFICIENT_RESOURCES,
        ext4::Error::NotFound => NtStatus::OBJECT_NAME_NOT_FOUND,
        ext4::Error::NotADirectory => NtStatus::NOT_A_DIRECTORY,
        _ => NtStatus::FILE_CORRUPT_ERROR,
    }
}
