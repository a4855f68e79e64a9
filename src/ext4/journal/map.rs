//! Where the journal inode's blocks are: its block map as a short list of contiguous runs,
//! read once at mount, so log blocks are located without walking the map again.

use alloc::vec::Vec;

use crate::ext4::device::BlockDevice;
use crate::ext4::error::{Error, Result};
use crate::ext4::inode::Inode;
use crate::ext4::map::RunKind;
use crate::ext4::volume::Volume;

#[derive(Debug, Clone, Copy)]
struct Extent {
    logical: u64,
    len: u64,
    physical: u64,
}

/// Journal block → physical block, for the first `blocks` blocks of the journal inode.
#[derive(Debug)]
pub(super) struct JournalMap {
    extents: Vec<Extent>,
    blocks: u64,
}

impl JournalMap {
    /// Maps blocks `0 .. blocks` of `inode`; a hole or an unwritten run there is corruption.
    pub fn new<D: BlockDevice>(vol: &Volume<D>, inode: &Inode, blocks: u64) -> Result<Self> {
        let mut extents: Vec<Extent> = Vec::new();
        let mut lblk = 0u64;
        // Each step maps at least one more block.
        while lblk < blocks {
            let run = vol.map_block(inode, lblk)?;
            let RunKind::Mapped(start) = run.kind else {
                return Err(Error::corrupt("hole in the journal", lblk));
            };
            let skip = lblk
                .checked_sub(run.logical)
                .ok_or(Error::corrupt("journal block map", lblk))?;
            let len = run.len.saturating_sub(skip).min(blocks - lblk);
            if len == 0 {
                return Err(Error::corrupt("journal block map", lblk));
            }
            let physical = start
                .checked_add(skip)
                .ok_or(Error::corrupt("journal block map", start))?;
            match extents.last_mut() {
                Some(e) if e.physical.checked_add(e.len) == Some(physical) => e.len += len,
                _ => {
                    extents.try_reserve(1).map_err(|_| Error::NoMemory)?;
                    extents.push(Extent {
                        logical: lblk,
                        len,
                        physical,
                    });
                }
            }
            lblk += len;
        }
        Ok(JournalMap { extents, blocks })
    }

    /// The physical block of journal block `jblk`.
    pub fn physical(&self, jblk: u32) -> Result<u64> {
        let j = u64::from(jblk);
        let i = self.extents.partition_point(|e| e.logical <= j);
        i.checked_sub(1)
            .and_then(|i| self.extents.get(i))
            .filter(|e| j < self.blocks && j - e.logical < e.len)
            .map(|e| e.physical + (j - e.logical))
            .ok_or(Error::corrupt("journal block outside the journal", j))
    }
}
