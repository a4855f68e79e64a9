//! Plain data of the fast I/O calls (FAST_IO_DISPATCH), shared by both backends.
//!
//! A fast I/O routine answers `None` (FALSE: "take the IRP path", the I/O manager then builds
//! the IRP) or `Some(IoStatus)` (TRUE: the request is done, with that IO_STATUS_BLOCK).

use crate::kernel::NtStatus;

/// IO_STATUS_BLOCK of a fast I/O call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IoStatus {
    pub status: NtStatus,
    pub information: usize,
}

impl IoStatus {
    pub const fn new(status: NtStatus, information: usize) -> IoStatus {
        IoStatus {
            status,
            information,
        }
    }
}

/// What FastIoLock asks for (its FileOffset, Length, Key, FailImmediately, ExclusiveLock).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FastLock {
    pub offset: u64,
    pub length: u64,
    pub key: u32,
    pub fail_immediately: bool,
    pub exclusive: bool,
}

/// The information classes with a fast I/O query routine.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FastQuery {
    /// FastIoQueryBasicInfo: FILE_BASIC_INFORMATION.
    Basic,
    /// FastIoQueryStandardInfo: FILE_STANDARD_INFORMATION.
    Standard,
    /// FastIoQueryNetworkOpenInfo: FILE_NETWORK_OPEN_INFORMATION.
    NetworkOpen,
}

impl FastQuery {
    /// The FILE_INFORMATION_CLASS it answers.
    pub const fn class(self) -> u32 {
        match self {
            FastQuery::Basic => 4,
            FastQuery::Standard => 5,
            FastQuery::NetworkOpen => 34,
        }
    }

    /// The size of the structure it fills.
    pub const fn size(self) -> usize {
        match self {
            FastQuery::Basic => 40,
            FastQuery::Standard => 24,
            FastQuery::NetworkOpen => 56,
        }
    }

    /// The fast query of an information class, if it has one.
    pub const fn of_class(class: u32) -> Option<FastQuery> {
        match class {
            4 => Some(FastQuery::Basic),
            5 => Some(FastQuery::Standard),
            34 => Some(FastQuery::NetworkOpen),
            _ => None,
        }
    }
}
