//! Verifier self-tests: each broken test driver commits one classic file system bug, and the
//! verifier must report exactly that bug. A correct driver (TestFs) must report nothing.

use rustfsd::kernel::model::harness::{
    DriverDescriptor, FindingKind, ObjectKind, Session, testing,
};
use rustfsd::kernel::model::{
    self as k, FcbArc, OutputBuffer, PoolArc, PoolBox, PoolTag, Resource, charge_stack_frame,
    enter_file_system, expand_stack_and_callout,
};
use rustfsd::kernel::{DeviceRef, DriverObject, Irp, IrpMajor, NtStatus};

fn broken(name: &'static str, dispatch: fn(DeviceRef, Irp) -> NtStatus) -> DriverDescriptor {
    DriverDescriptor::test_driver(name, dispatch)
}

/// Loads the driver, opens `\TestDriver`, reads, closes, unloads; returns the findings.
fn exercise(driver: DriverDescriptor) -> Vec<FindingKind> {
    let mut s = Session::new();
    s.set_filter_attach_contexts(true);
    s.load_driver(driver).unwrap();
    let open = s.open_test_driver();
    if let Some(h) = open.handle {
        s.read_file(h, Some(0), 16);
        s.close_handle(h);
    }
    s.unload_driver(driver.name);
    s.findings().into_iter().map(|f| f.kind).collect()
}

fn fine(_device: DeviceRef, irp: Irp) -> NtStatus {
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_correct_driver_has_no_findings() {
    assert_eq!(exercise(broken("fine", fine)), vec![]);
}

fn double_completion(_device: DeviceRef, irp: Irp) -> NtStatus {
    let again = testing::forge_second_irp_token(&irp);
    irp.complete(NtStatus::SUCCESS);
    again.complete(NtStatus::SUCCESS)
}

#[test]
fn double_completion_is_caught() {
    let findings = exercise(broken("double", double_completion));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::IrpCompletedTwice { .. })),
        "{findings:?}"
    );
}

fn never_completes(_device: DeviceRef, irp: Irp) -> NtStatus {
    drop(irp);
    NtStatus::SUCCESS
}

#[test]
fn an_irp_never_completed_is_caught() {
    let findings = exercise(broken("never", never_completes));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::IrpNeverCompleted { .. })),
        "{findings:?}"
    );
}

fn pending_unmarked(_device: DeviceRef, irp: Irp) -> NtStatus {
    let queued = k::queue_work_item(move || {
        irp.complete(NtStatus::SUCCESS);
    });
    assert!(queued.is_ok());
    NtStatus::PENDING
}

fn pending_marked(_device: DeviceRef, mut irp: Irp) -> NtStatus {
    irp.mark_pending();
    // If the work item cannot be queued the routine comes back, and the pended IRP in it is
    // still completed (here, inline).
    if let Err((_status, routine)) = k::queue_work_item(move || {
        irp.complete(NtStatus::SUCCESS);
    }) {
        routine();
    }
    NtStatus::PENDING
}

#[test]
fn pending_without_mark_is_caught_and_marked_pending_is_fine() {
    let findings = exercise(broken("unmarked", pending_unmarked));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::PendingWithoutMark { .. })),
        "{findings:?}"
    );
    assert_eq!(exercise(broken("marked", pending_marked)), vec![]);
}

fn leaks(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Create) {
        let block = PoolBox::try_new(PoolTag(*b"Leak"), [0u8; 32]).unwrap();
        core::mem::forget(block);
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_leak_fails_unload_and_names_the_tag() {
    let findings = exercise(broken("leak", leaks));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::PoolLeak { tag, size: 32, .. } if tag == "Leak")),
        "{findings:?}"
    );
}

struct Fcb;

/// The seed-000 bug: the FCB is freed at CLEANUP while the FILE_OBJECT still points at it.
fn frees_fcb_at_cleanup(_device: DeviceRef, irp: Irp) -> NtStatus {
    let file_object = irp.file_object();
    match (irp.major(), file_object) {
        (Some(IrpMajor::Create), Some(fo)) => {
            let fcb = FcbArc::try_new(PoolTag(*b"BFcb"), Fcb).unwrap();
            assert!(fo.attach_fcb(fcb).is_ok());
        }
        (Some(IrpMajor::Cleanup), Some(fo)) => {
            // The C bug: free the FCB through FsContext without taking the FILE_OBJECT's
            // reference back. The FCB is gone, but FsContext still names it.
            drop(testing::forge_fcb_reference::<Fcb>(&fo));
        }
        _ => {}
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn use_after_free_at_close_is_caught_by_the_filter_observer() {
    let findings = exercise(broken("uaf", frees_fcb_at_cleanup));
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::UseAfterFree {
                kind: ObjectKind::Fcb,
                ..
            }
        )),
        "{findings:?}"
    );
}

/// Frees the FCB at CLOSE without FsRtlTeardownPerStreamContexts.
fn skips_teardown(_device: DeviceRef, irp: Irp) -> NtStatus {
    match (irp.major(), irp.file_object()) {
        (Some(IrpMajor::Create), Some(fo)) => {
            let fcb = FcbArc::try_new(PoolTag(*b"BFcb"), Fcb).unwrap();
            assert!(fo.attach_fcb(fcb).is_ok());
        }
        (Some(IrpMajor::Close), Some(fo)) => {
            if let Some(fcb) = fo.detach_fcb::<Fcb>() {
                testing::release_without_teardown(fcb);
            }
        }
        _ => {}
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn freeing_an_fcb_without_teardown_is_caught() {
    let findings = exercise(broken("noteardown", skips_teardown));
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::StreamContextsNotTornDown { contexts: 1, .. }
        )),
        "{findings:?}"
    );
}

static RESOURCE: std::sync::OnceLock<std::sync::Mutex<Option<Resource>>> =
    std::sync::OnceLock::new();

fn holds_resource(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Create) {
        let region = enter_file_system();
        let cell = RESOURCE.get_or_init(|| std::sync::Mutex::new(None));
        let mut slot = cell.lock().unwrap();
        let resource = slot.insert(Resource::try_new().unwrap());
        core::mem::forget(resource.acquire_exclusive(true).unwrap());
        drop(region);
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn returning_with_a_resource_held_is_caught() {
    let findings = exercise(broken("held", holds_resource));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::ResourceHeldOnReturn { .. })),
        "{findings:?}"
    );
}

fn leaves_apcs_disabled(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Create) {
        core::mem::forget(enter_file_system());
    }
    irp.complete(NtStatus::SUCCESS)
}

fn deletes_owned_resource(_device: DeviceRef, irp: Irp) -> NtStatus {
    let _region = enter_file_system();
    let resource = Resource::try_new().unwrap();
    core::mem::forget(resource.acquire_exclusive(true));
    drop(resource);
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn deleting_an_owned_resource_is_caught() {
    let findings = exercise(broken("delete-owned", deletes_owned_resource));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::ResourceDeletedWhileOwned { .. })),
        "{findings:?}"
    );
}

#[test]
fn returning_with_apcs_disabled_is_caught() {
    let findings = exercise(broken("apcs", leaves_apcs_disabled));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::ApcsDisabledOnReturn { count: 1 })),
        "{findings:?}"
    );
}

fn acquires_without_critical_region(_device: DeviceRef, irp: Irp) -> NtStatus {
    let resource = Resource::try_new().unwrap();
    drop(resource.acquire_shared(true));
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn acquiring_a_resource_with_apcs_enabled_is_caught() {
    let findings = exercise(broken("apcs-on", acquires_without_critical_region));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::AcquireWithApcsEnabled { .. })),
        "{findings:?}"
    );
}

fn touches_user_buffer(_device: DeviceRef, irp: Irp) -> NtStatus {
    if let OutputBuffer::User(buffer) = irp.output_buffer() {
        let _ = buffer.write(0, b"oops");
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn touching_a_user_buffer_is_caught() {
    let findings = exercise(broken("user", touches_user_buffer));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::UserBufferTouched { .. })),
        "{findings:?}"
    );
}

fn recurse(depth: u32) {
    let _frame = charge_stack_frame(2048);
    if depth > 0 {
        recurse(depth - 1);
    }
}

fn overflows_stack(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Read) {
        recurse(12);
    }
    irp.complete(NtStatus::SUCCESS)
}

fn expands_stack(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Read) {
        // The seeded choice may refuse the new stack segment; then nothing runs.
        let _ = expand_stack_and_callout(k::MAXIMUM_EXPANSION_SIZE, || recurse(12));
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn stack_overflow_is_caught_and_expansion_avoids_it() {
    let findings = exercise(broken("deep", overflows_stack));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::StackOverflow { .. })),
        "{findings:?}"
    );
    assert_eq!(exercise(broken("expanded", expands_stack)), vec![]);
}

fn wrong_irql(_device: DeviceRef, irp: Irp) -> NtStatus {
    if irp.major() == Some(IrpMajor::Create) {
        let _raised = k::raise_irql(k::DISPATCH_LEVEL);
        let _region = enter_file_system(); // FsRtlEnterFileSystem requires <= APC_LEVEL
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_call_at_the_wrong_irql_is_caught() {
    let findings = exercise(broken("irql", wrong_irql));
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::WrongIrql {
                routine: "FsRtlEnterFileSystem",
                irql: 2,
                ..
            }
        )),
        "{findings:?}"
    );
}

fn status_mismatch(_device: DeviceRef, irp: Irp) -> NtStatus {
    irp.complete(NtStatus::SUCCESS);
    NtStatus::UNSUCCESSFUL
}

#[test]
fn returning_a_status_other_than_the_completion_status_is_caught() {
    let findings = exercise(broken("mismatch", status_mismatch));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::DispatchStatusMismatch { .. })),
        "{findings:?}"
    );
}

fn create_fails_but_keeps_context(_device: DeviceRef, irp: Irp) -> NtStatus {
    if let (Some(IrpMajor::Create), Some(fo)) = (irp.major(), irp.file_object()) {
        // Attached, then the CREATE fails without taking it back (detach_fcb).
        let fcb = FcbArc::try_new(PoolTag(*b"BFcb"), Fcb).unwrap();
        assert!(fo.attach_fcb(fcb).is_ok());
        return irp.complete(NtStatus::ACCESS_DENIED);
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_failed_create_that_leaves_fscontext_is_caught() {
    let findings = exercise(broken("failedcreate", create_fails_but_keeps_context));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::FailedCreateLeftContext { .. })),
        "{findings:?}"
    );
}

fn keeps_device(_device: DeviceRef, irp: Irp) -> NtStatus {
    irp.complete(NtStatus::SUCCESS)
}

fn unload_forgets_device(_driver: &mut DriverObject) {}

#[test]
fn unload_that_leaves_devices_is_caught() {
    let mut s = Session::new();
    let driver = DriverDescriptor {
        unload: unload_forgets_device,
        fast_io: None,
        ..DriverDescriptor::test_driver("sticky", keeps_device)
    };
    s.load_driver(driver).unwrap();
    assert_eq!(s.unload_driver("sticky"), NtStatus::SUCCESS);
    let findings: Vec<FindingKind> = s.findings().into_iter().map(|f| f.kind).collect();
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::DevicesRemainAtUnload { count: 1 })),
        "{findings:?}"
    );
}

static STASH: std::sync::Mutex<Vec<rustfsd::kernel::model::FileObject>> =
    std::sync::Mutex::new(Vec::new());

/// Keeps the FILE_OBJECT of the first open and touches it on a later CREATE, after its CLOSE.
fn stashes_file_object(_device: DeviceRef, irp: Irp) -> NtStatus {
    if let (Some(IrpMajor::Create), Some(fo)) = (irp.major(), irp.file_object()) {
        let mut stash = STASH.lock().unwrap();
        match stash.pop() {
            Some(old) => {
                let _ = old.flags();
            }
            None => stash.push(fo),
        }
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn use_after_free_of_a_file_object_is_caught() {
    let mut s = Session::new();
    s.load_driver(broken("stash", stashes_file_object)).unwrap();
    let first = s.open_test_driver().handle.unwrap();
    s.close_handle(first);
    s.open_test_driver();
    let findings: Vec<FindingKind> = s.findings().into_iter().map(|f| f.kind).collect();
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                ..
            }
        )),
        "{findings:?}"
    );
}

/// Completes a read, then writes through the MDL it kept.
fn writes_mdl_after_completion(_device: DeviceRef, irp: Irp) -> NtStatus {
    let buffer = irp.output_buffer();
    let status = irp.complete(NtStatus::SUCCESS);
    if let OutputBuffer::Mdl(mdl) = buffer {
        let _ = mdl.write(0, b"late");
    }
    status
}

#[test]
fn use_after_free_of_an_mdl_after_completion_is_caught() {
    let mut s = Session::new();
    s.load_driver(broken("late-mdl", writes_mdl_after_completion))
        .unwrap();
    let h = s.open_test_driver().handle.unwrap();
    // An FSCTL with METHOD_OUT_DIRECT carries an MDL for its output buffer.
    s.fs_control_file(h, 0x0009_0002, &[], 64);
    let findings: Vec<FindingKind> = s.findings().into_iter().map(|f| f.kind).collect();
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::UseAfterFree {
                kind: ObjectKind::Mdl,
                ..
            }
        )),
        "{findings:?}"
    );
}

struct Ccb;

/// Frees the CCB at CLEANUP, then reads FsContext2 again at CLOSE.
fn frees_ccb_early(_device: DeviceRef, irp: Irp) -> NtStatus {
    match (irp.major(), irp.file_object()) {
        (Some(IrpMajor::Create), Some(fo)) => {
            let ccb = PoolArc::try_new(PoolTag(*b"BCcb"), Ccb).unwrap();
            assert!(fo.attach_ccb(ccb).is_ok());
        }
        (Some(IrpMajor::Cleanup), Some(fo)) => {
            // The C bug: free the CCB through FsContext2, leaving FsContext2 set.
            drop(testing::forge_ccb_reference::<Ccb>(&fo));
        }
        (Some(IrpMajor::Close), Some(fo)) => {
            drop(fo.detach_ccb::<Ccb>());
        }
        _ => {}
    }
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn use_after_free_of_a_ccb_names_its_tag() {
    let mut s = Session::new();
    s.load_driver(broken("ccb", frees_ccb_early)).unwrap();
    let h = s.open_test_driver().handle.unwrap();
    s.close_handle(h);
    let findings = s.findings();
    let stale = findings
        .iter()
        .find(|f| {
            matches!(
                f.kind,
                FindingKind::UseAfterFree {
                    kind: ObjectKind::Pool,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(stale.context.contains("IRP_MJ_Close"), "{stale}");
    assert!(stale.context.contains("pool tag BCcb"), "{stale}");
}

fn recursive_fast_mutex(_device: DeviceRef, irp: Irp) -> NtStatus {
    let mutex = k::FastMutex::try_new().unwrap();
    let first = mutex.acquire().unwrap();
    assert!(mutex.acquire().is_none());
    drop(first);
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn recursive_fast_mutex_acquire_is_a_deadlock() {
    let findings = exercise(broken("fastmutex", recursive_fast_mutex));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::Deadlock { .. })),
        "{findings:?}"
    );
}

fn returns_raised(_device: DeviceRef, irp: Irp) -> NtStatus {
    core::mem::forget(k::raise_irql(k::APC_LEVEL));
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn returning_at_a_raised_irql_is_caught() {
    let findings = exercise(broken("raised", returns_raised));
    assert!(
        findings.iter().any(|f| matches!(
            f,
            FindingKind::WrongIrql {
                irql: 1,
                max: 0,
                ..
            }
        )),
        "{findings:?}"
    );
}

fn work_item_keeps_region(_device: DeviceRef, irp: Irp) -> NtStatus {
    assert!(k::queue_work_item(|| core::mem::forget(enter_file_system())).is_ok());
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_work_item_returning_with_apcs_disabled_is_caught() {
    let mut s = Session::new();
    s.load_driver(broken("work", work_item_keeps_region))
        .unwrap();
    s.open_test_driver();
    assert_eq!(s.run_worker(), 1);
    let findings = s.findings();
    assert!(
        findings
            .iter()
            .any(|f| f.thread == 1 && matches!(f.kind, FindingKind::ApcsDisabledOnReturn { .. })),
        "{findings:?}"
    );
}

// ----- the cache manager ------------------------------------------------------------------

/// A small cached-file driver: CREATE attaches an FCB of 100 bytes, a READ from the user
/// initializes the cache map (unless `skip_init`) and has Cc fault the file in, CLEANUP
/// uninitializes, CLOSE detaches; a paging READ is answered by `paging`.
fn cached_driver(
    irp: Irp,
    skip_init: bool,
    paging: fn(&FcbArc<()>, &OutputBuffer, u32) -> NtStatus,
) -> NtStatus {
    let _region = enter_file_system();
    let top_level = k::TopLevelIrp::enter(&irp);
    let Some(file_object) = irp.file_object() else {
        return irp.complete(NtStatus::SUCCESS);
    };
    match irp.major() {
        Some(IrpMajor::Create) => {
            assert!(top_level.is_top_level());
            let fcb = FcbArc::try_new(PoolTag(*b"CcFc"), ()).unwrap();
            fcb.set_file_sizes(rustfsd::kernel::FileSizes {
                allocation_size: 100,
                file_size: 100,
                valid_data_length: 100,
            });
            assert!(file_object.attach_fcb(fcb).is_ok());
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::Read) if irp.flags() & rustfsd::kernel::IRP_PAGING_IO != 0 => {
            // Sent by Cc from inside the user's read: recognized as recursive.
            assert!(!top_level.is_top_level());
            let fcb = file_object.fcb::<()>().unwrap();
            let rustfsd::kernel::IrpParameters::Read { length, .. } = irp.parameters() else {
                return irp.complete(NtStatus::INVALID_PARAMETER);
            };
            let status = paging(&fcb, &irp.output_buffer(), length);
            let mut irp = irp;
            irp.set_information(length as usize);
            irp.complete(status)
        }
        Some(IrpMajor::Read) => {
            let fcb = file_object.fcb::<()>().unwrap();
            if !skip_init {
                k::cc_initialize_cache_map(&file_object, fcb.file_sizes()).unwrap();
            }
            // No buffer to copy into: the pages are faulted in, then the copy is refused.
            let status = match k::cc_copy_read(&file_object, 0, 16, &OutputBuffer::None, 0) {
                Ok(_) => NtStatus::SUCCESS,
                Err(status) => status,
            };
            irp.complete(status)
        }
        Some(IrpMajor::Cleanup) => {
            if k::has_private_cache_map(&file_object) {
                k::cc_uninitialize_cache_map(&file_object);
            }
            irp.complete(NtStatus::SUCCESS)
        }
        Some(IrpMajor::Close) => {
            drop(file_object.detach_fcb::<()>());
            irp.complete(NtStatus::SUCCESS)
        }
        _ => irp.complete(NtStatus::SUCCESS),
    }
}

/// Fills the file's 100 bytes and zeroes the rest of the page, as a paging read must.
fn paging_zeroes_tail(_fcb: &FcbArc<()>, buffer: &OutputBuffer, length: u32) -> NtStatus {
    let OutputBuffer::Mdl(mdl) = buffer else {
        return NtStatus::INVALID_PARAMETER;
    };
    let mut page = vec![0u8; length as usize];
    page[..100].fill(7);
    mdl.write(0, &page).unwrap();
    NtStatus::SUCCESS
}

/// Fills the file's 100 bytes and leaves the stale rest of the page.
fn paging_leaves_tail(_fcb: &FcbArc<()>, buffer: &OutputBuffer, _length: u32) -> NtStatus {
    let OutputBuffer::Mdl(mdl) = buffer else {
        return NtStatus::INVALID_PARAMETER;
    };
    mdl.write(0, &[7u8; 100]).unwrap();
    NtStatus::SUCCESS
}

/// Takes the FCB's resource exclusively in the paging read.
fn paging_takes_resource(fcb: &FcbArc<()>, buffer: &OutputBuffer, length: u32) -> NtStatus {
    let _held = fcb.resource().acquire_exclusive(true);
    paging_zeroes_tail(fcb, buffer, length)
}

fn cached_correct(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, false, paging_zeroes_tail)
}

fn cached_without_init(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, true, paging_zeroes_tail)
}

fn cached_stale_tail(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, false, paging_leaves_tail)
}

fn cached_locking_paging(_device: DeviceRef, irp: Irp) -> NtStatus {
    cached_driver(irp, false, paging_takes_resource)
}

#[test]
fn a_correct_cached_driver_has_no_findings_in_either_order() {
    // Seeds decide whether the shared map goes inside CcUninitializeCacheMap or on the lazy
    // writer; both must end clean.
    for seed in 0..8 {
        let mut s = Session::new();
        s.set_choice_seed(seed);
        s.load_driver(broken("cc-fine", cached_correct)).unwrap();
        let h = s.open_test_driver().handle.unwrap();
        s.read_file(h, Some(0), 16);
        s.close_handle(h);
        s.run_worker();
        let (paging, _, _, alive) = s.cache_counters();
        assert_eq!((paging, alive), (1, 0), "seed {seed}");
        s.unload_driver("cc-fine");
        assert_eq!(s.findings(), vec![], "seed {seed}");
    }
}

#[test]
fn a_cached_read_without_a_cache_map_is_caught() {
    let findings = exercise(broken("cc-noinit", cached_without_init));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::CachedReadWithoutCacheMap { .. })),
        "{findings:?}"
    );
}

#[test]
fn a_paging_read_leaving_stale_bytes_past_eof_is_caught() {
    let findings = exercise(broken("cc-tail", cached_stale_tail));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::PagingReadTailNotZeroed { .. })),
        "{findings:?}"
    );
}

#[test]
fn an_exclusive_resource_in_a_paging_read_is_caught() {
    let findings = exercise(broken("cc-lock", cached_locking_paging));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::ExclusiveResourceInPagingIo { .. })),
        "{findings:?}"
    );
}

fn top_level_left_set(_device: DeviceRef, irp: Irp) -> NtStatus {
    std::mem::forget(k::TopLevelIrp::enter(&irp));
    irp.complete(NtStatus::SUCCESS)
}

#[test]
fn a_top_level_irp_left_set_is_caught() {
    let findings = exercise(broken("toplevel", top_level_left_set));
    assert!(
        findings
            .iter()
            .any(|f| matches!(f, FindingKind::TopLevelIrpLeftSet)),
        "{findings:?}"
    );
}
