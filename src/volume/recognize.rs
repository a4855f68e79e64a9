//! Whose disk is this, and is it still the one we mounted? A boot sector that names another file system (NTFS, exFAT, FAT) wins
//! over an ext superblock at 1 KiB: mke2fs wipes such signatures, so finding both means the
//! disk was reformatted by Windows over an old ext volume whose superblock survived.

use alloc::vec::Vec;

use crate::kernel::{NtStatus, TargetDevice};

const SECTOR: usize = 512;

/// The boot sector's OEM name (bytes 3..11) of NTFS and exFAT.
const FOREIGN_OEM_NAMES: [&[u8; 8]; 2] = [b"NTFS    ", b"EXFAT   "];

/// The FAT12/16 (at 54) and FAT32 (at 82) file system type strings start with this.
const FAT_TYPE_PREFIX: &[u8; 3] = b"FAT";

/// Where the ext superblock lies, and how long it is.
const SUPERBLOCK_OFFSET: u64 = 1024;
const SUPERBLOCK_LEN: usize = 1024;

/// The raw bytes of the ext superblock, as the disk holds them: what a verify compares. A
/// cloned disk has the same UUID; any write to an ext volume changes its superblock (times,
/// free counts), so equal bytes mean the volume we mounted, as we mounted it.
pub fn raw_superblock(target: TargetDevice) -> Result<Vec<u8>, NtStatus> {
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(SUPERBLOCK_LEN)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    bytes.resize(SUPERBLOCK_LEN, 0);
    match target.read(SUPERBLOCK_OFFSET, &mut bytes) {
        Ok(SUPERBLOCK_LEN) => Ok(bytes),
        Ok(_) => Err(NtStatus::END_OF_FILE),
        Err(status) => Err(status),
    }
}

/// True if sector 0 carries the 0x55AA signature and names NTFS, exFAT or FAT. A sector that
/// cannot be read names nothing (the ext reader then reports the disk's error).
pub fn has_foreign_boot_sector(target: TargetDevice) -> bool {
    let mut sector = Vec::new();
    if sector.try_reserve_exact(SECTOR).is_err() {
        return false;
    }
    sector.resize(SECTOR, 0);
    if target.read(0, &mut sector) != Ok(SECTOR) {
        return false;
    }
    if sector[510..512] != [0x55, 0xAA] {
        return false;
    }
    let oem = &sector[3..11];
    FOREIGN_OEM_NAMES.iter().any(|name| oem == &name[..])
        || sector[54..57] == FAT_TYPE_PREFIX[..]
        || sector[82..85] == FAT_TYPE_PREFIX[..]
}
