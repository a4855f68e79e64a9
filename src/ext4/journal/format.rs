//! The jbd2 on-disk format (all fields big-endian): the journal superblock, block headers,
//! descriptor tags, revoke records and the checksums that guard them.

use crate::ext4::bytes::{be16, be32, be64, u8_at};
use crate::ext4::crc::crc32c;
use crate::ext4::error::{ChecksumKind, Error, Result, Unsupported};

/// `h_magic` of every journal metadata block.
pub const MAGIC: u32 = 0xC03B_3998;
/// Size of the common block header (magic, block type, sequence).
pub const HEADER_LEN: usize = 12;
const SUPERBLOCK_LEN: usize = 1024;

/// `h_blocktype` values.
pub mod block_type {
    pub const DESCRIPTOR: u32 = 1;
    pub const COMMIT: u32 = 2;
    pub const SUPERBLOCK_V1: u32 = 3;
    pub const SUPERBLOCK_V2: u32 = 4;
    pub const REVOKE: u32 = 5;
}

/// Journal feature bits (`s_feature_*` of a v2 journal superblock).
pub mod feature {
    pub const INCOMPAT_REVOKE: u32 = 0x1;
    pub const INCOMPAT_64BIT: u32 = 0x2;
    pub const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
    pub const INCOMPAT_CSUM_V2: u32 = 0x8;
    pub const INCOMPAT_CSUM_V3: u32 = 0x10;
    /// What replay understands. Fast commits (0x20) are refused: their area needs its own
    /// replay. The old v1 checksum (a compat feature) is not verified.
    pub const INCOMPAT_KNOWN: u32 = INCOMPAT_REVOKE
        | INCOMPAT_64BIT
        | INCOMPAT_ASYNC_COMMIT
        | INCOMPAT_CSUM_V2
        | INCOMPAT_CSUM_V3;
}

/// Descriptor tag flags.
mod tag_flag {
    pub const ESCAPE: u32 = 0x1;
    pub const SAME_UUID: u32 = 0x2;
    pub const LAST_TAG: u32 = 0x8;
}

const CHECKSUM_TYPE_CRC32C: u8 = 4;
/// Size of the checksum tail of descriptor and revoke blocks (csum v2/v3).
const BLOCK_TAIL_LEN: usize = 4;

/// The journal superblock facts replay needs.
#[derive(Debug, Clone)]
pub struct JournalSuperblock {
    pub block_size: u32,
    /// Blocks in the journal, superblock included.
    pub max_len: u32,
    /// First block of the log area.
    pub first: u32,
    /// Sequence number of the first transaction in the log.
    pub sequence: u32,
    /// Log block where the oldest live transaction starts; 0 means the journal is clean.
    pub start: u32,
    pub incompat: u32,
    /// Seed of every v2/v3 checksum: crc32c of the journal UUID.
    pub csum_seed: u32,
}

impl JournalSuperblock {
    /// Parses and checks the journal superblock (`b` is its first block).
    pub fn parse(b: &[u8], fs_block_size: u32) -> Result<Self> {
        if b.len() < SUPERBLOCK_LEN || be32(b, 0) != MAGIC {
            return Err(Error::corrupt(
                "journal superblock magic",
                u64::from(be32(b, 0)),
            ));
        }
        let version = be32(b, 4);
        let incompat = match version {
            block_type::SUPERBLOCK_V1 => 0,
            block_type::SUPERBLOCK_V2 => be32(b, 0x28),
            other => return Err(Error::corrupt("journal superblock type", u64::from(other))),
        };
        let unknown = incompat & !feature::INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(Error::Unsupported(Unsupported::JournalFeatures(unknown)));
        }
        let sb = JournalSuperblock {
            block_size: be32(b, 0xC),
            max_len: be32(b, 0x10),
            first: be32(b, 0x14),
            sequence: be32(b, 0x18),
            start: be32(b, 0x1C),
            incompat,
            csum_seed: crc32c(!0, b.get(0x30..0x40).unwrap_or(&[])),
        };
        if sb.has(feature::INCOMPAT_CSUM_V2) && sb.has(feature::INCOMPAT_CSUM_V3) {
            return Err(Error::corrupt(
                "journal checksum v2 and v3 together",
                u64::from(incompat),
            ));
        }
        if sb.csum_v2_or_v3() {
            let kind = u8_at(b, 0x50);
            if kind != CHECKSUM_TYPE_CRC32C {
                return Err(Error::Unsupported(Unsupported::ChecksumType(kind)));
            }
            let stored = be32(b, 0xFC);
            let mut c = crc32c(!0, b.get(..0xFC).unwrap_or(&[]));
            c = crc32c(c, &[0; 4]);
            c = crc32c(c, b.get(0x100..SUPERBLOCK_LEN).unwrap_or(&[]));
            if c != stored {
                return Err(Error::Checksum {
                    kind: ChecksumKind::Journal,
                    at: 0,
                });
            }
        }
        if sb.block_size != fs_block_size {
            return Err(Error::corrupt(
                "journal block size",
                u64::from(sb.block_size),
            ));
        }
        if sb.first == 0 || sb.first >= sb.max_len {
            return Err(Error::corrupt(
                "journal first log block",
                u64::from(sb.first),
            ));
        }
        if sb.start != 0 && (sb.start < sb.first || sb.start >= sb.max_len) {
            return Err(Error::corrupt("journal log start", u64::from(sb.start)));
        }
        Ok(sb)
    }

    pub fn has(&self, incompat_bit: u32) -> bool {
        self.incompat & incompat_bit != 0
    }
    pub fn csum_v2_or_v3(&self) -> bool {
        self.has(feature::INCOMPAT_CSUM_V2) || self.has(feature::INCOMPAT_CSUM_V3)
    }
    fn wide_blocks(&self) -> bool {
        self.has(feature::INCOMPAT_64BIT)
    }

    /// Bytes of one descriptor tag (without the UUID that may follow it).
    pub fn tag_len(&self) -> usize {
        if self.has(feature::INCOMPAT_CSUM_V3) {
            return 16;
        }
        let csum = if self.has(feature::INCOMPAT_CSUM_V2) {
            2
        } else {
            0
        };
        let high = if self.wide_blocks() { 4 } else { 0 };
        8 + csum + high
    }

    /// Bytes at the end of descriptor and revoke blocks taken by their checksum.
    pub fn tail_len(&self) -> usize {
        if self.csum_v2_or_v3() {
            BLOCK_TAIL_LEN
        } else {
            0
        }
    }

    /// Checks the tail checksum of a descriptor or revoke block (true without csum v2/v3).
    pub fn block_tail_ok(&self, block: &[u8]) -> bool {
        if !self.csum_v2_or_v3() {
            return true;
        }
        let Some(at) = block.len().checked_sub(BLOCK_TAIL_LEN) else {
            return false;
        };
        let c = crc32c(self.csum_seed, block.get(..at).unwrap_or(&[]));
        crc32c(c, &[0; 4]) == be32(block, at)
    }

    /// Checks a commit block's checksum (true without csum v2/v3).
    pub fn commit_ok(&self, block: &[u8]) -> bool {
        if !self.csum_v2_or_v3() {
            return true;
        }
        const CHKSUM_AT: usize = 16;
        let c = crc32c(self.csum_seed, block.get(..CHKSUM_AT).unwrap_or(&[]));
        let c = crc32c(c, &[0; 4]);
        let c = crc32c(c, block.get(CHKSUM_AT + 4..).unwrap_or(&[]));
        c == be32(block, CHKSUM_AT)
    }

    /// Whether a logged data block matches its tag's checksum (true without csum v2/v3).
    pub fn data_ok(&self, sequence: u32, tag_csum: u32, data: &[u8]) -> bool {
        if !self.csum_v2_or_v3() {
            return true;
        }
        let c = crc32c(crc32c(self.csum_seed, &sequence.to_be_bytes()), data);
        if self.has(feature::INCOMPAT_CSUM_V3) {
            c == tag_csum
        } else {
            c & 0xFFFF == tag_csum & 0xFFFF
        }
    }

    /// The tags of a descriptor block, in order.
    pub fn tags<'a>(&'a self, block: &'a [u8]) -> Tags<'a> {
        Tags {
            sb: self,
            block,
            off: HEADER_LEN,
            end: block.len().saturating_sub(self.tail_len()),
            done: false,
        }
    }

    /// The block numbers a revoke block revokes, after checking its record count.
    pub fn revoked<'a>(&'a self, block: &'a [u8]) -> Result<impl Iterator<Item = u64> + 'a> {
        let used = be32(block, HEADER_LEN) as usize;
        let limit = block.len().saturating_sub(self.tail_len());
        if used < HEADER_LEN + 4 || used > limit {
            return Err(Error::corrupt("journal revoke record count", used as u64));
        }
        let rec = if self.wide_blocks() { 8 } else { 4 };
        let records = block.get(HEADER_LEN + 4..used).unwrap_or(&[]);
        Ok(records.chunks_exact(rec).map(move |r| {
            if rec == 8 {
                be64(r, 0)
            } else {
                u64::from(be32(r, 0))
            }
        }))
    }
}

/// The common header of a log block: `(block type, sequence)`, if the magic is there.
pub fn header(block: &[u8]) -> Option<(u32, u32)> {
    (be32(block, 0) == MAGIC).then(|| (be32(block, 4), be32(block, 8)))
}

/// `h_commit_sec` of a commit block.
pub fn commit_seconds(block: &[u8]) -> u64 {
    be64(block, 0x30)
}

/// One descriptor tag: the file system block the next log block holds.
#[derive(Debug, Clone, Copy)]
pub struct Tag {
    pub fs_block: u64,
    /// The logged copy had its first four bytes equal to [`MAGIC`] and were zeroed.
    pub escaped: bool,
    pub checksum: u32,
}

pub struct Tags<'a> {
    sb: &'a JournalSuperblock,
    block: &'a [u8],
    off: usize,
    end: usize,
    done: bool,
}

impl Iterator for Tags<'_> {
    type Item = Tag;
    fn next(&mut self) -> Option<Tag> {
        let len = self.sb.tag_len();
        if self.done || self.off.checked_add(len)? > self.end {
            return None;
        }
        let b = self.block;
        let at = self.off;
        let v3 = self.sb.has(feature::INCOMPAT_CSUM_V3);
        let (flags, checksum) = if v3 {
            (be32(b, at + 4), be32(b, at + 12))
        } else {
            (u32::from(be16(b, at + 6)), u32::from(be16(b, at + 4)))
        };
        let high = if self.sb.wide_blocks() {
            u64::from(be32(b, at + 8)) << 32
        } else {
            0
        };
        self.off = at + len;
        if flags & tag_flag::SAME_UUID == 0 {
            self.off = self.off.saturating_add(16);
        }
        self.done = flags & tag_flag::LAST_TAG != 0;
        Some(Tag {
            fs_block: u64::from(be32(b, at)) | high,
            escaped: flags & tag_flag::ESCAPE != 0,
            checksum,
        })
    }
}
