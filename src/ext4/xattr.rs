//! Extended attributes: the entry table in the inode body (after `i_extra_isize`) and the
//! one external block `i_file_acl` names, and values kept in EA inodes (`ea_inode`).
//!
//! Both tables are lists of `ext4_xattr_entry` (name length, name index, value offset, value
//! inode, value size, hash, name padded to 4 bytes) ended by four zero bytes. In the inode the
//! table follows the magic and value offsets count from the first entry; in the block it
//! follows the 32-byte header (magic, refcount, h_blocks = 1, hash, checksum) and offsets
//! count from the block start. Every offset and length is checked against the area it lies
//! in; the block checksum (metadata_csum) is verified; hashes are not (e2fsck's business).

use alloc::vec::Vec;

use super::bytes::{le16, le32, u8_at};
use super::crc::crc32c;
use super::device::BlockDevice;
use super::error::{ChecksumKind, Error, Result};
use super::inode::{Inode, flags};
use super::superblock::incompat;
use super::volume::Volume;

/// `h_magic` / the in-inode magic.
const MAGIC: u32 = 0xEA02_0000;
const ENTRY_HEADER: usize = 16;
const BLOCK_HEADER: usize = 32;
/// Where `h_checksum` lies in the block header.
const BLOCK_CHECKSUM_AT: usize = 16;
/// Linux's XATTR_SIZE_MAX: no value is longer.
pub const MAX_XATTR_VALUE: usize = 65_536;
/// The most value bytes one inode's listing loads (values in EA inodes can add up).
const MAX_XATTR_TOTAL: usize = 1 << 20;

/// Name indexes (`e_name_index`): the prefix the stored name is short for.
pub mod name_index {
    /// `user.`
    pub const USER: u8 = 1;
    /// `system.posix_acl_access` (the name is empty).
    pub const POSIX_ACL_ACCESS: u8 = 2;
    pub const POSIX_ACL_DEFAULT: u8 = 3;
    /// `trusted.`
    pub const TRUSTED: u8 = 4;
    /// `security.`
    pub const SECURITY: u8 = 6;
    /// `system.` (`system.data` holds inline data).
    pub const SYSTEM: u8 = 7;
}

/// One extended attribute: its name index, the name after the prefix, its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    pub index: u8,
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// Where an entry's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Here(&'a [u8]),
    /// In the data of EA inode `ino`, `size` bytes.
    InInode {
        ino: u32,
        size: u32,
    },
}

/// One entry as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub index: u8,
    pub name: &'a [u8],
    pub value: Value<'a>,
}

/// The entries of a table: `table` starts at the first entry, value offsets count from the
/// start of `values`. Each step advances at least 16 bytes, so iteration is bounded by the
/// table's size; the first malformed entry ends it with an error.
pub(crate) struct Entries<'a> {
    table: &'a [u8],
    values: &'a [u8],
    at: usize,
    done: bool,
}

impl<'a> Entries<'a> {
    pub(crate) fn new(table: &'a [u8], values: &'a [u8]) -> Self {
        Entries {
            table,
            values,
            at: 0,
            done: false,
        }
    }

    fn entry(&mut self) -> Result<Option<Entry<'a>>> {
        let rest = self.table.get(self.at..).unwrap_or(&[]);
        // The end marker is four zero bytes; a table may also end with its area.
        if rest.len() < 4 || le32(rest, 0) == 0 {
            return Ok(None);
        }
        let at = self.at as u64;
        if rest.len() < ENTRY_HEADER {
            return Err(Error::corrupt("xattr entry past its table", at));
        }
        let name_len = usize::from(u8_at(rest, 0));
        let index = u8_at(rest, 1);
        let value_offs = usize::from(le16(rest, 2));
        let value_inum = le32(rest, 4);
        let value_size = le32(rest, 8) as usize;
        let name = rest
            .get(ENTRY_HEADER..ENTRY_HEADER + name_len)
            .ok_or(Error::corrupt("xattr name past its table", at))?;
        if value_size > MAX_XATTR_VALUE {
            return Err(Error::corrupt("xattr value size", value_size as u64));
        }
        let value = if value_inum != 0 {
            Value::InInode {
                ino: value_inum,
                size: value_size as u32,
            }
        } else {
            Value::Here(
                self.values
                    .get(value_offs..value_offs + value_size)
                    .ok_or(Error::corrupt("xattr value past its area", at))?,
            )
        };
        self.at += (ENTRY_HEADER + name_len + 3) & !3;
        Ok(Some(Entry { index, name, value }))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.entry().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.done = true;
        }
        next
    }
}

/// The in-inode table of `inode` (empty when its body holds no magic).
pub(crate) fn in_inode(inode: &Inode) -> Entries<'_> {
    let area = inode.xattr_area();
    match area.get(4..) {
        Some(table) if le32(area, 0) == MAGIC => Entries::new(table, table),
        _ => Entries::new(&[], &[]),
    }
}

/// The table of an external xattr block, after checking its header.
pub(crate) fn in_block(block: &[u8], blk: u64) -> Result<Entries<'_>> {
    if block.len() < BLOCK_HEADER || le32(block, 0) != MAGIC {
        return Err(Error::corrupt("xattr block magic", blk));
    }
    if le32(block, 8) != 1 {
        return Err(Error::corrupt(
            "xattr block h_blocks",
            u64::from(le32(block, 8)),
        ));
    }
    let table = block.get(BLOCK_HEADER..).unwrap_or(&[]);
    Ok(Entries::new(table, block))
}

/// ext4_xattr_block_csum: crc32c over the block number, then the block with `h_checksum`
/// taken as zero.
pub fn block_checksum(seed: u32, blk: u64, block: &[u8]) -> u32 {
    let mut c = crc32c(seed, &blk.to_le_bytes());
    c = crc32c(c, block.get(..BLOCK_CHECKSUM_AT).unwrap_or(&[]));
    c = crc32c(c, &[0; 4]);
    crc32c(c, block.get(BLOCK_CHECKSUM_AT + 4..).unwrap_or(&[]))
}

impl<D: BlockDevice> Volume<D> {
    /// The extended attributes of `inode` with name index `index`, in-inode ones first, each
    /// table in its stored order. Values in EA inodes are read; a damaged table, block or
    /// EA inode is an error.
    pub fn xattrs(&self, inode: &Inode, index: u8) -> Result<Vec<Xattr>> {
        let mut out = Vec::new();
        let mut total = 0usize;
        for entry in in_inode(inode) {
            self.keep(entry?, index, &mut out, &mut total)?;
        }
        let blk = self.xattr_block(inode);
        if blk != 0 {
            let block = self.read_block(blk, "xattr block")?;
            if self.metadata_csum() {
                let stored = le32(&block, BLOCK_CHECKSUM_AT);
                if block_checksum(self.superblock().checksum_seed, blk, &block) != stored {
                    return Err(Error::Checksum {
                        kind: ChecksumKind::XattrBlock,
                        at: blk,
                    });
                }
            }
            for entry in in_block(&block, blk)? {
                self.keep(entry?, index, &mut out, &mut total)?;
            }
        }
        Ok(out)
    }

    /// `i_file_acl` (with its high 16 bits on 64-bit volumes).
    fn xattr_block(&self, inode: &Inode) -> u64 {
        let raw = inode.raw();
        let lo = u64::from(le32(raw, 0x68));
        if self.superblock().has_incompat(incompat::BIT64) {
            lo | u64::from(le16(raw, 0x76)) << 32
        } else {
            lo
        }
    }

    fn keep(
        &self,
        entry: Entry<'_>,
        index: u8,
        out: &mut Vec<Xattr>,
        total: &mut usize,
    ) -> Result<()> {
        if entry.index != index {
            return Ok(());
        }
        let size = match entry.value {
            Value::Here(value) => value.len(),
            Value::InInode { size, .. } => size as usize,
        };
        *total = total.saturating_add(size);
        if *total > MAX_XATTR_TOTAL {
            return Err(Error::Cap {
                what: "xattr values of one inode",
                value: *total as u64,
            });
        }
        let mut name = Vec::new();
        name.try_reserve_exact(entry.name.len())
            .map_err(|_| Error::NoMemory)?;
        name.extend_from_slice(entry.name);
        let mut value = Vec::new();
        value.try_reserve_exact(size).map_err(|_| Error::NoMemory)?;
        match entry.value {
            Value::Here(bytes) => value.extend_from_slice(bytes),
            Value::InInode { ino, size } => self.ea_inode_value(ino, size, &mut value)?,
        }
        out.try_reserve(1).map_err(|_| Error::NoMemory)?;
        out.push(Xattr {
            index: entry.index,
            name,
            value,
        });
        Ok(())
    }

    /// Reads a value kept in EA inode `ino` (which must be one, on an `ea_inode` volume).
    fn ea_inode_value(&self, ino: u32, size: u32, value: &mut Vec<u8>) -> Result<()> {
        if !self.superblock().has_incompat(incompat::EA_INODE) {
            return Err(Error::corrupt(
                "xattr value inode without ea_inode",
                ino.into(),
            ));
        }
        let holder = self.inode(ino)?;
        if holder.flags() & flags::EA_INODE == 0 || holder.size() != u64::from(size) {
            return Err(Error::corrupt("xattr value inode", ino.into()));
        }
        value.resize(size as usize, 0);
        let read = self.read_at(&holder, 0, value)?;
        if read != size as usize {
            return Err(Error::corrupt("xattr value inode short", ino.into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of (index, name, value) entries with values packed at the end of a
    /// `size`-byte area whose offsets count from `base`.
    fn table(entries: &[(u8, &[u8], &[u8])], size: usize) -> Vec<u8> {
        let mut area = alloc::vec![0u8; size];
        let mut at = 0;
        let mut value_end = size;
        for &(index, name, value) in entries {
            value_end = (value_end - value.len()) & !3;
            area[at] = name.len() as u8;
            area[at + 1] = index;
            area[at + 2..at + 4].copy_from_slice(&(value_end as u16).to_le_bytes());
            area[at + 8..at + 12].copy_from_slice(&(value.len() as u32).to_le_bytes());
            area[at + 16..at + 16 + name.len()].copy_from_slice(name);
            area[value_end..value_end + value.len()].copy_from_slice(value);
            at += (16 + name.len() + 3) & !3;
        }
        area
    }

    /// (index, name, value) of each entry; a value in an EA inode shows as its inode number.
    type Listed = (u8, Vec<u8>, Vec<u8>);

    fn collect(entries: Entries<'_>) -> Result<Vec<Listed>> {
        entries
            .map(|e| {
                e.map(|e| match e.value {
                    Value::Here(v) => (e.index, e.name.to_vec(), v.to_vec()),
                    Value::InInode { ino, .. } => {
                        (e.index, e.name.to_vec(), ino.to_le_bytes().to_vec())
                    }
                })
            })
            .collect()
    }

    #[test]
    fn entries_in_order_and_the_end_marker() {
        let area = table(&[(1, b"comment", b"hello"), (4, b"t", b"")], 128);
        let got = collect(Entries::new(&area, &area)).unwrap();
        assert_eq!(
            got,
            [
                (1, b"comment".to_vec(), b"hello".to_vec()),
                (4, b"t".to_vec(), Vec::new())
            ]
        );
        assert!(collect(Entries::new(&[], &[])).unwrap().is_empty());
    }

    #[test]
    fn out_of_bounds_names_and_values_are_corrupt() {
        let good = table(&[(1, b"k", b"value")], 64);
        let mut bad_value = good.clone();
        bad_value[2..4].copy_from_slice(&62u16.to_le_bytes());
        assert!(collect(Entries::new(&bad_value, &bad_value)).is_err());
        let mut bad_name = good.clone();
        bad_name[0] = 255;
        assert!(collect(Entries::new(&bad_name, &bad_name)).is_err());
        let mut huge = good.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(collect(Entries::new(&huge, &huge)).is_err());
        // A table cut inside an entry header.
        assert!(collect(Entries::new(&good[..10], &good)).is_err());
        // The error ends the iteration.
        let mut entries = Entries::new(&bad_name, &bad_name);
        assert!(entries.next().unwrap().is_err());
        assert!(entries.next().is_none());
    }

    #[test]
    fn block_header_and_checksum() {
        let mut block = alloc::vec![0u8; 1024];
        block[..4].copy_from_slice(&MAGIC.to_le_bytes());
        block[8..12].copy_from_slice(&1u32.to_le_bytes());
        let entries = table(&[(1, b"a", b"b")], 1024 - BLOCK_HEADER);
        block[BLOCK_HEADER..BLOCK_HEADER + 20].copy_from_slice(&entries[..20]);
        // Offsets count from the block start in a block.
        let value_at = le16(&block, BLOCK_HEADER + 2) as usize;
        block[BLOCK_HEADER + 2..BLOCK_HEADER + 4]
            .copy_from_slice(&((value_at + BLOCK_HEADER) as u16).to_le_bytes());
        block[value_at + BLOCK_HEADER] = b'b';
        let got = collect(in_block(&block, 9).unwrap()).unwrap();
        assert_eq!(got, [(1, b"a".to_vec(), b"b".to_vec())]);
        let sum = block_checksum(7, 9, &block);
        block[BLOCK_CHECKSUM_AT] ^= 0xFF;
        assert_eq!(
            block_checksum(7, 9, &block),
            sum,
            "h_checksum is not summed"
        );
        assert_ne!(block_checksum(7, 10, &block), sum, "the block number is");
        block[8] = 2;
        assert!(in_block(&block, 9).is_err());
        assert!(in_block(&block[..16], 9).is_err());
    }
}
