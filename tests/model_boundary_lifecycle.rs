//! The boundary items added for the file system's lifecycle, in the NT model: `Locked<T>`,
//! `StreamFileObject`, `FcbArc::{is_unique, oplock, unlock_all}`,
//! `Irp::complete_reparse`, IRP_MN_VERIFY_VOLUME, shutdown notification, driver parameters and
//! the VPB identity, plus the harness around them (shutdown, verify, pool statistics, trace).

use std::sync::Mutex;

use rustfsd::driver::DriverGlobals;
use rustfsd::kernel::model::harness::scenario::{Runner, parse};
use rustfsd::kernel::model::harness::session::CreateRequest;
use rustfsd::kernel::model::harness::{DiskModel, DriverDescriptor, FindingKind, Session};
use rustfsd::kernel::model::{
    FO_STREAM_FILE, FcbArc, Locked, PoolTag, StreamFileObject, enter_file_system,
};
use rustfsd::kernel::{DeviceRef, DriverObject, Irp, IrpMajor, NtStatus, VolumeDevice};

const DRIVER: &str = "lifecycle";
const FCB_TAG: PoolTag = PoolTag(*b"LFcb");
const MAGIC: &[u8; 8] = b"VOLMAGIC";
const REPARSE_TAG: u32 = 0xA000_000C;
const QUERY_DROP_STREAM: u32 = 100;
const QUERY_REPARSE: u32 = 101;
const LABEL: &str = "a label that is longer than thirty-two characters";

/// Tests share the driver's statics: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());
/// What the driver saw, in order.
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Volume devices the driver created (deleted at unload).
static VOLUMES: Mutex<Vec<VolumeDevice>> = Mutex::new(Vec::new());
/// A stream file object the driver keeps between requests.
static KEPT_STREAM: Mutex<Option<StreamFileObject>> = Mutex::new(None);
/// The parameter DriverEntry read.
static PARAMETER: Mutex<Option<u32>> = Mutex::new(None);
/// IRP_MJ_SHUTDOWN: pend and lose the IRP instead of completing it.
static SHUTDOWN_LOSES_IRP: Mutex<bool> = Mutex::new(false);

fn log(line: impl Into<String>) {
    LOG.lock().unwrap().push(line.into());
}

fn take_log() -> Vec<String> {
    std::mem::take(&mut *LOG.lock().unwrap())
}

fn reset() -> std::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    take_log();
    VOLUMES.lock().unwrap().clear();
    *KEPT_STREAM.lock().unwrap() = None;
    *PARAMETER.lock().unwrap() = None;
    *SHUTDOWN_LOSES_IRP.lock().unwrap() = false;
    guard
}

/// The volume's extension: the first 16 bytes of the disk at mount (what verify compares).
struct VolumeIdentity([u8; 16]);

struct StreamFcb;
struct FileFcb;

fn descriptor() -> DriverDescriptor {
    DriverDescriptor {
        name: DRIVER,
        entry,
        dispatch,
        unload,
        fast_io: None,
    }
}

fn entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    *PARAMETER.lock().unwrap() = driver.parameter_u32("MaxOpens");
    let control = driver.create_control_device("\\Lifecycle", DriverGlobals::try_default()?)?;
    driver.install_dispatch();
    rustfsd::driver::register_file_system(&control);
    control.register_shutdown_notification()?;
    driver.set_unload_allowed(true);
    Ok(())
}

fn unload(driver: &mut DriverObject) {
    for volume in VOLUMES.lock().unwrap().drain(..) {
        // Its own VPB reference goes, and a VPB the disk no longer uses is freed.
        assert!(volume.release_vpb(), "a VPB reference outlived every open");
        volume.delete();
    }
    if let Some(control) = driver.control_device() {
        control.unregister_shutdown_notification();
        rustfsd::driver::unregister_file_system(&control);
        control.delete();
    }
}

fn read_identity(target: rustfsd::kernel::TargetDevice) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    let read = target.read(0, &mut bytes).ok()?;
    (read == 16 && &bytes[..8] == MAGIC).then_some(bytes)
}

fn dispatch(device: DeviceRef, irp: Irp) -> NtStatus {
    let _region = enter_file_system();
    match irp.major() {
        Some(IrpMajor::FileSystemControl) => file_system_control(device, irp),
        Some(IrpMajor::Create) => create(device, irp),
        Some(IrpMajor::Cleanup) => {
            if let Some(fcb) = irp.file_object().and_then(|fo| fo.fcb::<FileFcb>()) {
                fcb.oplock().cleanup(&irp);
                fcb.unlock_all(&irp);
            }
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::Close) => {
            if let Some(fo) = irp.file_object() {
                let stream = fo.flags() & FO_STREAM_FILE != 0;
                if fo.detach_fcb::<StreamFcb>().is_some() {
                    log(format!("close stream={stream}"));
                } else if fo.detach_fcb::<FileFcb>().is_some() {
                    log("close file");
                }
            }
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::QueryInformation) => match irp.parameters() {
            rustfsd::kernel::IrpParameters::QueryInformation {
                class: QUERY_DROP_STREAM,
                ..
            } => {
                let stream = KEPT_STREAM.lock().unwrap().take();
                drop(stream);
                log("dropped kept stream");
                irp.complete(NtStatus::SUCCESS)
            }
            rustfsd::kernel::IrpParameters::QueryInformation {
                class: QUERY_REPARSE,
                ..
            } => irp.complete_reparse(REPARSE_TAG, b"wrong place"),
            _ => irp.complete(NtStatus::INVALID_PARAMETER),
        },
        Some(IrpMajor::Shutdown) => {
            log("shutdown");
            if *SHUTDOWN_LOSES_IRP.lock().unwrap() {
                let mut irp = irp;
                irp.mark_pending();
                drop(irp);
                return NtStatus::PENDING;
            }
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
}

fn file_system_control(device: DeviceRef, irp: Irp) -> NtStatus {
    if device.is_control_device()
        && let rustfsd::kernel::IrpParameters::FileSystemControl {
            code: rustfsd::driver::FSCTL_PREPARE_UNLOAD,
            ..
        } = irp.parameters()
    {
        let status = rustfsd::driver::prepare_unload(device);
        return irp.complete(status);
    }
    if let Some(mount) = irp.mount_request() {
        let Some(identity) = read_identity(mount.target) else {
            return irp.complete(NtStatus::UNRECOGNIZED_VOLUME);
        };
        let Some(mut driver) = device.driver_object() else {
            return irp.complete(NtStatus::UNSUCCESSFUL);
        };
        assert_eq!(
            driver.parameter_u32("MaxOpens"),
            None,
            "only in DriverEntry"
        );
        let volume = match driver.create_volume_device(&mount, VolumeIdentity(identity)) {
            Ok(volume) => volume,
            Err(status) => return irp.complete(status),
        };
        let label: Vec<u16> = LABEL.encode_utf16().collect();
        volume.set_vpb_identity(u32::from_le_bytes([identity[8], identity[9], 0, 0]), &label);
        volume.reference_vpb();
        VOLUMES.lock().unwrap().push(volume);
        log("mount");
        return irp.complete(NtStatus::SUCCESS);
    }
    if let Some(verify) = irp.verify_request() {
        let now = read_identity(verify.target);
        let then = device.with_extension::<VolumeIdentity, _>(|v| v.0);
        let same = now.is_some() && now == then;
        log(format!("verify same={same}"));
        return irp.complete(if same {
            NtStatus::SUCCESS
        } else {
            NtStatus::WRONG_VOLUME
        });
    }
    irp.complete(NtStatus::INVALID_DEVICE_REQUEST)
}

fn create(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(volume) = VolumeDevice::from_device(device) else {
        return irp.complete(NtStatus::SUCCESS); // the control device
    };
    let Some(fo) = irp.file_object() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let name = String::from_utf16_lossy(&fo.file_name());
    match name.trim_start_matches('\\') {
        "stream" => {
            let stream = StreamFileObject::try_create(&volume).unwrap();
            let fcb = FcbArc::try_new(FCB_TAG, StreamFcb).unwrap();
            assert!(stream.file_object().attach_fcb(fcb).is_ok());
            log("stream created");
            drop(stream);
            log("stream dropped");
            irp.complete(NtStatus::SUCCESS)
        }
        "keep-stream" => {
            let stream = StreamFileObject::try_create(&volume).unwrap();
            let fcb = FcbArc::try_new(FCB_TAG, StreamFcb).unwrap();
            assert!(stream.file_object().attach_fcb(fcb).is_ok());
            *KEPT_STREAM.lock().unwrap() = Some(stream);
            irp.complete(NtStatus::SUCCESS)
        }
        "reparse" => irp.complete_reparse(REPARSE_TAG, b"\\target"),
        "locked" => {
            locked_rules();
            irp.complete(NtStatus::SUCCESS)
        }
        _ => {
            let fcb = FcbArc::try_new(FCB_TAG, FileFcb).unwrap();
            assert!(fcb.is_unique());
            let second = fcb.clone();
            assert!(!fcb.is_unique() && !second.is_unique());
            drop(second);
            assert!(fcb.is_unique());
            assert!(fo.attach_fcb(fcb).is_ok());
            let borrowed = fo.fcb::<FileFcb>().unwrap();
            assert!(!borrowed.is_unique(), "FsContext's reference counts");
            irp.complete(NtStatus::SUCCESS)
        }
    }
}

/// `Locked<T>` as a dispatch routine uses it; records what it saw.
fn locked_rules() {
    let mut counter = Locked::try_new(0u32).unwrap();
    *counter.get_mut() = 5;
    {
        let mut guard = counter.lock().unwrap();
        *guard += 1;
        log(format!(
            "irql while held {}",
            rustfsd::kernel::current_irql()
        ));
        log(format!(
            "try_lock while held: {}",
            counter.try_lock().is_some()
        ));
    }
    log(format!("irql after {}", rustfsd::kernel::current_irql()));
    let value = *counter.try_lock().unwrap();
    log(format!("value {value}"));
}

fn machine() -> Session {
    let mut session = Session::new();
    let mut image = vec![0u8; 64 * 1024];
    image[..8].copy_from_slice(MAGIC);
    image[8..16].copy_from_slice(b"\x34\x12genone");
    session.add_disk("Disk0", DiskModel::from_bytes(image));
    session
}

fn open(
    session: &mut Session,
    path: &str,
) -> rustfsd::kernel::model::harness::session::CreateResult {
    let pid = session.initial_process();
    session.nt_create_file(pid, &CreateRequest::open(path))
}

#[test]
fn stream_file_object_close_comes_inside_the_drop() {
    let (_serial, mut session) = loaded();
    let result = open(&mut session, "\\Device\\Disk0\\stream");
    assert_eq!(result.status, NtStatus::SUCCESS);
    assert_eq!(
        take_log(),
        [
            "mount",
            "stream created",
            "close stream=true",
            "stream dropped"
        ]
    );
    assert!(session.stream_file_objects().is_empty());
    let trace = session.trace();
    assert!(
        trace
            .iter()
            .any(|l| l.starts_with("IoCreateStreamFileObjectEx2"))
    );
    assert!(
        trace.iter().any(|l| l.starts_with("filter: CLOSE of FO")),
        "{trace:#?}"
    );
    session.close_handle(result.handle.unwrap());
    assert_eq!(session.findings(), []);
}

#[test]
fn stream_file_object_referenced_by_mm_closes_later_on_the_worker() {
    let (_serial, mut session) = loaded();
    let result = open(&mut session, "\\Device\\Disk0\\keep-stream");
    let handle = result.handle.unwrap();
    let streams = session.stream_file_objects();
    assert_eq!(streams.len(), 1);
    let mm = session.system_reference_object(streams[0]).unwrap();
    take_log();
    // The driver lets go of its stream: Mm still holds the FILE_OBJECT, so no CLOSE yet.
    let outcome = session.query_information_irp(handle, QUERY_DROP_STREAM, 0);
    assert_eq!(outcome.status, NtStatus::SUCCESS);
    assert_eq!(take_log(), ["dropped kept stream"]);
    assert_eq!(session.stream_file_objects().len(), 1);
    session.release_later(mm);
    assert_eq!(session.run_worker(), 1);
    assert_eq!(take_log(), ["close stream=true"]);
    assert!(session.stream_file_objects().is_empty());
    session.close_handle(handle);
    assert_eq!(session.findings(), []);
}

#[test]
fn stream_file_objects_keep_the_driver_until_their_close() {
    let (_serial, mut session) = loaded();
    let handle = open(&mut session, "\\Device\\Disk0\\keep-stream")
        .handle
        .unwrap();
    session.close_handle(handle);
    // The stream still references the volume device: the unload waits for it.
    assert_eq!(session.stop_file_system(DRIVER), NtStatus::SUCCESS);
    assert!(session.is_unload_pending(DRIVER));
    let streams = session.stream_file_objects();
    let mm = session.system_reference_object(streams[0]).unwrap();
    drop(KEPT_STREAM.lock().unwrap().take());
    session.release_later(mm);
    session.run_worker();
    assert!(!session.is_loaded(DRIVER));
    assert_eq!(session.findings(), []);
}

#[test]
fn reparse_completion_hands_the_buffer_back_and_frees_the_file_object() {
    let (_serial, mut session) = loaded();
    let before = session.file_object_count();
    let result = open(&mut session, "\\Device\\Disk0\\reparse");
    assert_eq!(result.status, NtStatus::REPARSE);
    assert_eq!(result.information, REPARSE_TAG as usize);
    assert_eq!(result.reparse.as_deref(), Some(&b"\\target"[..]));
    assert_eq!(result.handle, None);
    assert_eq!(session.file_object_count(), before);
    assert_eq!(session.findings(), []);

    // On anything but IRP_MJ_CREATE it is a finding.
    let handle = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
    let outcome = session.query_information_irp(handle, QUERY_REPARSE, 0);
    assert_eq!(outcome.status, NtStatus::INVALID_PARAMETER);
    let findings = session.take_findings();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        matches!(findings[0].kind, FindingKind::Other(ref text) if text.contains("complete_reparse"))
    );
    session.close_handle(handle);
}

#[test]
fn fcb_uniqueness_oplock_and_unlock_all_at_cleanup() {
    let (_serial, mut session) = loaded();
    let handle = open(&mut session, "\\Device\\Disk0\\file").handle.unwrap();
    assert_eq!(session.oplock_check_count(), 0);
    session.close_handle(handle);
    assert_eq!(session.oplock_check_count(), 1);
    assert_eq!(session.unlock_all_count(), 1);
    let trace = session.trace();
    assert!(
        trace
            .iter()
            .any(|l| l.starts_with("FsRtlCheckOplock IRP_MJ_CLEANUP FO"))
    );
    assert!(trace.iter().any(|l| l.starts_with("FsRtlFastUnlockAll FO")));
    assert_eq!(take_log(), ["mount", "close file"]);
    assert_eq!(session.findings(), []);
}

#[test]
fn locked_try_lock_fails_while_held_and_the_irql_comes_back() {
    let (_serial, mut session) = loaded();
    let result = open(&mut session, "\\Device\\Disk0\\locked");
    assert_eq!(result.status, NtStatus::SUCCESS);
    assert_eq!(
        take_log(),
        [
            "mount",
            "irql while held 1",
            "try_lock while held: false",
            "irql after 0",
            "value 6"
        ]
    );
    session.close_handle(result.handle.unwrap());
    assert_eq!(session.findings(), []);
}

/// A driver that locks twice on one thread, and one that keeps a guard past its return.
fn locked_misuse(_device: DeviceRef, irp: Irp) -> NtStatus {
    static KEPT: Mutex<Option<&'static Locked<u32>>> = Mutex::new(None);
    let _region = enter_file_system();
    if irp.major() == Some(IrpMajor::Create) {
        let locked = Locked::try_new(1u32).unwrap();
        let guard = locked.lock().unwrap();
        assert!(locked.lock().is_none(), "recursive lock");
        drop(guard);
        let leaked: &'static Locked<u32> = Box::leak(Box::new(Locked::try_new(2u32).unwrap()));
        std::mem::forget(leaked.lock().unwrap());
        *KEPT.lock().unwrap() = Some(leaked);
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn locked_recursion_and_a_guard_kept_past_return_are_findings() {
    let mut session = Session::new();
    session
        .load_driver(DriverDescriptor::test_driver(
            "locked-misuse",
            locked_misuse,
        ))
        .unwrap();
    session.open_test_driver();
    let kinds: Vec<FindingKind> = session
        .take_findings()
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, FindingKind::Deadlock { .. })),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, FindingKind::ResourceHeldOnReturn { .. })),
        "{kinds:?}"
    );
}

#[test]
fn locked_outside_a_kernel_is_a_plain_lock() {
    let locked = Locked::try_new(vec![1u8]).unwrap();
    locked.lock().unwrap().push(2);
    let guard = locked.lock().unwrap();
    assert!(locked.try_lock().is_none());
    assert!(locked.lock().is_none(), "recursion on one thread");
    drop(guard);
    assert_eq!(*locked.try_lock().unwrap(), [1, 2]);
}

#[test]
fn shutdown_reaches_registered_devices_until_they_unregister() {
    let (_serial, mut session) = loaded();
    assert_eq!(session.shutdown(), [NtStatus::SUCCESS]);
    assert_eq!(take_log(), ["shutdown"]);
    assert_eq!(session.stop_file_system(DRIVER), NtStatus::SUCCESS);
    assert_eq!(session.shutdown(), []);
    assert_eq!(session.findings(), []);
}

#[test]
fn a_shutdown_irp_pended_and_lost_is_a_finding() {
    let (_serial, mut session) = loaded();
    *SHUTDOWN_LOSES_IRP.lock().unwrap() = true;
    let statuses = session.shutdown();
    assert_eq!(statuses.len(), 1);
    assert_ne!(statuses[0], NtStatus::SUCCESS);
    let kinds: Vec<FindingKind> = session
        .take_findings()
        .into_iter()
        .map(|f| f.kind)
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, FindingKind::IrpNeverCompleted { .. })),
        "{kinds:?}"
    );
}

#[test]
fn driver_parameters_are_read_in_driver_entry_only() {
    let _serial = reset();
    let mut session = machine();
    session.set_driver_parameter(DRIVER, "maxopens", 7);
    session.set_driver_parameter(DRIVER, "MaxOpens", 9);
    session.set_driver_parameter("other", "MaxOpens", 1);
    session.load_driver(descriptor()).unwrap();
    assert_eq!(*PARAMETER.lock().unwrap(), Some(9));
    // The mount asks again (and asserts None): outside DriverEntry there is no RegistryPath.
    assert_eq!(
        open(&mut session, "\\Device\\Disk0\\f").status,
        NtStatus::SUCCESS
    );
    assert_eq!(session.findings(), []);
}

#[test]
fn vpb_identity_is_set_at_mount_with_the_label_truncated() {
    let (_serial, mut session) = loaded();
    assert_eq!(session.vpb_identity("Disk0"), None);
    let handle = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
    let (serial, label) = session.vpb_identity("Disk0").unwrap();
    assert_eq!(serial, 0x1234);
    let expected: Vec<u16> = LABEL.encode_utf16().take(32).collect();
    assert_eq!(label, expected);
    session.close_handle(handle);
}

#[test]
fn verify_of_a_changed_medium_gives_the_disk_a_new_vpb_and_mounts_it_at_once() {
    let (_serial, mut session) = loaded();
    assert_eq!(session.verify_volume("Disk0"), NtStatus::VOLUME_DISMOUNTED);
    let old_handle = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
    let old_volume = session.volume_device_of("Disk0").unwrap();
    assert_eq!(session.verify_volume("Disk0"), NtStatus::SUCCESS);
    assert!(session.is_mounted("Disk0"));

    let mut image = vec![0u8; 64 * 1024];
    image[..8].copy_from_slice(MAGIC);
    image[8..16].copy_from_slice(b"\x99\x00gentwo");
    session.disk("Disk0").unwrap().replace_contents(image);
    assert_eq!(session.verify_volume("Disk0"), NtStatus::WRONG_VOLUME);
    // IoVerifyVolume's IopCreateVpb + IopMountVolume: the new medium is mounted already.
    assert!(session.is_mounted("Disk0"));
    let new_volume = session.volume_device_of("Disk0").unwrap();
    assert_ne!(old_volume, new_volume);

    let new_handle = open(&mut session, "\\Device\\Disk0\\g").handle.unwrap();
    assert_eq!(session.volume_device_of("Disk0"), Some(new_volume));
    assert_eq!(session.vpb_identity("Disk0").unwrap().0, 0x99);
    assert_eq!(
        take_log(),
        ["mount", "verify same=true", "verify same=false", "mount"]
    );
    // The old volume device still takes the CLOSE of its FILE_OBJECT.
    session.close_handle(old_handle);
    session.close_handle(new_handle);
    assert_eq!(take_log(), ["close file", "close file"]);
    assert_eq!(session.stop_file_system(DRIVER), NtStatus::SUCCESS);
    assert_eq!(session.findings(), []);
}

#[test]
fn pool_statistics_follow_live_blocks_and_the_peak_resets() {
    let (_serial, mut session) = loaded();
    let (bytes, blocks) = (session.pool_bytes(), session.pool_blocks());
    session.reset_pool_peak();
    assert_eq!(session.pool_peak_bytes(), bytes);
    let first = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
    let second = open(&mut session, "\\Device\\Disk0\\g").handle.unwrap();
    assert_eq!(session.pool_blocks(), blocks + 2);
    let with_two = session.pool_bytes();
    assert!(with_two > bytes);
    session.close_handle(first);
    session.close_handle(second);
    assert_eq!(session.pool_bytes(), bytes);
    assert_eq!(session.pool_blocks(), blocks);
    assert_eq!(session.pool_peak_bytes(), with_two);
    session.reset_pool_peak();
    assert_eq!(session.pool_peak_bytes(), bytes);
}

#[test]
fn trace_off_keeps_findings_but_no_lines() {
    let (_serial, mut session) = loaded();
    session.set_trace_enabled(false);
    let lines = session.trace().len();
    for _ in 0..50 {
        let handle = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
        session.close_handle(handle);
    }
    assert_eq!(session.trace().len(), lines);
    let handle = open(&mut session, "\\Device\\Disk0\\f").handle.unwrap();
    session.query_information_irp(handle, QUERY_REPARSE, 0);
    assert_eq!(session.findings().len(), 1);
    assert_eq!(session.trace().len(), lines);
    session.set_trace_enabled(true);
    session.close_handle(handle);
    assert!(session.trace().len() > lines);
}

#[test]
fn scenario_verbs_param_shutdown_verify() {
    let _serial = reset();
    let script = "\
param lifecycle MaxOpens=0x10
load lifecycle                => SUCCESS
open f \\Device\\Disk0\\f     => SUCCESS
verify Disk0                  => SUCCESS
shutdown                      => SUCCESS info=1
close f                       => SUCCESS
unload lifecycle              => SUCCESS
verify Disk0                  => VOLUME_DISMOUNTED
shutdown                      => SUCCESS info=0
";
    let steps = parse(script).unwrap();
    let mut runner = Runner::new(machine(), vec![descriptor()]);
    let mut out = Vec::new();
    let ok = runner.run_all(&steps, &mut |line| out.push(line.to_string()));
    assert!(ok, "{out:#?}");
    assert_eq!(*PARAMETER.lock().unwrap(), Some(0x10));

    // A failing expectation fails the run.
    let steps = parse("load lifecycle => SUCCESS\nshutdown => UNSUCCESSFUL\n").unwrap();
    let mut runner = Runner::new(machine(), vec![descriptor()]);
    assert!(!runner.run_all(&steps, &mut |_| {}));
}

fn second_entry(driver: &mut DriverObject) -> Result<(), NtStatus> {
    let control = driver.create_control_device("\\Lifecycle2", DriverGlobals::try_default()?)?;
    driver.install_dispatch();
    control.register_shutdown_notification()?;
    driver.set_unload_allowed(true);
    Ok(())
}

fn second_unload(driver: &mut DriverObject) {
    if let Some(control) = driver.control_device() {
        control.delete(); // IoDeleteDevice unregisters the notification too
    }
}

fn second_dispatch(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Shutdown) {
        log("shutdown 2");
        return irp.complete(NtStatus(0x8000_0005_u32 as i32)); // a warning
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn shutdown_goes_to_the_most_recent_registration_first() {
    let (_serial, mut session) = loaded();
    let second = DriverDescriptor {
        name: "lifecycle2",
        entry: second_entry,
        dispatch: second_dispatch,
        unload: second_unload,
        fast_io: None,
    };
    session.load_driver(second).unwrap();
    let statuses = session.shutdown();
    assert_eq!(
        statuses,
        [NtStatus(0x8000_0005_u32 as i32), NtStatus::SUCCESS]
    );
    assert_eq!(take_log(), ["shutdown 2", "shutdown"]);
    assert_eq!(
        rustfsd::kernel::model::harness::scenario::worst_status(&statuses),
        statuses[0]
    );
    assert_eq!(session.unload_driver("lifecycle2"), NtStatus::SUCCESS);
    assert_eq!(session.shutdown(), [NtStatus::SUCCESS]);
    assert_eq!(session.findings(), []);
}

/// The machine with the driver loaded, and the test's turn at the statics.
fn loaded() -> (std::sync::MutexGuard<'static, ()>, Session) {
    let serial = reset();
    let mut session = machine();
    session.load_driver(descriptor()).unwrap();
    (serial, session)
}
