//! The IRP trace: every IRP in and out, printed with DbgPrintEx at the info level of the
//! IHVDRIVER component, switched on by the TraceIrps service parameter at load or by
//! FSCTL_SET_IRP_TRACE on `\RustFsd` at run time. The model's debugger shows info-level lines
//! only once Kd_IHVDRIVER_Mask admits them, as Windows does.

mod support;

use rustfsd::driver::{FSCTL_SET_IRP_TRACE, TRACE_IRPS_PARAMETER};
use rustfsd::kernel::NtStatus;
use rustfsd::kernel::debug_output::DPFLTR_IHVDRIVER_ID;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DriverDescriptor, Handle, Session};
use support::machine::{DISK_NAME, disk, finish, machine, open_ok};

/// Kd_IHVDRIVER_Mask with DPFLTR_INFO_LEVEL's bit.
const INFO_MASK: u32 = 0x8;

fn open_control(s: &mut Session) -> Handle {
    let pid = s.initial_process();
    let opened = s.nt_create_file(pid, &CreateRequest::open("\\RustFsd"));
    assert_eq!(opened.status, NtStatus::SUCCESS);
    opened.handle.unwrap()
}

fn set_trace(s: &mut Session, control: Handle, input: &[u8]) -> (NtStatus, Vec<u8>) {
    let io = s.fs_control_file(control, FSCTL_SET_IRP_TRACE, input, 4);
    let data = io.data[..io.information].to_vec();
    (io.status, data)
}

/// Lines of the trace, without the IRP and FILE_OBJECT numbers.
fn shape(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            line.split(" irp ").next().unwrap().to_string()
                + line.split_once(" status ").map_or("", |(_, s)| s)
        })
        .collect()
}

#[test]
fn the_parameter_traces_every_irp_once_the_debugger_mask_admits_it() {
    let mut s = Session::new();
    s.add_disk(DISK_NAME, disk(&support::image("ext4")));
    s.set_driver_parameter("rustfsd", TRACE_IRPS_PARAMETER, 1);
    s.load_driver(DriverDescriptor::rustfsd()).unwrap();
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
    assert_eq!(
        s.debugger_output(),
        Vec::<String>::new(),
        "info-level output is filtered out by default"
    );

    s.set_debug_filter_mask(DPFLTR_IHVDRIVER_ID, INFO_MASK);
    let all = s.debugger_output();
    let ins = all.iter().filter(|l| l.starts_with("rustfsd: > ")).count();
    let outs = all.iter().filter(|l| l.starts_with("rustfsd: < ")).count();
    assert_eq!(ins, outs, "{all:#?}");
    let shapes = shape(&all);
    for expected in [
        "rustfsd: > IRP_MJ_FILE_SYSTEM_CONTROL minor 0x01",
        "rustfsd: < IRP_MJ_FILE_SYSTEM_CONTROL0x00000000",
        "rustfsd: > IRP_MJ_CREATE minor 0x00",
        "rustfsd: < IRP_MJ_CREATE0x00000000",
        "rustfsd: > IRP_MJ_CLEANUP minor 0x00",
        "rustfsd: > IRP_MJ_CLOSE minor 0x00",
    ] {
        assert!(shapes.iter().any(|l| l == expected), "{expected}: {all:#?}");
    }
    // The mount request goes to the control device, and says so.
    assert!(all[0].ends_with("(control device)"), "{}", all[0]);
    let unhandled = s.nt_create_file(
        s.initial_process(),
        &CreateRequest::open("\\Device\\Disk0\\missing"),
    );
    assert_eq!(unhandled.status, NtStatus::OBJECT_NAME_NOT_FOUND);
    assert!(
        s.debugger_output()
            .last()
            .unwrap()
            .ends_with("status 0xc0000034"),
        "the way out carries the status"
    );
    finish(s);
}

#[test]
fn the_fsctl_switches_the_trace_at_run_time() {
    let mut s = machine(&support::image("ext4"));
    s.set_debug_filter_mask(DPFLTR_IHVDRIVER_ID, INFO_MASK);
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    assert!(s.debugger_output().is_empty(), "off by default");

    let control = open_control(&mut s);
    for bad in [&[1u8, 0, 0][..], &[2, 0, 0, 0], &[1, 0, 0, 0, 0], &[]] {
        assert_eq!(
            set_trace(&mut s, control, bad).0,
            NtStatus::INVALID_PARAMETER,
            "{bad:?}"
        );
    }
    assert_eq!(
        set_trace(&mut s, control, &1u32.to_le_bytes()),
        (NtStatus::SUCCESS, 0u32.to_le_bytes().to_vec()),
        "on; it was off"
    );
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    let traced = s.debugger_output().len();
    assert!(
        shape(&s.debugger_output()).contains(&"rustfsd: > IRP_MJ_CREATE minor 0x00".to_string())
    );
    assert_eq!(
        set_trace(&mut s, control, &0u32.to_le_bytes()),
        (NtStatus::SUCCESS, 1u32.to_le_bytes().to_vec()),
        "off; it was on"
    );
    let after_off = s.debugger_output().len();
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    assert_eq!(s.debugger_output().len(), after_off, "off again");
    assert!(
        after_off > traced,
        "the switching FSCTL itself was traced going in"
    );
    s.close_handle(control);
    finish(s);
}

#[test]
fn only_administrators_can_switch_the_trace() {
    let mut s = machine(&support::image("ext4"));
    let user = s.create_standard_user_process();
    let opened = s.nt_create_file(user, &CreateRequest::open("\\RustFsd"));
    assert_eq!(opened.status, NtStatus::ACCESS_DENIED);
    finish(s);
}
