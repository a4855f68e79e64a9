//! The ext2/ext3/ext4 on-disk format: pure, safe, no_std + alloc, no kernel types.
//!
//! Sans-IO in spirit: the only input is a [`BlockDevice`] the caller implements; everything
//! else is parsing and range checking. No panics, no unbounded loops, no allocation beyond an
//! explicit cap, on any input. See `docs/ext4.md` for the API tour.
//!
//! ```text
//! Volume::mount(dev) ─┬─ inode(ino) ─ Inode ─ stat()
//!                     ├─ lookup(dir, name) ─ DirHit { ino, .. }   (htree or linear)
//!                     ├─ read_dir(dir, cursor) ─ DirReader::next_entry()
//!                     ├─ map_block(inode, lblk) ─ Run { Mapped | Unwritten | Hole }
//!                     ├─ block_runs(inode) ─ BlockRuns::next_run()   (the whole block map)
//!                     ├─ block_usage(first, out)   (the block bitmaps, one bit a block)
//!                     ├─ read_at(inode, off, buf) / FileReader (caches the last run and leaf)
//!                     ├─ read_link(inode), resolve_path(path)
//!                     └─ xattrs(inode, name_index) ─ Xattr { name, value }
//! ```
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]
// The unit tests index and unwrap freely.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

mod bitmap;
mod bytes;
pub mod casefold;
mod casefold_tables;
pub mod crc;
mod device;
mod dir;
mod error;
pub mod hash;
mod inode;
mod journal;
mod map;
mod runs;
pub mod superblock;
mod volume;
pub mod xattr;

pub use device::{BlockDevice, MEM_DEVICE_SHORT_READ, MemDevice};
pub use dir::{DirEntry, DirHit, DirReader, MAX_DIR_SIZE, MAX_NAME_LEN};
pub use error::{ChecksumKind, Error, Result, Unsupported};
pub use inode::{FileType, Inode, Stat, Timestamp, flags as inode_flags};
pub use journal::Replay;
pub use map::{MAX_EXTENT_DEPTH, MapCache, Run, RunKind};
pub use runs::BlockRuns;
pub use superblock::Superblock;
pub use volume::{FileReader, MAX_PATH_COMPONENTS, MAX_SYMLINK_LEN, ROOT_INO, Volume, VolumeInfo};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn volume_is_send_sync() {
        assert_send_sync::<Volume<MemDevice<alloc::vec::Vec<u8>>>>();
        assert_send_sync::<Inode>();
        assert_send_sync::<FileReader>();
    }

    #[test]
    fn garbage_is_not_ext() {
        let img = alloc::vec![0u8; 4096];
        assert_eq!(Volume::mount(MemDevice(img)).err(), Some(Error::NotExtFs));
        assert!(Volume::mount(MemDevice(alloc::vec![0u8; 10])).is_err());
    }
}
