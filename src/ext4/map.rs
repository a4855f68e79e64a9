//! Block mapping: file block → physical run, hole or unwritten run, through the extent tree
//! (O(depth · log entries)) or the ext2/ext3 indirect map (at most three pointer reads).

use alloc::vec::Vec;

use super::bytes::{le16, le32};
use super::crc::crc32c;
use super::device::BlockDevice;
use super::error::{ChecksumKind, Error, Result};
use super::inode::Inode;
use super::volume::Volume;

/// What a run of file blocks is backed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Data on disk starting at this physical block.
    Mapped(u64),
    /// Allocated but never written (preallocated): reads as zeros. The physical start is
    /// given for information only.
    Unwritten(u64),
    /// Not allocated: reads as zeros.
    Hole,
}

/// A run of `len` file blocks starting at file block `logical`, all of the same kind (and, for
/// mapped runs, physically contiguous).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub logical: u64,
    pub len: u64,
    pub kind: RunKind,
}

impl Run {
    pub fn contains(&self, lblk: u64) -> bool {
        lblk >= self.logical && lblk - self.logical < self.len
    }
    /// The physical block backing `lblk`, if this run is mapped and contains it.
    pub fn physical(&self, lblk: u64) -> Option<u64> {
        match self.kind {
            RunKind::Mapped(p) if self.contains(lblk) => p.checked_add(lblk - self.logical),
            _ => None,
        }
    }
}

/// A stream's memory of its block map: the last run mapped and the last extent leaf read from
/// disk (checksum and extents verified once, with the logical range its index entry gives it),
/// so that reading a file in order maps each run once and reads each leaf once, not once per
/// request. Belongs to one inode; the volume is read-only, so what was read stays true.
#[derive(Debug, Default)]
pub struct MapCache {
    pub(crate) run: Option<Run>,
    pub(crate) leaf: Option<Leaf>,
}

/// An extent leaf block as read and verified, and the logical blocks [lo, hi) it covers.
#[derive(Debug)]
pub(crate) struct Leaf {
    block: Vec<u8>,
    entries: usize,
    lo: u64,
    hi: u64,
}

impl Leaf {
    /// The run of this checked leaf holding `lblk` (inside [lo, hi)).
    fn find(&self, lblk: u64) -> Result<Run> {
        find_in_leaf(&self.block, self.entries, lblk, (self.lo, self.hi))
    }
}

/// Extent trees address at most 2^32 file blocks.
pub(crate) const EXTENT_LBLK_LIMIT: u64 = 1 << 32;
/// The deepest extent tree ext4 builds (and accepts).
pub const MAX_EXTENT_DEPTH: u16 = 5;
const EXTENT_MAGIC: u16 = 0xF30A;
/// Lengths above this mark an unwritten extent of `len - 32768` blocks.
const EXT_INIT_MAX_LEN: u16 = 32768;

/// The index of the last of a node's `entries` whose key is at most `lblk`.
fn last_key_at_or_below(node: &[u8], entries: usize, lblk: u64) -> Option<usize> {
    let key = |i: usize| u64::from(le32(node, 12 + 12 * i));
    let (mut a, mut b) = (0usize, entries);
    while a < b {
        let m = a + (b - a) / 2;
        if key(m) <= lblk { a = m + 1 } else { b = m }
    }
    a.checked_sub(1)
}

impl<D: BlockDevice> Volume<D> {
    /// Maps `lblk` of an extent-mapped inode through `leaf`, the last leaf read for it, when
    /// that covers `lblk`; else through the tree, whose leaf then replaces it.
    pub(crate) fn map_extent_through(
        &self,
        inode: &Inode,
        leaf: &mut Option<Leaf>,
        lblk: u64,
    ) -> Result<Run> {
        match leaf
            .as_ref()
            .filter(|leaf| leaf.lo <= lblk && lblk < leaf.hi)
        {
            Some(leaf) => leaf.find(lblk),
            None => self.map_extent(inode, lblk, leaf),
        }
    }

    /// Maps `lblk` through the extent tree; the leaf read from disk on the way, if any, goes
    /// to `leaf_out`.
    pub(crate) fn map_extent(
        &self,
        inode: &Inode,
        lblk: u64,
        leaf_out: &mut Option<Leaf>,
    ) -> Result<Run> {
        let ino = u64::from(inode.ino());
        if lblk >= EXTENT_LBLK_LIMIT {
            return Ok(Run {
                logical: EXTENT_LBLK_LIMIT,
                len: u64::MAX - EXTENT_LBLK_LIMIT,
                kind: RunKind::Hole,
            });
        }
        let mut block: Vec<u8> = Vec::new();
        let mut in_inode = true;
        // The logical range [lo, hi) the current node is responsible for.
        let (mut lo, mut hi) = (0u64, EXTENT_LBLK_LIMIT);
        let mut want_depth: Option<u16> = None;
        let mut node_blk = 0u64;
        // Depth strictly decreases at each step, so this runs at most MAX_EXTENT_DEPTH + 1 times.
        for _ in 0..=MAX_EXTENT_DEPTH {
            let node: &[u8] = if in_inode { inode.i_block() } else { &block };
            let magic = le16(node, 0);
            let entries = usize::from(le16(node, 2));
            let max = usize::from(le16(node, 4));
            let depth = le16(node, 6);
            if magic != EXTENT_MAGIC {
                return Err(Error::corrupt(
                    "extent header magic",
                    if in_inode { ino } else { node_blk },
                ));
            }
            let capacity = (node.len().saturating_sub(12)) / 12;
            if max > capacity || entries > max {
                return Err(Error::corrupt("extent header counts", entries as u64));
            }
            if depth > MAX_EXTENT_DEPTH {
                return Err(Error::corrupt("extent tree depth", u64::from(depth)));
            }
            if want_depth.is_some_and(|w| w != depth) {
                return Err(Error::corrupt(
                    "extent node depth mismatch (loop?)",
                    node_blk,
                ));
            }
            if !in_inode && self.metadata_csum() {
                let tail = 12 + 12 * max;
                let seed = self.inode_seed(inode.ino(), inode.generation());
                let c = crc32c(seed, node.get(..tail).unwrap_or(&[]));
                if tail + 4 > node.len() || le32(node, tail) != c {
                    return Err(Error::Checksum {
                        kind: ChecksumKind::ExtentBlock,
                        at: node_blk,
                    });
                }
            }
            let key = |i: usize| u64::from(le32(node, 12 + 12 * i));
            // Keys must be strictly increasing and inside [lo, hi).
            for i in 0..entries {
                let k = key(i);
                if k < lo || k >= hi || (i > 0 && k <= key(i - 1)) {
                    return Err(Error::corrupt("extent keys out of order or range", k));
                }
            }
            let found = last_key_at_or_below(node, entries, lblk);
            if depth == 0 {
                self.check_leaf(node, entries, lo, hi)?;
                let run = find_in_leaf(node, entries, lblk, (lo, hi))?;
                if !in_inode {
                    keep_leaf(leaf_out, core::mem::take(&mut block), entries, lo, hi);
                }
                return Ok(run);
            }
            let Some(i) = found else {
                let end = if entries > 0 { key(0) } else { hi };
                return Ok(Run {
                    logical: lo,
                    len: end - lo,
                    kind: RunKind::Hole,
                });
            };
            let e = 12 + 12 * i;
            let child = u64::from(le32(node, e + 4)) | (u64::from(le16(node, e + 8)) << 32);
            self.check_range(child, 1, "extent index block")?;
            let next_hi = if i + 1 < entries { key(i + 1) } else { hi };
            lo = key(i);
            hi = next_hi;
            want_depth = Some(depth - 1);
            node_blk = child;
            block = self.read_block(child, "extent index block")?;
            in_inode = false;
        }
        Err(Error::corrupt("extent tree too deep", ino))
    }

    /// Validates every extent of a leaf: inside the node's range [lo, hi), not overlapping the
    /// next one, and physically inside the volume. A frame of its own, as `find_in_leaf`:
    /// called after the tree's last disk read, they stay off the deepest chain through
    /// `map_cached` (CREATE's path walk, `cargo xtask stack-depth`).
    #[inline(never)]
    fn check_leaf(&self, node: &[u8], entries: usize, lo: u64, hi: u64) -> Result<()> {
        let mut prev_end = lo;
        for i in 0..entries {
            let (start, len, _, phys) = extent(node, i)?;
            if start < prev_end {
                return Err(Error::corrupt("overlapping extents", start));
            }
            let end = start + len;
            if end > hi {
                return Err(Error::corrupt("extent past its index range", start));
            }
            self.check_range(phys, len, "extent outside the volume")?;
            prev_end = end;
        }
        Ok(())
    }

    pub(crate) fn map_indirect(&self, inode: &Inode, lblk: u64) -> Result<Run> {
        let per = u64::from(self.block_size() / 4);
        let iblock = inode.i_block();
        let ptr = |i: usize| u64::from(le32(iblock, 4 * i));
        if lblk < 12 {
            return self.scan_pointers(lblk, 12 - lblk as usize, |j| ptr(lblk as usize + j));
        }
        // Level sizes: single, double, triple indirect.
        let mut base = 12u64;
        let mut span = per;
        for level in 1..=3u32 {
            if lblk < base + span {
                return self.map_indirect_level(ptr(11 + level as usize), level, lblk, base, span);
            }
            base += span;
            span = span.saturating_mul(per);
        }
        Ok(Run {
            logical: base,
            len: u64::MAX - base,
            kind: RunKind::Hole,
        })
    }

    /// Walks `level` pointer blocks from `root` (covering `span` blocks from `base`).
    fn map_indirect_level(
        &self,
        root: u64,
        level: u32,
        lblk: u64,
        base: u64,
        span: u64,
    ) -> Result<Run> {
        let per = u64::from(self.block_size() / 4);
        let bs = u64::from(self.block_size());
        let mut blk = root;
        let mut sub_base = base;
        let mut sub_span = span;
        for _ in 1..level {
            if blk == 0 {
                return Ok(Run {
                    logical: lblk,
                    len: sub_base + sub_span - lblk,
                    kind: RunKind::Hole,
                });
            }
            self.check_range(blk, 1, "indirect block")?;
            let child_span = sub_span / per;
            let idx = (lblk - sub_base) / child_span;
            let mut p = [0u8; 4];
            self.read_bytes(blk * bs + idx * 4, &mut p)?;
            blk = u64::from(u32::from_le_bytes(p));
            sub_base += idx * child_span;
            sub_span = child_span;
        }
        if blk == 0 {
            return Ok(Run {
                logical: lblk,
                len: sub_base + sub_span - lblk,
                kind: RunKind::Hole,
            });
        }
        self.check_range(blk, 1, "indirect block")?;
        let idx = lblk - sub_base;
        let count = (per - idx) as usize;
        let mut ptrs = super::error::zeroed_vec(count * 4, 65_536, "indirect pointers")?;
        self.read_bytes(blk * bs + idx * 4, &mut ptrs)?;
        self.scan_pointers(lblk, count, |j| u64::from(le32(&ptrs, 4 * j)))
    }

    /// Builds the run starting at `lblk` from consecutive block pointers: a hole while they
    /// are zero, a mapped run while they are physically consecutive.
    fn scan_pointers(&self, lblk: u64, count: usize, ptr: impl Fn(usize) -> u64) -> Result<Run> {
        let first = ptr(0);
        let mut n = 1usize;
        if first == 0 {
            while n < count && ptr(n) == 0 {
                n += 1;
            }
            return Ok(Run {
                logical: lblk,
                len: n as u64,
                kind: RunKind::Hole,
            });
        }
        while n < count && ptr(n) == first + n as u64 {
            n += 1;
        }
        self.check_range(first, n as u64, "data block outside the volume")?;
        Ok(Run {
            logical: lblk,
            len: n as u64,
            kind: RunKind::Mapped(first),
        })
    }
}

/// Stores a leaf just read in `leaf_out`, freeing the one it held. A frame of its own, called
/// after the tree's last disk read: the move and the free stay off the deepest chain through
/// `map_extent` (CREATE's path walk, `cargo xtask stack-depth`).
#[inline(never)]
fn keep_leaf(leaf_out: &mut Option<Leaf>, block: Vec<u8>, entries: usize, lo: u64, hi: u64) {
    *leaf_out = Some(Leaf {
        block,
        entries,
        lo,
        hi,
    });
}

/// The run of a checked leaf of `entries` extents, covering `range`, that holds `lblk`. A frame
/// of its own (see `check_leaf`).
#[inline(never)]
fn find_in_leaf(node: &[u8], entries: usize, lblk: u64, range: (u64, u64)) -> Result<Run> {
    let found = last_key_at_or_below(node, entries, lblk);
    leaf_find(node, entries, found, lblk, range.0, range.1)
}

/// Extent `i` of a leaf: (first logical block, length, unwritten, first physical block).
fn extent(node: &[u8], i: usize) -> Result<(u64, u64, bool, u64)> {
    let e = 12 + 12 * i;
    let start = u64::from(le32(node, e));
    let raw_len = le16(node, e + 4);
    let (len, unwritten) = if raw_len > EXT_INIT_MAX_LEN {
        (raw_len - EXT_INIT_MAX_LEN, true)
    } else {
        (raw_len, false)
    };
    if len == 0 {
        return Err(Error::corrupt("zero-length extent", start));
    }
    let phys = u64::from(le32(node, e + 8)) | (u64::from(le16(node, e + 6)) << 32);
    Ok((start, u64::from(len), unwritten, phys))
}

/// The run of a checked leaf (covering [lo, hi)) holding `lblk`: extent `found` (the last
/// starting at or before `lblk`) or the hole after it.
fn leaf_find(
    node: &[u8],
    entries: usize,
    found: Option<usize>,
    lblk: u64,
    lo: u64,
    hi: u64,
) -> Result<Run> {
    let (hole_start, hole_end) = match found {
        Some(i) => {
            let (start, len, unwritten, phys) = extent(node, i)?;
            if lblk < start + len {
                let kind = if unwritten {
                    RunKind::Unwritten(phys)
                } else {
                    RunKind::Mapped(phys)
                };
                return Ok(Run {
                    logical: start,
                    len,
                    kind,
                });
            }
            let next = if i + 1 < entries {
                extent(node, i + 1)?.0
            } else {
                hi
            };
            (start + len, next)
        }
        None => (lo, if entries > 0 { extent(node, 0)?.0 } else { hi }),
    };
    if !(hole_start <= lblk && lblk < hole_end) {
        return Err(Error::corrupt("extent lookup outside node range", lblk));
    }
    Ok(Run {
        logical: hole_start,
        len: hole_end - hole_start,
        kind: RunKind::Hole,
    })
}
