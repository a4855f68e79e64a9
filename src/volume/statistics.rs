//! The volume's performance counters for FSCTL_FILESYSTEM_GET_STATISTICS: one set per
//! processor, as FastFAT keeps its Vcb->Statistics (`fastfat/strucsup.c` FatInitializeVcb
//! allocates one entry per processor; `read.c` CollectReadStats and `deviosup.c`
//! CollectDiskIoStats add to the running processor's entry), summed by whoever reads them.
//!
//! What is counted (docs/requests.md, "FSCTL_FILESYSTEM_GET_STATISTICS"):
//! - UserFileReads / UserFileReadBytes: paging and non-cached reads of a file's data (the
//!   reads that reach the file system's disk path; a cached read is counted by the paging read
//!   Cc sends for it);
//! - UserDiskReads: the disk reads those make for the file's contents;
//! - MetaDataReads / MetaDataReadBytes / MetaDataDiskReads: every other read of the disk
//!   (superblock, group descriptors, inodes, block maps, directories, xattrs, the journal),
//!   one read per request of the ext4 layer, and the disk reads it takes.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::kernel::{NtStatus, current_processor};

/// sizeof(FILESYSTEM_STATISTICS).
pub const FILESYSTEM_STATISTICS_SIZE: usize = 56;
/// One processor's entry in the answer: FILESYSTEM_STATISTICS, no file-system-specific
/// structure, zeros up to 64 bytes (MS-FSCC 2.3.12: every entry starts on a 64-byte boundary).
pub const ENTRY_SIZE: usize = 64;
/// FileSystemType: MS-FSCC lists only NTFS (1), FAT (2), exFAT (3) and ReFS (4), and each
/// names the structure that follows. An ext volume is none of them, so it answers a value of
/// its own, with the high bit set so that no later Microsoft value can collide, and no
/// specific structure (MS-FSA 2.1.5.10.7: that structure is optional).
pub const FILESYSTEM_STATISTICS_TYPE_EXT: u16 = 0x8001;
/// The only Version of the structure.
const VERSION: u16 = 1;

/// The counters of one processor, on a cache line of their own.
#[repr(align(64))]
#[derive(Default)]
struct ProcessorCounters {
    user_file_reads: AtomicU32,
    user_file_read_bytes: AtomicU32,
    user_disk_reads: AtomicU32,
    metadata_reads: AtomicU32,
    metadata_read_bytes: AtomicU32,
    metadata_disk_reads: AtomicU32,
}

/// Adds with wrap-around: the counters are DWORDs that wrap by design (MS-FSCC 2.3.12).
fn add(counter: &AtomicU32, amount: u32) {
    counter.fetch_add(amount, Ordering::Relaxed);
}

/// Byte counts above 4 GiB wrap as the DWORD does.
fn dword(bytes: usize) -> u32 {
    bytes as u32
}

pub struct Statistics {
    processors: Vec<ProcessorCounters>,
}

impl Statistics {
    /// Counters for `processors` processors (at least one).
    pub fn try_new(processors: u32) -> Result<Statistics, NtStatus> {
        let count = usize::try_from(processors.max(1)).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        let mut list = Vec::new();
        list.try_reserve_exact(count)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        list.resize_with(count, ProcessorCounters::default);
        Ok(Statistics { processors: list })
    }

    /// The running processor's counters. A processor added after the mount shares another's
    /// entry (FastFAT indexes modulo the count it allocated for). A frame of its own: the
    /// PROCESSOR_NUMBER it reads stays off every disk read's stack (`cargo xtask stack-depth`).
    #[inline(never)]
    fn here(&self) -> Option<&ProcessorCounters> {
        let count = self.processors.len().max(1);
        self.processors.get(current_processor() as usize % count)
    }

    /// A paging or non-cached read of a file's data moved `bytes`.
    pub fn user_file_read(&self, bytes: usize) {
        if let Some(counters) = self.here() {
            add(&counters.user_file_reads, 1);
            add(&counters.user_file_read_bytes, dword(bytes));
        }
    }

    /// `disk_reads` disk reads were sent for a file's contents.
    pub fn user_disk_reads(&self, disk_reads: u32) {
        if let Some(counters) = self.here() {
            add(&counters.user_disk_reads, disk_reads);
        }
    }

    /// The file system read `bytes` of its own structures with `disk_reads` disk reads.
    pub fn metadata_read(&self, bytes: usize, disk_reads: u32) {
        if let Some(counters) = self.here() {
            add(&counters.metadata_reads, 1);
            add(&counters.metadata_read_bytes, dword(bytes));
            add(&counters.metadata_disk_reads, disk_reads);
        }
    }

    /// Bytes of the whole answer: one entry per processor.
    pub fn answer_size(&self) -> usize {
        self.processors.len().saturating_mul(ENTRY_SIZE)
    }

    /// The answer: each processor's FILESYSTEM_STATISTICS, padded to 64 bytes.
    pub fn encode(&self) -> Result<Vec<u8>, NtStatus> {
        let size = self.answer_size();
        let mut out = Vec::new();
        out.try_reserve_exact(size)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        // SizeOfCompleteStructure: the padded entry times the processors (Learn,
        // FILESYSTEM_STATISTICS: 0x280 for two 0x140-byte NTFS entries).
        let complete = u32::try_from(size).unwrap_or(u32::MAX);
        let load = |counter: &AtomicU32| counter.load(Ordering::Relaxed);
        for counters in &self.processors {
            let start = out.len();
            out.extend_from_slice(&FILESYSTEM_STATISTICS_TYPE_EXT.to_le_bytes());
            out.extend_from_slice(&VERSION.to_le_bytes());
            // No writes ever: UserFileWrites, UserFileWriteBytes, UserDiskWrites and the
            // three MetaData*Writes stay 0.
            for value in [
                complete,
                load(&counters.user_file_reads),
                load(&counters.user_file_read_bytes),
                load(&counters.user_disk_reads),
                0,
                0,
                0,
                load(&counters.metadata_reads),
                load(&counters.metadata_read_bytes),
                load(&counters.metadata_disk_reads),
                0,
                0,
                0,
            ] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.resize(start + ENTRY_SIZE, 0);
        }
        Ok(out)
    }
}
