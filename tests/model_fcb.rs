//! The FCB and FsContext/FsContext2 boundary (`FcbArc`, `FileObject::{attach,detach}_{fcb,ccb}`)
//! in the NT model: the FILE_OBJECT holds exactly one counted reference, taken back once at
//! CLOSE; the FCB's header is set up at construction and torn down by its last reference.

use std::sync::Mutex;

use rustfsd::kernel::model::harness::{DriverDescriptor, FindingKind, Session};
use rustfsd::kernel::model::{
    self as k, Event, FcbArc, PoolArc, PoolTag, enter_file_system, queue_work_item,
};
use rustfsd::kernel::{DeviceRef, FastIoPossible, FileSizes, Irp, IrpMajor, NtStatus};

const FCB_TAG: PoolTag = PoolTag(*b"MFcb");
const CCB_TAG: PoolTag = PoolTag(*b"MCcb");

struct Fcb {
    serial: u32,
}

struct Ccb;

/// Another FCB type, to check that a detach names the type it attached.
struct OtherFcb;

fn descriptor(name: &'static str, dispatch: fn(DeviceRef, Irp) -> NtStatus) -> DriverDescriptor {
    DriverDescriptor::test_driver(name, dispatch)
}

/// What the correct driver observed, for the test to check after the run.
static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn seen(line: String) {
    SEEN.lock().unwrap().push(line);
}

/// Uses the FCB boundary as a file system must: attach at CREATE, borrow in READ, detach at
/// CLOSE, and checks every rule it can see on the way.
fn careful(_device: DeviceRef, irp: Irp) -> NtStatus {
    let _region = enter_file_system();
    let Some(fo) = irp.file_object() else {
        return irp.complete(NtStatus::SUCCESS);
    };
    match irp.major() {
        Some(IrpMajor::Create) => {
            let fcb = FcbArc::try_new(FCB_TAG, Fcb { serial: 7 }).unwrap();
            fcb.set_file_sizes(FileSizes {
                allocation_size: 4096,
                file_size: 100,
                valid_data_length: 100,
            });
            fcb.set_fast_io_possible(FastIoPossible::Questionable);
            let ccb = PoolArc::try_new(CCB_TAG, Ccb).unwrap();
            assert!(fo.attach_fcb(fcb).is_ok());
            assert!(fo.attach_ccb(ccb).is_ok());
            // A second attach gives the reference back instead of overwriting (and leaking)
            // the first; dropping it frees that second FCB/CCB at once.
            let again = FcbArc::try_new(FCB_TAG, Fcb { serial: 8 }).unwrap();
            let again = fo.attach_fcb(again).map(|()| 0).unwrap_err();
            assert_eq!(again.serial, 8);
            let ccb_again = PoolArc::try_new(CCB_TAG, Ccb).unwrap();
            assert!(fo.attach_ccb(ccb_again).is_err());
            // Asking for the wrong type finds nothing and leaves FsContext alone.
            assert!(fo.fcb::<OtherFcb>().is_none());
            assert!(fo.detach_fcb::<OtherFcb>().is_none());
            assert!(fo.fcb::<Fcb>().is_some());
        }
        Some(IrpMajor::Read) => {
            let fcb = fo.fcb::<Fcb>().unwrap();
            let _shared = fcb.resource().acquire_shared(true).unwrap();
            seen(format!(
                "read serial {} sizes {:?} fast io {:?}",
                fcb.serial,
                fcb.file_sizes(),
                fcb.fast_io_possible()
            ));
            assert!(fo.ccb::<Ccb>().is_some());
        }
        Some(IrpMajor::Close) => {
            assert!(fo.detach_ccb::<Ccb>().is_some());
            let fcb = fo.detach_fcb::<Fcb>().unwrap();
            assert_eq!(fcb.serial, 7);
            // Taken back exactly once.
            assert!(fo.detach_fcb::<Fcb>().is_none());
            assert!(fo.detach_ccb::<Ccb>().is_none());
            assert!(fo.fcb::<Fcb>().is_none());
            seen(String::from("closed"));
            drop(fcb);
        }
        _ => {}
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn the_fcb_boundary_used_correctly_has_no_findings_even_with_late_system_references() {
    SEEN.lock().unwrap().clear();
    let mut s = Session::new();
    s.set_filter_attach_contexts(true);
    s.load_driver(descriptor("careful", careful)).unwrap();
    let h = s.open_test_driver().handle.unwrap();
    s.read_file(h, Some(0), 16);
    // Mm keeps a reference and drops it later on the worker: the FCB (with the filter's
    // per-stream context) must survive the handle's CLEANUP until that CLOSE.
    let reference = s.system_reference(h).unwrap();
    s.close_handle(h);
    assert!(!SEEN.lock().unwrap().iter().any(|l| l == "closed"));
    s.release_later(reference);
    assert_eq!(s.run_worker(), 1);
    assert_eq!(s.unload_driver("careful"), NtStatus::SUCCESS);
    assert!(s.findings().is_empty(), "{:?}", s.findings());
    let seen = SEEN.lock().unwrap().clone();
    assert!(
        seen.iter().any(|l| l.contains(
            "read serial 7 sizes FileSizes { allocation_size: 4096, file_size: 100, \
             valid_data_length: 100 } fast io Questionable"
        )),
        "{seen:?}"
    );
    assert!(seen.iter().any(|l| l == "closed"), "{seen:?}");
    assert!(
        s.trace()
            .iter()
            .any(|l| l.contains("filter: attached context")),
        "the filter attached a per-stream context, which the FCB's last drop tore down"
    );
    assert!(
        s.trace()
            .iter()
            .any(|l| l.starts_with("filter: CLOSE of FO") && l.contains("saw FCB")),
        "the filter observer read FsContext as the FCB header at CLOSE"
    );
}

/// Forgets to take the FILE_OBJECT's references back at CLOSE.
fn never_detaches(_device: DeviceRef, irp: Irp) -> NtStatus {
    if let (Some(IrpMajor::Create), Some(fo)) = (irp.major(), irp.file_object()) {
        assert!(
            fo.attach_fcb(FcbArc::try_new(FCB_TAG, Fcb { serial: 1 }).unwrap())
                .is_ok()
        );
        assert!(
            fo.attach_ccb(PoolArc::try_new(CCB_TAG, Ccb).unwrap())
                .is_ok()
        );
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn an_fcb_never_detached_is_a_leak_named_by_tag() {
    let mut s = Session::new();
    s.load_driver(descriptor("leaky", never_detaches)).unwrap();
    let h = s.open_test_driver().handle.unwrap();
    s.close_handle(h);
    s.unload_driver("leaky");
    let findings: Vec<FindingKind> = s.findings().into_iter().map(|f| f.kind).collect();
    for tag in ["MFcb", "MCcb"] {
        assert!(
            findings
                .iter()
                .any(|f| matches!(f, FindingKind::PoolLeak { tag: t, .. } if t == tag)),
            "{tag}: {findings:?}"
        );
    }
}

#[test]
fn fcb_header_values_round_trip_and_clamp_outside_a_kernel() {
    let fcb = FcbArc::try_new(FCB_TAG, Fcb { serial: 3 }).unwrap();
    assert_eq!(fcb.file_sizes(), FileSizes::default());
    assert_eq!(fcb.fast_io_possible(), FastIoPossible::NotPossible);
    fcb.set_file_sizes(FileSizes {
        allocation_size: u64::MAX,
        file_size: 10,
        valid_data_length: 5,
    });
    assert_eq!(
        fcb.file_sizes(),
        FileSizes {
            allocation_size: i64::MAX as u64,
            file_size: 10,
            valid_data_length: 5,
        }
    );
    let clone = fcb.clone();
    clone.set_fast_io_possible(FastIoPossible::Possible);
    assert_eq!(fcb.fast_io_possible(), FastIoPossible::Possible);
    assert_eq!(clone.serial, 3);
    for value in [
        FastIoPossible::NotPossible,
        FastIoPossible::Possible,
        FastIoPossible::Questionable,
    ] {
        assert_eq!(FastIoPossible::from_raw(value.as_raw()), value);
    }
    assert_eq!(FastIoPossible::from_raw(9), FastIoPossible::NotPossible);
}

#[test]
fn the_fallible_constructors_succeed_in_the_model() {
    assert!(k::Resource::try_new().is_ok());
    assert!(k::FastMutex::try_new().is_ok());
    assert!(Event::try_notification(true).unwrap().is_signaled());
    assert!(!Event::try_synchronization(false).unwrap().is_signaled());
}

#[test]
fn a_work_item_that_cannot_be_queued_comes_back_unrun() {
    // Outside any modelled kernel there is no worker: the routine is given back.
    let event = Event::try_notification(false).unwrap();
    let setter = event.clone();
    let Err((status, routine)) = queue_work_item(move || setter.set()) else {
        panic!("queued with no kernel");
    };
    assert_eq!(status, NtStatus::UNSUCCESSFUL);
    assert!(!event.is_signaled());
    routine();
    assert!(event.is_signaled());
}
