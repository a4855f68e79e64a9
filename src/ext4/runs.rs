//! A file's whole block map as maximal runs, from its first block to its last: what a
//! retrieval-pointers query (or `debugfs stat`'s block list) reports.

use super::device::BlockDevice;
use super::error::{Error, Result};
use super::inode::{FileType, Inode};
use super::map::{EXTENT_LBLK_LIMIT, Run, RunKind};
use super::volume::Volume;

/// The file blocks of an inode as runs, in order from block 0: mapped, unwritten and holes
/// alike, each run as long as it can be (consecutive runs of one kind that continue each other
/// on disk are one run, whether or not they were one extent or one pointer block).
///
/// The runs end at the end of the file's blocks: `ceil(i_size / block size)`, or, for an
/// extent-mapped file, the end of its last extent if that lies further (blocks preallocated
/// past the end of file with `fallocate --keep-size`); a hole up to the end of file is a run
/// too. ext2/ext3 block maps are read only up to the end of file, as e2fsck requires them to
/// end there. Inodes whose content is not in blocks (inline data, fast symlinks, devices,
/// FIFOs, sockets) have no runs.
#[derive(Debug)]
pub struct BlockRuns {
    inode: Inode,
    /// The next file block to map.
    next: u64,
    /// `ceil(i_size / block size)`.
    size_end: u64,
    /// The run being extended, not yet returned.
    pending: Option<Run>,
    done: bool,
}

impl<D: BlockDevice> Volume<D> {
    /// The runs of `inode`'s blocks (see [`BlockRuns`]).
    pub fn block_runs(&self, inode: &Inode) -> Result<BlockRuns> {
        self.check_readable(inode)?;
        let has_blocks = match inode.file_type() {
            Some(FileType::Regular | FileType::Directory) => !inode.has_inline_data(),
            Some(FileType::Symlink) => !inode.has_inline_data() && !self.is_fast_symlink(inode),
            _ => false,
        };
        let size_end = inode.size().div_ceil(u64::from(self.block_size()));
        Ok(BlockRuns {
            inode: inode.try_clone()?,
            next: 0,
            size_end,
            pending: None,
            done: !has_blocks,
        })
    }
}

impl BlockRuns {
    /// The next run, or `None` after the last one.
    pub fn next_run<D: BlockDevice>(&mut self, vol: &Volume<D>) -> Result<Option<Run>> {
        while !self.done {
            let Some(run) = self.map_next(vol)? else {
                self.done = true;
                break;
            };
            match self.pending {
                Some(pending) if continues(&pending, &run) => {
                    self.pending = Some(Run {
                        len: pending.len + run.len,
                        ..pending
                    });
                }
                Some(pending) => {
                    self.pending = Some(run);
                    return Ok(Some(pending));
                }
                None => self.pending = Some(run),
            }
        }
        Ok(self.pending.take())
    }

    /// The raw run at `self.next`, cut to start there and to end where the file's blocks end;
    /// `None` past the end.
    fn map_next<D: BlockDevice>(&mut self, vol: &Volume<D>) -> Result<Option<Run>> {
        let at = self.next;
        let extents = self.inode.uses_extents();
        let end = if extents {
            EXTENT_LBLK_LIMIT
        } else {
            self.size_end
        };
        if at >= end {
            return Ok(None);
        }
        let raw = vol.map_block(&self.inode, at)?;
        let raw_end = raw.logical.saturating_add(raw.len);
        if raw.logical > at || raw_end <= at {
            return Err(Error::corrupt("block map run without its block", at));
        }
        let skip = at - raw.logical;
        let kind = match raw.kind {
            RunKind::Mapped(p) => RunKind::Mapped(p.saturating_add(skip)),
            RunKind::Unwritten(p) => RunKind::Unwritten(p.saturating_add(skip)),
            RunKind::Hole => RunKind::Hole,
        };
        let mut run_end = raw_end.min(end);
        if kind == RunKind::Hole && run_end >= end {
            // Nothing is mapped from here on: the blocks end at the end of file.
            run_end = run_end.min(self.size_end);
            if run_end <= at {
                return Ok(None);
            }
        }
        self.next = run_end;
        Ok(Some(Run {
            logical: at,
            len: run_end - at,
            kind,
        }))
    }
}

/// Whether `next` continues `run`: the same kind, and on disk right after it.
fn continues(run: &Run, next: &Run) -> bool {
    if run.logical.saturating_add(run.len) != next.logical {
        return false;
    }
    match (run.kind, next.kind) {
        (RunKind::Hole, RunKind::Hole) => true,
        (RunKind::Mapped(a), RunKind::Mapped(b))
        | (RunKind::Unwritten(a), RunKind::Unwritten(b)) => a.checked_add(run.len) == Some(b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(logical: u64, len: u64, kind: RunKind) -> Run {
        Run { logical, len, kind }
    }

    #[test]
    fn runs_continue_only_in_kind_and_on_disk() {
        let mapped = run(0, 4, RunKind::Mapped(100));
        assert!(continues(&mapped, &run(4, 2, RunKind::Mapped(104))));
        assert!(!continues(&mapped, &run(4, 2, RunKind::Mapped(105))));
        assert!(!continues(&mapped, &run(5, 2, RunKind::Mapped(105))));
        assert!(!continues(&mapped, &run(4, 2, RunKind::Unwritten(104))));
        assert!(continues(
            &run(0, 4, RunKind::Unwritten(7)),
            &run(4, 1, RunKind::Unwritten(11))
        ));
        assert!(continues(
            &run(0, 4, RunKind::Hole),
            &run(4, 9, RunKind::Hole)
        ));
        assert!(!continues(
            &run(0, 4, RunKind::Hole),
            &run(4, 9, RunKind::Mapped(4))
        ));
        // A physical block number at the top of the range does not wrap.
        assert!(!continues(
            &run(0, 4, RunKind::Mapped(u64::MAX - 1)),
            &run(4, 1, RunKind::Mapped(2))
        ));
    }
}
