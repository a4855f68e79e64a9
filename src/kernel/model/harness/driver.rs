//! A loadable driver, as plain function pointers: rustfsd's real one, or a test driver.

use std::vec::Vec;

use crate::kernel::model::{DeviceRef, DriverObject, FileObject, Irp, Process};
use crate::kernel::{FastLock, FastQuery, IoStatus, NtStatus};

/// What the I/O manager calls: DriverEntry, every IRP_MJ_*, DriverUnload, and the fast I/O
/// routines once DriverEntry installed them (`DriverObject::install_fast_io`).
#[derive(Clone, Copy)]
pub struct DriverDescriptor {
    pub name: &'static str,
    pub entry: fn(&mut DriverObject) -> Result<(), NtStatus>,
    pub dispatch: fn(DeviceRef, Irp) -> NtStatus,
    pub unload: fn(&mut DriverObject),
    pub fast_io: Option<FastIoRoutines>,
}

/// FastIoQueryBasicInfo and its kin: the IO_STATUS_BLOCK and the structure's bytes, or FALSE.
pub type FastQueryRoutine =
    fn(DeviceRef, &FileObject, bool, FastQuery) -> Option<(IoStatus, Vec<u8>)>;

/// The file system's entries of its FAST_IO_DISPATCH. FastIoRead is FsRtlCopyRead and MdlRead /
/// MdlReadComplete FsRtl's too (`model::fast_io`); the rest are the file system's own.
#[derive(Clone, Copy)]
pub struct FastIoRoutines {
    /// FastIoCheckIfPossible(FileObject, FileOffset, Length, Wait, LockKey,
    /// CheckForReadOperation).
    pub check_if_possible: fn(DeviceRef, &FileObject, u64, u32, bool, u32, bool) -> bool,
    /// FastIoQueryBasicInfo / StandardInfo / NetworkOpenInfo (Wait): the structure's bytes.
    pub query: FastQueryRoutine,
    /// FastIoLock(FileObject, .., ProcessId, ..).
    pub lock: fn(DeviceRef, &FileObject, FastLock, Process) -> Option<IoStatus>,
    /// FastIoUnlockSingle(FileObject, FileOffset, Length, ProcessId, Key).
    pub unlock_single: fn(DeviceRef, &FileObject, u64, u64, Process, u32) -> Option<IoStatus>,
    /// FastIoUnlockAll (key None) / FastIoUnlockAllByKey.
    pub unlock_all: fn(DeviceRef, &FileObject, Process, Option<u32>) -> Option<IoStatus>,
}

impl DriverDescriptor {
    /// rustfsd itself: crate::driver's entry/unload and crate::dispatch.
    pub fn rustfsd() -> DriverDescriptor {
        DriverDescriptor {
            name: "rustfsd",
            entry: crate::driver::entry,
            dispatch: crate::dispatch::dispatch,
            unload: crate::driver::unload,
            fast_io: Some(FastIoRoutines {
                check_if_possible: crate::dispatch::fastio::check_if_possible,
                query: crate::dispatch::fastio::query,
                lock: crate::dispatch::fastio::lock,
                unlock_single: crate::dispatch::fastio::unlock_single,
                unlock_all: crate::dispatch::fastio::unlock_all,
            }),
        }
    }

    /// A test driver: one control device, [`TEST_DRIVER_DEVICE`], and `dispatch` for every IRP.
    pub fn test_driver(
        name: &'static str,
        dispatch: fn(DeviceRef, Irp) -> NtStatus,
    ) -> DriverDescriptor {
        DriverDescriptor {
            name,
            entry: test_driver_entry,
            dispatch,
            unload: test_driver_unload,
            fast_io: None,
        }
    }
}

/// The control device of every [`DriverDescriptor::test_driver`].
pub const TEST_DRIVER_DEVICE: &str = "\\TestDriver";

fn test_driver_entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    driver.create_control_device(
        TEST_DRIVER_DEVICE,
        crate::driver::DriverGlobals::try_default()?,
    )?;
    driver.install_dispatch();
    driver.set_unload_allowed(true);
    Ok(())
}

fn test_driver_unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        control.delete();
    }
}
