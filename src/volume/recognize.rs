//! Whose disk is this? A boot sector that names another file system (NTFS, exFAT, FAT) wins
//! over an ext superblock at 1 KiB: mke2fs wipes such signatures, so finding both means the
//! disk was reformatted by Windows over an old ext volume whose superblock survived.

use alloc::vec::Vec;

use crate::kernel::TargetDevice;

const SECTOR: usize = 512;

/// The boot sector's OEM name (bytes 3..11) of NTFS and exFAT.
const FOREIGN_OEM_NAMES: [&[u8; 8]; 2] = [b"NTFS    ", b"EXFAT   "];

/// The FAT12/16 (at 54) and FAT32 (at 82) file system type strings start with this.
const FAT_TYPE_PREFIX: &[u8; 3] = b"FAT";

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
