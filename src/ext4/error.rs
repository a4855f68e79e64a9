//! The one error type of the ext4 layer.

use core::fmt;

/// Result alias used throughout the ext4 layer.
pub type Result<T> = core::result::Result<T, Error>;

/// Everything that can go wrong while reading an ext2/ext3/ext4 volume.
///
/// The variants are deliberately coarse enough for an FSD to map onto NTSTATUS values
/// (`NotExtFs` → unrecognized volume, `Unsupported` → not supported, `Corrupt`/`Checksum` →
/// file corrupt / disk corrupt, `Io` → the device status, `NoMemory`/`Cap` → insufficient
/// resources, `NotFound` → object name not found, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The block device failed. `code` is whatever the device reported (an errno, an
    /// NTSTATUS, ...); `offset` is the byte offset of the failed read.
    Io { offset: u64, code: i64 },
    /// No ext2/3/4 superblock magic at byte 1024.
    NotExtFs,
    /// A valid volume that uses something this reader does not implement.
    Unsupported(Unsupported),
    /// Structural nonsense on disk. `what` says which rule broke, `value` is the offending
    /// number (a block, an inode, an offset, a count), for the log.
    Corrupt { what: &'static str, value: u64 },
    /// One inode claims an `i_size` its block map cannot address (Linux's `s_maxbytes` for its
    /// kind): that file is corrupt, the rest of the volume is not.
    ImpossibleSize { ino: u32, size: u64, max: u64 },
    /// A metadata checksum does not match. `at` is the block number, or the inode number for
    /// inodes, or the group number for group descriptors.
    Checksum { kind: ChecksumKind, at: u64 },
    /// An allocation failed.
    NoMemory,
    /// A request would need more memory or work than the explicit cap allows.
    Cap { what: &'static str, value: u64 },
    /// Inode number 0, past `s_inodes_count`, or an inode that is not in use.
    InvalidInode(u64),
    /// A name is not in the directory (or a path component is missing).
    NotFound,
    /// The inode is not a directory but a directory operation was asked for.
    NotADirectory,
    /// The inode is not a symbolic link.
    NotASymlink,
    /// A caller-supplied argument makes no sense (empty name, name longer than 255, ...).
    InvalidArgument(&'static str),
}

/// Features and formats that are refused rather than guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// Incompatible feature bits this reader does not know (the unknown bits).
    UnknownIncompat(u32),
    /// `compression` (never finished upstream).
    Compression,
    /// The volume is an external journal device, not a file system.
    JournalDevice,
    /// `needs_recovery` on a volume without a journal to replay.
    NeedsRecovery,
    /// `needs_recovery` with the journal on another device (only internal journals replay).
    ExternalJournal,
    /// Journal incompatible features replay does not implement (e.g. fast commits).
    JournalFeatures(u32),
    /// `encrypt`, or an inode with the encrypted flag.
    Encryption,
    /// `casefold` with an encoding other than UTF-8 12.1.
    Casefold,
    /// `dirdata` (extra data in directory entries, Lustre).
    DirData,
    /// A compressed inode (ext2 compression flags).
    CompressedInode,
    /// Superblock revision level beyond 1.
    Revision(u32),
    /// Block size outside 1 KiB ..= 64 KiB.
    BlockSize(u64),
    /// Inode size not a power of two in 128 ..= block size.
    InodeSize(u32),
    /// Metadata checksum algorithm other than crc32c.
    ChecksumType(u8),
    /// An htree hash version this reader does not implement (e.g. siphash).
    HashVersion(u8),
    /// Group descriptor size not a power of two in 32 ..= 1024.
    DescriptorSize(u32),
}

/// Which metadata structure failed its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumKind {
    Superblock,
    GroupDescriptor,
    Inode,
    ExtentBlock,
    DirectoryBlock,
    DirectoryIndex,
    /// A group's block allocation bitmap.
    BlockBitmap,
    /// A jbd2 journal block (superblock, descriptor, revoke, or a logged copy).
    Journal,
    /// An external extended-attribute block.
    XattrBlock,
}

impl Error {
    pub(crate) const fn corrupt(what: &'static str, value: u64) -> Self {
        Error::Corrupt { what, value }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unsupported::UnknownIncompat(b) => write!(f, "unknown incompatible features {b:#x}"),
            Unsupported::Compression => f.write_str("compression feature"),
            Unsupported::JournalDevice => f.write_str("external journal device"),
            Unsupported::NeedsRecovery => f.write_str("needs recovery but has no journal"),
            Unsupported::ExternalJournal => {
                f.write_str("journal needs recovery and is on an external device")
            }
            Unsupported::JournalFeatures(b) => write!(f, "journal features {b:#x}"),
            Unsupported::Encryption => f.write_str("encryption"),
            Unsupported::Casefold => f.write_str("casefold"),
            Unsupported::DirData => f.write_str("dirdata"),
            Unsupported::CompressedInode => f.write_str("compressed inode"),
            Unsupported::Revision(r) => write!(f, "superblock revision {r}"),
            Unsupported::BlockSize(b) => write!(f, "block size {b}"),
            Unsupported::InodeSize(s) => write!(f, "inode size {s}"),
            Unsupported::ChecksumType(t) => write!(f, "checksum type {t}"),
            Unsupported::HashVersion(h) => write!(f, "htree hash version {h}"),
            Unsupported::DescriptorSize(s) => write!(f, "group descriptor size {s}"),
        }
    }
}

impl fmt::Display for ChecksumKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChecksumKind::Superblock => "superblock",
            ChecksumKind::GroupDescriptor => "group descriptor",
            ChecksumKind::Inode => "inode",
            ChecksumKind::ExtentBlock => "extent block",
            ChecksumKind::DirectoryBlock => "directory block",
            ChecksumKind::DirectoryIndex => "directory index block",
            ChecksumKind::BlockBitmap => "block bitmap",
            ChecksumKind::Journal => "journal block",
            ChecksumKind::XattrBlock => "xattr block",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { offset, code } => write!(f, "I/O error {code} at byte {offset}"),
            Error::NotExtFs => f.write_str("not an ext2/ext3/ext4 file system"),
            Error::Unsupported(u) => write!(f, "unsupported: {u}"),
            Error::Corrupt { what, value } => write!(f, "corrupt: {what} ({value})"),
            Error::ImpossibleSize { ino, size, max } => {
                write!(
                    f,
                    "corrupt: inode {ino} size {size} exceeds the maximum {max}"
                )
            }
            Error::Checksum { kind, at } => write!(f, "checksum mismatch: {kind} {at}"),
            Error::NoMemory => f.write_str("out of memory"),
            Error::Cap { what, value } => write!(f, "over limit: {what} ({value})"),
            Error::InvalidInode(i) => write!(f, "invalid or unused inode {i}"),
            Error::NotFound => f.write_str("not found"),
            Error::NotADirectory => f.write_str("not a directory"),
            Error::NotASymlink => f.write_str("not a symbolic link"),
            Error::InvalidArgument(w) => write!(f, "invalid argument: {w}"),
        }
    }
}

/// Allocates a zeroed buffer of `len` bytes, fallibly, refusing anything over `cap`.
pub(crate) fn zeroed_vec(
    len: usize,
    cap: usize,
    what: &'static str,
) -> Result<alloc::vec::Vec<u8>> {
    if len > cap {
        return Err(Error::Cap {
            what,
            value: len as u64,
        });
    }
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(len).map_err(|_| Error::NoMemory)?;
    fill_zero(&mut v, len);
    Ok(v)
}

/// Appends zeros until `v.len() == len` (capacity already reserved). Copies from a static
/// block so it stays a memcpy even in unoptimized builds.
pub(crate) fn fill_zero(v: &mut alloc::vec::Vec<u8>, len: usize) {
    static ZEROS: [u8; 4096] = [0; 4096];
    while v.len() < len {
        let n = (len - v.len()).min(ZEROS.len());
        v.extend_from_slice(ZEROS.get(..n).unwrap_or(&[]));
    }
}
