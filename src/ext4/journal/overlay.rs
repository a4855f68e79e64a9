//! The replayed view of the volume: reads of file system blocks that a committed journal
//! transaction rewrote come from their last logged copy instead of the device. The device is
//! never written.

use alloc::vec::Vec;

use super::format::{JournalSuperblock, MAGIC};
use crate::ext4::device::BlockDevice;
use crate::ext4::error::{ChecksumKind, Error, Result, zeroed_vec};

/// One replayed block: file system block → its last committed copy in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub fs_block: u64,
    /// Physical block of the logged copy.
    pub log_phys: u64,
    /// Distance from the start of the log (orders copies of the same block).
    pub position: u32,
    /// Sequence of the transaction that logged it (for the tag checksum).
    pub sequence: u32,
    pub tag_checksum: u32,
    pub escaped: bool,
    /// A later revoke record cancels this copy.
    pub revoked: bool,
}

/// Sorted by `fs_block`, one entry per block. Empty for a clean volume.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    entries: Vec<Entry>,
    block_size: u64,
    /// What the data checksums need from the journal superblock; `None` when empty.
    journal: Option<JournalSuperblock>,
}

impl Overlay {
    /// `entries` must be sorted by `fs_block` with no duplicates.
    pub fn new(entries: Vec<Entry>, journal: JournalSuperblock) -> Self {
        Overlay {
            entries,
            block_size: u64::from(journal.block_size),
            journal: Some(journal),
        }
    }

    /// Heap bytes held (the figure documented as the replay's memory cost).
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<Entry>()
    }

    /// Reads `buf.len()` bytes at `offset` of the replayed volume.
    pub fn read<D: BlockDevice>(&self, dev: &D, offset: u64, buf: &mut [u8]) -> Result<()> {
        let (Some(journal), false) = (&self.journal, self.entries.is_empty()) else {
            return dev.read_at(offset, buf);
        };
        let bs = self.block_size;
        let end = offset
            .checked_add(buf.len() as u64)
            .ok_or(Error::corrupt("read past the end of the volume", offset))?;
        let first = offset / bs;
        let mut next = self.entries.partition_point(|e| e.fs_block < first);
        let mut pos = offset;
        while pos < end {
            let done = (pos - offset) as usize;
            let entry = self
                .entries
                .get(next)
                .filter(|e| e.fs_block.checked_mul(bs).is_some_and(|b| b < end));
            let window = |n: usize| Error::corrupt("replayed read window", (done + n) as u64);
            let Some(e) = entry else {
                let out = buf.get_mut(done..).ok_or(window(0))?;
                return dev.read_at(pos, out);
            };
            let blk_start = e.fs_block * bs;
            if pos < blk_start {
                let n = (blk_start - pos) as usize;
                let out = buf.get_mut(done..done + n).ok_or(window(n))?;
                dev.read_at(pos, out)?;
                pos = blk_start;
                continue;
            }
            let copy = logged_copy(dev, journal, e)?;
            let from = (pos - blk_start) as usize;
            let n = (end.min(blk_start.saturating_add(bs)) - pos) as usize;
            let out = buf.get_mut(done..done + n).ok_or(window(n))?;
            out.copy_from_slice(copy.get(from..from + n).ok_or(window(n))?);
            pos += n as u64;
            next += 1;
        }
        Ok(())
    }
}

/// The logged copy of a block, checksum verified and unescaped.
fn logged_copy<D: BlockDevice>(dev: &D, journal: &JournalSuperblock, e: &Entry) -> Result<Vec<u8>> {
    let bs = journal.block_size as usize;
    let mut copy = zeroed_vec(bs, 65_536, "journal block")?;
    let at = e
        .log_phys
        .checked_mul(bs as u64)
        .ok_or(Error::corrupt("journal block", e.log_phys))?;
    dev.read_at(at, &mut copy)?;
    if !journal.data_ok(e.sequence, e.tag_checksum, &copy) {
        return Err(Error::Checksum {
            kind: ChecksumKind::Journal,
            at: e.log_phys,
        });
    }
    if let (true, Some(head)) = (e.escaped, copy.get_mut(..4)) {
        head.copy_from_slice(&MAGIC.to_be_bytes());
    }
    Ok(copy)
}
