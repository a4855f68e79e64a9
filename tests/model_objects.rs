//! Object manager and I/O manager behaviour of the NT model, against documented Windows rules:
//! handle count vs reference count, DuplicateHandle, process exit, system references, mount
//! selection, unload refusal.

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, Session, testfs};

fn testfs_image() -> DiskModel {
    let mut data = vec![0u8; 64 * 1024];
    data[..8].copy_from_slice(testfs::MAGIC);
    for (i, byte) in data.iter_mut().enumerate().skip(512) {
        *byte = (i % 251) as u8;
    }
    DiskModel::from_bytes(data)
}

fn machine() -> Session {
    let mut session = Session::new();
    session.add_disk("Disk0", testfs_image());
    session.load_driver(testfs::descriptor()).unwrap();
    session
}

/// IRPs of one major seen in the trace so far, e.g. "IRP_MJ_Cleanup".
fn irps(session: &Session, major: &str) -> usize {
    let needle = format!("IRP_MJ_{major} ->");
    session
        .trace()
        .iter()
        .filter(|line| line.contains(&needle))
        .count()
}

#[test]
fn handles_and_references_are_counted_separately() {
    let mut s = machine();
    let pid = s.initial_process();
    let open = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\file"));
    assert_eq!(open.status, NtStatus::SUCCESS);
    let h = open.handle.unwrap();
    assert_eq!(s.counts(h), Some((1, 1)));
    let reference = s.system_reference(h).unwrap();
    assert_eq!(s.counts(h), Some((2, 1)));
    s.close_handle(h);
    // Last handle: CLEANUP now; the system reference keeps the FILE_OBJECT, so no CLOSE.
    assert_eq!(irps(&s, "Cleanup"), 1);
    assert_eq!(irps(&s, "Close"), 0);
    assert_eq!(s.file_object_count(), 1);
    s.release_later(reference);
    assert_eq!(
        irps(&s, "Close"),
        0,
        "CLOSE must wait for the worker thread"
    );
    assert_eq!(s.run_worker(), 1);
    assert_eq!(irps(&s, "Close"), 1);
    assert!(
        s.trace().iter().any(|l| l.starts_with("t1: IRP_MJ_Close")),
        "CLOSE on the worker"
    );
    assert_eq!(s.file_object_count(), 0);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn duplicate_handle_sends_no_irp() {
    let mut s = machine();
    let pid = s.initial_process();
    let other = s.create_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\f"))
        .handle
        .unwrap();
    let before = s.trace().iter().filter(|l| l.contains("IRP_MJ_")).count();
    let dup = s.duplicate_handle(h, other).unwrap();
    let after = s.trace().iter().filter(|l| l.contains("IRP_MJ_")).count();
    assert_eq!(before, after, "DuplicateHandle sent an IRP");
    assert_eq!(s.counts(dup), Some((2, 2)));
    s.close_handle(h);
    assert_eq!(
        irps(&s, "Cleanup"),
        0,
        "CLEANUP before the last handle closed"
    );
    assert_eq!(s.counts(dup), Some((1, 1)));
    s.close_handle(dup);
    assert_eq!(irps(&s, "Cleanup"), 1);
    assert_eq!(irps(&s, "Close"), 1);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn process_exit_closes_every_handle() {
    let mut s = machine();
    let p1 = s.create_process();
    let p2 = s.create_process();
    let a = s
        .nt_create_file(p1, &CreateRequest::open("\\Device\\Disk0\\a"))
        .handle
        .unwrap();
    let _b = s
        .nt_create_file(p1, &CreateRequest::open("\\Device\\Disk0\\b"))
        .handle
        .unwrap();
    let a2 = s.duplicate_handle(a, p2).unwrap();
    assert_eq!(s.terminate_process(p1), NtStatus::SUCCESS);
    // b had its only handle in p1: CLEANUP + CLOSE. a lives on through p2's handle.
    assert_eq!(irps(&s, "Cleanup"), 1);
    assert_eq!(irps(&s, "Close"), 1);
    assert_eq!(s.counts(a2), Some((1, 1)));
    assert_eq!(
        s.close_handle(a),
        NtStatus(0xC000_0008_u32 as i32),
        "p1's handles are gone"
    );
    s.terminate_process(p2);
    assert_eq!(irps(&s, "Close"), 2);
    assert_eq!(s.file_object_count(), 0);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn related_file_object_is_referenced_until_the_child_closes() {
    let mut s = machine();
    let pid = s.initial_process();
    let dir = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\dir"))
        .handle
        .unwrap();
    let mut child = CreateRequest::open("file");
    child.root = Some(dir);
    let f = s.nt_create_file(pid, &child).handle.unwrap();
    assert_eq!(s.counts(dir), Some((2, 1)));
    s.close_handle(dir);
    assert_eq!(
        irps(&s, "Close"),
        0,
        "the parent is still referenced by the child"
    );
    s.close_handle(f);
    assert_eq!(irps(&s, "Close"), 2);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn read_uses_an_mdl_and_the_current_position() {
    let mut s = machine();
    let pid = s.initial_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\f"))
        .handle
        .unwrap();
    let first = s.read_file(h, Some(512), 16);
    assert_eq!(first.status, NtStatus::SUCCESS);
    assert_eq!(
        first.data,
        (512..528).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    let next = s.read_file(h, None, 4);
    assert_eq!(
        next.data,
        (528..532).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    s.disk("Disk0").unwrap().set_short_read(Some(3));
    assert_eq!(s.read_file(h, Some(600), 16).information, 3);
    s.close_handle(h);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

fn other_fs_dispatch(_device: rustfsd::kernel::DeviceRef, irp: rustfsd::kernel::Irp) -> NtStatus {
    irp.complete(NtStatus::UNRECOGNIZED_VOLUME)
}

fn other_fs_entry(driver: &mut rustfsd::kernel::DriverObject) -> Result<(), NtStatus> {
    let control = driver
        .create_control_device("\\OtherFs", rustfsd::driver::DriverGlobals::try_default()?)?;
    driver.install_dispatch();
    control.register_file_system();
    driver.set_unload_allowed(true);
    Ok(())
}

#[test]
fn mount_asks_each_file_system_most_recent_first_and_low_priority_ones_last() {
    let mut s = Session::new();
    s.add_disk("Disk0", testfs_image());
    s.add_disk("Blank", DiskModel::from_bytes(vec![0; 4096]));
    s.load_driver(testfs::descriptor()).unwrap();
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    s.load_driver(DriverDescriptor {
        name: "otherfs",
        entry: other_fs_entry,
        dispatch: other_fs_dispatch,
        unload: rustfsd::driver::unload,
        fast_io: None,
    })
    .unwrap();
    let pid = s.initial_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\x"))
        .handle;
    assert!(h.is_some());
    assert!(s.is_mounted("Disk0"));
    // otherfs (newest) refuses, then testfs accepts; rustfsd registered with
    // DO_LOW_PRIORITY_FILESYSTEM, so it is queued last and never asked.
    assert_eq!(s.file_systems_asked(), ["otherfs", "testfs"]);
    let mounts: Vec<String> = s
        .trace()
        .into_iter()
        .filter(|l| l.contains("IRP_MJ_FileSystemControl <-"))
        .collect();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    assert!(mounts[1].contains("0x00000000"), "{mounts:?}");
    let blank = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Blank\\x"));
    assert_eq!(blank.status, NtStatus::UNRECOGNIZED_VOLUME);
    assert!(!s.is_mounted("Blank"));
    // A second open reuses the mounted volume: no new mount request.
    s.nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\y"));
    let mounts = s
        .trace()
        .iter()
        .filter(|l| l.contains("IRP_MJ_FileSystemControl <-"))
        .count();
    // The blank disk: all three asked, none accepts.
    assert_eq!(mounts, 2 + 3);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn unload_is_refused_while_a_volume_is_mounted() {
    let mut s = machine();
    let pid = s.initial_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0"))
        .handle
        .unwrap();
    assert_eq!(s.unload_driver("testfs"), NtStatus::INVALID_DEVICE_REQUEST);
    assert!(s.is_loaded("testfs"));
    assert_eq!(s.dismount(h), NtStatus::SUCCESS);
    s.close_handle(h);
    assert!(!s.is_mounted("Disk0"));
    assert_eq!(s.stop_file_system("testfs"), NtStatus::SUCCESS);
    assert!(!s.is_loaded("testfs"));
    assert!(s.findings().is_empty(), "{:?}", s.findings());
    assert!(s.pool_usage().is_empty(), "{:?}", s.pool_usage());
}

#[test]
fn failed_create_sends_no_close() {
    let mut s = machine();
    let pid = s.initial_process();
    let missing = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Nothing\\x"));
    assert_eq!(missing.status, NtStatus::OBJECT_NAME_NOT_FOUND);
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0"))
        .handle
        .unwrap();
    s.dismount(h);
    let after = s.nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\late"));
    assert_eq!(after.status, NtStatus::VOLUME_DISMOUNTED);
    assert_eq!(irps(&s, "Create"), 2);
    assert_eq!(irps(&s, "Close"), 0);
    s.close_handle(h);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}

#[test]
fn filter_contexts_are_torn_down_with_the_fcb() {
    let mut s = machine();
    s.set_filter_attach_contexts(true);
    let pid = s.initial_process();
    let h = s
        .nt_create_file(pid, &CreateRequest::open("\\Device\\Disk0\\f"))
        .handle
        .unwrap();
    assert!(s.pool_usage().iter().any(|(tag, _)| tag == "FMsc"));
    s.close_handle(h);
    assert!(s.trace().iter().any(|l| l.starts_with("filter: CLOSE")));
    assert!(s.pool_usage().is_empty(), "{:?}", s.pool_usage());
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}
