//! Stopping rustfsd: a registered file system never unloads through NtUnloadDriver alone (the
//! zombie `sc stop` leaves), so the supported stop is FSCTL_PREPARE_UNLOAD on `\RustFsd`, refused
//! while a volume remains, then NtUnloadDriver.

mod support;

use rustfsd::driver::FSCTL_PREPARE_UNLOAD;
use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DriverDescriptor, Handle, Session};
use support::machine::{DISK_NAME, dismount, finish, machine, open, open_ok};

const NO_SUCH_DEVICE: NtStatus = NtStatus(0xC000_000E_u32 as i32);

fn open_control(s: &mut Session) -> Handle {
    let pid = s.initial_process();
    let opened = s.nt_create_file(pid, &CreateRequest::open("\\RustFsd"));
    assert_eq!(opened.status, NtStatus::SUCCESS);
    opened.handle.unwrap()
}

fn ran_driver_unload(s: &Session) -> bool {
    s.trace().iter().any(|line| line == "unload rustfsd")
}

/// Model: IoRegisterFileSystem references the control device, so NtUnloadDriver succeeds but
/// only marks the driver unload-pending; DriverUnload never runs and the control device can no
/// longer be opened, so nothing can unregister it any more.
#[test]
fn a_plain_unload_of_a_registered_file_system_leaves_a_zombie() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    assert_eq!(s.unload_driver("rustfsd"), NtStatus::SUCCESS);
    assert!(s.is_unload_pending("rustfsd"));
    assert!(s.is_loaded("rustfsd"));
    assert!(!ran_driver_unload(&s));
    let pid = s.initial_process();
    let control = s.nt_create_file(pid, &CreateRequest::open("\\RustFsd"));
    assert_eq!(control.status, NO_SUCH_DEVICE);
    assert_eq!(s.stop_file_system("rustfsd"), NO_SUCH_DEVICE);
    assert!(s.is_loaded("rustfsd"));
}

/// The supported stop: the FSCTL unregisters the file system, so the disk is no longer offered
/// to rustfsd; the unload asked while its handle is open runs DriverUnload at its close, and
/// DriverUnload does not unregister a second time.
#[test]
fn prepare_unload_unregisters_and_the_unload_runs_at_the_handle_close() {
    let mut s = machine(&support::image("lifecycle"));
    let control = open_control(&mut s);
    let prepared = s.fs_control_file(control, FSCTL_PREPARE_UNLOAD, &[], 0);
    assert_eq!(prepared.status, NtStatus::SUCCESS);
    assert_eq!(
        open(&mut s, "\\hello.txt").status,
        NtStatus::UNRECOGNIZED_VOLUME
    );
    assert!(!s.is_mounted(DISK_NAME));
    assert_eq!(s.unload_driver("rustfsd"), NtStatus::SUCCESS);
    assert!(s.is_loaded("rustfsd"), "its handle is still open");
    s.close_handle(control);
    assert!(ran_driver_unload(&s));
    assert!(!s.is_loaded("rustfsd"));
    assert_eq!(s.findings(), []);
}

/// While a volume exists, mounted or dismounted with a handle left, the stop is refused with
/// STATUS_DEVICE_BUSY and the file system stays registered; it succeeds once the volume is
/// gone.
#[test]
fn prepare_unload_is_refused_while_a_volume_remains() {
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::DEVICE_BUSY);
    assert!(s.is_loaded("rustfsd"));
    assert!(!s.is_unload_pending("rustfsd"));
    dismount(&mut s);
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::DEVICE_BUSY);
    // Still registered: the disk mounts afresh.
    let again = open_ok(&mut s, "\\hello.txt");
    assert!(s.is_mounted(DISK_NAME));
    s.close_handle(again);
    s.close_handle(file);
    finish(s);
}

/// The control device admits only SYSTEM and Administrators, and FILE_DEVICE_SECURE_OPEN
/// extends that to names below it: a standard user can neither open `\RustFsd` (so cannot send
/// FSCTL_PREPARE_UNLOAD) nor slip past the check with `\RustFsd\x`.
#[test]
fn only_administrators_open_the_control_device() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    let user = s.create_standard_user_process();
    for path in ["\\RustFsd", "\\RustFsd\\x"] {
        let opened = s.nt_create_file(user, &CreateRequest::open(path));
        assert_eq!(opened.status, NtStatus::ACCESS_DENIED, "{path}");
    }
    let admin = s.initial_process();
    let opened = s.nt_create_file(admin, &CreateRequest::open("\\RustFsd"));
    assert_eq!(opened.status, NtStatus::SUCCESS);
    s.close_handle(opened.handle.unwrap());
    assert_eq!(s.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    assert_eq!(s.findings(), []);
}
