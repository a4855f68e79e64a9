//! The volume layer: whether a disk is ours at all, recognising an ext2/3/4 volume at
//! IRP_MN_MOUNT_VOLUME and checking it again at IRP_MN_VERIFY_VOLUME, the VCB a mounted
//! volume's device carries, the volume FSCTLs (lock, unlock, dismount, is-mounted), the
//! volume's end, and the reads the ext4 reader makes through the target (lower) device.

pub mod control;
pub mod disk;
pub mod lifetime;
pub mod mount;
pub mod recognize;
pub mod statistics;
pub mod vcb;

pub use vcb::{Dismounted, Vcb, VcbInner};
