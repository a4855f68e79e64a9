//! rustfsd: a read-only ext2/ext3/ext4 file system driver for Windows.
//!
//! Layers, from the disk up: `ext4` (pure on-disk format), `kernel` (the one boundary to the
//! NT kernel, with a Windows backend and a host model backend), then the FSD layers.
#![no_std]

extern crate alloc;
#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
extern crate std;

pub mod cache;
pub mod dispatch;
pub mod driver;
pub mod ext4;
pub mod fallible;
pub mod fcb;
pub mod info;
pub mod kernel;
pub mod name;
pub mod volume;
/// The `walk` listing of the host tools (`rustfsd-inspect`, `filetest`); not in the driver.
#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
pub mod walk_listing;
