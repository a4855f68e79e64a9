//! In-memory jbd2 journal replay for volumes with `needs_recovery`.
//!
//! At mount the internal journal's log is walked once (`scan`), and every block a committed
//! transaction logged becomes an entry of the [`Overlay`]: file system block → its last logged
//! copy, minus the copies that a later revoke record cancels. Every read of the volume then goes
//! through the overlay. Nothing is written: the disk keeps its journal, and Linux or e2fsck
//! replay it for real later.
//!
//! Memory: one 32-byte entry per distinct replayed block, at most one per journal block (a
//! 128 MiB journal of 4 KiB blocks: at most 1 MiB). Time: one read per log block, no data
//! block is read at mount; logged copies are read (and their tag checksums verified) when a
//! read needs them.

mod format;
mod map;
mod overlay;
mod scan;

pub(crate) use overlay::Overlay;

use crate::ext4::device::BlockDevice;
use crate::ext4::error::{ChecksumKind, Error, Result, Unsupported, zeroed_vec};
use crate::ext4::inode::FileType;
use crate::ext4::map::RunKind;
use crate::ext4::volume::Volume;
use format::JournalSuperblock;
use overlay::Entry;

/// What the in-memory replay found, for the FSD (VPB / volume information) and
/// `rustfsd-inspect info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Replay {
    /// Committed transactions replayed.
    pub transactions: u32,
    /// Sequence number of the first of them (`s_sequence` of the journal).
    pub first_sequence: u32,
    /// Log blocks those transactions occupy (descriptors, data, revokes, commits).
    pub log_blocks: u64,
    /// Data blocks they logged (the same file system block may be logged several times).
    pub logged_blocks: u64,
    /// Distinct file system blocks whose reads now come from the journal.
    pub replayed_blocks: u64,
    /// Distinct blocks left out because a revoke record cancels their last copy.
    pub revoked_blocks: u64,
    /// Heap bytes of the overlay.
    pub overlay_bytes: u64,
}

/// Whether transaction ID `a` is after `b` (IDs wrap around).
fn tid_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Replays the internal journal of `vol` (mounted on the raw device, without an overlay).
pub(crate) fn replay<D: BlockDevice>(vol: &Volume<D>) -> Result<(Overlay, Replay)> {
    let sb = vol.superblock();
    if sb.journal_inum == 0 {
        return Err(Error::Unsupported(Unsupported::ExternalJournal));
    }
    let inode = vol.inode(sb.journal_inum)?;
    if inode.file_type() != Some(FileType::Regular) {
        return Err(Error::corrupt(
            "journal inode type",
            u64::from(inode.mode()),
        ));
    }
    let bs = u64::from(sb.block_size);
    let RunKind::Mapped(head) = vol.map_block(&inode, 0)?.kind else {
        return Err(Error::corrupt("hole in the journal", 0));
    };
    let mut block = zeroed_vec(bs as usize, 65_536, "journal block")?;
    vol.device().read_at(head * bs, &mut block)?;
    let jsb = JournalSuperblock::parse(&block, sb.block_size)?;
    let mut info = Replay {
        first_sequence: jsb.sequence,
        ..Replay::default()
    };
    if jsb.start == 0 {
        return Ok((Overlay::default(), info));
    }
    if inode.size() / bs < u64::from(jsb.max_len) {
        return Err(Error::corrupt(
            "journal longer than its inode",
            u64::from(jsb.max_len),
        ));
    }
    let map = map::JournalMap::new(vol, &inode, u64::from(jsb.max_len))?;
    let log = scan::walk(vol.device(), &jsb, &map)?;
    info.transactions = log.transactions;
    info.log_blocks = log.log_blocks;
    info.logged_blocks = log.logged.len() as u64;

    let mut entries = log.logged;
    // The last copy of each block first, then one entry per block.
    entries.sort_unstable_by(|a, b| {
        a.fs_block
            .cmp(&b.fs_block)
            .then(b.position.cmp(&a.position))
    });
    entries.dedup_by_key(|e| e.fs_block);
    apply_revokes(vol.device(), &jsb, &log.revokes, &mut entries, &mut block)?;
    let before = entries.len();
    entries.retain(|e| !e.revoked);
    info.revoked_blocks = (before - entries.len()) as u64;
    info.replayed_blocks = entries.len() as u64;
    let overlay = Overlay::new(entries, jsb);
    info.overlay_bytes = overlay.heap_bytes() as u64;
    Ok((overlay, info))
}

/// Marks the entries that a revoke record of the same or a later transaction cancels.
fn apply_revokes<D: BlockDevice>(
    dev: &D,
    jsb: &JournalSuperblock,
    revokes: &[scan::RevokeBlock],
    entries: &mut [Entry],
    block: &mut [u8],
) -> Result<()> {
    let bs = u64::from(jsb.block_size);
    for r in revokes {
        let at = r
            .log_phys
            .checked_mul(bs)
            .ok_or(Error::corrupt("journal revoke block", r.log_phys))?;
        dev.read_at(at, block)?;
        if !jsb.block_tail_ok(block) {
            return Err(Error::Checksum {
                kind: ChecksumKind::Journal,
                at: r.log_phys,
            });
        }
        for fs_block in jsb.revoked(block)? {
            let Ok(i) = entries.binary_search_by_key(&fs_block, |e| e.fs_block) else {
                continue;
            };
            if let Some(e) = entries
                .get_mut(i)
                .filter(|e| !tid_after(e.sequence, r.sequence))
            {
                e.revoked = true;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tid_after;

    #[test]
    fn transaction_ids_wrap() {
        assert!(tid_after(2, 1));
        assert!(!tid_after(1, 1));
        assert!(tid_after(0, u32::MAX));
        assert!(!tid_after(u32::MAX, 0));
    }
}
