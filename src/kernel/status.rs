//! NTSTATUS values, as the kernel defines them (ntstatus.h).

/// An NTSTATUS. Severity is in the top two bits: 0 success, 1 informational, 2 warning, 3 error.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct NtStatus(pub i32);

impl NtStatus {
    pub const SUCCESS: NtStatus = NtStatus(0);
    pub const PENDING: NtStatus = NtStatus(0x0000_0103);
    pub const REPARSE: NtStatus = NtStatus(0x0000_0104);
    /// A change-notify IRP ended because its handle was closed (FsRtlNotifyCleanup).
    pub const NOTIFY_CLEANUP: NtStatus = NtStatus(0x0000_010B);
    pub const CANCELLED: NtStatus = NtStatus(0xC000_0120_u32 as i32);
    pub const BUFFER_OVERFLOW: NtStatus = NtStatus(0x8000_0005_u32 as i32);
    pub const NO_MORE_FILES: NtStatus = NtStatus(0x8000_0006_u32 as i32);
    pub const INVALID_INFO_CLASS: NtStatus = NtStatus(0xC000_0003_u32 as i32);
    pub const INFO_LENGTH_MISMATCH: NtStatus = NtStatus(0xC000_0004_u32 as i32);
    pub const NO_SUCH_FILE: NtStatus = NtStatus(0xC000_000F_u32 as i32);
    pub const INVALID_USER_BUFFER: NtStatus = NtStatus(0xC000_00E8_u32 as i32);
    pub const UNSUCCESSFUL: NtStatus = NtStatus(0xC000_0001_u32 as i32);
    pub const NOT_IMPLEMENTED: NtStatus = NtStatus(0xC000_0002_u32 as i32);
    pub const INVALID_HANDLE: NtStatus = NtStatus(0xC000_0008_u32 as i32);
    pub const INVALID_PARAMETER: NtStatus = NtStatus(0xC000_000D_u32 as i32);
    pub const INVALID_DEVICE_REQUEST: NtStatus = NtStatus(0xC000_0010_u32 as i32);
    pub const NO_SUCH_DEVICE: NtStatus = NtStatus(0xC000_000E_u32 as i32);
    pub const END_OF_FILE: NtStatus = NtStatus(0xC000_0011_u32 as i32);
    pub const FILE_CLOSED: NtStatus = NtStatus(0xC000_0128_u32 as i32);
    pub const ACCESS_DENIED: NtStatus = NtStatus(0xC000_0022_u32 as i32);
    pub const BUFFER_TOO_SMALL: NtStatus = NtStatus(0xC000_0023_u32 as i32);
    pub const OBJECT_NAME_INVALID: NtStatus = NtStatus(0xC000_0033_u32 as i32);
    pub const OBJECT_NAME_NOT_FOUND: NtStatus = NtStatus(0xC000_0034_u32 as i32);
    pub const OBJECT_PATH_NOT_FOUND: NtStatus = NtStatus(0xC000_003A_u32 as i32);
    pub const SHARING_VIOLATION: NtStatus = NtStatus(0xC000_0043_u32 as i32);
    pub const INSUFFICIENT_RESOURCES: NtStatus = NtStatus(0xC000_009A_u32 as i32);
    pub const NO_MEMORY: NtStatus = NtStatus(0xC000_0017_u32 as i32);
    pub const STACK_OVERFLOW: NtStatus = NtStatus(0xC000_00FD_u32 as i32);
    pub const MEDIA_WRITE_PROTECTED: NtStatus = NtStatus(0xC000_00A2_u32 as i32);
    pub const NOT_SUPPORTED: NtStatus = NtStatus(0xC000_00BB_u32 as i32);
    pub const DEVICE_DOES_NOT_EXIST: NtStatus = NtStatus(0xC000_00C0_u32 as i32);
    pub const FILE_IS_A_DIRECTORY: NtStatus = NtStatus(0xC000_00BA_u32 as i32);
    pub const NOT_A_DIRECTORY: NtStatus = NtStatus(0xC000_0103_u32 as i32);
    pub const FILE_CORRUPT_ERROR: NtStatus = NtStatus(0xC000_0102_u32 as i32);
    pub const DISK_CORRUPT_ERROR: NtStatus = NtStatus(0xC000_0032_u32 as i32);
    pub const UNRECOGNIZED_VOLUME: NtStatus = NtStatus(0xC000_014F_u32 as i32);
    pub const VOLUME_DISMOUNTED: NtStatus = NtStatus(0xC000_026E_u32 as i32);
    pub const VERIFY_REQUIRED: NtStatus = NtStatus(0x8000_0016_u32 as i32);
    pub const DEVICE_BUSY: NtStatus = NtStatus(0x8000_0011_u32 as i32);
    pub const WRONG_VOLUME: NtStatus = NtStatus(0xC000_0012_u32 as i32);
    pub const NOT_LOCKED: NtStatus = NtStatus(0xC000_002A_u32 as i32);
    pub const NAME_TOO_LONG: NtStatus = NtStatus(0xC000_0106_u32 as i32);
    pub const POSSIBLE_DEADLOCK: NtStatus = NtStatus(0xC000_0194_u32 as i32);
    pub const IO_REPARSE_DATA_INVALID: NtStatus = NtStatus(0xC000_0278_u32 as i32);
    pub const IO_REPARSE_TAG_NOT_HANDLED: NtStatus = NtStatus(0xC000_0279_u32 as i32);
    pub const NOT_A_REPARSE_POINT: NtStatus = NtStatus(0xC000_0275_u32 as i32);
    pub const NO_MEDIA_IN_DEVICE: NtStatus = NtStatus(0xC000_0013_u32 as i32);
    pub const UNRECOGNIZED_MEDIA: NtStatus = NtStatus(0xC000_0014_u32 as i32);
    pub const CRC_ERROR: NtStatus = NtStatus(0xC000_003F_u32 as i32);
    pub const DEVICE_DATA_ERROR: NtStatus = NtStatus(0xC000_009C_u32 as i32);
    pub const DEVICE_NOT_READY: NtStatus = NtStatus(0xC000_00A3_u32 as i32);
    pub const IO_TIMEOUT: NtStatus = NtStatus(0xC000_00B5_u32 as i32);
    /// A section-synchronization callback holds the file's lock for FsRtl (its release comes
    /// through FsRtlReleaseFile).
    pub const FSFILTER_OP_COMPLETED_SUCCESSFULLY: NtStatus = NtStatus(0x0000_0126);
    /// As above, for a section creation: nobody can write the file.
    pub const FILE_LOCKED_WITH_ONLY_READERS: NtStatus = NtStatus(0x0000_012A);
    pub const FILE_LOCKED_WITH_WRITERS: NtStatus = NtStatus(0x0000_012B);
    pub const ACCESS_VIOLATION: NtStatus = NtStatus(0xC000_0005_u32 as i32);
    pub const INVALID_FILE_FOR_SECTION: NtStatus = NtStatus(0xC000_0020_u32 as i32);
    pub const MAPPED_FILE_SIZE_ZERO: NtStatus = NtStatus(0xC000_011E_u32 as i32);
    pub const INVALID_IMAGE_NOT_MZ: NtStatus = NtStatus(0xC000_012F_u32 as i32);
    pub const FILE_LOCK_CONFLICT: NtStatus = NtStatus(0xC000_0054_u32 as i32);
    pub const LOCK_NOT_GRANTED: NtStatus = NtStatus(0xC000_0055_u32 as i32);
    pub const RANGE_NOT_LOCKED: NtStatus = NtStatus(0xC000_007E_u32 as i32);
    pub const OPLOCK_NOT_GRANTED: NtStatus = NtStatus(0xC000_00E2_u32 as i32);
    pub const INVALID_OPLOCK_PROTOCOL: NtStatus = NtStatus(0xC000_00E3_u32 as i32);
    pub const OPLOCK_BREAK_IN_PROGRESS: NtStatus = NtStatus(0x0000_0108);

    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }

    pub const fn is_error(self) -> bool {
        (self.0 as u32) >> 30 == 3
    }
}

impl core::fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NtStatus({:#010x})", self.0 as u32)
    }
}
