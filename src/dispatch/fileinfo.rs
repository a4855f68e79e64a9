//! IRP_MJ_QUERY_INFORMATION and IRP_MJ_SET_INFORMATION.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use crate::ext4;
use crate::fcb::{Ccb, FcbKind, FcbRef};
use crate::info::facts::{FileFacts, volume_serial_64};
use crate::info::layout::{self as l, AllParts};
use crate::kernel::{DeviceRef, FileObject, Irp, IrpParameters, NtStatus, PoolArc};
use crate::name;
use crate::volume::Vcb;
use crate::volume::disk::status_of;

// FILE_OBJECT flags behind FileModeInformation.
const FO_SYNCHRONOUS_IO: u32 = 0x0000_0002;
const FO_ALERTABLE_IO: u32 = 0x0000_0004;
const FO_NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
const FO_WRITE_THROUGH: u32 = 0x0000_0010;
const FO_SEQUENTIAL_ONLY: u32 = 0x0000_0020;

// FileModeInformation bits (the create options they come from).
const FILE_WRITE_THROUGH: u32 = 0x0000_0002;
const FILE_SEQUENTIAL_ONLY: u32 = 0x0000_0004;
const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
const FILE_SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;

/// FILE_BYTE_ALIGNMENT: the volume device asks no buffer alignment.
const FILE_BYTE_ALIGNMENT: u32 = 0;

/// The sector size position changes on FILE_NO_INTERMEDIATE_BUFFERING opens must respect.
const SECTOR_SIZE: u64 = 512;

pub fn query_information(device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::QueryInformation { class, length } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some((file_object, fcb, ccb)) = super::reply::opened(&irp) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    match answer(device, &file_object, &fcb, &ccb, class) {
        Ok((mut data, _))
            if class == l::FILE_HARD_LINK_INFORMATION && data.len() > length as usize =>
        {
            links_overflow(irp, &mut data)
        }
        Ok((data, fixed)) => super::reply::complete_query(irp, length, &data, fixed),
        Err(status) => irp.complete(status),
    }
}

/// `class` of an open, whole, and the size of its fixed part: what IRP_MJ_QUERY_INFORMATION
/// answers, and the fast I/O queries (`fastio.rs`) too.
pub(super) fn answer(
    device: DeviceRef,
    file_object: &FileObject,
    fcb: &FcbRef,
    ccb: &PoolArc<Ccb>,
    class: u32,
) -> Result<(Vec<u8>, usize), NtStatus> {
    let mut data = Vec::new();
    let open = Open {
        file_object,
        fcb,
        ccb,
    };
    let fixed = device
        .with_extension(|vcb: &Vcb| encode(vcb, &open, class, &mut data))
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))?;
    Ok((data, fixed))
}

/// FILE_LINKS_INFORMATION's BytesNeeded and EntriesReturned.
const LINKS_HEADER: usize = 8;

/// The names do not fit: BytesNeeded tells the caller what to ask for, with no entry returned
/// (EntriesReturned 0) and STATUS_BUFFER_OVERFLOW (Learn, FILE_LINKS_INFORMATION).
fn links_overflow(mut irp: Irp, data: &mut Vec<u8>) -> NtStatus {
    data.truncate(LINKS_HEADER);
    if let Some(entries) = data.get_mut(4..LINKS_HEADER) {
        entries.fill(0);
    }
    if let Err(status) = super::reply::write_output(&irp, data) {
        return irp.complete(status);
    }
    irp.set_information(data.len());
    irp.complete(NtStatus::BUFFER_OVERFLOW)
}

/// What one open is: its FILE_OBJECT, FCB and CCB.
struct Open<'a> {
    file_object: &'a FileObject,
    fcb: &'a FcbRef,
    ccb: &'a PoolArc<Ccb>,
}

/// Encodes `class` for `open` into `out`; returns the size of its fixed part.
fn encode(vcb: &Vcb, open: &Open<'_>, class: u32, out: &mut Vec<u8>) -> Result<usize, NtStatus> {
    if vcb.is_dismounted() {
        return Err(NtStatus::VOLUME_DISMOUNTED);
    }
    let position = open.file_object.current_byte_offset();
    if class == l::FILE_POSITION_INFORMATION {
        l::position(position, out)?;
        return Ok(l::POSITION_SIZE);
    }
    // A volume open answers its position only (FastFAT's UserVolumeOpen).
    let inode = match (open.fcb.kind(), open.fcb.inode()) {
        (FcbKind::Volume, _) | (_, None) => return Err(NtStatus::INVALID_PARAMETER),
        (_, Some(inode)) => inode,
    };
    let stat = vcb.volume().stat(inode);
    let path = &open.ccb.path;
    let last = last_component(path);
    let mut raw_last = Vec::new();
    if !last.is_empty() {
        name::to_disk(last, &mut raw_last).map_err(|error| error.status())?;
    }
    let facts = FileFacts::of(&stat, Some(&raw_last), vcb.attribute_options());
    let ea_size = || super::ea::ea_size_of(vcb, inode, &facts);
    let access = open.ccb.granted_access;
    let fixed = match class {
        l::FILE_BASIC_INFORMATION => {
            l::basic(&facts, out)?;
            l::BASIC_SIZE
        }
        l::FILE_STANDARD_INFORMATION => {
            l::standard(&facts, out)?;
            l::STANDARD_SIZE
        }
        l::FILE_INTERNAL_INFORMATION => {
            l::internal(&facts, out)?;
            l::INTERNAL_SIZE
        }
        // The buffer a query of every EA needs (`info::ea`).
        l::FILE_EA_INFORMATION => {
            l::ulong(ea_size()?, out)?;
            l::EA_SIZE
        }
        l::FILE_ACCESS_INFORMATION => {
            l::ulong(access, out)?;
            l::ACCESS_SIZE
        }
        l::FILE_MODE_INFORMATION => {
            l::ulong(mode(open.file_object.flags()), out)?;
            l::MODE_SIZE
        }
        l::FILE_ALIGNMENT_INFORMATION => {
            l::ulong(FILE_BYTE_ALIGNMENT, out)?;
            l::ALIGNMENT_SIZE
        }
        l::FILE_NAME_INFORMATION | l::FILE_NORMALIZED_NAME_INFORMATION => {
            l::name(&known_path(vcb, open, inode)?.0, out)?;
            l::NAME_BASE
        }
        l::FILE_ALL_INFORMATION => {
            let parts = AllParts {
                facts: &facts,
                access,
                position,
                mode: mode(open.file_object.flags()),
                alignment: FILE_BYTE_ALIGNMENT,
                name: &known_path(vcb, open, inode)?.0,
                ea_size: ea_size()?,
            };
            l::all(&parts, out)?;
            l::ALL_NAME_BASE
        }
        l::FILE_NETWORK_OPEN_INFORMATION => {
            l::network_open(&facts, out)?;
            l::NETWORK_OPEN_SIZE
        }
        l::FILE_ATTRIBUTE_TAG_INFORMATION => {
            l::attribute_tag(&facts, out)?;
            l::ATTRIBUTE_TAG_SIZE
        }
        // A directory has no data stream: an empty list, as NTFS gives.
        l::FILE_STREAM_INFORMATION if facts.directory => 0,
        l::FILE_STREAM_INFORMATION => {
            l::stream(&facts, out)?;
            24
        }
        l::FILE_HARD_LINK_INFORMATION => {
            let (_, parent) = known_path(vcb, open, inode)?;
            l::links(parent, last, out)?;
            LINKS_HEADER
        }
        l::FILE_ID_INFORMATION => {
            l::id(volume_serial_64(&vcb.uuid()), &facts, out)?;
            l::ID_SIZE
        }
        l::FILE_STAT_INFORMATION => {
            l::stat(&facts, access, out)?;
            l::STAT_SIZE
        }
        l::FILE_STAT_LX_INFORMATION => {
            l::stat_lx(&facts, access, out)?;
            l::STAT_LX_SIZE
        }
        // Lookups ignore case unless the open asks otherwise; no directory is flagged
        // case-sensitive.
        l::FILE_CASE_SENSITIVE_INFORMATION => {
            l::ulong(0, out)?;
            l::CASE_SENSITIVE_SIZE
        }
        // No 8.3 names on ext4: NTFS answers so for a file without a short name.
        l::FILE_ALTERNATE_NAME_INFORMATION => return Err(NtStatus::OBJECT_NAME_NOT_FOUND),
        // Not a remote file system (NTFS answers the same).
        l::FILE_REMOTE_PROTOCOL_INFORMATION => return Err(NtStatus::INVALID_PARAMETER),
        _ => return Err(NtStatus::INVALID_PARAMETER),
    };
    Ok(fixed)
}

/// The open's path and the key of the directory that holds its name. A directory opened by
/// file ID (or relative to such an open) has exactly one name, found by walking up its `..`
/// entries, as NTFS finds a name from the file record. Any other inode opened by ID is named
/// through the directory it was last reached by on this volume, if its FCB remembers one (an
/// earlier open by path that is still open or in the delayed-close list): that directory's
/// path and its first entry for the inode. Otherwise its name is unknown, INVALID_PARAMETER:
/// an ext4 inode has no pointer back to its names, and a search of the whole volume is not
/// bounded.
fn known_path<'a>(
    vcb: &Vcb,
    open: &'a Open<'_>,
    inode: &ext4::Inode,
) -> Result<(Cow<'a, [u16]>, u64), NtStatus> {
    if !open.ccb.path.is_empty() {
        let parent = open.fcb.parent_key().unwrap_or(open.fcb.key());
        return Ok((Cow::Borrowed(&open.ccb.path), parent));
    }
    if inode.is_dir() {
        let (path, parent) = directory_path(vcb.volume(), inode)?;
        return Ok((Cow::Owned(path), parent));
    }
    let parent_key = open.fcb.parent_key().ok_or(NtStatus::INVALID_PARAMETER)?;
    let volume = vcb.volume();
    let status = |error: ext4::Error| status_of(&error);
    let parent_ino = u32::try_from(parent_key).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let parent = volume.inode(parent_ino).map_err(status)?;
    let name = volume
        .name_in(&parent, inode.ino())
        .map_err(status)?
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    let (mut path, _) = directory_path(volume, &parent)?;
    if path.len() > 1 {
        path.try_reserve(1)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        path.push(u16::from(b'\\'));
    }
    name::to_windows(&name, &mut path).map_err(|error| error.status())?;
    Ok((Cow::Owned(path), parent_key))
}

/// `\a\b` for directory `b`, from its `..` entries up to the root (`\` for the root itself),
/// names escaped as listings show them, and the inode number of its parent.
fn directory_path<D: ext4::BlockDevice>(
    volume: &ext4::Volume<D>,
    dir: &ext4::Inode,
) -> Result<(Vec<u16>, u64), NtStatus> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut current = dir.try_clone().map_err(|e| status_of(&e))?;
    let mut parent_key = u64::from(dir.ino());
    for _ in 0..ext4::MAX_PATH_COMPONENTS {
        let Some((parent, name)) = volume.name_in_parent(&current).map_err(|e| status_of(&e))?
        else {
            let mut path = Vec::new();
            for name in names.iter().rev() {
                path.try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                path.push(u16::from(b'\\'));
                name::to_windows(name, &mut path).map_err(|error| error.status())?;
            }
            if path.is_empty() {
                path.try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                path.push(u16::from(b'\\'));
            }
            return Ok((path, parent_key));
        };
        if names.is_empty() {
            parent_key = u64::from(parent.ino());
        }
        names
            .try_reserve(1)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        names.push(name);
        current = parent;
    }
    // A `..` chain longer than any path: a loop.
    Err(NtStatus::FILE_CORRUPT_ERROR)
}

/// The last component of `\a\b` (`b`); empty for the root.
fn last_component(path: &[u16]) -> &[u16] {
    match path.iter().rposition(|&u| u == u16::from(b'\\')) {
        Some(at) => path.get(at + 1..).unwrap_or(&[]),
        None => path,
    }
}

/// FileModeInformation from the FILE_OBJECT's flags (the I/O manager set them from the create
/// options).
fn mode(flags: u32) -> u32 {
    let mut mode = 0;
    for (flag, bit) in [
        (FO_WRITE_THROUGH, FILE_WRITE_THROUGH),
        (FO_SEQUENTIAL_ONLY, FILE_SEQUENTIAL_ONLY),
        (FO_NO_INTERMEDIATE_BUFFERING, FILE_NO_INTERMEDIATE_BUFFERING),
    ] {
        if flags & flag != 0 {
            mode |= bit;
        }
    }
    if flags & FO_SYNCHRONOUS_IO != 0 {
        mode |= if flags & FO_ALERTABLE_IO != 0 {
            FILE_SYNCHRONOUS_IO_ALERT
        } else {
            FILE_SYNCHRONOUS_IO_NONALERT
        };
    }
    mode
}

/// IRP_MJ_SET_INFORMATION: the current byte offset may move (FastFAT's FatSetPositionInfo:
/// sector-aligned on a no-intermediate-buffering open); everything else would write.
pub fn set_information(irp: Irp) -> NtStatus {
    let IrpParameters::SetInformation { class, input } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if class != l::FILE_POSITION_INFORMATION {
        return irp.complete(NtStatus::MEDIA_WRITE_PROTECTED);
    }
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some(bytes) = input.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return irp.complete(NtStatus::INFO_LENGTH_MISMATCH);
    };
    let offset = i64::from_le_bytes(bytes);
    let Ok(offset) = u64::try_from(offset) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    if file_object.flags() & FO_NO_INTERMEDIATE_BUFFERING != 0 && offset % SECTOR_SIZE != 0 {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    file_object.set_current_byte_offset(offset);
    irp.complete(NtStatus::SUCCESS)
}
