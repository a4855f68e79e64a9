//! The volume events a file system reports with FsRtlNotifyVolumeEvent (the FSRTL_VOLUME_*
//! codes of ntifs.h), so that the mount manager, Explorer and filters learn of a mount, a lock
//! or a dismount (and close their handles before a lock).

/// FSRTL_VOLUME_* event codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum VolumeEvent {
    Dismount = 1,
    DismountFailed = 2,
    Lock = 3,
    LockFailed = 4,
    Unlock = 5,
    Mount = 6,
}

impl VolumeEvent {
    /// The FSRTL_VOLUME_* value.
    pub const fn code(self) -> u32 {
        self as u32
    }
}
