//! Directories: enumeration with a resumable byte-offset cursor, and name lookup through the
//! htree index when there is one, by linear scan otherwise.

use alloc::vec::Vec;

use super::bytes::{le16, le32, u8_at};
use super::casefold;
use super::crc::crc32c;
use super::device::BlockDevice;
use super::error::{ChecksumKind, Error, Result, fill_zero, zeroed_vec};
use super::hash;
use super::inode::{FileType, I_BLOCK_LEN, Inode};
use super::map::RunKind;
use super::superblock::{FLAG_UNSIGNED_HASH, incompat};
use super::volume::{FileReader, Volume};

/// Longest name in a directory entry.
pub const MAX_NAME_LEN: usize = 255;
/// Largest directory accepted (bytes). Bounds enumeration and linear lookup work.
pub const MAX_DIR_SIZE: u64 = 1 << 32;
const DIRENT_TAIL_LEN: usize = 12;
const DIRENT_TAIL_TYPE: u8 = 0xDE;

/// One directory entry. The name borrows from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub ino: u32,
    pub name: &'a [u8],
    /// The type recorded in the entry (`filetype` feature), if any.
    pub file_type: Option<FileType>,
    /// Cursor of this entry: passing it to [`Volume::read_dir`] yields this entry again.
    pub offset: u64,
    /// Cursor of the entry after this one.
    pub next: u64,
    /// The reader skipped a damaged block (see [`DirReader::damage`]) since the entry before
    /// this one: the listing has a gap just before it.
    pub after_damage: bool,
}

/// The result of a successful lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirHit {
    pub ino: u32,
    pub file_type: Option<FileType>,
    /// The cursor of the entry.
    pub offset: u64,
}

/// Whether a directory entry's name is the one looked up.
type NameMatch<'a> = &'a dyn Fn(&[u8]) -> Result<bool>;

/// A parsed, validated directory entry header inside a buffer.
struct RawEntry {
    ino: u32,
    rec_len: usize,
    name_len: usize,
    file_type: u8,
}

fn decode_rec_len(raw: u16, block_size: usize) -> usize {
    let r = usize::from(raw);
    if block_size >= 65_536 && (r == 65_535 || r == 0) {
        return 65_536;
    }
    // Large blocks fold the top bits into the low two (which are otherwise always 0).
    (r & 0xFFFC) | ((r & 3) << 16)
}

impl<D: BlockDevice> Volume<D> {
    /// Parses the entry at `off` of `buf[..limit]`.
    fn parse_entry(&self, buf: &[u8], off: usize, limit: usize) -> Result<RawEntry> {
        if off + 8 > limit {
            return Err(Error::corrupt("directory entry past block end", off as u64));
        }
        let ino = le32(buf, off);
        let rec_len = decode_rec_len(le16(buf, off + 4), self.block_size() as usize);
        let name_len = usize::from(u8_at(buf, off + 6));
        let file_type = if self.superblock().has_incompat(incompat::FILETYPE) {
            u8_at(buf, off + 7)
        } else {
            0
        };
        if rec_len < 12 || !rec_len.is_multiple_of(4) {
            return Err(Error::corrupt("directory rec_len", rec_len as u64));
        }
        if rec_len < 8 + name_len || off + rec_len > limit {
            return Err(Error::corrupt("directory rec_len overruns", rec_len as u64));
        }
        if ino > self.superblock().inodes_count {
            return Err(Error::corrupt("directory entry inode", u64::from(ino)));
        }
        Ok(RawEntry {
            ino,
            rec_len,
            name_len,
            file_type,
        })
    }

    fn verify_leaf_tail(&self, dir: &Inode, buf: &[u8], lblk: u64) -> Result<()> {
        let bs = buf.len();
        let t = bs.saturating_sub(DIRENT_TAIL_LEN);
        let ok_shape = le32(buf, t) == 0
            && le16(buf, t + 4) == DIRENT_TAIL_LEN as u16
            && u8_at(buf, t + 6) == 0
            && u8_at(buf, t + 7) == DIRENT_TAIL_TYPE;
        if !ok_shape {
            return Err(Error::Checksum {
                kind: ChecksumKind::DirectoryBlock,
                at: lblk,
            });
        }
        let seed = self.inode_seed(dir.ino(), dir.generation());
        if crc32c(seed, buf.get(..t).unwrap_or(&[])) != le32(buf, t + 8) {
            return Err(Error::Checksum {
                kind: ChecksumKind::DirectoryBlock,
                at: lblk,
            });
        }
        Ok(())
    }

    /// Verifies an htree node checksum; `count_off` is where limit/count start.
    fn verify_dx_tail(&self, dir: &Inode, buf: &[u8], count_off: usize, lblk: u64) -> Result<()> {
        let limit = usize::from(le16(buf, count_off));
        let count = usize::from(le16(buf, count_off + 2));
        let tail = count_off + limit * 8;
        if count > limit || tail + 8 > buf.len() {
            return Err(Error::Checksum {
                kind: ChecksumKind::DirectoryIndex,
                at: lblk,
            });
        }
        let seed = self.inode_seed(dir.ino(), dir.generation());
        let mut c = crc32c(seed, buf.get(..count_off + count * 8).unwrap_or(&[]));
        // The tail's reserved word, then the checksum field itself taken as zero.
        c = crc32c(c, buf.get(tail..tail + 4).unwrap_or(&[]));
        c = crc32c(c, &[0; 4]);
        if c != le32(buf, tail + 4) {
            return Err(Error::Checksum {
                kind: ChecksumKind::DirectoryIndex,
                at: lblk,
            });
        }
        Ok(())
    }

    /// Reads directory block `lblk` of `dir`, or `None` for a hole.
    fn read_dir_block(
        &self,
        rdr: &mut FileReader,
        lblk: u64,
        buf: &mut Vec<u8>,
    ) -> Result<Option<u64>> {
        let run = rdr.map(self, lblk)?;
        let bs = u64::from(self.block_size());
        match run.kind {
            RunKind::Mapped(p) => {
                buf.clear();
                buf.try_reserve_exact(bs as usize)
                    .map_err(|_| Error::NoMemory)?;
                fill_zero(buf, bs as usize);
                self.read_bytes((p + (lblk - run.logical)) * bs, buf)?;
                Ok(None)
            }
            // Skip the whole unmapped run at once.
            RunKind::Hole | RunKind::Unwritten(_) => Ok(Some(run.logical.saturating_add(run.len))),
        }
    }

    /// What kind of block directory block `lblk` is, verifying a leaf's checksum.
    /// Returns `false` for index (htree) nodes, which hold no entries to list. Index blocks
    /// are not verified here: listing never uses them, and lookups verify the ones they
    /// follow (falling back to this linear view when the index is damaged).
    fn check_dir_block(&self, dir: &Inode, buf: &[u8], lblk: u64) -> Result<bool> {
        let indexed = self.dir_indexed(dir);
        let bs = buf.len();
        if indexed && lblk == 0 {
            // The root: "." and "..", whose record covers the index.
            return Ok(true);
        }
        let fake_node = le32(buf, 0) == 0 && decode_rec_len(le16(buf, 4), bs) == bs;
        if indexed && fake_node {
            return Ok(false);
        }
        if self.metadata_csum() {
            self.verify_leaf_tail(dir, buf, lblk)?;
        }
        Ok(!fake_node)
    }

    /// Opens `dir` for enumeration at `cursor` (0 for the start, or any `DirEntry::next`).
    pub fn read_dir(&self, dir: &Inode, cursor: u64) -> Result<DirReader<'_, D>> {
        if !dir.is_dir() {
            return Err(Error::NotADirectory);
        }
        self.check_readable(dir)?;
        let size = dir.size();
        if size > MAX_DIR_SIZE {
            return Err(Error::Cap {
                what: "directory size",
                value: size,
            });
        }
        let mut r = DirReader {
            vol: self,
            rdr: FileReader::new(dir.try_clone()?),
            pos: cursor,
            aligned: cursor == 0,
            buf: Vec::new(),
            buf_block: None,
            inline: dir.has_inline_data(),
            limit: size,
            damage: None,
            skipped: false,
        };
        if r.inline {
            r.buf = self.inline_dir_image(dir)?;
            r.limit = r.buf.len() as u64;
        }
        Ok(r)
    }

    /// A buffer of directory entries for an inline-data directory: synthesized "." and ".."
    /// then the entries in `i_block[4..]` and in the `system.data` attribute.
    fn inline_dir_image(&self, dir: &Inode) -> Result<Vec<u8>> {
        let ib = dir.i_block();
        let tail = dir.inline_xattr_data()?;
        let len = 24 + (I_BLOCK_LEN - 4) + tail.len();
        let mut v = zeroed_vec(len, 65_536 + 128, "inline directory")?;
        let mut put = |off: usize, ino: u32, name: &[u8]| {
            let mut e = [0u8; 12];
            let [a, b, c, d] = ino.to_le_bytes();
            e[0] = a;
            e[1] = b;
            e[2] = c;
            e[3] = d;
            e[4] = 12;
            e[6] = name.len() as u8;
            e[7] = 2;
            for (dst, &src) in e.iter_mut().skip(8).zip(name) {
                *dst = src;
            }
            if let Some(s) = v.get_mut(off..off + 12) {
                s.copy_from_slice(&e);
            }
        };
        put(0, dir.ino(), b".");
        put(12, le32(ib, 0), b"..");
        if let Some(s) = v.get_mut(24..24 + I_BLOCK_LEN - 4) {
            s.copy_from_slice(ib.get(4..).unwrap_or(&[0; I_BLOCK_LEN - 4]));
        }
        if let Some(s) = v.get_mut(24 + I_BLOCK_LEN - 4..) {
            s.copy_from_slice(tail);
        }
        Ok(v)
    }

    /// Looks `name` up in directory `dir`: through the htree index when the directory has
    /// one, by a linear scan otherwise.
    pub fn lookup(&self, dir: &Inode, name: &[u8]) -> Result<DirHit> {
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(Error::InvalidArgument("name length"));
        }
        if !dir.is_dir() {
            return Err(Error::NotADirectory);
        }
        self.check_readable(dir)?;
        let folded = if self.casefolded(dir) {
            casefold::fold(name)?
        } else {
            None
        };
        // What the htree hashes, and when an entry's name matches.
        let (key, same): (&[u8], NameMatch<'_>) = match &folded {
            Some(f) => (f, &|e: &[u8]| casefold::matches(f, e)),
            None => (name, &|e: &[u8]| Ok(e == name)),
        };
        // A casefolded directory's index hashes folded names, and the raw bytes of a name
        // that is not UTF-8 (as Linux does without strict encoding).
        if self.dir_indexed(dir) {
            match self.htree_lookup(dir, key, same) {
                // A damaged index: scan the leaves instead, as Linux does.
                Err(Error::Corrupt { .. })
                | Err(Error::Checksum {
                    kind: ChecksumKind::DirectoryIndex,
                    ..
                }) => {}
                done => return done,
            }
        }
        self.scan_for(dir, same)
    }

    /// The linear search of `lookup`, in a frame of its own (as `htree_lookup`): CREATE's
    /// path walk runs through one or the other, never both.
    #[inline(never)]
    fn scan_for(&self, dir: &Inode, same: NameMatch<'_>) -> Result<DirHit> {
        // The reader is used where it was returned: moving it out would give it two slots.
        let mut opened = self.read_dir(dir, 0);
        let r = match &mut opened {
            Ok(r) => r,
            Err(e) => return Err(core::mem::replace(e, Error::NotFound)),
        };
        while let Some(e) = r.next_entry()? {
            if same(e.name)? {
                return Ok(DirHit {
                    ino: e.ino,
                    file_type: e.file_type,
                    offset: e.offset,
                });
            }
        }
        // Not in the blocks that could be read: absent only if none was skipped as damaged.
        Err(r.damage().unwrap_or(Error::NotFound))
    }

    fn search_leaf(
        &self,
        dir: &Inode,
        rdr: &mut FileReader,
        lblk: u64,
        same: NameMatch<'_>,
    ) -> Result<Option<DirHit>> {
        let mut buf = Vec::new();
        if self.read_dir_block(rdr, lblk, &mut buf)?.is_some() {
            return Err(Error::corrupt("htree points at a directory hole", lblk));
        }
        if !self.check_dir_block(dir, &buf, lblk)? {
            // With checksums, leaves carry a tail and so never look like an index node.
            // Without, this is also what an emptied leaf looks like: nothing to find here.
            if self.metadata_csum() {
                return Err(Error::corrupt("htree leaf is an index block", lblk));
            }
            return Ok(None);
        }
        let limit = buf.len();
        let mut off = 0usize;
        let base = lblk * u64::from(self.block_size());
        while off < limit {
            let e = self.parse_entry(&buf, off, limit)?;
            let name = buf.get(off + 8..off + 8 + e.name_len);
            if e.ino != 0 && name.map(same).transpose()? == Some(true) {
                return Ok(Some(DirHit {
                    ino: e.ino,
                    file_type: FileType::from_dirent_code(e.file_type),
                    offset: base + off as u64,
                }));
            }
            off += e.rec_len;
        }
        Ok(None)
    }

    /// `name` is what the index hashes; `same` says whether an entry's name matches.
    #[inline(never)]
    fn htree_lookup(&self, dir: &Inode, name: &[u8], same: NameMatch<'_>) -> Result<DirHit> {
        let bs = self.block_size() as usize;
        let dir_blocks = dir.size() / bs as u64;
        let mut rdr = FileReader::new(dir.try_clone()?);
        let mut root = Vec::new();
        if self.read_dir_block(&mut rdr, 0, &mut root)?.is_some() {
            return Err(Error::corrupt("htree root is a hole", u64::from(dir.ino())));
        }
        if self.metadata_csum() {
            self.verify_dx_tail(dir, &root, 0x20, 0)?;
        }
        // "." (rec_len 12), ".." (rest of the block), then dx_root_info at 0x18.
        let info_len = u8_at(&root, 0x1D);
        let levels = usize::from(u8_at(&root, 0x1E));
        let max_levels = if self.superblock().has_incompat(incompat::LARGEDIR) {
            3
        } else {
            2
        };
        if le16(&root, 4) != 12 || le32(&root, 0x18) != 0 || info_len != 8 || levels >= max_levels {
            return Err(Error::corrupt("htree root", u64::from(dir.ino())));
        }
        let mut version = u8_at(&root, 0x1C);
        if version <= hash::TEA && self.superblock().flags & FLAG_UNSIGNED_HASH != 0 {
            version += 3;
        }
        let h = hash::name_hash(name, version, &self.superblock().hash_seed)?;

        // The path from the root to the current leaf: (node bytes, entries offset, index).
        let mut path: Vec<(Vec<u8>, usize, usize)> = Vec::new();
        path.try_reserve_exact(levels + 1)
            .map_err(|_| Error::NoMemory)?;
        let check_node = |buf: &[u8], off: usize| -> Result<usize> {
            let limit = usize::from(le16(buf, off));
            let count = usize::from(le16(buf, off + 2));
            if count == 0 || count > limit || off + limit * 8 > buf.len() {
                return Err(Error::corrupt("htree node counts", count as u64));
            }
            Ok(count)
        };
        let entry_hash =
            |buf: &[u8], off: usize, i: usize| if i == 0 { 0 } else { le32(buf, off + 8 * i) };
        let entry_block = |buf: &[u8], off: usize, i: usize| u64::from(le32(buf, off + 8 * i + 4));
        let pick = |buf: &[u8], off: usize, count: usize| {
            let (mut a, mut b) = (1usize, count);
            while a < b {
                let m = a + (b - a) / 2;
                if entry_hash(buf, off, m) <= h {
                    a = m + 1
                } else {
                    b = m
                }
            }
            a - 1
        };
        let count = check_node(&root, 0x20)?;
        let i = pick(&root, 0x20, count);
        path.push((root, 0x20, i));
        for _ in 0..levels {
            let Some((buf, off, i)) = path.last() else {
                break;
            };
            let child = entry_block(buf, *off, *i);
            if child == 0 || child >= dir_blocks {
                return Err(Error::corrupt("htree child block", child));
            }
            let mut node = Vec::new();
            if self.read_dir_block(&mut rdr, child, &mut node)?.is_some() {
                return Err(Error::corrupt("htree node is a hole", child));
            }
            if le32(&node, 0) != 0 || decode_rec_len(le16(&node, 4), bs) != bs {
                return Err(Error::corrupt("htree node header", child));
            }
            if self.metadata_csum() {
                self.verify_dx_tail(dir, &node, 8, child)?;
            }
            let count = check_node(&node, 8)?;
            let i = pick(&node, 8, count);
            path.push((node, 8, i));
        }
        // Search the leaf, then following leaves while they continue the same hash.
        for _ in 0..=dir_blocks {
            let Some((buf, off, i)) = path.last() else {
                break;
            };
            let leaf = entry_block(buf, *off, *i);
            if leaf == 0 || leaf >= dir_blocks {
                return Err(Error::corrupt("htree leaf block", leaf));
            }
            if let Some(hit) = self.search_leaf(dir, &mut rdr, leaf, same)? {
                return Ok(hit);
            }
            // Find the deepest level with a next entry.
            let mut lvl = path.len();
            let next_hash = loop {
                if lvl == 0 {
                    return Err(Error::NotFound);
                }
                lvl -= 1;
                let Some((buf, off, i)) = path.get(lvl) else {
                    return Err(Error::NotFound);
                };
                let count = usize::from(le16(buf, *off + 2));
                if i + 1 < count {
                    break entry_hash(buf, *off, i + 1);
                }
            };
            if next_hash & !1 != h {
                return Err(Error::NotFound);
            }
            if let Some(p) = path.get_mut(lvl) {
                p.2 += 1;
            }
            // Descend to the leftmost entries below the advanced level.
            path.truncate(lvl + 1);
            while path.len() < levels + 1 {
                let Some((buf, off, i)) = path.last() else {
                    break;
                };
                let child = entry_block(buf, *off, *i);
                if child == 0 || child >= dir_blocks {
                    return Err(Error::corrupt("htree child block", child));
                }
                let mut node = Vec::new();
                if self.read_dir_block(&mut rdr, child, &mut node)?.is_some() {
                    return Err(Error::corrupt("htree node is a hole", child));
                }
                if self.metadata_csum() {
                    self.verify_dx_tail(dir, &node, 8, child)?;
                }
                check_node(&node, 8)?;
                path.push((node, 8, 0));
            }
        }
        Err(Error::corrupt(
            "htree collision chain too long",
            u64::from(dir.ino()),
        ))
    }
}

/// A resumable directory enumeration. The cursor ([`DirReader::position`], or
/// [`DirEntry::next`]) is the byte offset of the next entry in the directory file, stable for
/// the life of the (read-only) volume.
pub struct DirReader<'v, D> {
    vol: &'v Volume<D>,
    rdr: FileReader,
    pos: u64,
    /// `pos` is known to be an entry boundary (we produced it).
    aligned: bool,
    buf: Vec<u8>,
    buf_block: Option<u64>,
    inline: bool,
    limit: u64,
    damage: Option<Error>,
    /// A damaged block was skipped since the last entry returned.
    skipped: bool,
}

impl<D: BlockDevice> DirReader<'_, D> {
    /// The cursor of the next entry.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The first damage this reader skipped: a directory block that failed its checksum or
    /// holds a malformed entry. The listing goes on with the next block, as Linux's readdir
    /// does; a caller that needs the whole directory (a lookup that found nothing) reports it.
    pub fn damage(&self) -> Option<Error> {
        self.damage
    }

    /// Records `error` and moves past the block it was found in, if it is damage to skip.
    fn skip_damaged_block(&mut self, error: Error, lblk: u64, bs: u64) -> Result<()> {
        if !matches!(error, Error::Corrupt { .. } | Error::Checksum { .. }) {
            return Err(error);
        }
        self.damage.get_or_insert(error);
        self.skipped = true;
        self.buf_block = None;
        self.pos = lblk
            .saturating_add(1)
            .saturating_mul(bs)
            .max(self.pos.saturating_add(1));
        self.aligned = true;
        Ok(())
    }

    /// The next live entry ("." and ".." included), or `None` at the end.
    pub fn next_entry(&mut self) -> Result<Option<DirEntry<'_>>> {
        let bs = if self.inline {
            self.limit.max(1)
        } else {
            u64::from(self.vol.block_size())
        };
        // Each step advances `pos` by at least 12 bytes or to the next block.
        loop {
            if self.pos >= self.limit {
                return Ok(None);
            }
            let lblk = self.pos / bs;
            if !self.inline && self.buf_block != Some(lblk) {
                self.buf_block = None;
                if let Some(next) = self
                    .vol
                    .read_dir_block(&mut self.rdr, lblk, &mut self.buf)?
                {
                    self.pos = next.saturating_mul(bs).max(self.pos.saturating_add(1));
                    self.aligned = false;
                    continue;
                }
                let dir = self.rdr.inode();
                match self.vol.check_dir_block(dir, &self.buf, lblk) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.pos = (lblk + 1) * bs;
                        self.aligned = true;
                        continue;
                    }
                    Err(error) => {
                        self.skip_damaged_block(error, lblk, bs)?;
                        continue;
                    }
                }
                self.buf_block = Some(lblk);
            }
            let limit = self.buf.len();
            let want = (self.pos - lblk * bs) as usize;
            let mut off = want;
            if !self.aligned {
                // Find the first entry boundary at or after the cursor.
                off = 0;
                while off < want {
                    match self.vol.parse_entry(&self.buf, off, limit) {
                        Ok(e) => off += e.rec_len,
                        Err(error) => {
                            self.skip_damaged_block(error, lblk, bs)?;
                            break;
                        }
                    }
                }
                if self.aligned {
                    // The block was damaged and skipped.
                    continue;
                }
                self.aligned = true;
                self.pos = lblk * bs + off as u64;
                if off >= limit {
                    self.pos = (lblk + 1) * bs;
                    continue;
                }
            }
            let e = match self.vol.parse_entry(&self.buf, off, limit) {
                Ok(e) => e,
                Err(error) => {
                    self.skip_damaged_block(error, lblk, bs)?;
                    continue;
                }
            };
            let here = self.pos;
            self.pos += e.rec_len as u64;
            if e.ino == 0 || e.name_len == 0 {
                continue;
            }
            let name_at = off + 8..off + 8 + e.name_len;
            if self.buf.get(name_at.clone()).is_none() {
                self.pos = here;
                self.skip_damaged_block(Error::corrupt("directory name", here), lblk, bs)?;
                continue;
            }
            let name = self.buf.get(name_at).unwrap_or_default();
            return Ok(Some(DirEntry {
                ino: e.ino,
                name,
                file_type: FileType::from_dirent_code(e.file_type),
                offset: here,
                next: self.pos,
                after_damage: core::mem::take(&mut self.skipped),
            }));
        }
    }
}
