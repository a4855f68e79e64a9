//! The I/O manager's checks of an information class and buffer length before it builds an
//! IRP: NtQueryInformationFile and NtQueryVolumeInformationFile fail an unknown class with
//! STATUS_INVALID_INFO_CLASS and a buffer shorter than the class's structure with
//! STATUS_INFO_LENGTH_MISMATCH (ReactOS ntoskrnl/include/internal/io_i.h
//! IopQueryOperationLength / IopQueryFsOperationLength, used by NtQueryInformationFile and
//! NtQueryVolumeInformationFile in ntoskrnl/io/iomgr/iofunc.c). NtQueryDirectoryFile checks
//! the length of its directory classes only and passes any other class to the file system
//! (iofunc.c NtQueryDirectoryFile, CHECK_LENGTH).
//!
//! ReactOS's tables stop at Windows Server 2003's classes. For the later classes the model
//! uses the size of the structure Learn documents for them; a class in neither set is
//! INVALID_INFO_CLASS here (Windows knows more classes than the model does).

use crate::info::layout as l;
use crate::kernel::NtStatus;

/// The minimum buffer of a FILE_INFORMATION_CLASS for a query, `None` if not queryable.
fn query_file_minimum(class: u32) -> Option<usize> {
    Some(match class {
        l::FILE_BASIC_INFORMATION => l::BASIC_SIZE,
        l::FILE_STANDARD_INFORMATION => l::STANDARD_SIZE,
        l::FILE_INTERNAL_INFORMATION => l::INTERNAL_SIZE,
        l::FILE_EA_INFORMATION => l::EA_SIZE,
        l::FILE_ACCESS_INFORMATION => l::ACCESS_SIZE,
        l::FILE_NAME_INFORMATION => l::NAME_SIZE,
        l::FILE_POSITION_INFORMATION => l::POSITION_SIZE,
        l::FILE_MODE_INFORMATION => l::MODE_SIZE,
        l::FILE_ALIGNMENT_INFORMATION => l::ALIGNMENT_SIZE,
        l::FILE_ALL_INFORMATION => l::ALL_SIZE,
        l::FILE_ALTERNATE_NAME_INFORMATION => l::NAME_SIZE,
        l::FILE_STREAM_INFORMATION => l::STREAM_SIZE,
        l::FILE_NETWORK_OPEN_INFORMATION => l::NETWORK_OPEN_SIZE,
        l::FILE_ATTRIBUTE_TAG_INFORMATION => l::ATTRIBUTE_TAG_SIZE,
        // Later classes: sizeof their structures (Learn).
        l::FILE_HARD_LINK_INFORMATION => l::LINKS_SIZE,
        l::FILE_NORMALIZED_NAME_INFORMATION => l::NAME_SIZE,
        // FILE_REMOTE_PROTOCOL_INFORMATION (Windows 7 layout).
        l::FILE_REMOTE_PROTOCOL_INFORMATION => 116,
        l::FILE_ID_INFORMATION => l::ID_SIZE,
        l::FILE_STAT_INFORMATION => l::STAT_SIZE,
        l::FILE_STAT_LX_INFORMATION => l::STAT_LX_SIZE,
        l::FILE_CASE_SENSITIVE_INFORMATION => l::CASE_SENSITIVE_SIZE,
        _ => return None,
    })
}

/// The minimum buffer of an FS_INFORMATION_CLASS for a query, `None` if not queryable.
fn query_volume_minimum(class: u32) -> Option<usize> {
    Some(match class {
        l::FILE_FS_VOLUME_INFORMATION => l::FS_VOLUME_SIZE,
        l::FILE_FS_SIZE_INFORMATION => l::FS_SIZE_SIZE,
        l::FILE_FS_DEVICE_INFORMATION => l::FS_DEVICE_SIZE,
        l::FILE_FS_ATTRIBUTE_INFORMATION => l::FS_ATTRIBUTE_SIZE,
        l::FILE_FS_CONTROL_INFORMATION => l::FS_CONTROL_SIZE,
        l::FILE_FS_FULL_SIZE_INFORMATION => l::FS_FULL_SIZE_SIZE,
        l::FILE_FS_OBJECT_ID_INFORMATION => l::FS_OBJECT_ID_SIZE,
        // FILE_FS_DRIVER_PATH_INFORMATION: BOOLEAN, ULONG, WCHAR[1].
        l::FILE_FS_DRIVER_PATH_INFORMATION => 12,
        l::FILE_FS_VOLUME_FLAGS_INFORMATION => 4,
        l::FILE_FS_SECTOR_SIZE_INFORMATION => l::FS_SECTOR_SIZE_SIZE,
        _ => return None,
    })
}

fn check(minimum: Option<usize>, length: u32) -> Result<(), NtStatus> {
    let minimum = minimum.ok_or(NtStatus::INVALID_INFO_CLASS)?;
    if (length as usize) < minimum {
        return Err(NtStatus::INFO_LENGTH_MISMATCH);
    }
    Ok(())
}

/// NtSetInformationFile's check (ReactOS IopSetOperationLength, the classes a file system
/// may be asked to set).
pub fn check_set_file(class: u32, length: u32) -> Result<(), NtStatus> {
    let minimum = match class {
        l::FILE_BASIC_INFORMATION => Some(l::BASIC_SIZE),
        // FILE_RENAME_INFORMATION and FILE_LINK_INFORMATION.
        10 | 11 => Some(24),
        // FILE_DISPOSITION_INFORMATION: one BOOLEAN.
        13 => Some(1),
        l::FILE_POSITION_INFORMATION => Some(l::POSITION_SIZE),
        l::FILE_MODE_INFORMATION => Some(l::MODE_SIZE),
        // Allocation, end of file, valid data length: one LARGE_INTEGER.
        19 | 20 | 39 => Some(8),
        _ => None,
    };
    check(minimum, length)
}

/// NtQueryInformationFile's check.
pub fn check_query_file(class: u32, length: u32) -> Result<(), NtStatus> {
    check(query_file_minimum(class), length)
}

/// NtQueryVolumeInformationFile's check.
pub fn check_query_volume(class: u32, length: u32) -> Result<(), NtStatus> {
    check(query_volume_minimum(class), length)
}

/// NtQueryDirectoryFile's check: the length of the directory classes; any other class goes to
/// the file system. ReactOS checks the six classes of its time; the model checks the two
/// FileIdExtd* classes the same way.
pub fn check_query_directory(class: u32, length: u32) -> Result<(), NtStatus> {
    match l::directory_struct_size(class) {
        Some(minimum) if (length as usize) < minimum => Err(NtStatus::INFO_LENGTH_MISMATCH),
        _ => Ok(()),
    }
}
