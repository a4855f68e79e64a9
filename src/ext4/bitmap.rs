//! Which blocks are in use, from the groups' block bitmaps (checksums verified), and for a
//! group whose bitmap was never written (BLOCK_UNINIT) computed as the kernel does
//! (fs/ext4/balloc.c, ext4_init_block_bitmap): only the group's own metadata is in use.

use alloc::vec::Vec;

use super::crc::crc32c;
use super::device::BlockDevice;
use super::error::{ChecksumKind, Error, Result, zeroed_vec};
use super::superblock::{SUPERBLOCK_OFFSET, incompat};
use super::volume::{GroupDesc, Volume};

/// bg_flags: the block bitmap is not initialized.
const BG_BLOCK_UNINIT: u16 = 0x2;
/// s_reserved_gdt_blocks, a `u16` in the superblock.
const RESERVED_GDT_BLOCKS_OFFSET: u64 = 0xCE;

impl<D: BlockDevice> Volume<D> {
    /// Sets bit `i` of `out` (bit `i % 8` of byte `i / 8`) when block `first + i` is in use, as
    /// the block bitmaps say, and clears it when the block is free or past the end of the
    /// volume. Blocks before `s_first_data_block` (the boot block of 1 KiB-block volumes) are
    /// in use. With bigalloc every block of a cluster has the cluster's bit.
    pub fn block_usage(&self, first: u64, out: &mut [u8]) -> Result<()> {
        let sb = self.superblock();
        let first_data = u64::from(sb.first_data_block);
        let per_group = u64::from(sb.blocks_per_group);
        let block_size = u64::from(sb.block_size);
        let per_cluster = (sb.cluster_size / block_size).max(1);
        let mut loaded: Option<(u64, Vec<u8>)> = None;
        for (index, byte) in out.iter_mut().enumerate() {
            let mut bits = 0u8;
            for bit in 0..8u64 {
                let block = first.saturating_add(index as u64 * 8 + bit);
                let used = if block >= sb.blocks_count {
                    false
                } else if block < first_data {
                    true
                } else {
                    let group = (block - first_data) / per_group;
                    let bitmap = match &loaded {
                        Some((g, bitmap)) if *g == group => bitmap,
                        _ => {
                            let bitmap = self.group_block_bitmap(group)?;
                            &loaded.insert((group, bitmap)).1
                        }
                    };
                    let cluster = (block - first_data) % per_group / per_cluster;
                    bit_is_set(bitmap, cluster)
                };
                bits |= u8::from(used) << bit;
            }
            *byte = bits;
        }
        Ok(())
    }

    /// The block bitmap of `group` (one bit per cluster of the group), read and verified, or
    /// computed for a BLOCK_UNINIT group.
    fn group_block_bitmap(&self, group: u64) -> Result<Vec<u8>> {
        let g = u32::try_from(group).map_err(|_| Error::corrupt("group number", group))?;
        let gd = self.group_desc(g)?;
        if self.superblock().group_csum() && gd.flags & BG_BLOCK_UNINIT != 0 {
            return self.uninit_block_bitmap(g, &gd);
        }
        let bitmap = self.read_block(gd.block_bitmap, "block bitmap")?;
        if self.metadata_csum() {
            let bytes = self.clusters_per_group() / 8;
            let crc = crc32c(
                self.superblock().checksum_seed,
                bitmap.get(..bytes).unwrap_or(&[]),
            );
            let (lo, hi) = gd.block_bitmap_csum;
            let low_ok = crc as u16 == lo;
            let high_ok = hi.is_none_or(|hi| (crc >> 16) as u16 == hi);
            if !(low_ok && high_ok) {
                return Err(Error::Checksum {
                    kind: ChecksumKind::BlockBitmap,
                    at: gd.block_bitmap,
                });
            }
        }
        Ok(bitmap)
    }

    fn clusters_per_group(&self) -> usize {
        let sb = self.superblock();
        let per_cluster = (sb.cluster_size / u64::from(sb.block_size)).max(1);
        (u64::from(sb.blocks_per_group) / per_cluster) as usize
    }

    /// ext4_init_block_bitmap: the superblock backup, group descriptors and reserved GDT
    /// blocks at the start of the group (ext4_num_base_meta_clusters), and the group's block
    /// bitmap, inode bitmap and inode table where they lie inside the group.
    fn uninit_block_bitmap(&self, g: u32, gd: &GroupDesc) -> Result<Vec<u8>> {
        let sb = self.superblock();
        let block_size = u64::from(sb.block_size);
        let per_cluster = (sb.cluster_size / block_size).max(1);
        let mut bitmap = zeroed_vec(sb.block_size as usize, 65_536, "block bitmap")?;
        let base_blocks = self.base_meta_blocks(g)?;
        for cluster in 0..base_blocks.div_ceil(per_cluster) {
            set_bit(&mut bitmap, cluster);
        }
        let start = u64::from(sb.first_data_block) + u64::from(g) * u64::from(sb.blocks_per_group);
        let end = start + u64::from(sb.blocks_per_group);
        let table_blocks =
            (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size)).div_ceil(block_size);
        let own = [
            (gd.block_bitmap, 1),
            (gd.inode_bitmap, 1),
            (gd.inode_table, table_blocks),
        ];
        for (first, count) in own {
            for block in first..first.saturating_add(count) {
                if (start..end).contains(&block) {
                    set_bit(&mut bitmap, (block - start) / per_cluster);
                }
            }
        }
        Ok(bitmap)
    }

    /// ext4_num_base_meta_clusters, in blocks: the superblock copy, then the group descriptor
    /// blocks (and the reserved GDT blocks) a group with a superblock copy holds, or with
    /// meta_bg the descriptor block of the first, second and last group of a meta group.
    fn base_meta_blocks(&self, g: u32) -> Result<u64> {
        let sb = self.superblock();
        let per_block = sb.block_size / sb.desc_size.max(1);
        let has_super = sb.group_has_super(g);
        let meta_bg = sb.has_incompat(incompat::META_BG);
        let old_style = !meta_bg || g / per_block.max(1) < sb.first_meta_bg;
        if old_style {
            if !has_super {
                return Ok(0);
            }
            let descriptor_blocks = if meta_bg {
                u64::from(sb.first_meta_bg)
            } else {
                u64::from(sb.group_count.div_ceil(per_block.max(1)))
            };
            return Ok(1 + descriptor_blocks + u64::from(self.reserved_gdt_blocks()?));
        }
        let index = g % per_block.max(1);
        let descriptor = index == 0 || index == 1 || index == per_block.saturating_sub(1);
        Ok(u64::from(has_super) + u64::from(descriptor))
    }

    /// s_reserved_gdt_blocks, read from the superblock on disk.
    fn reserved_gdt_blocks(&self) -> Result<u16> {
        let mut bytes = [0u8; 2];
        self.read_bytes(SUPERBLOCK_OFFSET + RESERVED_GDT_BLOCKS_OFFSET, &mut bytes)?;
        Ok(u16::from_le_bytes(bytes))
    }
}

fn bit_is_set(bitmap: &[u8], bit: u64) -> bool {
    let byte = usize::try_from(bit / 8).ok().and_then(|i| bitmap.get(i));
    byte.is_some_and(|b| b & (1 << (bit % 8)) != 0)
}

fn set_bit(bitmap: &mut [u8], bit: u64) {
    if let Some(byte) = usize::try_from(bit / 8)
        .ok()
        .and_then(|i| bitmap.get_mut(i))
    {
        *byte |= 1 << (bit % 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_little_endian_within_bytes() {
        let mut bitmap = [0u8; 2];
        set_bit(&mut bitmap, 0);
        set_bit(&mut bitmap, 9);
        set_bit(&mut bitmap, 16); // past the end: ignored
        assert_eq!(bitmap, [0x01, 0x02]);
        assert!(bit_is_set(&bitmap, 9) && !bit_is_set(&bitmap, 8) && !bit_is_set(&bitmap, 99));
    }
}
