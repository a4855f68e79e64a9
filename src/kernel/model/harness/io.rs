//! The I/O manager: builds IRPs, calls dispatch routines and applies the completion rules,
//! mounts volumes, and turns handle and reference drops into CLEANUP and CLOSE.

use std::boxed::Box;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use super::filter;
use crate::kernel::model::context::Context;
use crate::kernel::model::device::{DeviceKind, MountRequest, TargetDevice};
use crate::kernel::model::event::run_one_work_item;
use crate::kernel::model::file_object::FO_CLEANUP_COMPLETE;
use crate::kernel::model::irp::{BufferKind, IrpEntry, MdlEntry, major_name};
use crate::kernel::model::preempt;
use crate::kernel::model::resource::held_by_current;
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::{
    BASE_STACK_CHARGE, IRP_FRAME_CHARGE, Kernel, State, current, enter, with_state,
};
use crate::kernel::model::token::Token;
use crate::kernel::model::verifier::{FindingKind, ObjectKind};
use crate::kernel::model::vpb;
use crate::kernel::model::{DeviceRef, Irp};
use crate::kernel::request::{IRP_MN_COMPLETE, IRP_MN_MOUNT_VOLUME, IRP_PAGING_IO, IrpParameters};
use crate::kernel::{IrpMajor, NtStatus};

/// What the I/O manager puts in a new IRP.
pub struct IrpRequest {
    pub major: IrpMajor,
    pub minor: u8,
    pub file_object: Option<ObjId>,
    pub parameters: IrpParameters,
    pub buffer_kind: BufferKind,
    pub buffer_len: usize,
    /// Irp->Flags.
    pub flags: u32,
    /// What the buffer holds before the driver writes it (stale page contents for a paging
    /// read, so an unzeroed tail shows).
    pub fill: u8,
    /// The buffer as it is, instead of `buffer_len` bytes of `fill`: the page frames a paging
    /// read fills, with whatever they held before.
    pub pages: Option<Vec<u8>>,
    /// Sent on a handle opened without FILE_SYNCHRONOUS_IO_*: if the driver pends it, the
    /// caller gets STATUS_PENDING at once instead of waiting.
    pub asynchronous: bool,
    /// A neither-I/O buffer the caller cannot write (`IrpEntry::user_buffer_invalid`).
    pub user_buffer_invalid: bool,
    /// The requestor process (`IrpEntry::requestor`).
    pub requestor: u32,
    /// Irp->MdlAddress when it names an MDL chain (IRP_MN_COMPLETE_MDL gives one back).
    pub mdl_chain: Option<u64>,
    /// A CREATE's subject context (`IrpEntry::subject`); None: a kernel-mode requestor.
    pub subject: Option<Box<Token>>,
}

impl IrpRequest {
    pub fn new(major: IrpMajor, file_object: Option<ObjId>) -> IrpRequest {
        IrpRequest {
            major,
            minor: 0,
            file_object,
            parameters: IrpParameters::None,
            buffer_kind: BufferKind::None,
            buffer_len: 0,
            flags: 0,
            fill: 0,
            pages: None,
            asynchronous: false,
            user_buffer_invalid: false,
            requestor: 0,
            mdl_chain: None,
            subject: None,
        }
    }
}

/// What came back: IoStatus, the output buffer's contents, and a STATUS_REPARSE create's
/// AuxiliaryBuffer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IrpOutcome {
    pub status: NtStatus,
    pub information: usize,
    pub data: Vec<u8>,
    pub reparse: Option<Vec<u8>>,
    /// Irp->MdlAddress at completion, when it names an MDL chain (IRP_MN_MDL).
    pub mdl_chain: Option<u64>,
    /// A CREATE's ACCESS_STATE at completion: RemainingDesiredAccess | PreviouslyGrantedAccess
    /// without MAXIMUM_ALLOWED, the access ObpCreateHandle gives the handle; 0 otherwise.
    pub granted_access: u32,
}

impl IrpOutcome {
    pub fn status(status: NtStatus) -> IrpOutcome {
        IrpOutcome {
            status,
            information: 0,
            data: Vec::new(),
            reparse: None,
            mdl_chain: None,
            granted_access: 0,
        }
    }
}

/// IoCallDriver: sends a new IRP to `device` and waits for it (synchronous I/O).
pub fn call_driver(kernel: &Arc<Kernel>, device: ObjId, request: IrpRequest) -> IrpOutcome {
    crate::kernel::model::preempt::point();
    let _entered = enter(kernel);
    let major = request.major as u8;
    let request_minor = request.minor;
    let asynchronous = request.asynchronous;
    let prepared = {
        let mut state = kernel.lock();
        let Some(entry) = state.devices.get(device) else {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Device,
                id: device,
            });
            return IrpOutcome::status(NtStatus::INVALID_DEVICE_REQUEST);
        };
        let driver = entry.driver;
        let descriptor = driver
            .and_then(|d| state.drivers.get(d))
            .and_then(|d| (d.loaded && d.dispatch_installed).then_some(d.descriptor));
        let Some(descriptor) = descriptor else {
            // IopInvalidDeviceRequest: the default entry of every MajorFunction slot.
            return IrpOutcome::status(NtStatus::INVALID_DEVICE_REQUEST);
        };
        let id = state.irps.insert(IrpEntry {
            major,
            minor: request.minor,
            device,
            file_object: request.file_object,
            parameters: request.parameters,
            flags: request.flags,
            completed: None,
            pending: false,
            information: 0,
            buffer_kind: request.buffer_kind,
            buffer: request
                .pages
                .unwrap_or_else(|| vec![request.fill; request.buffer_len]),
            mdl: None,
            abandoned: false,
            reparse: None,
            outstanding: false,
            cancelled: false,
            cancel_notify: None,
            cancel_oplock: None,
            user_buffer_invalid: request.user_buffer_invalid,
            requestor: request.requestor,
            mdl_chain: request.mdl_chain,
            mapped: false,
            subject: request.subject,
        });
        if request.buffer_kind == BufferKind::Mdl {
            let mdl = state.mdls.insert(MdlEntry {
                irp: id,
                length: request.buffer_len,
            });
            if let Some(irp) = state.irps.get_mut(id) {
                irp.mdl = Some(mdl);
            }
        }
        let top_level = state.thread().stack_used == 0;
        let charge =
            IRP_FRAME_CHARGE + state.filter_stack + if top_level { BASE_STACK_CHARGE } else { 0 };
        state.charge_stack(charge);
        let apcs_before = state.thread().apc_disable;
        let irql_before = state.thread().irql;
        let held_before = held_by_current(&state);
        let previous_driver = state.current_driver;
        state.current_driver = driver;
        let thread = state.current_thread;
        let previous_context = core::mem::replace(
            &mut state.context,
            Context::Irp {
                major,
                irp: id,
                device,
            },
        );
        // Formatted only for a trace that is kept (the hot path of every request).
        if !state.trace_off {
            state.push_trace(format!("t{thread}: {} -> {}", major_name(major), id));
        }
        (
            descriptor,
            id,
            charge,
            top_level,
            apcs_before,
            held_before,
            previous_driver,
            previous_context,
            irql_before,
        )
    };
    let (
        descriptor,
        id,
        charge,
        top_level,
        apcs_before,
        held_before,
        previous_driver,
        previous,
        irql_before,
    ) = prepared;

    let paging = kernel
        .lock()
        .irps
        .get(id)
        .is_some_and(|irp| irp.flags & IRP_PAGING_IO != 0);
    if paging {
        kernel.lock().thread().paging_io += 1;
    }
    let returned = crate::kernel::model::heap_faults::in_driver(|| {
        (descriptor.dispatch)(DeviceRef { id: device }, Irp { id })
    });
    if paging {
        let mut state = kernel.lock();
        let thread = state.thread();
        thread.paging_io = thread.paging_io.saturating_sub(1);
    }

    let waiting = {
        let mut state = kernel.lock();
        if returned == NtStatus::PENDING && state.irps.get(id).is_some_and(|irp| !irp.pending) {
            state.report(FindingKind::PendingWithoutMark { irp: id });
        }
        returned == NtStatus::PENDING && !irp_completed(&state, id)
    };
    let outstanding = waiting && asynchronous;
    if outstanding {
        // An asynchronous caller gets STATUS_PENDING now; the IRP keeps its FILE_OBJECT
        // referenced until IopCompleteRequest (`finish_outstanding`).
        let mut state = kernel.lock();
        let file_object = state.irps.get_mut(id).and_then(|irp| {
            irp.outstanding = true;
            irp.file_object
        });
        if let Some(entry) = file_object.and_then(|f| state.file_objects.get_mut(f)) {
            entry.pointer_count += 1;
        }
    } else if waiting {
        wait_for_irp(id);
    }

    let mut state = kernel.lock();
    let entry = if outstanding {
        None
    } else {
        let Some(entry) = state.irps.remove(id) else {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Irp,
                id,
            });
            return IrpOutcome::status(returned);
        };
        if let Some(mdl) = entry.mdl {
            state.mdls.remove(mdl);
        }
        match entry.completed {
            None if !entry.abandoned => state.report(FindingKind::IrpNeverCompleted { irp: id }),
            Some(status) if returned != NtStatus::PENDING && status != returned => {
                state.report(FindingKind::DispatchStatusMismatch { irp: id })
            }
            _ => {}
        }
        Some(entry)
    };
    let irql = state.thread().irql;
    if irql != irql_before {
        let routine = "return from a dispatch routine at a raised IRQL";
        state.report(FindingKind::WrongIrql {
            routine,
            irql,
            max: irql_before,
        });
        state.thread().irql = irql_before;
    }
    if top_level {
        check_return_to_caller(&mut state, apcs_before, &held_before);
    }
    state.release_stack(charge);
    state.current_driver = previous_driver;
    state.context = previous;
    let thread = state.current_thread;
    let Some(entry) = entry else {
        if !state.trace_off {
            state.push_trace(format!("t{thread}: {} <- pending", major_name(major)));
        }
        return IrpOutcome::status(NtStatus::PENDING);
    };
    let status = entry.completed.unwrap_or(NtStatus::UNSUCCESSFUL);
    if !state.trace_off {
        state.push_trace(format!("t{thread}: {} <- {status:?}", major_name(major)));
    }
    let mut mdl_chain = entry.mdl_chain;
    if let Some(chain) = mdl_chain
        && (status.is_error() || request_minor & IRP_MN_COMPLETE != 0)
    {
        // A failed IRP_MN_MDL read's chain never reaches its caller; an IRP_MN_COMPLETE_MDL
        // must have given its chain back. Either way nobody will complete it.
        let file_object = state.cache.mdl_chains.get(&chain).map(|c| c.file_object);
        if let Some(file_object) = file_object {
            state.report(FindingKind::MdlChainLeak { file_object, chain });
        }
        mdl_chain = None;
    }
    let granted_access = match &entry.parameters {
        IrpParameters::Create(create) => {
            (create.remaining_desired_access | create.previously_granted_access)
                & !crate::kernel::MAXIMUM_ALLOWED
        }
        _ => 0,
    };
    IrpOutcome {
        status,
        information: entry.information,
        data: entry.buffer,
        reparse: entry.reparse,
        mdl_chain,
        granted_access,
    }
}

/// What a file system must have undone when a top-level call into it (a dispatch routine,
/// a fast I/O routine) returns to the I/O manager: APCs enabled as before, no resource newly
/// held, no top-level IRP left set.
pub(super) fn check_return_to_caller(state: &mut State, apcs_before: u32, held_before: &[ObjId]) {
    let apcs = state.thread().apc_disable;
    if apcs > apcs_before {
        state.report(FindingKind::ApcsDisabledOnReturn { count: apcs });
        state.thread().apc_disable = apcs_before;
    }
    for resource in held_by_current(state) {
        if !held_before.contains(&resource) {
            state.report(FindingKind::ResourceHeldOnReturn { resource });
        }
    }
    if state.thread().top_level_irp != 0 {
        state.report(FindingKind::TopLevelIrpLeftSet);
        state.thread().top_level_irp = 0;
    }
}

/// IopMountVolume: asks each registered disk file system, most recently registered first,
/// until one mounts. Returns the volume device, or the status of the last file system asked.
/// A refusal other than STATUS_UNRECOGNIZED_VOLUME ends the search there when the open does
/// not allow a raw mount (it names a file, not the volume itself) and the status is a "total
/// device failure" (every error but CRC_ERROR and DEVICE_DATA_ERROR), as is a user-induced
/// error the file system flags with Information 1: the open fails with that status, and no
/// later file system (nor RAW) is asked.
pub fn mount(kernel: &Arc<Kernel>, disk: ObjId, allow_raw: bool) -> Result<ObjId, NtStatus> {
    let (vpb, file_systems) = {
        let mut state = kernel.lock();
        let Some(vpb) = state.devices.get(disk).and_then(|d| d.vpb) else {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        };
        if let Some(entry) = state.vpbs.get(vpb)
            && entry.mounted
            && let Some(device) = entry.device
        {
            return Ok(device);
        }
        // IopMountVolume: no mount while the PnP manager removes the disk.
        if state
            .vpbs
            .get(vpb)
            .is_some_and(|entry| entry.remove_pending)
        {
            return Err(NtStatus::DEVICE_DOES_NOT_EXIST);
        }
        state.context = Context::from(format!("mount of disk {disk}"));
        // IopMountVolume clears DO_VERIFY_VOLUME before it asks the file systems.
        if let Some(entry) = state.devices.get_mut(disk) {
            entry.flags &= !crate::kernel::model::device::DO_VERIFY_VOLUME;
        }
        let file_systems: Vec<ObjId> = state
            .file_systems
            .iter()
            .copied()
            .filter(|&fs| !super::system::unload_pending_for_device(&state, fs))
            .collect();
        (vpb, file_systems)
    };
    let mut status = NtStatus::UNRECOGNIZED_VOLUME;
    for file_system in file_systems {
        {
            let mut state = kernel.lock();
            let name = state
                .devices
                .get(file_system)
                .and_then(|d| d.driver)
                .and_then(|d| state.drivers.get(d))
                .map(|d| d.name.clone())
                .unwrap_or_default();
            state.push_trace(format!("mount: asking {name} about disk {disk}"));
            state.mount_requests.push(name);
        }
        let mut request = IrpRequest::new(IrpMajor::FileSystemControl, None);
        request.minor = IRP_MN_MOUNT_VOLUME;
        request.parameters = IrpParameters::Mount(MountRequest {
            vpb,
            target: TargetDevice::new(disk),
        });
        let outcome = call_driver(kernel, file_system, request);
        let mut state = kernel.lock();
        let device = state.vpbs.get(vpb).and_then(|v| v.device);
        status = outcome.status;
        if outcome.status.is_success() {
            let Some(device) = device else {
                state.report(FindingKind::Other(String::from(
                    "mount succeeded without a volume device in the VPB",
                )));
                continue;
            };
            let driver = state.devices.get(file_system).and_then(|d| d.driver);
            if let Some(entry) = state.vpbs.get_mut(vpb) {
                entry.mounted = true;
                entry.file_system = driver;
            }
            state.push_trace(format!("mount: disk {disk} mounted as device {device}"));
            return Ok(device);
        }
        if device.is_some() {
            state.report(FindingKind::Other(String::from(
                "failed mount left a volume device in the VPB",
            )));
        }
        let user_induced = is_error_user_induced(status) && outcome.information == 1;
        let gives_up = !allow_raw
            && status != NtStatus::UNRECOGNIZED_VOLUME
            && is_total_device_failure(status);
        if user_induced || gives_up {
            state.push_trace(format!(
                "mount: disk {disk} refused with {status:?}, search ends"
            ));
            break;
        }
    }
    Err(status)
}

/// FsRtlIsTotalDeviceFailure: every error except a CRC or data error on the device.
fn is_total_device_failure(status: NtStatus) -> bool {
    !(status.is_success() || status == NtStatus::CRC_ERROR || status == NtStatus::DEVICE_DATA_ERROR)
}

/// IoIsErrorUserInduced (ntifs.h): the errors a user can fix (media, write protection, ...).
fn is_error_user_induced(status: NtStatus) -> bool {
    [
        NtStatus::DEVICE_NOT_READY,
        NtStatus::IO_TIMEOUT,
        NtStatus::MEDIA_WRITE_PROTECTED,
        NtStatus::NO_MEDIA_IN_DEVICE,
        NtStatus::UNRECOGNIZED_MEDIA,
        NtStatus::VERIFY_REQUIRED,
        NtStatus::WRONG_VOLUME,
    ]
    .contains(&status)
}

/// ObReferenceObject on a FILE_OBJECT.
pub fn reference(kernel: &Arc<Kernel>, file_object: ObjId) -> bool {
    let mut state = kernel.lock();
    match state.file_objects.get_mut(file_object) {
        Some(entry) => {
            entry.pointer_count += 1;
            true
        }
        None => {
            let id = file_object;
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id,
            });
            false
        }
    }
}

/// ObDereferenceObject: at zero the FILE_OBJECT is deleted (`delete_file`) right here, unless
/// the caller runs with all APCs disabled (IRQL >= APC_LEVEL, e.g. under a FAST_MUTEX): then
/// the deletion is queued to a worker thread (ReactOS `ntoskrnl/ob/obref.c`,
/// ObfDereferenceObject: KeAreAllApcsDisabled, then ObpDeferObjectDeletion), so the CLOSE
/// never nests under the caller's lock.
pub fn dereference(kernel: &Arc<Kernel>, file_object: ObjId) {
    {
        let mut state = kernel.lock();
        let Some(entry) = state.file_objects.get_mut(file_object) else {
            let id = file_object;
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id,
            });
            return;
        };
        entry.pointer_count = entry.pointer_count.saturating_sub(1);
        if entry.pointer_count > 0 {
            return;
        }
        if state.thread().irql >= crate::kernel::model::APC_LEVEL {
            let thread = state.current_thread;
            state.push_trace(format!(
                "t{thread}: ObDereferenceObject above PASSIVE_LEVEL: deletion of FO {file_object} deferred"
            ));
            let owner = kernel.clone();
            state.work_queue.push_back((
                format!("deferred deletion of FO {file_object}"),
                std::boxed::Box::new(move || delete_file(&owner, file_object)),
            ));
            return;
        }
    }
    delete_file(kernel, file_object);
}

/// IopDeleteFile: the VPB reference goes, the filter observer runs, IRP_MJ_CLOSE, then the
/// FILE_OBJECT is freed and its RelatedFileObject dereferenced.
fn delete_file(kernel: &Arc<Kernel>, file_object: ObjId) {
    let device = {
        let mut state = kernel.lock();
        let Some(entry) = state.file_objects.get(file_object) else {
            let id = file_object;
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id,
            });
            return;
        };
        let (device, vpb) = (entry.device, entry.vpb);
        // IopDeleteFile gives back the FILE_OBJECT's VPB reference before it sends the CLOSE.
        if let Some(vpb) = vpb {
            vpb::dereference_for_close(&mut state, vpb);
        }
        filter::observe_close(&mut state, file_object);
        let driver = state.devices.get(device).and_then(|d| d.driver);
        (device, driver)
    };
    let (device, driver) = device;
    call_driver(
        kernel,
        device,
        IrpRequest::new(IrpMajor::Close, Some(file_object)),
    );
    let related = {
        let mut state = kernel.lock();
        let Some(entry) = state.file_objects.remove(file_object) else {
            return;
        };
        let under_irp = state
            .irps
            .iter()
            .find(|(_, irp)| {
                irp.file_object == Some(file_object) && irp.major != IrpMajor::Close as u8
            })
            .map(|(irp, _)| irp);
        if let Some(irp) = under_irp {
            state.report(FindingKind::FileObjectFreedUnderIrp { file_object, irp });
        }
        entry.related
    };
    // IopDeleteFile drops the reference the FILE_OBJECT held on its RelatedFileObject.
    if let Some(related) = related {
        dereference(kernel, related);
    }
    super::system::check_deferred_unload(kernel, driver);
}

/// A handle to `file_object` was closed: CLEANUP at the last handle, then drop the handle's
/// reference.
pub fn close_handle(kernel: &Arc<Kernel>, file_object: ObjId) {
    close_handle_in(kernel, file_object, 0);
}

/// `close_handle` by process `pid`: the CLEANUP IRP, if this was the last handle, is sent in
/// that process's context (IoGetRequestorProcess gives it, and FsRtlFastUnlockAll releases
/// that process's byte-range locks).
pub fn close_handle_in(kernel: &Arc<Kernel>, file_object: ObjId, pid: u32) {
    let last = {
        let mut state = kernel.lock();
        match state.file_objects.get_mut(file_object) {
            Some(entry) => {
                entry.handle_count = entry.handle_count.saturating_sub(1);
                (entry.handle_count == 0).then_some(entry.device)
            }
            None => {
                let id = file_object;
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::FileObject,
                    id,
                });
                return;
            }
        }
    };
    if let Some(device) = last {
        let mut cleanup = IrpRequest::new(IrpMajor::Cleanup, Some(file_object));
        cleanup.requestor = pid;
        call_driver(kernel, device, cleanup);
        if let Some(entry) = kernel.lock().file_objects.get_mut(file_object) {
            entry.flags |= FO_CLEANUP_COMPLETE;
        }
    }
    dereference(kernel, file_object);
}

/// The device kind an id names (for path resolution).
pub fn device_kind(kernel: &Arc<Kernel>, device: ObjId) -> Option<DeviceKind> {
    kernel.lock().devices.get(device).map(|d| d.kind)
}

/// IoVerifyVolume(disk, FALSE): IRP_MJ_FILE_SYSTEM_CONTROL / IRP_MN_VERIFY_VOLUME, with the VPB
/// and the disk, to the mounted volume's device (Vpb->DeviceObject), holding a VPB reference
/// across the call (ReactOS `ntoskrnl/io/iomgr/volume.c`, IoVerifyVolume: IopReferenceVerifyVpb
/// before, IopDereferenceVpbAndFree after). On STATUS_WRONG_VOLUME the disk gets a new VPB
/// (IopCreateVpb) and is mounted afresh at once; the old VPB and volume device are left to the
/// file system, which must free that VPB (CDFS `verfysup.c`). STATUS_VOLUME_DISMOUNTED if the
/// disk is not mounted. A file system may call it from inside its own dispatch routine (a
/// CREATE that met STATUS_VERIFY_REQUIRED), where the verify IRP nests.
pub fn verify_volume(kernel: &Arc<Kernel>, disk: ObjId) -> NtStatus {
    let prepared = {
        let mut state = kernel.lock();
        state.require_irql("IoVerifyVolume", 0);
        let vpb = state.devices.get(disk).and_then(|d| d.vpb);
        match vpb.and_then(|vpb| state.vpbs.get(vpb).map(|entry| (vpb, entry))) {
            Some((vpb, entry)) if entry.mounted && entry.device.is_some() => {
                let volume = entry.device;
                vpb::reference(&mut state, vpb);
                volume.map(|volume| (vpb, volume))
            }
            _ => None,
        }
    };
    let Some((vpb, volume)) = prepared else {
        return NtStatus::VOLUME_DISMOUNTED;
    };
    let mut request = IrpRequest::new(IrpMajor::FileSystemControl, None);
    request.minor = crate::kernel::request::IRP_MN_VERIFY_VOLUME;
    request.parameters = IrpParameters::VerifyVolume(MountRequest {
        vpb,
        target: TargetDevice::new(disk),
    });
    let status = call_driver(kernel, volume, request).status;
    {
        let mut state = kernel.lock();
        vpb::dereference_and_free(&mut state, vpb);
        if status == NtStatus::WRONG_VOLUME {
            let fresh = vpb::create_for_disk(&mut state, disk);
            state.push_trace(format!(
                "verify: wrong volume, disk {disk} gets VPB {fresh}"
            ));
        }
    }
    if status == NtStatus::WRONG_VOLUME {
        // IopMountVolume right away; a medium nobody recognizes stays unmounted.
        let _ = mount(kernel, disk, false);
    }
    status
}

fn irp_completed(state: &State, irp: ObjId) -> bool {
    state
        .irps
        .get(irp)
        .is_none_or(|entry| entry.completed.is_some())
}

/// A synchronous caller waits for a pended IRP (KeWaitForSingleObject on the FILE_OBJECT's
/// event or the IRP's): a job blocks until another thread completes it; the scheduler's own
/// thread runs the worker and other jobs meanwhile, and gives up when none can run.
fn wait_for_irp(irp: ObjId) {
    loop {
        if with_state(|state| irp_completed(state, irp)).unwrap_or(true) {
            return;
        }
        if preempt::on_job() {
            preempt::block(preempt::Wait::Irp(irp));
        } else if !run_one_work_item()
            && !preempt::run_jobs_until(|state| irp_completed(state, irp))
        {
            return;
        }
    }
}

/// IopCompleteRequest's last stage for an IRP left outstanding: the IRP and its MDL go, the
/// result is kept for `Session::completed_async`, the FILE_OBJECT is dereferenced (which may
/// send its CLOSE).
pub fn finish_outstanding(irp: ObjId) {
    let Some(kernel) = current() else { return };
    let file_object = {
        let mut state = kernel.lock();
        let Some(entry) = state.irps.remove(irp) else {
            return;
        };
        if let Some(mdl) = entry.mdl {
            state.mdls.remove(mdl);
        }
        let status = entry.completed.unwrap_or(NtStatus::UNSUCCESSFUL);
        if let Some(file_object) = entry.file_object {
            state
                .async_completions
                .push((file_object, entry.major, status, entry.information));
        }
        let thread = state.current_thread;
        state.push_trace(format!("t{thread}: IopCompleteRequest {irp} <- {status:?}"));
        entry.file_object
    };
    if let Some(file_object) = file_object {
        dereference(&kernel, file_object);
    }
}

/// A caller waiting on the event of its oldest outstanding request on `file_object` (on a
/// job): blocks until that IRP has completed and IopCompleteRequest's last stage has run, then
/// takes the completion. STATUS_PENDING at once if nothing was sent or is outstanding.
pub fn await_completion(kernel: &Arc<Kernel>, file_object: ObjId) -> IrpOutcome {
    let _entered = enter(kernel);
    loop {
        let outstanding = {
            let mut state = kernel.lock();
            let completions = &mut state.async_completions;
            if let Some(index) = completions.iter().position(|c| c.0 == file_object) {
                let (_, _, status, information) = completions.remove(index);
                return IrpOutcome {
                    status,
                    information,
                    data: Vec::new(),
                    reparse: None,
                    mdl_chain: None,
                    granted_access: 0,
                };
            }
            state
                .irps
                .iter()
                .find(|(_, e)| e.outstanding && e.file_object == Some(file_object))
                .map(|(id, e)| (id, e.completed.is_some()))
        };
        match outstanding {
            None => return IrpOutcome::status(NtStatus::PENDING),
            Some(_) if !preempt::on_job() => return IrpOutcome::status(NtStatus::PENDING),
            Some((irp, false)) => preempt::block(preempt::Wait::Irp(irp)),
            Some((_, true)) => preempt::block(preempt::Wait::Completion(file_object)),
        }
    }
}

/// IoCancelIrp on every IRP outstanding or waited for on `file_object` (NtCancelIoFileEx):
/// an IRP whose cancel routine is set completes through it. Returns how many were cancelled.
pub fn cancel_io(kernel: &Arc<Kernel>, file_object: ObjId) -> usize {
    let _entered = enter(kernel);
    let irps: Vec<ObjId> = {
        let mut state = kernel.lock();
        let ids: Vec<ObjId> = state
            .irps
            .iter()
            .filter(|(_, e)| e.file_object == Some(file_object) && e.completed.is_none())
            .map(|(id, _)| id)
            .collect();
        for id in &ids {
            if let Some(entry) = state.irps.get_mut(*id) {
                entry.cancelled = true;
            }
        }
        ids
    };
    irps.into_iter()
        .filter(|&irp| {
            crate::kernel::model::notify::cancel(irp) || crate::kernel::model::oplock::cancel(irp)
        })
        .count()
}
