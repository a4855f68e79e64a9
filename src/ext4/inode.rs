//! Inodes: parsing, checksums, and the stat view.

use alloc::vec::Vec;

use super::bytes::{le16, le32};
use super::error::{Error, Result, Unsupported};
use super::xattr;

/// Inode flags (`i_flags`) this reader looks at.
pub mod flags {
    pub const COMPR: u32 = 0x4;
    pub const COMPRBLK: u32 = 0x200;
    pub const NOCOMPR: u32 = 0x400;
    pub const ENCRYPT: u32 = 0x800;
    pub const INDEX: u32 = 0x1000;
    pub const HUGE_FILE: u32 = 0x40000;
    pub const EXTENTS: u32 = 0x80000;
    pub const VERITY: u32 = 0x100000;
    pub const EA_INODE: u32 = 0x200000;
    pub const INLINE_DATA: u32 = 0x1000_0000;
    pub const CASEFOLD: u32 = 0x4000_0000;
}

/// Size of `i_block`, the 60-byte block map / extent root / inline area.
pub const I_BLOCK_LEN: usize = 60;
const I_BLOCK_OFF: usize = 0x28;
const GOOD_OLD_INODE_SIZE: usize = 128;

/// The type of an inode, from the top bits of `i_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    pub fn from_mode(mode: u16) -> Option<Self> {
        Some(match mode & 0xF000 {
            0x8000 => FileType::Regular,
            0x4000 => FileType::Directory,
            0xA000 => FileType::Symlink,
            0x2000 => FileType::CharDevice,
            0x6000 => FileType::BlockDevice,
            0x1000 => FileType::Fifo,
            0xC000 => FileType::Socket,
            _ => return None,
        })
    }

    /// The directory-entry `file_type` byte for this type.
    pub fn dirent_code(self) -> u8 {
        match self {
            FileType::Regular => 1,
            FileType::Directory => 2,
            FileType::CharDevice => 3,
            FileType::BlockDevice => 4,
            FileType::Fifo => 5,
            FileType::Socket => 6,
            FileType::Symlink => 7,
        }
    }

    /// The type named by a directory-entry `file_type` byte, if any.
    pub fn from_dirent_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => FileType::Regular,
            2 => FileType::Directory,
            3 => FileType::CharDevice,
            4 => FileType::BlockDevice,
            5 => FileType::Fifo,
            6 => FileType::Socket,
            7 => FileType::Symlink,
            _ => return None,
        })
    }
}

/// A time stamp: seconds since the Unix epoch (may be negative) and nanoseconds (0..1e9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanoseconds: u32,
}

impl Timestamp {
    /// Decodes a 32-bit time plus its optional `_extra` word (2 epoch bits + 30 bits of ns).
    fn decode(lo: u32, extra: Option<u32>) -> Self {
        let base = i64::from(lo as i32);
        match extra {
            None => Timestamp {
                seconds: base,
                nanoseconds: 0,
            },
            Some(x) => Timestamp {
                seconds: base + (i64::from(x & 3) << 32),
                nanoseconds: (x >> 2).min(999_999_999),
            },
        }
    }
}

/// Everything `stat` reports about an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ino: u32,
    pub file_type: FileType,
    /// The full `i_mode` (type and permission bits).
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    /// `i_links_count`. For directories on `dir_nlink` volumes, 1 means "more than 65000".
    pub nlink: u32,
    pub size: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    /// Creation time, when the inode has room for it.
    pub crtime: Option<Timestamp>,
    pub generation: u32,
    /// `i_flags`.
    pub flags: u32,
    /// Allocated space in 512-byte units (already scaled for `huge_file`).
    pub blocks_512: u64,
    /// Device number for character and block devices (`major << 20 | minor`, Linux style).
    pub rdev: u32,
}

/// One inode as read from the inode table, checksum verified. Copies are fallible
/// (`try_clone`): its bytes are a heap allocation.
pub struct Inode {
    ino: u32,
    raw: Vec<u8>,
    extra_isize: usize,
    huge_file_fs: bool,
}

impl core::fmt::Debug for Inode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inode")
            .field("ino", &self.ino)
            .field("mode", &format_args!("{:#o}", self.mode()))
            .field("size", &self.size())
            .field("flags", &format_args!("{:#x}", self.flags()))
            .finish()
    }
}

impl Inode {
    /// A copy, or `NoMemory` when its bytes cannot be allocated.
    pub fn try_clone(&self) -> Result<Inode> {
        let mut raw = Vec::new();
        raw.try_reserve_exact(self.raw.len())
            .map_err(|_| Error::NoMemory)?;
        raw.extend_from_slice(&self.raw);
        Ok(Inode {
            ino: self.ino,
            raw,
            extra_isize: self.extra_isize,
            huge_file_fs: self.huge_file_fs,
        })
    }

    /// Wraps raw inode bytes (`raw.len()` is the volume's inode size, ≥ 128).
    pub(crate) fn from_raw(ino: u32, raw: Vec<u8>, huge_file_fs: bool) -> Result<Self> {
        if raw.len() < GOOD_OLD_INODE_SIZE {
            return Err(Error::corrupt("inode record too small", raw.len() as u64));
        }
        let extra_isize = if raw.len() > GOOD_OLD_INODE_SIZE {
            let e = usize::from(le16(&raw, 0x80));
            if e % 4 != 0 || GOOD_OLD_INODE_SIZE + e > raw.len() {
                return Err(Error::corrupt("i_extra_isize", e as u64));
            }
            e
        } else {
            0
        };
        let inode = Inode {
            ino,
            raw,
            extra_isize,
            huge_file_fs,
        };
        let f = inode.flags();
        if f & (flags::COMPR | flags::COMPRBLK) != 0 && f & flags::NOCOMPR == 0 {
            return Err(Error::Unsupported(Unsupported::CompressedInode));
        }
        if inode.file_type().is_none() {
            return Err(Error::corrupt("inode type", u64::from(inode.mode())));
        }
        Ok(inode)
    }

    pub fn ino(&self) -> u32 {
        self.ino
    }
    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }
    pub fn mode(&self) -> u16 {
        le16(&self.raw, 0x0)
    }
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode())
    }
    pub fn is_dir(&self) -> bool {
        self.file_type() == Some(FileType::Directory)
    }
    pub fn flags(&self) -> u32 {
        le32(&self.raw, 0x20)
    }
    /// The inode's blocks are a user's file contents: a regular file that is not an inode
    /// holding a large xattr value. Everything else read from disk is the file system's own.
    pub fn holds_user_data(&self) -> bool {
        self.file_type() == Some(FileType::Regular) && self.flags() & flags::EA_INODE == 0
    }
    pub fn links_count(&self) -> u16 {
        le16(&self.raw, 0x1A)
    }
    pub fn generation(&self) -> u32 {
        le32(&self.raw, 0x64)
    }
    pub(crate) fn dtime(&self) -> u32 {
        le32(&self.raw, 0x14)
    }
    /// `i_size` (64-bit).
    pub fn size(&self) -> u64 {
        u64::from(le32(&self.raw, 0x4)) | (u64::from(le32(&self.raw, 0x6C)) << 32)
    }
    pub fn uses_extents(&self) -> bool {
        self.flags() & flags::EXTENTS != 0
    }
    pub fn has_inline_data(&self) -> bool {
        self.flags() & flags::INLINE_DATA != 0
    }
    /// The 60 bytes of `i_block`.
    pub fn i_block(&self) -> &[u8] {
        self.raw
            .get(I_BLOCK_OFF..I_BLOCK_OFF + I_BLOCK_LEN)
            .unwrap_or(&[])
    }
    /// Whether an in-inode field at byte `off` of length `len` exists in this inode.
    fn has_field(&self, off: usize, len: usize) -> bool {
        off + len <= GOOD_OLD_INODE_SIZE + self.extra_isize
    }
    fn extra(&self, off: usize) -> Option<u32> {
        if self.has_field(off, 4) {
            Some(le32(&self.raw, off))
        } else {
            None
        }
    }
    /// The 512-byte sector count, honouring `huge_file`.
    fn blocks_512(&self, block_size: u32) -> u64 {
        let lo = u64::from(le32(&self.raw, 0x1C));
        if !self.huge_file_fs {
            return lo;
        }
        let n = lo | (u64::from(le16(&self.raw, 0x74)) << 32);
        if self.flags() & flags::HUGE_FILE != 0 {
            n.saturating_mul(u64::from(block_size / 512))
        } else {
            n
        }
    }

    /// The stat view of this inode.
    pub fn stat(&self, block_size: u32) -> Stat {
        let r = &self.raw;
        let file_type = self.file_type().unwrap_or(FileType::Regular);
        let rdev = if matches!(file_type, FileType::CharDevice | FileType::BlockDevice) {
            let old = le32(r, I_BLOCK_OFF);
            if old != 0 {
                // Old 16-bit encoding: major in the high byte, minor in the low byte.
                ((old >> 8) & 0xff) << 20 | (old & 0xff)
            } else {
                let new = le32(r, I_BLOCK_OFF + 4);
                let major = (new & 0xfff00) >> 8;
                let minor = (new & 0xff) | ((new >> 12) & 0xfff00);
                major << 20 | minor
            }
        } else {
            0
        };
        Stat {
            ino: self.ino,
            file_type,
            mode: self.mode(),
            uid: u32::from(le16(r, 0x2)) | (u32::from(le16(r, 0x78)) << 16),
            gid: u32::from(le16(r, 0x18)) | (u32::from(le16(r, 0x7A)) << 16),
            nlink: u32::from(self.links_count()),
            size: self.size(),
            atime: Timestamp::decode(le32(r, 0x8), self.extra(0x8C)),
            mtime: Timestamp::decode(le32(r, 0x10), self.extra(0x88)),
            ctime: Timestamp::decode(le32(r, 0xC), self.extra(0x84)),
            crtime: if self.has_field(0x90, 4) {
                Some(Timestamp::decode(le32(r, 0x90), self.extra(0x94)))
            } else {
                None
            },
            generation: self.generation(),
            flags: self.flags(),
            blocks_512: self.blocks_512(block_size),
            rdev,
        }
    }

    /// The inode body after `i_extra_isize`: where in-inode extended attributes live.
    pub(crate) fn xattr_area(&self) -> &[u8] {
        self.raw
            .get(GOOD_OLD_INODE_SIZE + self.extra_isize..)
            .unwrap_or(&[])
    }

    /// The value of the `system.data` extended attribute stored in the inode body (the part
    /// of inline data past the first 60 bytes). Empty when absent.
    pub(crate) fn inline_xattr_data(&self) -> Result<&[u8]> {
        for entry in xattr::in_inode(self) {
            let entry = entry.map_err(|_| Error::corrupt("in-inode xattr", self.ino.into()))?;
            if entry.index == xattr::name_index::SYSTEM && entry.name == b"data" {
                return match entry.value {
                    xattr::Value::Here(value) => Ok(value),
                    xattr::Value::InInode { .. } => Err(Error::corrupt(
                        "inline data in an EA inode",
                        self.ino.into(),
                    )),
                };
            }
        }
        Ok(&[])
    }
}

/// The largest `i_size` an inode's block map can address on this volume, in bytes: Linux's
/// `s_maxbytes` for extent-mapped inodes and `s_bitmap_maxbytes` for indirect maps.
///
/// Extents address 2^32 - 1 blocks. Indirect maps address 12 + p + p² + p³ blocks (p pointers
/// per block), less the map's own blocks when `i_blocks` caps the total. Without `huge_file`,
/// `i_blocks` counts 512-byte sectors in 32 bits, which caps data and map blocks together.
pub(crate) fn max_file_size(block_bits: u32, extents: bool, huge_file: bool) -> u64 {
    let bits = block_bits.clamp(10, 16);
    let sectors_cap = u64::from(u32::MAX) >> (bits - 9);
    let max_blocks = if extents {
        let tree = u64::from(u32::MAX);
        if huge_file {
            tree
        } else {
            tree.min(sectors_cap)
        }
    } else {
        let p = 1u64 << (bits - 2);
        let tree = 12 + p + p * p + p * p * p;
        let map_blocks = 1 + (1 + p) + (1 + p + p * p);
        let cap = if huge_file {
            (1u64 << 48) - 1
        } else {
            sectors_cap
        };
        if tree + map_blocks <= cap {
            tree
        } else {
            cap.saturating_sub(indirect_map_blocks(cap, p))
        }
    };
    max_blocks.saturating_mul(1 << bits).min(i64::MAX as u64)
}

/// How many indirect blocks a file of `blocks` data blocks needs (`p` pointers per block).
fn indirect_map_blocks(blocks: u64, p: u64) -> u64 {
    let mut left = blocks.saturating_sub(12 + p);
    let mut n = 1; // the single-indirect block
    if left < p * p {
        return n + 1 + left.div_ceil(p);
    }
    n += 1 + p;
    left -= p * p;
    n + 1 + left.div_ceil(p) + left.div_ceil(p * p)
}

#[cfg(test)]
mod tests {
    use super::max_file_size;

    #[test]
    fn max_sizes_match_linux() {
        // Figures from Linux's ext4_max_size / ext4_max_bitmap_size (64-bit kernel).
        assert_eq!(max_file_size(12, true, true), 17_592_186_040_320); // 16 TiB - 4 KiB
        assert_eq!(max_file_size(10, true, true), 4_398_046_510_080);
        assert_eq!(max_file_size(12, true, false), 2_199_023_251_456); // i_blocks caps at 2 TiB
        assert_eq!(max_file_size(10, false, false), 17_247_252_480); // 12 + 256 + 256² + 256³ blocks
        assert_eq!(max_file_size(12, false, false), 2_196_873_666_560); // ext3: 2 TiB - 2 GiB
        assert_eq!(max_file_size(16, false, false), 2_198_888_906_752);
        assert_eq!(max_file_size(12, false, true), 4_402_345_721_856);
    }
}
