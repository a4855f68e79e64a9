//! Superblock parsing and the mount-time feature checks.

use super::bytes::{le16, le32, u8_at};
use super::crc::crc32c;
use super::error::{ChecksumKind, Error, Result, Unsupported};

/// Byte offset of the primary superblock.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Size of the superblock structure.
pub const SUPERBLOCK_SIZE: usize = 1024;
const MAGIC: u16 = 0xEF53;

/// `s_feature_compat` bits.
pub mod compat {
    pub const DIR_PREALLOC: u32 = 0x1;
    pub const IMAGIC_INODES: u32 = 0x2;
    pub const HAS_JOURNAL: u32 = 0x4;
    pub const EXT_ATTR: u32 = 0x8;
    pub const RESIZE_INODE: u32 = 0x10;
    pub const DIR_INDEX: u32 = 0x20;
    pub const SPARSE_SUPER2: u32 = 0x200;
    pub const FAST_COMMIT: u32 = 0x400;
    pub const STABLE_INODES: u32 = 0x800;
    pub const ORPHAN_FILE: u32 = 0x1000;
}

/// `s_feature_incompat` bits.
pub mod incompat {
    pub const COMPRESSION: u32 = 0x1;
    pub const FILETYPE: u32 = 0x2;
    pub const RECOVER: u32 = 0x4;
    pub const JOURNAL_DEV: u32 = 0x8;
    pub const META_BG: u32 = 0x10;
    pub const EXTENTS: u32 = 0x40;
    pub const BIT64: u32 = 0x80;
    pub const MMP: u32 = 0x100;
    pub const FLEX_BG: u32 = 0x200;
    pub const EA_INODE: u32 = 0x400;
    pub const DIRDATA: u32 = 0x1000;
    pub const CSUM_SEED: u32 = 0x2000;
    pub const LARGEDIR: u32 = 0x4000;
    pub const INLINE_DATA: u32 = 0x8000;
    pub const ENCRYPT: u32 = 0x10000;
    pub const CASEFOLD: u32 = 0x20000;
    /// Everything this reader understands (RECOVER: the journal is replayed in memory).
    pub const KNOWN: u32 = FILETYPE
        | RECOVER
        | META_BG
        | EXTENTS
        | BIT64
        | MMP
        | FLEX_BG
        | EA_INODE
        | CSUM_SEED
        | LARGEDIR
        | INLINE_DATA
        | CASEFOLD;
}

/// `s_feature_ro_compat` bits. Unknown read-only-compatible bits do not stop a read-only
/// mount, by definition.
pub mod ro_compat {
    pub const SPARSE_SUPER: u32 = 0x1;
    pub const LARGE_FILE: u32 = 0x2;
    pub const BTREE_DIR: u32 = 0x4;
    pub const HUGE_FILE: u32 = 0x8;
    pub const GDT_CSUM: u32 = 0x10;
    pub const DIR_NLINK: u32 = 0x20;
    pub const EXTRA_ISIZE: u32 = 0x40;
    pub const QUOTA: u32 = 0x100;
    pub const BIGALLOC: u32 = 0x200;
    pub const METADATA_CSUM: u32 = 0x400;
    pub const READONLY: u32 = 0x1000;
    pub const PROJECT: u32 = 0x2000;
    pub const VERITY: u32 = 0x8000;
}

/// The parsed, validated superblock facts the reader needs.
#[derive(Debug, Clone)]
pub struct Superblock {
    pub inodes_count: u32,
    pub blocks_count: u64,
    pub free_blocks_count: u64,
    pub free_inodes_count: u32,
    pub first_data_block: u32,
    pub log_block_size: u32,
    pub block_size: u32,
    pub cluster_size: u64,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub group_count: u32,
    pub rev_level: u32,
    pub first_ino: u32,
    pub inode_size: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub uuid: [u8; 16],
    pub volume_name: [u8; 16],
    pub hash_seed: [u32; 4],
    pub def_hash_version: u8,
    pub desc_size: u32,
    pub first_meta_bg: u32,
    pub flags: u32,
    pub backup_bgs: [u32; 2],
    pub checksum_seed: u32,
    pub mkfs_time: u32,
    pub state: u16,
    /// `s_journal_inum`: the internal journal's inode, 0 for none or an external journal.
    pub journal_inum: u32,
}

/// `s_flags` bits.
pub const FLAG_SIGNED_HASH: u32 = 0x1;
pub const FLAG_UNSIGNED_HASH: u32 = 0x2;

impl Superblock {
    /// Parses and validates the 1024 bytes at byte 1024 of the device.
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < SUPERBLOCK_SIZE {
            return Err(Error::NotExtFs);
        }
        if le16(b, 0x38) != MAGIC {
            return Err(Error::NotExtFs);
        }
        let feature_compat = le32(b, 0x5C);
        let feature_incompat = le32(b, 0x60);
        let feature_ro_compat = le32(b, 0x64);

        // Checksum first: every other field is only trustworthy once it matches.
        if feature_ro_compat & ro_compat::METADATA_CSUM != 0 {
            let ty = u8_at(b, 0x175);
            if ty != 1 {
                return Err(Error::Unsupported(Unsupported::ChecksumType(ty)));
            }
            let want = le32(b, 0x3FC);
            let got = crc32c(!0, b.get(..0x3FC).unwrap_or(&[]));
            if want != got {
                return Err(Error::Checksum {
                    kind: ChecksumKind::Superblock,
                    at: 0,
                });
            }
        }

        let refuse = |u| Err(Error::Unsupported(u));
        if feature_incompat & incompat::JOURNAL_DEV != 0 {
            return refuse(Unsupported::JournalDevice);
        }
        if feature_incompat & incompat::COMPRESSION != 0 {
            return refuse(Unsupported::Compression);
        }
        if feature_incompat & incompat::ENCRYPT != 0 {
            return refuse(Unsupported::Encryption);
        }
        if feature_incompat & incompat::CASEFOLD != 0
            && le16(b, 0x27C) != super::casefold::ENCODING_UTF8_12_1
        {
            return refuse(Unsupported::Casefold);
        }
        if feature_incompat & incompat::DIRDATA != 0 {
            return refuse(Unsupported::DirData);
        }
        let unknown = feature_incompat & !incompat::KNOWN;
        if unknown != 0 {
            return refuse(Unsupported::UnknownIncompat(unknown));
        }

        let rev_level = le32(b, 0x4C);
        if rev_level > 1 {
            return refuse(Unsupported::Revision(rev_level));
        }
        let log_block_size = le32(b, 0x18);
        if log_block_size > 6 {
            return refuse(Unsupported::BlockSize(1024u64 << log_block_size.min(32)));
        }
        let block_size = 1024u32 << log_block_size;

        let (inode_size, first_ino) = if rev_level == 0 {
            (128, 11)
        } else {
            (u32::from(le16(b, 0x58)), le32(b, 0x54))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > block_size {
            return refuse(Unsupported::InodeSize(inode_size));
        }

        let bigalloc = feature_ro_compat & ro_compat::BIGALLOC != 0;
        let log_cluster_size = le32(b, 0x1C);
        let cluster_size: u64 = if bigalloc {
            // A cluster is 2^k blocks; keep it to something sane (2^16 blocks).
            if log_cluster_size < log_block_size || log_cluster_size > log_block_size + 16 {
                return Err(Error::corrupt("cluster size", u64::from(log_cluster_size)));
            }
            1024u64 << log_cluster_size
        } else {
            u64::from(block_size)
        };
        let blocks_per_cluster = cluster_size / u64::from(block_size);

        let bit64 = feature_incompat & incompat::BIT64 != 0;
        let blocks_lo = u64::from(le32(b, 0x4));
        let blocks_hi = if bit64 { u64::from(le32(b, 0x150)) } else { 0 };
        let blocks_count = blocks_lo | (blocks_hi << 32);
        let free_blocks_count = u64::from(le32(b, 0xC))
            | if bit64 {
                u64::from(le32(b, 0x158)) << 32
            } else {
                0
            };
        // Byte addresses of every block must fit in u64.
        if blocks_count == 0 || blocks_count > (u64::MAX >> 17) {
            return Err(Error::corrupt("block count", blocks_count));
        }
        let first_data_block = le32(b, 0x14);
        if u64::from(first_data_block) >= blocks_count {
            return Err(Error::corrupt(
                "first data block",
                u64::from(first_data_block),
            ));
        }

        let blocks_per_group_raw = le32(b, 0x20);
        let clusters_per_group = le32(b, 0x24);
        let bits_per_block = u64::from(block_size) * 8;
        let blocks_per_group: u64 = if bigalloc {
            if clusters_per_group == 0 || u64::from(clusters_per_group) > bits_per_block {
                return Err(Error::corrupt(
                    "clusters per group",
                    u64::from(clusters_per_group),
                ));
            }
            u64::from(clusters_per_group) * blocks_per_cluster
        } else {
            u64::from(blocks_per_group_raw)
        };
        if blocks_per_group == 0
            || (!bigalloc && blocks_per_group > bits_per_block)
            || blocks_per_group > u64::from(u32::MAX)
        {
            return Err(Error::corrupt("blocks per group", blocks_per_group));
        }
        let blocks_per_group = blocks_per_group as u32;

        let inodes_per_group = le32(b, 0x28);
        if inodes_per_group == 0 || u64::from(inodes_per_group) > bits_per_block {
            return Err(Error::corrupt(
                "inodes per group",
                u64::from(inodes_per_group),
            ));
        }
        let data_blocks = blocks_count - u64::from(first_data_block);
        let groups = data_blocks.div_ceil(u64::from(blocks_per_group));
        let group_count =
            u32::try_from(groups).map_err(|_| Error::corrupt("group count", groups))?;
        let inodes_count = le32(b, 0x0);
        if inodes_count == 0 || u64::from(inodes_count) > groups * u64::from(inodes_per_group) {
            return Err(Error::corrupt("inode count", u64::from(inodes_count)));
        }
        if rev_level > 0 && (first_ino < 3 || first_ino > inodes_count) {
            return Err(Error::corrupt(
                "first non-reserved inode",
                u64::from(first_ino),
            ));
        }

        let desc_size = if bit64 { u32::from(le16(b, 0xFE)) } else { 32 };
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return refuse(Unsupported::DescriptorSize(desc_size));
        }

        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(b.get(0x68..0x78).unwrap_or(&[0; 16]));
        let mut volume_name = [0u8; 16];
        volume_name.copy_from_slice(b.get(0x78..0x88).unwrap_or(&[0; 16]));
        let hash_seed = [le32(b, 0xEC), le32(b, 0xF0), le32(b, 0xF4), le32(b, 0xF8)];

        let checksum_seed = if feature_incompat & incompat::CSUM_SEED != 0 {
            le32(b, 0x270)
        } else {
            crc32c(!0, &uuid)
        };

        Ok(Superblock {
            inodes_count,
            blocks_count,
            free_blocks_count,
            free_inodes_count: le32(b, 0x10),
            first_data_block,
            log_block_size,
            block_size,
            cluster_size,
            blocks_per_group,
            inodes_per_group,
            group_count,
            rev_level,
            first_ino,
            inode_size,
            feature_compat,
            feature_incompat,
            feature_ro_compat,
            uuid,
            volume_name,
            hash_seed,
            def_hash_version: u8_at(b, 0xFC),
            desc_size,
            first_meta_bg: le32(b, 0x104),
            flags: le32(b, 0x160),
            backup_bgs: [le32(b, 0x24C), le32(b, 0x250)],
            checksum_seed,
            mkfs_time: le32(b, 0x108),
            state: le16(b, 0x3A),
            journal_inum: le32(b, 0xE0),
        })
    }

    pub fn has_incompat(&self, bit: u32) -> bool {
        self.feature_incompat & bit != 0
    }
    pub fn has_ro_compat(&self, bit: u32) -> bool {
        self.feature_ro_compat & bit != 0
    }
    pub fn has_compat(&self, bit: u32) -> bool {
        self.feature_compat & bit != 0
    }
    pub fn metadata_csum(&self) -> bool {
        self.has_ro_compat(ro_compat::METADATA_CSUM)
    }
    /// `needs_recovery`: the journal holds committed transactions not yet written in place.
    pub fn needs_recovery(&self) -> bool {
        self.has_incompat(incompat::RECOVER)
    }
    /// Group descriptors carry a checksum (either flavour), so the uninit flags are valid.
    pub fn group_csum(&self) -> bool {
        self.metadata_csum() || self.has_ro_compat(ro_compat::GDT_CSUM)
    }

    /// Whether group `g` holds a superblock backup (and so the old-style descriptor copy).
    pub fn group_has_super(&self, g: u32) -> bool {
        if g == 0 {
            return true;
        }
        if self.has_compat(compat::SPARSE_SUPER2) {
            return g == self.backup_bgs[0] || g == self.backup_bgs[1];
        }
        if g <= 1 || !self.has_ro_compat(ro_compat::SPARSE_SUPER) {
            return true;
        }
        if g & 1 == 0 {
            return false;
        }
        for base in [3u32, 5, 7] {
            let mut p = base;
            while p < g {
                match p.checked_mul(base) {
                    Some(n) => p = n,
                    None => break,
                }
            }
            if p == g {
                return true;
            }
        }
        false
    }
}
