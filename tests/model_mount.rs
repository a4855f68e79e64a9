//! IopMountVolume's search through the registered file systems (ReactOS
//! ntoskrnl/io/iomgr/volume.c): a refusal other than STATUS_UNRECOGNIZED_VOLUME ends the search
//! for an open that names a file, and that status is what the open returns; an open of the
//! volume itself (a raw mount is allowed) asks every file system; CRC and data errors never end
//! the search. Two stub file systems: "refuser" answers every mount with the status the test
//! sets, and testfs, asked after it, recognizes nothing on these disks.

use std::sync::atomic::{AtomicI32, Ordering};

use rustfsd::driver::DriverGlobals;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Session, testfs};
use rustfsd::kernel::{DeviceRef, DriverObject, Irp, NtStatus};

static REFUSAL: AtomicI32 = AtomicI32::new(0);

fn refuser_entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let control = driver.create_control_device("\\Refuser", DriverGlobals::try_default()?)?;
    driver.install_dispatch();
    rustfsd::driver::register_file_system(&control);
    driver.set_unload_allowed(true);
    Ok(())
}

fn refuser_dispatch(_device: DeviceRef, irp: Irp) -> NtStatus {
    irp.complete(NtStatus(REFUSAL.load(Ordering::SeqCst)))
}

fn refuser_unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        rustfsd::driver::unregister_file_system(&control);
        control.delete();
    }
}

/// testfs first, then the refuser: the most recently registered is asked first.
fn machine(refusal: NtStatus) -> Session {
    REFUSAL.store(refusal.0, Ordering::SeqCst);
    let mut s = Session::new();
    s.add_disk("Disk0", DiskModel::from_bytes(vec![0; 1 << 16]));
    s.load_driver(testfs::descriptor()).unwrap();
    s.load_driver(DriverDescriptor {
        name: "refuser",
        entry: refuser_entry,
        dispatch: refuser_dispatch,
        unload: refuser_unload,
        fast_io: None,
    })
    .unwrap();
    s
}

fn open(s: &mut Session, path: &str) -> NtStatus {
    let pid = s.initial_process();
    s.nt_create_file(pid, &CreateRequest::open(path)).status
}

#[test]
fn the_search_takes_its_statuses_from_the_file_systems() {
    // Several cases share one process-wide refusal, so they run in one test, in order.
    let cases = [
        // (refusal, path, status of the open, file systems asked)
        (
            NtStatus::DISK_CORRUPT_ERROR,
            "\\Device\\Disk0\\file",
            NtStatus::DISK_CORRUPT_ERROR,
            &["refuser"][..],
        ),
        (
            NtStatus::DISK_CORRUPT_ERROR,
            "\\Device\\Disk0",
            NtStatus::UNRECOGNIZED_VOLUME,
            &["refuser", "testfs"][..],
        ),
        (
            NtStatus::DEVICE_DATA_ERROR,
            "\\Device\\Disk0\\file",
            NtStatus::UNRECOGNIZED_VOLUME,
            &["refuser", "testfs"][..],
        ),
        (
            NtStatus::UNRECOGNIZED_VOLUME,
            "\\Device\\Disk0\\file",
            NtStatus::UNRECOGNIZED_VOLUME,
            &["refuser", "testfs"][..],
        ),
        (
            NtStatus::INSUFFICIENT_RESOURCES,
            "\\Device\\Disk0\\",
            NtStatus::INSUFFICIENT_RESOURCES,
            &["refuser"][..],
        ),
    ];
    for (refusal, path, status, asked) in cases {
        let mut s = machine(refusal);
        assert_eq!(open(&mut s, path), status, "{refusal:?} {path}");
        assert_eq!(s.file_systems_asked(), asked, "{refusal:?} {path}");
        assert!(s.findings().is_empty(), "{:?}", s.findings());
    }
}
