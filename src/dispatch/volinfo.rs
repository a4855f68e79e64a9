//! IRP_MJ_QUERY_VOLUME_INFORMATION and IRP_MJ_SET_VOLUME_INFORMATION on a volume.

use alloc::vec::Vec;

use crate::ext4;
use crate::info::layout::{self as l, FsSize};
use crate::info::time::nt_time_of_seconds;
use crate::kernel::{DeviceRef, Irp, IrpParameters, NtStatus};
use crate::name;
use crate::volume::Vcb;
use crate::volume::disk::status_of;
use crate::volume::mount::serial_number;

// FILE_FS_ATTRIBUTE_INFORMATION.FileSystemAttributes.
const FILE_CASE_SENSITIVE_SEARCH: u32 = 0x0000_0001;
const FILE_CASE_PRESERVED_NAMES: u32 = 0x0000_0002;
const FILE_UNICODE_ON_DISK: u32 = 0x0000_0004;
const FILE_SUPPORTS_REPARSE_POINTS: u32 = 0x0000_0080;
const FILE_READ_ONLY_VOLUME: u32 = 0x0008_0000;
const FILE_SUPPORTS_HARD_LINKS: u32 = 0x0040_0000;
const FILE_SUPPORTS_OPEN_BY_FILE_ID: u32 = 0x0100_0000;

/// What the volume says of itself: case-sensitive searches on request (SL_CASE_SENSITIVE),
/// names kept as written, Unicode (UTF-8) names, symlinks as reparse points, hard links,
/// opens by file ID, and nothing writable.
pub const VOLUME_ATTRIBUTES: u32 = FILE_CASE_SENSITIVE_SEARCH
    | FILE_CASE_PRESERVED_NAMES
    | FILE_UNICODE_ON_DISK
    | FILE_SUPPORTS_REPARSE_POINTS
    | FILE_READ_ONLY_VOLUME
    | FILE_SUPPORTS_HARD_LINKS
    | FILE_SUPPORTS_OPEN_BY_FILE_ID;

/// The longest name component: 255 bytes on disk, at most 255 UTF-16 units on Windows.
const MAX_COMPONENT: u32 = 255;

/// FILE_DEVICE_DISK: what a disk file system reports as its device type (FastFAT, NTFS).
const FILE_DEVICE_DISK: u32 = 0x0000_0007;

/// The sector size reported when the disk does not say (its geometry query failed).
const DEFAULT_BYTES_PER_SECTOR: u32 = 512;

/// SSINFO_OFFSET_UNKNOWN: the partition's alignment on the device is not known here.
const SSINFO_OFFSET_UNKNOWN: u32 = 0xFFFF_FFFF;

pub fn query_volume_information(device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::QueryVolumeInformation { class, length } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let mut data = Vec::new();
    let answer = device
        .with_extension(|vcb: &Vcb| encode(vcb, class, &mut data))
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    match answer {
        Ok(fixed) => super::reply::complete_query(irp, length, &data, fixed),
        Err(status) => irp.complete(status),
    }
}

/// A read-only volume changes no label and no quota: every class is refused as NTFS refuses
/// it on write-protected media.
pub fn set_volume_information(irp: Irp) -> NtStatus {
    irp.complete(NtStatus::MEDIA_WRITE_PROTECTED)
}

/// Encodes `class` into `out`; returns the size of its fixed part.
fn encode(vcb: &Vcb, class: u32, out: &mut Vec<u8>) -> Result<usize, NtStatus> {
    if vcb.is_dismounted() {
        return Err(NtStatus::VOLUME_DISMOUNTED);
    }
    let info = vcb.volume().info().map_err(|error| status_of(&error))?;
    let sector = match vcb.target().sector_size() {
        0 => DEFAULT_BYTES_PER_SECTOR,
        sector => sector,
    };
    match class {
        l::FILE_FS_VOLUME_INFORMATION => {
            let mut label = Vec::new();
            name::to_windows(&info.label, &mut label).map_err(|error| error.status())?;
            let creation = nt_time_of_seconds(info.mkfs_time);
            l::fs_volume(creation, serial_number(&info.uuid), &label, out)?;
            Ok(l::FS_VOLUME_BASE)
        }
        l::FILE_FS_SIZE_INFORMATION => {
            l::fs_size(&size(&info, sector), out)?;
            Ok(l::FS_SIZE_SIZE)
        }
        l::FILE_FS_FULL_SIZE_INFORMATION => {
            l::fs_full_size(&size(&info, sector), out)?;
            Ok(l::FS_FULL_SIZE_SIZE)
        }
        l::FILE_FS_DEVICE_INFORMATION => {
            l::fs_device(FILE_DEVICE_DISK, 0, out)?;
            Ok(l::FS_DEVICE_SIZE)
        }
        l::FILE_FS_ATTRIBUTE_INFORMATION => {
            let name = crate::fallible::utf16_of(file_system_name(&info))?;
            l::fs_attribute(VOLUME_ATTRIBUTES, MAX_COMPONENT, &name, out)?;
            Ok(l::FS_ATTRIBUTE_BASE)
        }
        l::FILE_FS_SECTOR_SIZE_INFORMATION => {
            l::fs_sector_size(sector, 0, SSINFO_OFFSET_UNKNOWN, out)?;
            Ok(l::FS_SECTOR_SIZE_SIZE)
        }
        // Control (quotas), ObjectId, DriverPath, VolumeFlags and the rest: not ours to
        // answer, as FastFAT answers them.
        _ => Err(NtStatus::INVALID_PARAMETER),
    }
}

/// Allocation units are the ext4 clusters (blocks unless bigalloc); both counts in the
/// superblock are in blocks. No quotas: the caller's free space is the volume's. `sector` is
/// the disk's sector size.
fn size(info: &ext4::VolumeInfo, sector: u32) -> FsSize {
    let cluster = info.cluster_size.max(1);
    let block = u64::from(info.block_size);
    let sectors = cluster / u64::from(sector.max(1));
    FsSize {
        total_units: info.blocks_count.saturating_mul(block) / cluster,
        available_units: info.free_blocks.saturating_mul(block) / cluster,
        sectors_per_unit: u32::try_from(sectors).unwrap_or(u32::MAX).max(1),
        bytes_per_sector: sector,
    }
}

// Feature bits that ext2 and ext3 also know; anything else makes the volume ext4.
const COMPAT_HAS_JOURNAL: u32 = 0x0004;
const INCOMPAT_EXT3: u32 = 0x0002 | 0x0004 | 0x0008 | 0x0010; // filetype, recover, journal_dev, meta_bg
const RO_COMPAT_EXT3: u32 = 0x0001 | 0x0002 | 0x0004; // sparse_super, large_file, btree_dir

/// "ext4" when the volume uses any feature ext3 lacks, "ext3" when it has a journal, else
/// "ext2" (the test blkid applies).
pub fn file_system_name(info: &ext4::VolumeInfo) -> &'static str {
    if info.feature_incompat & !INCOMPAT_EXT3 != 0 || info.feature_ro_compat & !RO_COMPAT_EXT3 != 0
    {
        "ext4"
    } else if info.feature_compat & COMPAT_HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    }
}
