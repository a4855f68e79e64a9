//! IRP_MJ_CREATE reaches the driver with the full parameter set NtCreateFile was given.

use std::sync::Mutex;

use rustfsd::kernel::model::FO_SYNCHRONOUS_IO;
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DriverDescriptor, Session};
use rustfsd::kernel::request::{CreateParameters, FILE_OPEN_BY_FILE_ID, file_id_from_name};
use rustfsd::kernel::{DeviceRef, Irp, IrpMajor, NtStatus};

#[derive(Clone, Debug, Default)]
struct Seen {
    parameters: Option<CreateParameters>,
    name: Vec<u16>,
    related_name: Option<Vec<u16>>,
    flags: u32,
}

static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

fn records(_device: DeviceRef, irp: Irp) -> NtStatus {
    if let (Some(IrpMajor::Create), Some(fo)) = (irp.major(), irp.file_object()) {
        SEEN.lock().unwrap().push(Seen {
            parameters: irp.create_parameters(),
            name: fo.file_name(),
            related_name: fo.related_file_object().map(|r| r.file_name()),
            flags: fo.flags(),
        });
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn create_carries_every_parameter() {
    let mut s = Session::new();
    s.load_driver(DriverDescriptor::test_driver("params", records))
        .unwrap();
    let pid = s.initial_process();
    let mut request = CreateRequest::open("\\TestDriver\\dir");
    request.desired_access = 0x0010_0001;
    request.share_access = 5;
    request.disposition = 3; // FILE_OPEN_IF
    request.options = 0x0000_0021; // FILE_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT
    request.file_attributes = 0x10;
    request.allocation_size = 4096;
    request.ea = vec![0; 12];
    request.case_insensitive = false;
    let dir = s.nt_create_file(pid, &request).handle.unwrap();

    let mut child = CreateRequest::open("name.txt");
    child.root = Some(dir);
    child.options = 0;
    s.nt_create_file(pid, &child).handle.unwrap();

    let mut by_id = CreateRequest::open("");
    by_id.root = Some(dir);
    by_id.options = FILE_OPEN_BY_FILE_ID;
    by_id.file_id = Some(0x0011_2233_4455_6677);
    s.nt_create_file(pid, &by_id).handle.unwrap();

    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    let first = seen[0].parameters.clone().unwrap();
    assert_eq!(first.desired_access, 0x0010_0001);
    assert_eq!(first.share_access, 5);
    assert_eq!(first.disposition, 3);
    assert_eq!(first.options, 0x21);
    assert_eq!(first.file_attributes, 0x10);
    assert_eq!(first.allocation_size, 4096);
    assert_eq!(first.ea_length, 12);
    assert_eq!(first.stack_flags & 0x80, 0x80, "SL_CASE_SENSITIVE");
    assert_eq!(String::from_utf16(&seen[0].name).unwrap(), "\\dir");
    assert_eq!(seen[0].flags & FO_SYNCHRONOUS_IO, FO_SYNCHRONOUS_IO);

    assert_eq!(String::from_utf16(&seen[1].name).unwrap(), "name.txt");
    assert_eq!(
        seen[1]
            .related_name
            .as_deref()
            .map(|n| String::from_utf16(n).unwrap()),
        Some("\\dir".into())
    );
    assert_eq!(seen[1].flags & FO_SYNCHRONOUS_IO, 0);

    let third = seen[2].parameters.clone().unwrap();
    assert!(third.open_by_file_id());
    assert_eq!(
        file_id_from_name(&seen[2].name),
        Some(0x0011_2233_4455_6677)
    );
    assert!(s.findings().is_empty(), "{:?}", s.findings());
}
