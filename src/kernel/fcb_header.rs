//! What a file system writes into its FCB's advanced header, as plain data shared by both
//! backends (`FcbArc::{file_sizes, set_file_sizes, fast_io_possible, set_fast_io_possible}`).

/// FSRTL_COMMON_FCB_HEADER's AllocationSize, FileSize and ValidDataLength, in bytes. The
/// kernel stores them as LARGE_INTEGERs; values above `i64::MAX` are stored as `i64::MAX`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FileSizes {
    pub allocation_size: u64,
    pub file_size: u64,
    pub valid_data_length: u64,
}

/// FSRTL_COMMON_FCB_HEADER.IsFastIoPossible (the FAST_IO_POSSIBLE enumeration).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum FastIoPossible {
    /// FastIoIsNotPossible (0): the I/O manager always sends IRPs.
    #[default]
    NotPossible,
    /// FastIoIsPossible (1).
    Possible,
    /// FastIoIsQuestionable (2): FsRtl asks the FSD's FastIoCheckIfPossible.
    Questionable,
}

impl FastIoPossible {
    /// The byte the header holds.
    pub const fn as_raw(self) -> u8 {
        match self {
            FastIoPossible::NotPossible => 0,
            FastIoPossible::Possible => 1,
            FastIoPossible::Questionable => 2,
        }
    }

    /// The value of a header byte; anything unknown reads as not possible.
    pub const fn from_raw(raw: u8) -> FastIoPossible {
        match raw {
            1 => FastIoPossible::Possible,
            2 => FastIoPossible::Questionable,
            _ => FastIoPossible::NotPossible,
        }
    }
}

/// MmFlushImageSection's FlushType (MMFLUSH_TYPE).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MmFlushType {
    /// MmFlushForDelete: the file is about to go (or the volume with it).
    ForDelete,
    /// MmFlushForWrite: the file is about to be opened for writing.
    ForWrite,
}
