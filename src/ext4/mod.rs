//! The ext2/ext3/ext4 on-disk format: pure, safe, no_std + alloc, no kernel types.
#![forbid(unsafe_code)]
