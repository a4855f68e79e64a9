//! The mounted volume: superblock facts, group descriptors, inodes, file data, symlinks,
//! paths.

use alloc::vec::Vec;

use super::bytes::{le16, le32};
use super::crc::{crc16, crc32c};
use super::device::{BlockDevice, DataReads};
use super::error::{ChecksumKind, Error, Result, Unsupported, zeroed_vec};
use super::inode::{FileType, I_BLOCK_LEN, Inode, Stat, flags, max_file_size};
use super::journal::{self, Overlay, Replay};
use super::map::{MapCache, Run, RunKind};
use super::superblock::{
    SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, Superblock, compat, incompat, ro_compat,
};

/// The root directory's inode number.
pub const ROOT_INO: u32 = 2;
/// The longest symlink target accepted (one block at most, and never more than this).
pub const MAX_SYMLINK_LEN: u64 = 65_536;
/// The deepest path [`Volume::resolve_path`] walks.
pub const MAX_PATH_COMPONENTS: usize = 4096;

/// Volume facts for `info` and for the FSD's volume information queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// `s_volume_name`, up to the first NUL (raw bytes, usually UTF-8).
    pub label: Vec<u8>,
    pub uuid: [u8; 16],
    pub block_size: u32,
    pub cluster_size: u64,
    pub blocks_count: u64,
    pub free_blocks: u64,
    pub inodes_count: u32,
    pub free_inodes: u32,
    pub inode_size: u32,
    pub group_count: u32,
    pub feature_compat: u32,
    pub feature_incompat: u32,
    pub feature_ro_compat: u32,
    pub mkfs_time: u32,
}

/// Group descriptor facts the reader uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub flags: u16,
    pub itable_unused: u32,
    /// bg_block_bitmap_csum: the low half, and the high half when the descriptor has one.
    pub block_bitmap_csum: (u16, Option<u16>),
}
const BG_INODE_UNINIT: u16 = 0x1;

/// A mounted, read-only ext2/ext3/ext4 volume.
///
/// Immutable after [`Volume::mount`]: it holds no interior mutability, so it is `Send` and
/// `Sync` whenever the device is, and any number of threads may use it at once.
pub struct Volume<D> {
    dev: D,
    sb: Superblock,
    /// Blocks rewritten by the journal's committed transactions (empty when clean).
    overlay: Overlay,
    replay: Option<Replay>,
}

impl<D> core::fmt::Debug for Volume<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Volume").field("sb", &self.sb).finish()
    }
}

impl<D: BlockDevice> Volume<D> {
    /// Reads and validates the superblock and the root directory. Costs a constant number of
    /// small reads, whatever the volume size: group descriptors are read on demand.
    pub fn mount(dev: D) -> Result<Self> {
        if dev
            .size()
            .is_some_and(|n| n < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE as u64)
        {
            return Err(Error::NotExtFs);
        }
        let mut buf = zeroed_vec(SUPERBLOCK_SIZE, SUPERBLOCK_SIZE, "superblock")?;
        dev.read_at(SUPERBLOCK_OFFSET, &mut buf)?;
        let sb = Superblock::parse(&buf)?;
        let mut vol = Volume::checked(dev, sb)?;
        if vol.sb.needs_recovery() {
            if !vol.sb.has_compat(compat::HAS_JOURNAL) {
                return Err(Error::Unsupported(Unsupported::NeedsRecovery));
            }
            let (overlay, replay) = journal::replay(&vol)?;
            vol.overlay = overlay;
            vol.replay = Some(replay);
            // The journal may hold a newer superblock: read it again through the overlay.
            vol.read_bytes(SUPERBLOCK_OFFSET, &mut buf)?;
            let Volume { dev, overlay, .. } = vol;
            vol = Volume::checked(dev, Superblock::parse(&buf)?)?;
            vol.overlay = overlay;
            vol.replay = Some(replay);
        }
        let root = vol.inode(ROOT_INO)?;
        if !root.is_dir() {
            return Err(Error::corrupt(
                "root inode is not a directory",
                u64::from(root.mode()),
            ));
        }
        Ok(vol)
    }

    /// A volume over `dev` with superblock `sb`, once the device is known to hold it all.
    fn checked(dev: D, sb: Superblock) -> Result<Self> {
        let bytes = sb
            .blocks_count
            .checked_mul(u64::from(sb.block_size))
            .ok_or(Error::corrupt("volume size", sb.blocks_count))?;
        if let Some(dev_size) = dev.size().filter(|&n| n < bytes) {
            return Err(Error::corrupt(
                "volume larger than device (truncated)",
                dev_size,
            ));
        }
        Ok(Volume {
            dev,
            sb,
            overlay: Overlay::default(),
            replay: None,
        })
    }

    /// What the in-memory journal replay did, when the volume needed recovery.
    pub fn replay(&self) -> Option<&Replay> {
        self.replay.as_ref()
    }

    /// Reads bytes of the volume as the reader sees it: with the journal replayed in memory.
    pub fn read_volume(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.read_bytes(offset, buf)
    }

    pub fn device(&self) -> &D {
        &self.dev
    }
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    pub fn info(&self) -> Result<VolumeInfo> {
        let n = self
            .sb
            .volume_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(16);
        let mut label = Vec::new();
        label.try_reserve_exact(n).map_err(|_| Error::NoMemory)?;
        label.extend_from_slice(self.sb.volume_name.get(..n).unwrap_or(&[]));
        Ok(VolumeInfo {
            label,
            uuid: self.sb.uuid,
            block_size: self.sb.block_size,
            cluster_size: self.sb.cluster_size,
            blocks_count: self.sb.blocks_count,
            free_blocks: self.sb.free_blocks_count,
            inodes_count: self.sb.inodes_count,
            free_inodes: self.sb.free_inodes_count,
            inode_size: self.sb.inode_size,
            group_count: self.sb.group_count,
            feature_compat: self.sb.feature_compat,
            feature_incompat: self.sb.feature_incompat,
            feature_ro_compat: self.sb.feature_ro_compat,
            mkfs_time: self.sb.mkfs_time,
        })
    }

    // ----- raw reads -------------------------------------------------------------------

    /// Every read of volume content goes through here (and so through the replay overlay).
    pub(crate) fn read_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.overlay.read(&self.dev, offset, buf)
    }

    /// The same, for a user's file contents (`BlockDevice::read_data_at`).
    pub(crate) fn read_data_bytes(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.overlay.read(&DataReads(&self.dev), offset, buf)
    }

    /// Checks that blocks `start .. start + len` lie inside the volume.
    pub(crate) fn check_range(&self, start: u64, len: u64, what: &'static str) -> Result<()> {
        let end = start.checked_add(len).ok_or(Error::corrupt(what, start))?;
        if start < u64::from(self.sb.first_data_block) || end > self.sb.blocks_count || len == 0 {
            return Err(Error::corrupt(what, start));
        }
        Ok(())
    }

    /// Reads block `blk` (range-checked) into a fresh buffer of one block.
    pub(crate) fn read_block(&self, blk: u64, what: &'static str) -> Result<Vec<u8>> {
        self.check_range(blk, 1, what)?;
        let bs = self.sb.block_size as usize;
        let mut buf = zeroed_vec(bs, 65_536, "block buffer")?;
        self.read_bytes(blk * u64::from(self.sb.block_size), &mut buf)?;
        Ok(buf)
    }

    // ----- checksums -------------------------------------------------------------------

    /// The per-inode checksum seed (volume seed, inode number, generation).
    pub(crate) fn inode_seed(&self, ino: u32, generation: u32) -> u32 {
        let s = crc32c(self.sb.checksum_seed, &ino.to_le_bytes());
        crc32c(s, &generation.to_le_bytes())
    }

    pub(crate) fn metadata_csum(&self) -> bool {
        self.sb.metadata_csum()
    }

    // ----- group descriptors -----------------------------------------------------------

    fn group_desc_offset(&self, g: u32) -> Result<u64> {
        let bs = u64::from(self.sb.block_size);
        let ds = u64::from(self.sb.desc_size);
        let per_block = bs / ds;
        let g64 = u64::from(g);
        let meta_group = g64 / per_block;
        // The block holding the primary superblock: 1 with 1 KiB blocks, else 0. With bigalloc
        // and 1 KiB blocks s_first_data_block is 0 even though block 0 is the boot block.
        let sb_block = SUPERBLOCK_OFFSET / bs;
        let block = if self.sb.has_incompat(incompat::META_BG)
            && meta_group >= u64::from(self.sb.first_meta_bg)
        {
            let first = u32::try_from(meta_group * per_block)
                .map_err(|_| Error::corrupt("meta group", meta_group))?;
            let base = u64::from(self.sb.first_data_block)
                + u64::from(first) * u64::from(self.sb.blocks_per_group);
            // Group 0's copy sits after the superblock's block, wherever the group starts.
            let after_super = if first == 0 {
                sb_block.saturating_sub(base) + 1
            } else {
                u64::from(self.sb.group_has_super(first))
            };
            base + after_super
        } else {
            sb_block + 1 + meta_group
        };
        self.check_range(block, 1, "group descriptor block")?;
        Ok(block * bs + (g64 % per_block) * ds)
    }

    pub(crate) fn group_desc(&self, g: u32) -> Result<GroupDesc> {
        if g >= self.sb.group_count {
            return Err(Error::corrupt("group number", u64::from(g)));
        }
        let ds = self.sb.desc_size as usize;
        let mut d = zeroed_vec(ds, 1024, "group descriptor")?;
        self.read_bytes(self.group_desc_offset(g)?, &mut d)?;
        let stored = le16(&d, 0x1E);
        if self.sb.metadata_csum() {
            let mut c = crc32c(self.sb.checksum_seed, &g.to_le_bytes());
            c = crc32c(c, d.get(..0x1E).unwrap_or(&[]));
            c = crc32c(c, &[0, 0]);
            c = crc32c(c, d.get(0x20..).unwrap_or(&[]));
            if (c & 0xffff) as u16 != stored {
                return Err(Error::Checksum {
                    kind: ChecksumKind::GroupDescriptor,
                    at: g.into(),
                });
            }
        } else if self.sb.has_ro_compat(ro_compat::GDT_CSUM) {
            let mut c = crc16(!0, &self.sb.uuid);
            c = crc16(c, &g.to_le_bytes());
            c = crc16(c, d.get(..0x1E).unwrap_or(&[]));
            if ds > 32 {
                c = crc16(c, d.get(0x20..).unwrap_or(&[]));
            }
            if c != stored {
                return Err(Error::Checksum {
                    kind: ChecksumKind::GroupDescriptor,
                    at: g.into(),
                });
            }
        }
        let wide = ds >= 64 && self.sb.has_incompat(incompat::BIT64);
        let hi = |off: usize| {
            if wide {
                u64::from(le32(&d, off)) << 32
            } else {
                0
            }
        };
        let hi16 = |off: usize| {
            if wide {
                u32::from(le16(&d, off)) << 16
            } else {
                0
            }
        };
        Ok(GroupDesc {
            block_bitmap: u64::from(le32(&d, 0x0)) | hi(0x20),
            inode_bitmap: u64::from(le32(&d, 0x4)) | hi(0x24),
            block_bitmap_csum: (le16(&d, 0x18), (ds >= 0x3C).then(|| le16(&d, 0x38))),
            inode_table: u64::from(le32(&d, 0x8)) | hi(0x28),
            flags: le16(&d, 0x12),
            itable_unused: u32::from(le16(&d, 0x1C)) | hi16(0x32),
        })
    }

    // ----- inodes ----------------------------------------------------------------------

    /// Reads inode `ino`, verifying its checksum. Unused inodes are [`Error::InvalidInode`].
    pub fn inode(&self, ino: u32) -> Result<Inode> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(Error::InvalidInode(ino.into()));
        }
        let ipg = self.sb.inodes_per_group;
        let g = (ino - 1) / ipg;
        let idx = (ino - 1) % ipg;
        let gd = self.group_desc(g)?;
        if self.sb.group_csum() {
            if gd.flags & BG_INODE_UNINIT != 0 {
                return Err(Error::InvalidInode(ino.into()));
            }
            if gd.itable_unused <= ipg && idx >= ipg - gd.itable_unused {
                return Err(Error::InvalidInode(ino.into()));
            }
        }
        let isz = self.sb.inode_size;
        let bs = u64::from(self.sb.block_size);
        let table_blocks = (u64::from(ipg) * u64::from(isz)).div_ceil(bs);
        self.check_range(gd.inode_table, table_blocks, "inode table")?;
        let off = gd.inode_table * bs + u64::from(idx) * u64::from(isz);
        let mut raw = zeroed_vec(isz as usize, 65_536, "inode")?;
        self.read_bytes(off, &mut raw)?;

        let mode = le16(&raw, 0);
        let links = le16(&raw, 0x1A);
        if mode == 0 && links == 0 {
            return Err(Error::InvalidInode(ino.into()));
        }
        if self.sb.metadata_csum() {
            self.verify_inode_csum(ino, &raw)?;
        }
        let inode = Inode::from_raw(ino, raw, self.sb.has_ro_compat(ro_compat::HUGE_FILE))?;
        if inode.links_count() == 0 && inode.dtime() != 0 {
            return Err(Error::InvalidInode(ino.into()));
        }
        let max = max_file_size(
            self.sb.log_block_size + 10,
            inode.uses_extents(),
            self.sb.has_ro_compat(ro_compat::HUGE_FILE),
        );
        if inode.size() > max {
            return Err(Error::ImpossibleSize {
                ino,
                size: inode.size(),
                max,
            });
        }
        Ok(inode)
    }

    fn verify_inode_csum(&self, ino: u32, raw: &[u8]) -> Result<()> {
        let seed = self.inode_seed(ino, le32(raw, 0x64));
        let mut c = crc32c(seed, raw.get(..0x7C).unwrap_or(&[]));
        c = crc32c(c, &[0, 0]);
        c = crc32c(c, raw.get(0x7E..0x80).unwrap_or(&[]));
        let mut stored = u32::from(le16(raw, 0x7C));
        let mut mask = 0xffffu32;
        if raw.len() > 128 {
            let extra = usize::from(le16(raw, 0x80));
            c = crc32c(c, raw.get(0x80..0x82).unwrap_or(&[]));
            if extra >= 4 && raw.len() >= 0x84 {
                c = crc32c(c, &[0, 0]);
                c = crc32c(c, raw.get(0x84..).unwrap_or(&[]));
                stored |= u32::from(le16(raw, 0x82)) << 16;
                mask = !0;
            } else {
                c = crc32c(c, raw.get(0x82..).unwrap_or(&[]));
            }
        }
        if c & mask != stored {
            return Err(Error::Checksum {
                kind: ChecksumKind::Inode,
                at: ino.into(),
            });
        }
        Ok(())
    }

    pub fn root(&self) -> Result<Inode> {
        self.inode(ROOT_INO)
    }

    pub fn stat(&self, inode: &Inode) -> Stat {
        inode.stat(self.sb.block_size)
    }

    /// Refuses inodes whose content cannot be read (encrypted, and so on).
    pub(crate) fn check_readable(&self, inode: &Inode) -> Result<()> {
        if inode.flags() & flags::ENCRYPT != 0 {
            return Err(Error::Unsupported(Unsupported::Encryption));
        }
        Ok(())
    }

    /// Whether names in directory `dir` are casefolded (looked up case-insensitively).
    pub(crate) fn casefolded(&self, dir: &Inode) -> bool {
        self.sb.has_incompat(incompat::CASEFOLD) && dir.flags() & flags::CASEFOLD != 0
    }

    // ----- file data -------------------------------------------------------------------

    /// Maps file block `lblk` of `inode` to the run of blocks that contains it.
    pub fn map_block(&self, inode: &Inode, lblk: u64) -> Result<Run> {
        self.map_cached(inode, &mut MapCache::default(), lblk)
    }

    /// [`Volume::map_block`] through `cache`, which belongs to `inode` (always the same one):
    /// the last run, or the last extent leaf, when they hold `lblk`.
    pub fn map_cached(&self, inode: &Inode, cache: &mut MapCache, lblk: u64) -> Result<Run> {
        if let Some(run) = cache.run.filter(|run| run.contains(lblk)) {
            return Ok(run);
        }
        self.check_readable(inode)?;
        if inode.has_inline_data() {
            return Err(Error::corrupt(
                "block map of an inline-data inode",
                inode.ino().into(),
            ));
        }
        let run = if inode.uses_extents() {
            self.map_extent_through(inode, &mut cache.leaf, lblk)?
        } else {
            self.map_indirect(inode, lblk)?
        };
        if !run.contains(lblk) {
            return Err(run_without_block(lblk));
        }
        cache.run = Some(run);
        Ok(run)
    }

    /// Reads up to `buf.len()` bytes at `offset` of the inode's content. Holes and unwritten
    /// extents read as zeros; nothing past `i_size` is returned. Returns the byte count.
    pub fn read_at(&self, inode: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_cached(inode, &mut MapCache::default(), offset, buf)
    }

    /// The inline-data content of `inode` (the 60 bytes of `i_block` then `system.data`),
    /// copied into `buf` at `offset`.
    fn read_inline(&self, inode: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let size = inode.size();
        let head = inode.i_block();
        let tail = inode.inline_xattr_data()?;
        if size > (I_BLOCK_LEN + tail.len()) as u64 {
            return Err(Error::corrupt("inline data shorter than i_size", size));
        }
        if offset >= size {
            return Ok(0);
        }
        let n = (size - offset).min(buf.len() as u64) as usize;
        let off = offset as usize;
        for (i, out) in buf.iter_mut().take(n).enumerate() {
            let p = off + i;
            *out = if p < I_BLOCK_LEN {
                head.get(p).copied().unwrap_or(0)
            } else {
                tail.get(p - I_BLOCK_LEN).copied().unwrap_or(0)
            };
        }
        Ok(n)
    }

    // ----- symlinks --------------------------------------------------------------------

    /// The target of a symbolic link, from the inode (fast/inline) or from its block.
    pub fn read_link(&self, inode: &Inode) -> Result<Vec<u8>> {
        if inode.file_type() != Some(FileType::Symlink) {
            return Err(Error::NotASymlink);
        }
        let size = inode.size();
        if size > MAX_SYMLINK_LEN || size > u64::from(self.sb.block_size).max(I_BLOCK_LEN as u64) {
            return Err(Error::corrupt("symlink length", size));
        }
        let mut out = zeroed_vec(size as usize, MAX_SYMLINK_LEN as usize, "symlink")?;
        if self.is_fast_symlink(inode) {
            out.copy_from_slice(inode.i_block().get(..size as usize).unwrap_or(&[]));
        } else {
            let n = self.read_at(inode, 0, &mut out)?;
            if n != out.len() {
                return Err(Error::corrupt("short symlink", n as u64));
            }
        }
        // Linux and debugfs read the target as a C string: it ends at the first NUL.
        if let Some(nul) = out.iter().position(|&b| b == 0) {
            out.truncate(nul);
        }
        Ok(out)
    }

    /// Whether a symlink keeps its target in `i_block` (no data block: only an xattr block,
    /// if any, is counted in `i_blocks`).
    pub(crate) fn is_fast_symlink(&self, inode: &Inode) -> bool {
        let ea_blocks = if le32(inode.raw(), 0x68) != 0 || le16(inode.raw(), 0x76) != 0 {
            self.sb.cluster_size / 512
        } else {
            0
        };
        let blocks = inode.stat(self.sb.block_size).blocks_512;
        !inode.has_inline_data()
            && inode.size() < I_BLOCK_LEN as u64
            && blocks.saturating_sub(ea_blocks) == 0
    }

    // ----- paths -----------------------------------------------------------------------

    /// The first name (in directory order, `.` and `..` aside) under which directory `dir`
    /// lists inode `ino`, if any: one scan of `dir`.
    pub fn name_in(&self, dir: &Inode, ino: u32) -> Result<Option<Vec<u8>>> {
        let mut entries = self.read_dir(dir, 0)?;
        while let Some(entry) = entries.next_entry()? {
            if entry.ino == ino && entry.name != b"." && entry.name != b".." {
                let mut name = Vec::new();
                name.try_reserve_exact(entry.name.len())
                    .map_err(|_| Error::NoMemory)?;
                name.extend_from_slice(entry.name);
                return Ok(Some(name));
            }
        }
        match entries.damage() {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }

    /// Where directory `dir` is named: its parent (from its `..` entry) and the name of the
    /// parent's entry for it; `None` for the root. A directory has exactly one such entry;
    /// other inodes have no pointer back to their names. Costs a scan of the parent.
    pub fn name_in_parent(&self, dir: &Inode) -> Result<Option<(Inode, Vec<u8>)>> {
        if dir.ino() == ROOT_INO {
            return Ok(None);
        }
        if !dir.is_dir() {
            return Err(Error::NotADirectory);
        }
        let mut parent_ino = None;
        let mut entries = self.read_dir(dir, 0)?;
        while let Some(entry) = entries.next_entry()? {
            if entry.name == b".." {
                parent_ino = Some(entry.ino);
                break;
            }
        }
        let parent_ino =
            parent_ino.ok_or(Error::corrupt("directory without ..", dir.ino().into()))?;
        let parent = self.inode(parent_ino)?;
        if let Some(name) = self.name_in(&parent, dir.ino())? {
            return Ok(Some((parent, name)));
        }
        Err(Error::corrupt(
            "directory not named in its parent",
            dir.ino().into(),
        ))
    }

    /// Resolves an absolute or root-relative path, component by component, without following
    /// symlinks (the last component may be a symlink; earlier ones must be directories).
    pub fn resolve_path(&self, path: &[u8]) -> Result<Inode> {
        let mut cur = self.root()?;
        for (n, comp) in path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .enumerate()
        {
            if n >= MAX_PATH_COMPONENTS {
                return Err(Error::Cap {
                    what: "path components",
                    value: n as u64,
                });
            }
            if !cur.is_dir() {
                return Err(Error::NotADirectory);
            }
            let hit = self.lookup(&cur, comp)?;
            cur = self.inode(hit.ino)?;
        }
        Ok(cur)
    }

    /// Whether directory lookups may use the htree index of `dir`.
    pub(crate) fn dir_indexed(&self, dir: &Inode) -> bool {
        self.sb.has_compat(compat::DIR_INDEX)
            && dir.flags() & flags::INDEX != 0
            && !dir.has_inline_data()
    }
}

/// The error of a block map answer that misses its block (cold, a frame of its own).
#[cold]
#[inline(never)]
fn run_without_block(lblk: u64) -> Error {
    Error::corrupt("block map returned a run without the block", lblk)
}

/// A per-open reader that remembers its block map (the last run and extent leaf, a
/// [`MapCache`]), so sequential and nearby reads do not walk the block map again. Cheap to
/// create; not shared between threads (the FSD keeps a [`MapCache`] per stream instead).
#[derive(Debug)]
pub struct FileReader {
    inode: Inode,
    cache: MapCache,
}

/// The largest single device read issued by [`Volume::read_cached`] (bounds the work done
/// per loop step; the caller's buffer is filled directly).
const MAX_READ_CHUNK: u64 = 1 << 30;

impl FileReader {
    pub fn new(inode: Inode) -> Self {
        FileReader {
            inode,
            cache: MapCache::default(),
        }
    }

    pub fn inode(&self) -> &Inode {
        &self.inode
    }

    /// The run containing `lblk`, from the cache or the block map.
    pub fn map<D: BlockDevice>(&mut self, vol: &Volume<D>, lblk: u64) -> Result<Run> {
        vol.map_cached(&self.inode, &mut self.cache, lblk)
    }

    /// See [`Volume::read_at`].
    pub fn read_at<D: BlockDevice>(
        &mut self,
        vol: &Volume<D>,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        vol.read_cached(&self.inode, &mut self.cache, offset, buf)
    }
}

impl<D: BlockDevice> Volume<D> {
    /// [`Volume::read_at`] through `cache`, which belongs to `inode` (always the same one).
    pub fn read_cached(
        &self,
        inode: &Inode,
        cache: &mut MapCache,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        self.check_readable(inode)?;
        if inode.is_dir() && inode.has_inline_data() {
            return Err(Error::InvalidArgument(
                "inline directory content is read with read_dir",
            ));
        }
        if inode.has_inline_data() {
            return self.read_inline(inode, offset, buf);
        }
        let size = inode.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let total = (size - offset).min(buf.len() as u64) as usize;
        let bs = u64::from(self.block_size());
        let mut done = 0usize;
        while done < total {
            let pos = offset + done as u64;
            let lblk = pos / bs;
            let in_blk = pos % bs;
            let run = self.map_cached(inode, cache, lblk)?;
            let run_end_byte = run.logical.saturating_add(run.len).saturating_mul(bs);
            let avail = run_end_byte.saturating_sub(pos).min(MAX_READ_CHUNK);
            let n = ((total - done) as u64).min(avail) as usize;
            if n == 0 {
                return Err(Error::corrupt("empty block run", lblk));
            }
            let out = buf
                .get_mut(done..done + n)
                .ok_or(Error::corrupt("read window", pos))?;
            match run.kind {
                RunKind::Hole | RunKind::Unwritten(_) => out.fill(0),
                RunKind::Mapped(phys) => {
                    let blk = phys + (lblk - run.logical);
                    if inode.holds_user_data() {
                        self.read_data_bytes(blk * bs + in_blk, out)?;
                    } else {
                        self.read_bytes(blk * bs + in_blk, out)?;
                    }
                }
            }
            done += n;
        }
        Ok(total)
    }
}
