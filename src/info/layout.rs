//! Byte encoders of the FILE_*_INFORMATION, FILE_FS_*_INFORMATION and directory entry
//! structures, in their Windows (x64) layouts. Sizes and offsets were checked against the
//! mingw-w64 ntifs.h with clang (tools/check-info-layouts.sh); the structures mingw lacks
//! (Stat, StatLx, Id, IdExtd*, SectorSize, CaseSensitive) follow their Learn pages.
//!
//! Every encoder appends the whole structure, variable part included, to a `Vec` it first
//! reserves fallibly. The caller decides how much of it fits the caller's buffer.

use alloc::vec::Vec;

use super::facts::{FILE_ATTRIBUTE_REPARSE_POINT, FileFacts, file_id_128};

/// The encoders could not reserve memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NoMemory;

pub type Encoded = Result<(), NoMemory>;

fn reserve(out: &mut Vec<u8>, n: usize) -> Encoded {
    out.try_reserve(n).map_err(|_| NoMemory)
}

fn u8s(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn i64le(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn units(out: &mut Vec<u8>, name: &[u16]) {
    for unit in name {
        out.extend_from_slice(&unit.to_le_bytes());
    }
}

fn zeros(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// Bytes of a name of `name` units, as a ULONG length field (names are at most 32 767 units).
fn name_bytes(name: &[u16]) -> u32 {
    u32::try_from(name.len().saturating_mul(2)).unwrap_or(u32::MAX)
}

fn times(out: &mut Vec<u8>, facts: &FileFacts) {
    i64le(out, facts.times.creation);
    i64le(out, facts.times.last_access);
    i64le(out, facts.times.last_write);
    i64le(out, facts.times.change);
}

// File information classes (FILE_INFORMATION_CLASS).
pub const FILE_DIRECTORY_INFORMATION: u32 = 1;
pub const FILE_FULL_DIRECTORY_INFORMATION: u32 = 2;
pub const FILE_BOTH_DIRECTORY_INFORMATION: u32 = 3;
pub const FILE_BASIC_INFORMATION: u32 = 4;
pub const FILE_STANDARD_INFORMATION: u32 = 5;
pub const FILE_INTERNAL_INFORMATION: u32 = 6;
pub const FILE_EA_INFORMATION: u32 = 7;
pub const FILE_ACCESS_INFORMATION: u32 = 8;
pub const FILE_NAME_INFORMATION: u32 = 9;
pub const FILE_NAMES_INFORMATION: u32 = 12;
pub const FILE_POSITION_INFORMATION: u32 = 14;
pub const FILE_MODE_INFORMATION: u32 = 16;
pub const FILE_ALIGNMENT_INFORMATION: u32 = 17;
pub const FILE_ALL_INFORMATION: u32 = 18;
pub const FILE_ALTERNATE_NAME_INFORMATION: u32 = 21;
pub const FILE_STREAM_INFORMATION: u32 = 22;
pub const FILE_NETWORK_OPEN_INFORMATION: u32 = 34;
pub const FILE_ATTRIBUTE_TAG_INFORMATION: u32 = 35;
pub const FILE_ID_BOTH_DIRECTORY_INFORMATION: u32 = 37;
pub const FILE_ID_FULL_DIRECTORY_INFORMATION: u32 = 38;
pub const FILE_HARD_LINK_INFORMATION: u32 = 46;
pub const FILE_NORMALIZED_NAME_INFORMATION: u32 = 48;
pub const FILE_REMOTE_PROTOCOL_INFORMATION: u32 = 55;
pub const FILE_ID_INFORMATION: u32 = 59;
pub const FILE_ID_EXTD_DIRECTORY_INFORMATION: u32 = 60;
pub const FILE_ID_EXTD_BOTH_DIRECTORY_INFORMATION: u32 = 63;
pub const FILE_STAT_INFORMATION: u32 = 68;
pub const FILE_STAT_LX_INFORMATION: u32 = 70;
pub const FILE_CASE_SENSITIVE_INFORMATION: u32 = 71;

// Fixed sizes (sizeof, trailing padding included).
pub const BASIC_SIZE: usize = 40;
pub const STANDARD_SIZE: usize = 24;
pub const INTERNAL_SIZE: usize = 8;
pub const EA_SIZE: usize = 4;
pub const ACCESS_SIZE: usize = 4;
/// sizeof(FILE_NAME_INFORMATION); the name starts at 4.
pub const NAME_SIZE: usize = 8;
pub const NAME_BASE: usize = 4;
pub const POSITION_SIZE: usize = 8;
pub const MODE_SIZE: usize = 4;
pub const ALIGNMENT_SIZE: usize = 4;
/// sizeof(FILE_ALL_INFORMATION); its name starts at 100.
pub const ALL_SIZE: usize = 104;
pub const ALL_NAME_BASE: usize = 100;
pub const NETWORK_OPEN_SIZE: usize = 56;
pub const ATTRIBUTE_TAG_SIZE: usize = 8;
/// sizeof(FILE_STREAM_INFORMATION); the name starts at 24.
pub const STREAM_SIZE: usize = 32;
/// sizeof(FILE_LINKS_INFORMATION) with one FILE_LINK_ENTRY_INFORMATION; the entry starts at
/// 8 and its name at 20 within it.
pub const LINKS_SIZE: usize = 32;
pub const ID_SIZE: usize = 24;
pub const STAT_SIZE: usize = 72;
pub const STAT_LX_SIZE: usize = 96;
pub const CASE_SENSITIVE_SIZE: usize = 4;

pub fn basic(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, BASIC_SIZE)?;
    times(out, facts);
    u32le(out, facts.attributes);
    zeros(out, 4);
    Ok(())
}

pub fn standard(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, STANDARD_SIZE)?;
    u64le(out, facts.allocation_size);
    u64le(out, facts.end_of_file);
    u32le(out, facts.links);
    // DeletePending (a read-only volume deletes nothing), Directory, padding.
    u8s(out, &[0, u8::from(facts.directory), 0, 0]);
    Ok(())
}

pub fn internal(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, INTERNAL_SIZE)?;
    u64le(out, facts.file_id);
    Ok(())
}

/// FILE_EA_INFORMATION / ACCESS / MODE / ALIGNMENT: one ULONG.
pub fn ulong(value: u32, out: &mut Vec<u8>) -> Encoded {
    reserve(out, 4)?;
    u32le(out, value);
    Ok(())
}

/// FILE_POSITION_INFORMATION.
pub fn position(offset: u64, out: &mut Vec<u8>) -> Encoded {
    reserve(out, POSITION_SIZE)?;
    u64le(out, offset);
    Ok(())
}

/// FILE_NAME_INFORMATION (also FileNormalizedNameInformation): FileNameLength, then the name
/// (no terminator). No trailing padding: the structure ends where the name does.
pub fn name(name: &[u16], out: &mut Vec<u8>) -> Encoded {
    reserve(out, NAME_BASE + name.len() * 2)?;
    u32le(out, name_bytes(name));
    units(out, name);
    Ok(())
}

/// The parts of FILE_ALL_INFORMATION the I/O manager does not fill for us.
pub struct AllParts<'a> {
    pub facts: &'a FileFacts,
    pub access: u32,
    pub position: u64,
    pub mode: u32,
    pub alignment: u32,
    pub name: &'a [u16],
    /// FileEaInformation's EaSize.
    pub ea_size: u32,
}

pub fn all(parts: &AllParts<'_>, out: &mut Vec<u8>) -> Encoded {
    reserve(out, ALL_NAME_BASE + parts.name.len() * 2)?;
    basic(parts.facts, out)?;
    standard(parts.facts, out)?;
    internal(parts.facts, out)?;
    ulong(parts.ea_size, out)?;
    ulong(parts.access, out)?;
    position(parts.position, out)?;
    ulong(parts.mode, out)?;
    ulong(parts.alignment, out)?;
    name(parts.name, out)
}

pub fn network_open(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, NETWORK_OPEN_SIZE)?;
    times(out, facts);
    u64le(out, facts.allocation_size);
    u64le(out, facts.end_of_file);
    u32le(out, facts.attributes);
    zeros(out, 4);
    Ok(())
}

pub fn attribute_tag(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, ATTRIBUTE_TAG_SIZE)?;
    u32le(out, facts.attributes);
    u32le(out, facts.reparse_tag);
    Ok(())
}

/// `::$DATA`, the unnamed data stream.
pub const UNNAMED_DATA_STREAM: [u16; 7] = [0x3A, 0x3A, 0x24, 0x44, 0x41, 0x54, 0x41];

/// FILE_STREAM_INFORMATION with the one unnamed data stream.
pub fn stream(facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, 24 + UNNAMED_DATA_STREAM.len() * 2)?;
    u32le(out, 0); // NextEntryOffset: the only entry.
    u32le(out, name_bytes(&UNNAMED_DATA_STREAM));
    u64le(out, facts.end_of_file);
    u64le(out, facts.allocation_size);
    units(out, &UNNAMED_DATA_STREAM);
    Ok(())
}

/// FILE_LINKS_INFORMATION with one entry: `name` in the directory `parent_id`.
pub fn links(parent_id: u64, name: &[u16], out: &mut Vec<u8>) -> Encoded {
    let needed = 8 + 20 + name.len() * 2;
    reserve(out, needed.max(LINKS_SIZE))?;
    u32le(out, u32::try_from(needed).unwrap_or(u32::MAX)); // BytesNeeded
    u32le(out, 1); // EntriesReturned
    u32le(out, 0); // NextEntryOffset
    zeros(out, 4);
    u64le(out, parent_id);
    u32le(out, name_bytes(name));
    units(out, name);
    Ok(())
}

/// FILE_ID_INFORMATION: the 64-bit volume serial number, then the 128-bit file ID.
pub fn id(volume_serial: u64, facts: &FileFacts, out: &mut Vec<u8>) -> Encoded {
    reserve(out, ID_SIZE)?;
    u64le(out, volume_serial);
    u8s(out, &file_id_128(facts.file_id));
    Ok(())
}

/// FILE_STAT_INFORMATION.
pub fn stat(facts: &FileFacts, effective_access: u32, out: &mut Vec<u8>) -> Encoded {
    reserve(out, STAT_SIZE)?;
    u64le(out, facts.file_id);
    times(out, facts);
    u64le(out, facts.allocation_size);
    u64le(out, facts.end_of_file);
    u32le(out, facts.attributes);
    u32le(out, facts.reparse_tag);
    u32le(out, facts.links);
    u32le(out, effective_access);
    Ok(())
}

// LxFlags of FILE_STAT_LX_INFORMATION.
pub const LX_FILE_METADATA_HAS_UID: u32 = 0x1;
pub const LX_FILE_METADATA_HAS_GID: u32 = 0x2;
pub const LX_FILE_METADATA_HAS_MODE: u32 = 0x4;
pub const LX_FILE_METADATA_HAS_DEVICE_ID: u32 = 0x8;

/// FILE_STAT_LX_INFORMATION: FILE_STAT_INFORMATION, then the Linux owner, mode and device.
pub fn stat_lx(facts: &FileFacts, effective_access: u32, out: &mut Vec<u8>) -> Encoded {
    reserve(out, STAT_LX_SIZE)?;
    stat(facts, effective_access, out)?;
    let mut flags = LX_FILE_METADATA_HAS_UID | LX_FILE_METADATA_HAS_GID | LX_FILE_METADATA_HAS_MODE;
    if facts.has_device {
        flags |= LX_FILE_METADATA_HAS_DEVICE_ID;
    }
    u32le(out, flags);
    u32le(out, facts.uid);
    u32le(out, facts.gid);
    u32le(out, facts.mode);
    u32le(out, facts.device_major);
    u32le(out, facts.device_minor);
    Ok(())
}

// Volume information classes (FS_INFORMATION_CLASS).
pub const FILE_FS_VOLUME_INFORMATION: u32 = 1;
pub const FILE_FS_LABEL_INFORMATION: u32 = 2;
pub const FILE_FS_SIZE_INFORMATION: u32 = 3;
pub const FILE_FS_DEVICE_INFORMATION: u32 = 4;
pub const FILE_FS_ATTRIBUTE_INFORMATION: u32 = 5;
pub const FILE_FS_CONTROL_INFORMATION: u32 = 6;
pub const FILE_FS_FULL_SIZE_INFORMATION: u32 = 7;
pub const FILE_FS_OBJECT_ID_INFORMATION: u32 = 8;
pub const FILE_FS_DRIVER_PATH_INFORMATION: u32 = 9;
pub const FILE_FS_VOLUME_FLAGS_INFORMATION: u32 = 10;
pub const FILE_FS_SECTOR_SIZE_INFORMATION: u32 = 11;

pub const FS_VOLUME_SIZE: usize = 24;
pub const FS_VOLUME_BASE: usize = 18;
pub const FS_SIZE_SIZE: usize = 24;
pub const FS_DEVICE_SIZE: usize = 8;
pub const FS_ATTRIBUTE_SIZE: usize = 16;
pub const FS_ATTRIBUTE_BASE: usize = 12;
pub const FS_CONTROL_SIZE: usize = 48;
pub const FS_FULL_SIZE_SIZE: usize = 32;
pub const FS_OBJECT_ID_SIZE: usize = 64;
pub const FS_SECTOR_SIZE_SIZE: usize = 28;

/// FILE_FS_VOLUME_INFORMATION.
pub fn fs_volume(creation: i64, serial: u32, label: &[u16], out: &mut Vec<u8>) -> Encoded {
    reserve(out, FS_VOLUME_BASE + label.len() * 2)?;
    i64le(out, creation);
    u32le(out, serial);
    u32le(out, name_bytes(label));
    // SupportsObjects (no object IDs), then the label right after it at 18.
    u8s(out, &[0, 0]);
    units(out, label);
    Ok(())
}

/// The allocation figures of FILE_FS_SIZE_INFORMATION and FILE_FS_FULL_SIZE_INFORMATION.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FsSize {
    pub total_units: u64,
    pub available_units: u64,
    pub sectors_per_unit: u32,
    pub bytes_per_sector: u32,
}

pub fn fs_size(size: &FsSize, out: &mut Vec<u8>) -> Encoded {
    reserve(out, FS_SIZE_SIZE)?;
    u64le(out, size.total_units);
    u64le(out, size.available_units);
    u32le(out, size.sectors_per_unit);
    u32le(out, size.bytes_per_sector);
    Ok(())
}

/// FILE_FS_FULL_SIZE_INFORMATION: the caller's and the volume's free space are the same (no
/// quotas).
pub fn fs_full_size(size: &FsSize, out: &mut Vec<u8>) -> Encoded {
    reserve(out, FS_FULL_SIZE_SIZE)?;
    u64le(out, size.total_units);
    u64le(out, size.available_units);
    u64le(out, size.available_units);
    u32le(out, size.sectors_per_unit);
    u32le(out, size.bytes_per_sector);
    Ok(())
}

pub fn fs_device(device_type: u32, characteristics: u32, out: &mut Vec<u8>) -> Encoded {
    reserve(out, FS_DEVICE_SIZE)?;
    u32le(out, device_type);
    u32le(out, characteristics);
    Ok(())
}

/// FILE_FS_ATTRIBUTE_INFORMATION.
pub fn fs_attribute(
    attributes: u32,
    max_component: u32,
    file_system: &[u16],
    out: &mut Vec<u8>,
) -> Encoded {
    reserve(out, FS_ATTRIBUTE_BASE + file_system.len() * 2)?;
    u32le(out, attributes);
    u32le(out, max_component);
    u32le(out, name_bytes(file_system));
    units(out, file_system);
    Ok(())
}

/// FILE_FS_SECTOR_SIZE_INFORMATION for a device of `sector` bytes per logical and physical
/// sector, with `offset` as both alignment offsets.
pub fn fs_sector_size(sector: u32, flags: u32, offset: u32, out: &mut Vec<u8>) -> Encoded {
    reserve(out, FS_SECTOR_SIZE_SIZE)?;
    for _ in 0..4 {
        u32le(out, sector);
    }
    u32le(out, flags);
    u32le(out, offset);
    u32le(out, offset);
    Ok(())
}

/// Where the name starts in one entry of a directory class, or `None` for a class that is
/// not a directory enumeration class.
pub fn directory_name_offset(class: u32) -> Option<usize> {
    Some(match class {
        FILE_DIRECTORY_INFORMATION => 64,
        FILE_FULL_DIRECTORY_INFORMATION => 68,
        FILE_BOTH_DIRECTORY_INFORMATION => 94,
        FILE_NAMES_INFORMATION => 12,
        FILE_ID_BOTH_DIRECTORY_INFORMATION => 104,
        FILE_ID_FULL_DIRECTORY_INFORMATION => 80,
        FILE_ID_EXTD_DIRECTORY_INFORMATION => 88,
        FILE_ID_EXTD_BOTH_DIRECTORY_INFORMATION => 114,
        _ => return None,
    })
}

/// sizeof the structure of a directory class (the I/O manager's minimum buffer length).
pub fn directory_struct_size(class: u32) -> Option<usize> {
    Some(match class {
        FILE_DIRECTORY_INFORMATION => 72,
        FILE_FULL_DIRECTORY_INFORMATION => 72,
        FILE_BOTH_DIRECTORY_INFORMATION => 96,
        FILE_NAMES_INFORMATION => 16,
        FILE_ID_BOTH_DIRECTORY_INFORMATION => 112,
        FILE_ID_FULL_DIRECTORY_INFORMATION => 88,
        FILE_ID_EXTD_DIRECTORY_INFORMATION => 96,
        FILE_ID_EXTD_BOTH_DIRECTORY_INFORMATION => 120,
        _ => return None,
    })
}

/// One directory entry of `class` (NextEntryOffset 0; the enumerator links entries). No short
/// names (ShortNameLength 0); `ea_size` is the file's FileEaInformation EaSize.
pub fn directory_entry(
    class: u32,
    file_index: u32,
    facts: &FileFacts,
    ea_size: u32,
    name: &[u16],
    out: &mut Vec<u8>,
) -> Encoded {
    let Some(base) = directory_name_offset(class) else {
        return Ok(());
    };
    reserve(out, base + name.len() * 2)?;
    u32le(out, 0);
    u32le(out, file_index);
    if class == FILE_NAMES_INFORMATION {
        u32le(out, name_bytes(name));
        units(out, name);
        return Ok(());
    }
    times(out, facts);
    u64le(out, facts.end_of_file);
    u64le(out, facts.allocation_size);
    u32le(out, facts.attributes);
    u32le(out, name_bytes(name));
    if class != FILE_DIRECTORY_INFORMATION {
        // EaSize: the packed size FileEaInformation gives. MS-FSCC 2.4.17
        // (FileFullDirectoryInformation and the classes built on it): for a reparse point the
        // field carries the reparse tag instead. The Extd classes have a ReparsePointTag of
        // their own (Learn, FILE_ID_EXTD_DIR_INFORMATION), so their EaSize stays the size.
        let extd = matches!(
            class,
            FILE_ID_EXTD_DIRECTORY_INFORMATION | FILE_ID_EXTD_BOTH_DIRECTORY_INFORMATION
        );
        let reparse = facts.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0;
        u32le(
            out,
            if reparse && !extd {
                facts.reparse_tag
            } else {
                ea_size
            },
        );
        if extd {
            u32le(out, facts.reparse_tag);
            u8s(out, &file_id_128(facts.file_id));
        }
    }
    match class {
        FILE_BOTH_DIRECTORY_INFORMATION
        | FILE_ID_BOTH_DIRECTORY_INFORMATION
        | FILE_ID_EXTD_BOTH_DIRECTORY_INFORMATION => {
            // ShortNameLength 0, a reserved byte, ShortName[12].
            zeros(out, 2 + 24);
        }
        _ => {}
    }
    match class {
        FILE_ID_BOTH_DIRECTORY_INFORMATION => {
            zeros(out, 2);
            u64le(out, facts.file_id);
        }
        FILE_ID_FULL_DIRECTORY_INFORMATION => {
            zeros(out, 4);
            u64le(out, facts.file_id);
        }
        _ => {}
    }
    units(out, name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::facts::FileFacts;
    use crate::info::time::NtTimes;

    fn facts() -> FileFacts {
        FileFacts {
            times: NtTimes {
                creation: 1,
                last_access: 2,
                last_write: 3,
                change: 4,
            },
            end_of_file: 5,
            allocation_size: 6,
            attributes: 7,
            reparse_tag: 0xA000_000C,
            file_id: 0x1122_3344,
            links: 9,
            directory: true,
            uid: 10,
            gid: 11,
            mode: 0o40755,
            device_major: 0,
            device_minor: 0,
            has_device: false,
        }
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn fixed_classes_have_their_windows_sizes() {
        let f = facts();
        let mut out = Vec::new();
        let mut size = |encode: &dyn Fn(&mut Vec<u8>) -> Encoded| {
            out.clear();
            encode(&mut out).unwrap();
            out.len()
        };
        assert_eq!(size(&|o| basic(&f, o)), BASIC_SIZE);
        assert_eq!(size(&|o| standard(&f, o)), STANDARD_SIZE);
        assert_eq!(size(&|o| internal(&f, o)), INTERNAL_SIZE);
        assert_eq!(size(&|o| network_open(&f, o)), NETWORK_OPEN_SIZE);
        assert_eq!(size(&|o| attribute_tag(&f, o)), ATTRIBUTE_TAG_SIZE);
        assert_eq!(size(&|o| id(1, &f, o)), ID_SIZE);
        assert_eq!(size(&|o| stat(&f, 0, o)), STAT_SIZE);
        assert_eq!(size(&|o| stat_lx(&f, 0, o)), STAT_LX_SIZE);
        assert_eq!(size(&|o| links(2, &[0x61], o)), 30);
        let fs = FsSize {
            total_units: 1,
            available_units: 2,
            sectors_per_unit: 8,
            bytes_per_sector: 512,
        };
        assert_eq!(size(&|o| fs_size(&fs, o)), FS_SIZE_SIZE);
        assert_eq!(size(&|o| fs_full_size(&fs, o)), FS_FULL_SIZE_SIZE);
        assert_eq!(size(&|o| fs_device(7, 0, o)), FS_DEVICE_SIZE);
        assert_eq!(size(&|o| fs_sector_size(512, 0, 0, o)), FS_SECTOR_SIZE_SIZE);
    }

    #[test]
    fn all_information_puts_each_part_at_its_offset() {
        let f = facts();
        let parts = AllParts {
            facts: &f,
            access: 0x120089,
            position: 77,
            mode: 0x20,
            alignment: 0,
            name: &[0x5C, 0x61],
            ea_size: 60,
        };
        let mut out = Vec::new();
        all(&parts, &mut out).unwrap();
        assert_eq!(out.len(), ALL_NAME_BASE + 4);
        assert_eq!(u64_at(&out, 0), 1);
        assert_eq!(u32_at(&out, 32), 7); // Basic.FileAttributes
        assert_eq!(u64_at(&out, 40), 6); // Standard.AllocationSize
        assert_eq!(out[61], 1); // Standard.Directory
        assert_eq!(u64_at(&out, 64), 0x1122_3344); // Internal
        assert_eq!(u32_at(&out, 72), 60); // Ea.EaSize
        assert_eq!(u32_at(&out, 76), 0x120089); // Access
        assert_eq!(u64_at(&out, 80), 77); // Position
        assert_eq!(u32_at(&out, 88), 0x20); // Mode
        assert_eq!(u32_at(&out, 96), 4); // Name.FileNameLength
        assert_eq!(&out[100..], &[0x5C, 0, 0x61, 0]);
    }

    #[test]
    fn directory_entries_put_the_name_at_the_documented_offset() {
        let f = FileFacts {
            directory: false,
            ..facts()
        };
        for class in [1, 2, 3, 12, 37, 38, 60, 63] {
            let mut out = Vec::new();
            directory_entry(class, 5, &f, 60, &[0x78, 0x79], &mut out).unwrap();
            let base = directory_name_offset(class).unwrap();
            assert_eq!(out.len(), base + 4, "class {class}");
            assert!(directory_struct_size(class).unwrap() >= base + 2);
            assert_eq!(&out[base..], &[0x78, 0, 0x79, 0], "class {class}");
            assert_eq!(u32_at(&out, 4), 5);
            let length_at = if class == 12 { 8 } else { 60 };
            assert_eq!(u32_at(&out, length_at), 4, "class {class}");
        }
        let mut out = Vec::new();
        directory_entry(37, 0, &f, 60, &[], &mut out).unwrap();
        assert_eq!(u64_at(&out, 96), 0x1122_3344);
        out.clear();
        directory_entry(38, 0, &f, 60, &[], &mut out).unwrap();
        assert_eq!(u64_at(&out, 72), 0x1122_3344);
        out.clear();
        directory_entry(60, 0, &f, 60, &[], &mut out).unwrap();
        assert_eq!(u32_at(&out, 68), 0xA000_000C);
        assert_eq!(u64_at(&out, 72), 0x1122_3344);
        out.clear();
        directory_entry(63, 0, &f, 60, &[], &mut out).unwrap();
        assert_eq!(u64_at(&out, 72), 0x1122_3344);
        assert_eq!(out[88], 0); // ShortNameLength
    }

    #[test]
    fn ea_size_or_the_reparse_tag() {
        let file = FileFacts {
            directory: false,
            ..facts()
        };
        let link = FileFacts {
            attributes: FILE_ATTRIBUTE_REPARSE_POINT,
            ..file
        };
        for class in [2, 3, 37, 38, 60, 63] {
            let extd = matches!(class, 60 | 63);
            let mut out = Vec::new();
            directory_entry(class, 0, &file, 84, &[], &mut out).unwrap();
            assert_eq!(u32_at(&out, 64), 84, "class {class}");
            out.clear();
            directory_entry(class, 0, &link, 84, &[], &mut out).unwrap();
            let want = if extd { 84 } else { 0xA000_000C };
            assert_eq!(u32_at(&out, 64), want, "class {class}");
            if extd {
                assert_eq!(u32_at(&out, 68), 0xA000_000C);
            }
        }
    }

    #[test]
    fn volume_and_attribute_names_follow_the_fixed_part() {
        let mut out = Vec::new();
        fs_volume(9, 0xABCD, &[0x4C], &mut out).unwrap();
        assert_eq!(out.len(), FS_VOLUME_BASE + 2);
        assert_eq!(u32_at(&out, 8), 0xABCD);
        assert_eq!(u32_at(&out, 12), 2);
        out.clear();
        fs_attribute(1, 255, &[0x65, 0x78], &mut out).unwrap();
        assert_eq!(out.len(), FS_ATTRIBUTE_BASE + 4);
        assert_eq!(u32_at(&out, 8), 4);
    }
}
