//! The real driver (crate::driver::entry, crate::dispatch::dispatch) inside the model.

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Session, testfs};

#[test]
fn rustfsd_loads_and_unloads_cleanly() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    assert!(s.is_loaded("rustfsd"));
    assert!(s.pool_usage().is_empty(), "{:?}", s.pool_usage());
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    assert!(!s.is_loaded("rustfsd"));
    assert!(s.findings().is_empty(), "{:?}", s.findings());
    // Loadable again (the control device name is free).
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn rustfsd_answers_today_as_its_dispatch_dictates() {
    let mut s = Session::new();
    s.add_disk("Disk0", DiskModel::from_bytes(vec![0; 1 << 20]));
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    let pid = s.initial_process();
    // The control device opens (with no context) and takes no user FSCTL.
    let control = s.nt_create_file(pid, &CreateRequest::open("\\RustFsd"));
    assert_eq!(control.status, NtStatus::SUCCESS);
    let control = control.handle.unwrap();
    assert_eq!(
        s.fs_control_file(control, 0x0009_0028, &[], 0).status,
        NtStatus::INVALID_DEVICE_REQUEST
    );
    s.close_handle(control);
    let volume = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\"));
    assert_eq!(volume.status, NtStatus::UNRECOGNIZED_VOLUME);
    assert!(
        s.trace()
            .iter()
            .any(|l| l.contains("IRP_MJ_FileSystemControl ->")),
        "mount was asked"
    );
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn unload_is_refused_while_a_test_driver_volume_is_mounted() {
    let mut s = Session::new();
    let mut data = vec![0u8; 4096];
    data[..8].copy_from_slice(testfs::MAGIC);
    s.add_disk("Disk0", DiskModel::from_bytes(data));
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    s.load_driver(testfs::descriptor()).unwrap();
    let pid = s.initial_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0"))
        .handle
        .unwrap();
    // TestFs withdrew its DriverUnload through crate::driver::volume_mounted.
    assert_eq!(s.unload_driver("testfs"), NtStatus::INVALID_DEVICE_REQUEST);
    assert_eq!(s.stop_file_system("testfs"), NtStatus::DEVICE_BUSY);
    // rustfsd did not mount anything, so it may go.
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    s.dismount(h);
    s.close_handle(h);
    assert_eq!(s.stop_file_system("testfs"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn disk_faults_reach_the_file_system() {
    let mut s = Session::new();
    let mut data = vec![0u8; 4096];
    data[..8].copy_from_slice(testfs::MAGIC);
    let disk = s.add_disk("Disk0", DiskModel::from_bytes(data));
    s.load_driver(testfs::descriptor()).unwrap();
    let pid = s.initial_process();
    disk.inject_read_error(rustfsd::kernel::model::harness::ReadFault {
        offset: 0,
        length: 512,
        status: NtStatus(0xC000_009C_u32 as i32),
    });
    let failed = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0"));
    assert_eq!(
        failed.status,
        NtStatus::UNRECOGNIZED_VOLUME,
        "mount could not read the boot sector"
    );
    disk.clear_faults();
    disk.set_latency(5);
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0"))
        .handle
        .unwrap();
    assert!(disk.virtual_time() >= 5);
    s.close_handle(h);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn unload_with_open_file_objects_is_deferred_until_the_last_close() {
    let mut s = Session::new();
    s.add_disk("Disk0", DiskModel::from_bytes(vec![0; 4096]));
    s.load_driver(testfs::descriptor()).unwrap();
    let pid = s.initial_process();
    // An open of the control device keeps the driver: unload is accepted but deferred.
    let control = s
        .nt_create_file(pid, &CreateRequest::open("\\TestFs"))
        .handle
        .unwrap();
    let prepare = s.fs_control_file(control, rustfsd::driver::FSCTL_PREPARE_UNLOAD, &[], 0);
    assert_eq!(prepare.status, NtStatus::SUCCESS);
    assert_eq!(s.unload_driver("testfs"), NtStatus::SUCCESS);
    assert!(s.is_unload_pending("testfs"));
    assert!(s.is_loaded("testfs"));
    // New opens of its devices fail; the pending file system is not asked to mount.
    let again = s.nt_create_file(pid, &CreateRequest::open("\\TestFs"));
    assert_eq!(again.status, NtStatus(0xC000_000E_u32 as i32));
    // The last close runs DriverUnload.
    s.close_handle(control);
    assert!(!s.is_loaded("testfs"));
    assert!(s.trace().iter().any(|l| l == "unload testfs"));
    assert!(s.findings().is_empty(), "{:?}", s.findings());
    assert!(s.pool_usage().is_empty(), "{:?}", s.pool_usage());
}
