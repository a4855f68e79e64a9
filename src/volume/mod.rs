//! The volume layer: recognising an ext2/3/4 volume at IRP_MN_MOUNT_VOLUME, the VCB that a
//! mounted volume's device carries, and the reads the ext4 reader makes through the target
//! (lower) device.

pub mod disk;
pub mod mount;
pub mod vcb;

pub use vcb::Vcb;
