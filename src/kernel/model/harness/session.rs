//! The FileTest-style session API: what a user-mode program does through ntdll, turned into the
//! object manager and I/O manager work the model does for it.

use std::boxed::Box;
use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::disk::DiskModel;
use super::filter;
use super::io::{self, IrpOutcome, IrpRequest};
use super::objects::Process;
use super::query_lengths;
use crate::kernel::model::context::Context;
use crate::kernel::model::device::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceKind};
use crate::kernel::model::file_object::{
    FO_NO_INTERMEDIATE_BUFFERING, FO_STREAM_FILE, FO_SYNCHRONOUS_IO, FileObjectEntry,
};
use crate::kernel::model::irp::BufferKind;
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::{Kernel, enter};
use crate::kernel::model::token::Token;
use crate::kernel::model::verifier::{Finding, FindingKind};
use crate::kernel::model::vpb;
use crate::kernel::request::{
    CreateParameters, FILE_NO_INTERMEDIATE_BUFFERING, IRP_MN_QUERY_DIRECTORY, IrpParameters,
    SL_RESTART_SCAN, SL_RETURN_SINGLE_ENTRY,
};
use crate::kernel::{IrpMajor, NtStatus};

pub type Pid = u32;

/// A handle in one process's handle table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Handle {
    pub pid: Pid,
    pub value: u32,
}

/// FSCTL_DISMOUNT_VOLUME.
pub const FSCTL_DISMOUNT_VOLUME: u32 = 0x0009_0020;
/// The reparse tags the I/O manager follows itself (ntifs.h).
const IO_REPARSE_TAG_MOUNT_POINT: u32 = 0xA000_0003;
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
/// STATUS_NOT_SUPPORTED.
const STATUS_NOT_SUPPORTED: NtStatus = NtStatus(0xC000_00BB_u32 as i32);
/// FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT.
const FILE_SYNCHRONOUS_IO: u32 = 0x0000_0010 | 0x0000_0020;

/// NtCreateFile's parameters.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreateRequest {
    /// ObjectAttributes->ObjectName: absolute (`\Device\Disk0\dir\f`), or relative to `root`.
    pub path: String,
    /// ObjectAttributes->RootDirectory.
    pub root: Option<Handle>,
    /// OBJ_CASE_INSENSITIVE is the default; false sets SL_CASE_SENSITIVE.
    pub case_insensitive: bool,
    pub desired_access: u32,
    pub share_access: u16,
    pub disposition: u32,
    pub options: u32,
    pub file_attributes: u16,
    pub allocation_size: u64,
    pub ea: Vec<u8>,
    /// Open by file ID: the name becomes the 8-byte ID (set FILE_OPEN_BY_FILE_ID in `options`);
    /// `path` then names only the volume (or is empty with `root` set).
    pub file_id: Option<u64>,
}

impl CreateRequest {
    /// FILE_GENERIC_READ, share all, FILE_OPEN, synchronous non-alert.
    pub fn open(path: &str) -> CreateRequest {
        CreateRequest {
            path: String::from(path),
            root: None,
            case_insensitive: true,
            desired_access: 0x0012_0089,
            share_access: 7,
            disposition: 1,
            options: 0x20,
            file_attributes: 0,
            allocation_size: 0,
            ea: Vec::new(),
            file_id: None,
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CreateResult {
    pub status: NtStatus,
    pub handle: Option<Handle>,
    /// IoStatus.Information; for STATUS_REPARSE, the reparse tag.
    pub information: usize,
    /// STATUS_REPARSE: the AuxiliaryBuffer the FSD returned (the harness does not follow it).
    pub reparse: Option<Vec<u8>>,
}

/// An NtCreateFile past IopCheckVpbMounted whose IRP_MJ_CREATE has not been sent yet
/// (`Session::begin_create`); `finish_create` sends it.
#[derive(Debug)]
pub struct PendingCreate {
    pid: Pid,
    file_object: ObjId,
    device: ObjId,
    vpb: Option<ObjId>,
    related: Option<ObjId>,
    request: CreateRequest,
    /// The caller's token, captured for the ACCESS_STATE (SeCaptureSubjectContext).
    subject: Box<Token>,
    /// How many times this open was parsed again after an IO_REMOUNT answer.
    remounts: u32,
}

/// A handle taken out of its process's table, its FILE_OBJECT still to be let go of.
pub struct ClosingHandle {
    pub pid: Pid,
    pub file_object: ObjId,
    /// The process has another handle to the same FILE_OBJECT.
    pub still_held: bool,
}

/// The most IO_REMOUNT reparses one NtCreateFile follows (IopParseDevice's bound on reparse
/// traversals, IOP_MAX_REPARSE_TRAVERSAL in ReactOS).
const MAX_REMOUNTS: u32 = 32;

/// An object-manager reference a system component (Mm, Cc) holds on a FILE_OBJECT.
#[derive(Debug)]
pub struct SystemRef {
    pub(crate) file_object: ObjId,
}

/// One modelled machine with its processes, disks and drivers.
pub struct Session {
    pub(crate) kernel: Arc<Kernel>,
    pub(crate) processes: BTreeMap<Pid, Process>,
    next_pid: Pid,
    pub(crate) disks: Vec<(String, ObjId, Arc<DiskModel>)>,
    /// `capture_next_send`: the next IRP `send` builds is kept here instead of sent.
    capture_send: bool,
    captured: Option<(ObjId, IrpRequest)>,
}

impl Default for Session {
    fn default() -> Self {
        Session::new()
    }
}

impl Session {
    /// A machine with one process (pid 4, "System" is not modelled; the first user pid is 100).
    pub fn new() -> Session {
        let mut session = Session {
            kernel: Kernel::new(),
            processes: BTreeMap::new(),
            next_pid: 100,
            disks: Vec::new(),
            capture_send: false,
            captured: None,
        };
        session.create_process();
        session
    }

    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// The first process, created with the session.
    pub fn initial_process(&self) -> Pid {
        100
    }

    pub fn create_process(&mut self) -> Pid {
        let pid = self.next_pid;
        self.next_pid += 4;
        self.processes.insert(pid, Process::default());
        pid
    }

    /// A process of a standard (not elevated) user: the access checks against device DACLs
    /// apply to it.
    pub fn create_standard_user_process(&mut self) -> Pid {
        let pid = self.create_process();
        if let Some(process) = self.processes.get_mut(&pid) {
            process.standard_user = true;
        }
        pid
    }

    /// Seeds the model's choices among the outcomes Windows allows (e.g. whether
    /// CcUninitializeCacheMap deletes the shared cache map at once or leaves it to the lazy
    /// writer).
    pub fn set_choice_seed(&self, seed: u64) {
        let mut state = self.kernel.lock();
        state.choice_seed = seed;
        state.processor_seed = seed;
    }

    /// The machine's active processors from now on (at least 1): before a mount, what the
    /// volume sizes its per-processor counters by; after it, a processor added or removed.
    pub fn set_processor_count(&self, processors: u32) {
        self.kernel.lock().processors = processors.max(1);
    }

    /// Cache manager counters: (paging reads sent, shared maps deleted inside
    /// CcUninitializeCacheMap, shared maps deleted by the lazy writer, shared maps alive).
    pub fn cache_counters(&self) -> (u64, u64, u64, usize) {
        let state = self.kernel.lock();
        let cache = &state.cache;
        (
            cache.paging_reads,
            cache.deleted_inline,
            cache.deleted_lazily,
            cache.shared.len(),
        )
    }

    /// The system cache's working-set maximum from now on (default 64 MiB): what the machine's
    /// memory lets the file cache keep, or SetSystemFileCacheSize with
    /// FILE_CACHE_MAX_HARD_ENABLE (docs/nt-model.md, "Cache manager"). Past it the oldest
    /// cached runs are dropped; a lower limit trims at once.
    pub fn set_cache_working_set_limit(&self, bytes: usize) {
        let limit = crate::kernel::model::cache::WorkingSetLimit(bytes);
        self.kernel.lock().cache.set_working_set_limit(limit);
    }

    /// The cache's working set: (bytes of cached pages now, the limit).
    pub fn cache_working_set(&self) -> (usize, usize) {
        let state = self.kernel.lock();
        let cache = &state.cache;
        (cache.working_set_bytes, cache.working_set_limit.0)
    }

    /// What the cache manager's read-ahead did (`model::read_ahead`).
    pub fn read_ahead_counters(&self) -> crate::kernel::model::read_ahead::ReadAheadCounters {
        self.kernel.lock().cache.read_ahead
    }

    /// Runs the following operations on modelled thread `thread`.
    pub fn set_thread(&self, thread: u32) {
        let mut state = self.kernel.lock();
        if (thread as usize) < state.threads.len() {
            state.current_thread = thread;
        }
    }

    pub fn add_thread(&self, name: &str) -> u32 {
        self.kernel.lock().add_thread(name)
    }

    pub fn findings(&self) -> Vec<Finding> {
        self.kernel.lock().findings.clone()
    }

    pub fn take_findings(&self) -> Vec<Finding> {
        core::mem::take(&mut self.kernel.lock().findings)
    }

    pub fn trace(&self) -> Vec<String> {
        self.kernel.lock().trace.clone()
    }

    /// Appends a line to the trace (what the caller did).
    pub fn note(&self, line: String) {
        let mut state = self.kernel.lock();
        if state.trace_off {
            state.context = Context::from(line);
        } else {
            state.context = Context::from(line.clone());
            state.push_trace(line);
        }
    }

    /// Keeps (true, the default) or stops keeping trace lines; findings are kept either way.
    /// A long run (a million creates) turns it off so the trace does not grow without bound.
    /// A deep filter stack: every IRP sent to a file system from now on first passes filters
    /// that use `bytes` of kernel stack (on top of the I/O and filter managers' own frames), so
    /// IoGetRemainingStackSize reports that much less to the driver, at every nesting level.
    pub fn set_filter_stack(&self, bytes: usize) {
        self.kernel.lock().filter_stack = bytes;
    }

    pub fn set_trace_enabled(&self, on: bool) {
        self.kernel.lock().trace_off = !on;
    }

    /// Bytes in live pool blocks (the driver's and the model's own, e.g. filter contexts).
    pub fn pool_bytes(&self) -> usize {
        self.kernel.lock().pool_bytes
    }

    /// Live pool blocks.
    pub fn pool_blocks(&self) -> usize {
        self.kernel.lock().pool_blocks
    }

    /// The most bytes live at once since the session began or `reset_pool_peak`.
    pub fn pool_peak_bytes(&self) -> usize {
        self.kernel.lock().pool_peak_bytes
    }

    /// The next `count` work items allocated per call (a driver's `queue_work_item`) fail, as
    /// IoAllocateWorkItem does when pool is short; preallocated items are not affected.
    /// The `n`th fallible allocation from now (1: the next) fails with
    /// STATUS_INSUFFICIENT_RESOURCES, as ExAllocatePool2 does when pool is short (seed 004's
    /// sweep). `allocations` counts them.
    pub fn fail_nth_allocation(&self, n: u64) {
        self.kernel.lock().allocation_failure_countdown = Some(n);
    }

    /// Fallible allocations made so far.
    pub fn allocations(&self) -> u64 {
        self.kernel.lock().allocations
    }

    pub fn fail_work_item_allocations(&self, count: usize) {
        self.kernel.lock().work_item_allocation_failures = count;
    }

    /// Starts a new peak from the bytes live now.
    pub fn reset_pool_peak(&self) {
        let mut state = self.kernel.lock();
        state.pool_peak_bytes = state.pool_bytes;
    }

    /// FsRtlCheckOplock calls so far (`FcbArc::oplock_cleanup`).
    pub fn oplock_check_count(&self) -> usize {
        self.kernel.lock().oplock_checks
    }

    /// Fast I/O calls made (the I/O manager tried a routine of the file system's
    /// FAST_IO_DISPATCH), those that answered TRUE, and fast reads that answered FALSE because
    /// a paging read under CcCopyRead failed (the request was then sent as an IRP).
    pub fn fast_io_counters(&self) -> (u64, u64, u64) {
        let state = self.kernel.lock();
        (
            state.fast_io_calls,
            state.fast_io_taken,
            state.fast_read_raised,
        )
    }

    /// FsRtlFastUnlockAll calls so far (`FcbArc::unlock_all`).
    pub fn unlock_all_count(&self) -> usize {
        self.kernel.lock().unlock_alls
    }

    /// Live FILE_OBJECTs with FO_STREAM_FILE (those a driver created with
    /// `StreamFileObject::try_create`).
    pub fn stream_file_objects(&self) -> Vec<ObjId> {
        self.kernel
            .lock()
            .file_objects
            .iter()
            .filter(|(_, f)| f.flags & FO_STREAM_FILE != 0)
            .map(|(id, _)| id)
            .collect()
    }

    /// The file systems asked to mount a disk so far, by driver name, in order.
    pub fn file_systems_asked(&self) -> Vec<String> {
        self.kernel.lock().mount_requests.clone()
    }

    /// What the kernel debugger shows of the drivers' DbgPrintEx output: the lines whose level
    /// the component's filter mask (or the default system-wide mask) admits.
    pub fn debugger_output(&self) -> Vec<String> {
        let state = self.kernel.lock();
        state
            .debug_output
            .iter()
            .filter(|(component, level, _)| {
                crate::kernel::model::debug_print::visible(&state, *component, *level)
            })
            .map(|(_, _, text)| text.clone())
            .collect()
    }

    /// Sets Kd_<component>_Mask, as `ed nt!Kd_IHVDRIVER_Mask 0xf` or the "Debug Print Filter"
    /// registry key do.
    pub fn set_debug_filter_mask(&self, component: u32, mask: u32) {
        let mut state = self.kernel.lock();
        state.debug_filter_masks.retain(|(c, _)| *c != component);
        state.debug_filter_masks.push((component, mask));
    }

    /// The volume events the file systems reported (FsRtlNotifyVolumeEvent), in order.
    pub fn volume_events(&self) -> Vec<crate::kernel::VolumeEvent> {
        self.kernel.lock().volume_events.clone()
    }

    /// The filter observer attaches a per-stream context at every successful CREATE.
    pub fn set_filter_attach_contexts(&self, on: bool) {
        self.kernel.lock().filter_attach_contexts = on;
    }

    /// The filter's per-stream context on the FCB behind `context_fcb_of` takes a reference on
    /// the FILE_OBJECT behind `held`, and drops it (ObDereferenceObject) when that context is
    /// torn down: at FsRtlTeardownPerStreamContexts, in the FCB's last reference drop. That
    /// drop may send `held`'s IRP_MJ_CLOSE nested inside whatever the driver was doing when it
    /// let go of the FCB. STATUS_INVALID_HANDLE for a bad handle; STATUS_NOT_SUPPORTED if
    /// `context_fcb_of` names no FCB with an advanced header (FltSetStreamContext's answer).
    pub fn filter_hold_reference(
        &mut self,
        context_fcb_of: Handle,
        held: Handle,
    ) -> Result<(), NtStatus> {
        let stream = self.file_object(context_fcb_of)?;
        let held = self.file_object(held)?;
        let mut state = self.kernel.lock();
        let Some(fcb) = state
            .file_objects
            .get(stream)
            .and_then(|f| f.fs_context)
            .map(|c| c.id)
        else {
            return Err(STATUS_NOT_SUPPORTED);
        };
        if state.file_objects.get(held).is_none() {
            return Err(NtStatus(0xC000_0008_u32 as i32));
        }
        filter::hold_reference(&mut state, fcb, held)
            .map(|_| ())
            .ok_or(STATUS_NOT_SUPPORTED)
    }

    /// FILE_OBJECT references the filter observer holds in its per-stream contexts.
    pub fn filter_held_references(&self) -> usize {
        self.kernel
            .lock()
            .filter_held_references
            .values()
            .map(Vec::len)
            .sum()
    }

    /// The FILE_OBJECT behind a handle (STATUS_INVALID_HANDLE if it names none).
    pub fn file_object(&self, handle: Handle) -> Result<ObjId, NtStatus> {
        self.processes
            .get(&handle.pid)
            .and_then(|p| p.get(handle.value))
            .ok_or(NtStatus(0xC000_0008_u32 as i32)) // STATUS_INVALID_HANDLE
    }

    /// (pointer count, handle count) of the FILE_OBJECT behind `handle`.
    pub fn counts(&self, handle: Handle) -> Option<(u32, u32)> {
        let file_object = self.file_object(handle).ok()?;
        let state = self.kernel.lock();
        state
            .file_objects
            .get(file_object)
            .map(|f| (f.pointer_count, f.handle_count))
    }

    /// Live FILE_OBJECTs as (id, pointer count, handle count, device).
    pub fn live_file_objects(&self) -> Vec<(ObjId, u32, u32, ObjId)> {
        self.kernel
            .lock()
            .file_objects
            .iter()
            .map(|(id, f)| (id, f.pointer_count, f.handle_count, f.device))
            .collect()
    }

    /// Live FILE_OBJECTs in the machine.
    pub fn file_object_count(&self) -> usize {
        self.kernel.lock().file_objects.len()
    }

    /// Resolves an absolute name to (device, remaining name, vpb). Under a disk this is
    /// IopCheckVpbMounted: mount if the disk's VPB is not mounted, refuse a locked VPB, and
    /// take a VPB reference for the open, which holds it until its CREATE fails or its
    /// FILE_OBJECT is deleted.
    fn resolve(&mut self, path: &str) -> Result<(ObjId, String, Option<ObjId>), NtStatus> {
        let named: Vec<(String, ObjId, DeviceKind)> = {
            let state = self.kernel.lock();
            state
                .devices
                .iter()
                .filter(|(_, d)| !d.name.is_empty())
                .map(|(id, d)| (d.name.clone(), id, d.kind))
                .collect()
        };
        let lower = path.to_ascii_lowercase();
        let best = named
            .into_iter()
            .filter(|(name, _, _)| {
                let name = name.to_ascii_lowercase();
                lower == name || (lower.starts_with(&name) && lower[name.len()..].starts_with('\\'))
            })
            .max_by_key(|(name, _, _)| name.len());
        let Some((name, device, kind)) = best else {
            return Err(NtStatus::OBJECT_NAME_NOT_FOUND);
        };
        let rest = String::from(&path[name.len()..]);
        match kind {
            DeviceKind::Disk => {
                // IopCheckVpbMounted allows a raw mount when the open names the volume itself.
                let volume = io::mount(&self.kernel, device, rest.is_empty())?;
                let mut state = self.kernel.lock();
                let vpb = state.devices.get(device).and_then(|d| d.vpb);
                let Some(vpb) = vpb else {
                    return Err(NtStatus::VOLUME_DISMOUNTED);
                };
                if state.vpbs.get(vpb).is_some_and(|entry| entry.locked) {
                    return Err(NtStatus::ACCESS_DENIED);
                }
                vpb::reference(&mut state, vpb);
                Ok((volume, rest, Some(vpb)))
            }
            _ => Ok((device, rest, None)),
        }
    }

    /// Opens a test driver's control device from the initial process.
    pub fn open_test_driver(&mut self) -> CreateResult {
        let pid = self.initial_process();
        self.nt_create_file(pid, &CreateRequest::open(super::driver::TEST_DRIVER_DEVICE))
    }

    /// NtCreateFile.
    pub fn nt_create_file(&mut self, pid: Pid, request: &CreateRequest) -> CreateResult {
        match self.begin_create(pid, request) {
            Ok(pending) => self.finish_create(pending),
            Err(failed) => failed,
        }
    }

    /// The first half of NtCreateFile: the name is parsed, the volume mounted if need be, the
    /// VPB referenced (IopCheckVpbMounted), the target device chosen (Vpb->DeviceObject) and
    /// the FILE_OBJECT allocated; the IRP_MJ_CREATE is not sent yet. On Windows the thread
    /// can be preempted right here, so other steps (the volume's last CLOSE, a dismount) may
    /// run before `finish_create`.
    pub fn begin_create(
        &mut self,
        pid: Pid,
        request: &CreateRequest,
    ) -> Result<PendingCreate, CreateResult> {
        let fail = |status| CreateResult {
            status,
            handle: None,
            information: 0,
            reparse: None,
        };
        if !self.processes.contains_key(&pid) {
            return Err(fail(NtStatus::INVALID_PARAMETER));
        }
        self.note(format!("NtCreateFile {:?} in pid {pid}", request.path));
        let (device, name, vpb, related) = match request.root {
            Some(root) => {
                let Ok(related) = self.file_object(root) else {
                    return Err(fail(NtStatus(0xC000_0008_u32 as i32)));
                };
                let mut state = self.kernel.lock();
                let Some(entry) = state.file_objects.get(related) else {
                    return Err(fail(NtStatus(0xC000_0008_u32 as i32)));
                };
                let (device, vpb) = (entry.device, entry.vpb);
                // IopParseDevice: a relative open references its RelatedFileObject's VPB.
                if let Some(vpb) = vpb {
                    vpb::reference(&mut state, vpb);
                }
                (device, request.path.clone(), vpb, Some(related))
            }
            None => match self.resolve(&request.path) {
                Ok((device, name, vpb)) => (device, name, vpb, None),
                Err(status) => return Err(fail(status)),
            },
        };
        let name = match request.file_id {
            Some(id) => (0..4)
                .map(|i| (id >> (16 * i)) as u16)
                .collect::<Vec<u16>>(),
            None => name.encode_utf16().collect(),
        };
        let synchronous = request.options & FILE_SYNCHRONOUS_IO != 0;
        let standard_user = self.processes.get(&pid).is_some_and(|p| p.standard_user);
        let mut state = self.kernel.lock();
        if related.is_none()
            && standard_user
            && crate::kernel::model::device::denies_standard_user(&state, device, name.is_empty())
        {
            if let Some(vpb) = vpb {
                vpb::dereference_and_free(&mut state, vpb);
            }
            return Err(fail(NtStatus::ACCESS_DENIED));
        }
        if super::system::unload_pending_for_device(&state, device) {
            if let Some(vpb) = vpb {
                vpb::dereference_and_free(&mut state, vpb);
            }
            return Err(fail(NtStatus(0xC000_000E_u32 as i32))); // STATUS_NO_SUCH_DEVICE
        }
        if let Some(related) = related
            && let Some(entry) = state.file_objects.get_mut(related)
        {
            // The RelatedFileObject is referenced for the life of the new FILE_OBJECT.
            entry.pointer_count += 1;
        }
        let file_object = state.file_objects.insert(FileObjectEntry {
            pointer_count: 1,
            handle_count: 0,
            fs_context: None,
            fs_context2: None,
            flags: (if synchronous { FO_SYNCHRONOUS_IO } else { 0 })
                | if request.options & FILE_NO_INTERMEDIATE_BUFFERING != 0 {
                    FO_NO_INTERMEDIATE_BUFFERING
                } else {
                    0
                },
            file_name: name,
            related,
            device,
            vpb,
            current_byte_offset: 0,
            section_object_pointers: None,
            access: Default::default(),
            lock_operation: false,
        });
        let subject = Box::new(
            self.processes
                .get(&pid)
                .map_or_else(Token::ordinary_user, |p| p.token.clone()),
        );
        Ok(PendingCreate {
            pid,
            file_object,
            device,
            vpb,
            related,
            request: request.clone(),
            subject,
            remounts: 0,
        })
    }

    /// The second half of NtCreateFile: IRP_MJ_CREATE to the device chosen in `begin_create`
    /// (even if it has been deleted since: that is what the verifier must see). A failed or
    /// reparsed open gives its VPB reference back (IopDereferenceVpbAndFree).
    pub fn finish_create(&mut self, pending: PendingCreate) -> CreateResult {
        let (device, irp) = create_irp(&pending);
        let outcome = io::call_driver(&self.kernel, device, irp);
        self.complete_create(pending, outcome)
    }

    /// What the I/O manager does once IRP_MJ_CREATE has returned `outcome`: the handle, or the
    /// FILE_OBJECT freed and the VPB reference given back.
    pub fn complete_create(&mut self, pending: PendingCreate, outcome: IrpOutcome) -> CreateResult {
        let PendingCreate {
            pid,
            file_object,
            device: _,
            vpb,
            related,
            request,
            subject: _,
            remounts,
        } = pending;
        let mut state = self.kernel.lock();
        if !outcome.status.is_success()
            || outcome.status == NtStatus::PENDING
            || outcome.status == NtStatus::REPARSE
        {
            // A failed (or reparsed) CREATE: the I/O manager frees the FILE_OBJECT and sends
            // no CLOSE; for STATUS_REPARSE it would then reparse the name (not modelled).
            if let Some(entry) = state.file_objects.remove(file_object)
                && (entry.fs_context.is_some() || entry.fs_context2.is_some())
            {
                state.report(FindingKind::FailedCreateLeftContext { file_object });
            }
            if let Some(vpb) = vpb {
                vpb::dereference_and_free(&mut state, vpb);
            }
            drop(state);
            // The reference on the RelatedFileObject goes too; it may be the last one (its
            // handle closed while this open was on its way), and then its CLOSE comes now.
            if let Some(related) = related {
                io::dereference(&self.kernel, related);
            }
            // STATUS_REPARSE with IO_REMOUNT: the file system found another volume on the disk
            // (a verify said so); IopParseDevice parses the name again, which mounts it.
            if outcome.status == NtStatus::REPARSE
                && outcome.information == crate::kernel::model::irp::IO_REMOUNT
                && outcome.reparse.is_none()
                && remounts < MAX_REMOUNTS
            {
                self.note(format!("IO_REMOUNT: {:?} parsed again", request.path));
                return match self.begin_create(pid, &request) {
                    Ok(mut again) => {
                        again.remounts = remounts + 1;
                        self.finish_create(again)
                    }
                    Err(failed) => failed,
                };
            }
            // A reparse tag the I/O manager does not follow itself (only mount points and
            // symlinks are: IopParseDevice's name transmogrify) and no filter claims (none is
            // modelled) fails the open with STATUS_IO_REPARSE_TAG_NOT_HANDLED.
            if outcome.status == NtStatus::REPARSE
                && outcome.reparse.is_some()
                && !matches!(
                    outcome.information as u32,
                    IO_REPARSE_TAG_MOUNT_POINT | IO_REPARSE_TAG_SYMLINK
                )
            {
                return CreateResult {
                    status: NtStatus::IO_REPARSE_TAG_NOT_HANDLED,
                    handle: None,
                    information: 0,
                    reparse: None,
                };
            }
            return CreateResult {
                status: outcome.status,
                handle: None,
                information: outcome.information,
                reparse: outcome.reparse,
            };
        }
        if let Some(entry) = state.file_objects.get_mut(file_object) {
            entry.handle_count = 1;
        }
        filter::observe_create(&mut state, file_object);
        drop(state);
        let Some(process) = self.processes.get_mut(&pid) else {
            // The process exited meanwhile: ObInsertObject fails and the new handle's
            // FILE_OBJECT is closed (CLEANUP, then CLOSE).
            io::close_handle(&self.kernel, file_object);
            return CreateResult {
                status: NtStatus::INVALID_HANDLE,
                handle: None,
                information: 0,
                reparse: None,
            };
        };
        let value = process.insert(file_object, outcome.granted_access);
        CreateResult {
            status: outcome.status,
            handle: Some(Handle { pid, value }),
            information: outcome.information,
            reparse: None,
        }
    }

    /// NtClose / CloseHandle.
    pub fn close_handle(&mut self, handle: Handle) -> NtStatus {
        let Some(closing) = self.take_handle(handle) else {
            return NtStatus(0xC000_0008_u32 as i32);
        };
        super::locks::close_in_process(&self.kernel, closing);
        NtStatus::SUCCESS
    }

    /// The first half of NtClose: the handle leaves the table (ObpCloseHandle), and its
    /// FILE_OBJECT is the caller's to close (`locks::close_in_process`).
    pub fn take_handle(&mut self, handle: Handle) -> Option<ClosingHandle> {
        let file_object = self
            .processes
            .get_mut(&handle.pid)
            .and_then(|p| p.remove(handle.value))?;
        self.note(format!(
            "CloseHandle {:#x} in pid {}",
            handle.value, handle.pid
        ));
        let still_held = self
            .processes
            .get(&handle.pid)
            .is_some_and(|process| process.holds(file_object));
        Some(ClosingHandle {
            pid: handle.pid,
            file_object,
            still_held,
        })
    }

    /// The next IRP built by a request method (read, queries, FSCTLs) is kept for
    /// `take_captured_send` instead of being sent; the method answers STATUS_PENDING.
    pub fn capture_next_send(&mut self) {
        self.capture_send = true;
        self.captured = None;
    }

    /// Keeps `request` for `take_captured_send` if `capture_next_send` asked for it (the
    /// answer is then STATUS_PENDING); gives it back when it must be sent now.
    pub(super) fn capture(&mut self, device: ObjId, request: IrpRequest) -> Captured {
        if !core::mem::take(&mut self.capture_send) {
            return Captured::SendNow(request);
        }
        self.captured = Some((device, request));
        Captured::Kept
    }

    /// The IRP `capture_next_send` kept, and its device.
    pub fn take_captured_send(&mut self) -> Option<(ObjId, IrpRequest)> {
        self.capture_send = false;
        self.captured.take()
    }

    /// DuplicateHandle: a new handle, a new reference, and no IRP.
    pub fn duplicate_handle(&mut self, handle: Handle, target: Pid) -> Result<Handle, NtStatus> {
        let file_object = self.file_object(handle)?;
        if !self.processes.contains_key(&target) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        {
            let mut state = self.kernel.lock();
            let Some(entry) = state.file_objects.get_mut(file_object) else {
                return Err(NtStatus(0xC000_0008_u32 as i32));
            };
            entry.handle_count += 1;
            entry.pointer_count += 1;
        }
        let access = self.granted_access(handle).unwrap_or(0);
        let value = self
            .processes
            .get_mut(&target)
            .map_or(0, |p| p.insert(file_object, access));
        self.note(format!(
            "DuplicateHandle {:#x} -> pid {target} handle {value:#x}",
            handle.value
        ));
        Ok(Handle { pid: target, value })
    }

    /// Process exit: every handle in its table is closed (each may send CLEANUP and CLOSE).
    pub fn terminate_process(&mut self, pid: Pid) -> NtStatus {
        let Some(mut process) = self.processes.remove(&pid) else {
            return NtStatus::INVALID_PARAMETER;
        };
        self.note(format!("TerminateProcess {pid}"));
        let mut handles = process.take_all();
        while let Some((_, file_object)) = handles.pop_first() {
            let still_held = handles.values().any(|&other| other == file_object);
            let closing = ClosingHandle {
                pid,
                file_object,
                still_held,
            };
            super::locks::close_in_process(&self.kernel, closing);
        }
        NtStatus::SUCCESS
    }

    fn buffer_kind_for_device(&self, device: ObjId) -> BufferKind {
        let flags = self
            .kernel
            .lock()
            .devices
            .get(device)
            .map_or(0, |d| d.flags);
        if flags & DO_DIRECT_IO != 0 {
            BufferKind::Mdl
        } else if flags & DO_BUFFERED_IO != 0 {
            BufferKind::System
        } else {
            BufferKind::User
        }
    }

    pub(super) fn send(
        &mut self,
        handle: Handle,
        mut request: IrpRequest,
        label: String,
    ) -> IrpOutcome {
        let file_object = match self.file_object(handle) {
            Ok(file_object) => file_object,
            Err(status) => return IrpOutcome::status(status),
        };
        self.note(label);
        let Some(device) = self
            .kernel
            .lock()
            .file_objects
            .get(file_object)
            .map(|f| f.device)
        else {
            return IrpOutcome::status(NtStatus(0xC000_0008_u32 as i32));
        };
        request.file_object = Some(file_object);
        request.asynchronous = self
            .kernel
            .lock()
            .file_objects
            .get(file_object)
            .is_some_and(|f| f.flags & FO_SYNCHRONOUS_IO == 0);
        request.requestor = handle.pid;
        if request.buffer_kind == BufferKind::None {
            request.buffer_kind = self.buffer_kind_for_device(device);
        }
        match self.capture(device, request) {
            Captured::Kept => IrpOutcome::status(NtStatus::PENDING),
            Captured::SendNow(request) => send_referenced(&self.kernel, device, request),
        }
    }

    /// NtReadFile at `offset`, or at the current position (FO_SYNCHRONOUS_IO files only). A
    /// handle not granted FILE_READ_DATA is refused before any IRP or fast I/O
    /// (ObReferenceObjectByHandle for FILE_READ_DATA: ReactOS `ntoskrnl/io/iomgr/iofunc.c`
    /// NtReadFile).
    pub fn read_file(&mut self, handle: Handle, offset: Option<u64>, length: u32) -> IrpOutcome {
        let Ok(file_object) = self.file_object(handle) else {
            return IrpOutcome::status(NtStatus(0xC000_0008_u32 as i32));
        };
        if self
            .granted_access(handle)
            .is_some_and(|access| access & crate::kernel::FILE_READ_DATA == 0)
        {
            return IrpOutcome::status(NtStatus::ACCESS_DENIED);
        }
        let (flags, position) = {
            let state = self.kernel.lock();
            match state.file_objects.get(file_object) {
                Some(f) => (f.flags, f.current_byte_offset),
                None => return IrpOutcome::status(NtStatus(0xC000_0008_u32 as i32)),
            }
        };
        let offset = match offset {
            Some(offset) => offset,
            None if flags & FO_SYNCHRONOUS_IO != 0 => position,
            None => return IrpOutcome::status(NtStatus::INVALID_PARAMETER),
        };
        if let Some(outcome) = self.fast_read(handle, offset, length) {
            return outcome;
        }
        self.read_irp(handle, offset, length)
    }

    /// The read IRP NtReadFile sends when no fast path answered.
    pub(super) fn read_irp(&mut self, handle: Handle, offset: u64, length: u32) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::Read, None);
        request.parameters = IrpParameters::Read { offset, length };
        // NtReadFile: a FILE_OBJECT opened without intermediate buffering reads non-cached.
        let flags = self
            .file_object(handle)
            .ok()
            .and_then(|id| self.kernel.lock().file_objects.get(id).map(|f| f.flags))
            .unwrap_or(0);
        if flags & FO_NO_INTERMEDIATE_BUFFERING != 0 {
            request.flags |= crate::kernel::request::IRP_NOCACHE;
        }
        request.buffer_len = length as usize;
        self.send(
            handle,
            request,
            format!("NtReadFile {:#x} at {offset} len {length}", handle.value),
        )
    }

    /// NtQueryInformationFile (always buffered), after the I/O manager's class and length
    /// check.
    pub fn query_information_file(
        &mut self,
        handle: Handle,
        class: u32,
        length: u32,
    ) -> IrpOutcome {
        if let Err(status) = query_lengths::check_query_file(class, length) {
            return IrpOutcome::status(status);
        }
        if let Some(outcome) = self.fast_query(handle, class) {
            return outcome;
        }
        self.query_information_irp(handle, class, length)
    }

    /// IRP_MJ_QUERY_INFORMATION as a kernel-mode component builds it itself (a filter's
    /// FltQueryInformationFile, IoBuildSynchronousFsdRequest): no I/O manager check, any class
    /// and length reach the file system.
    pub fn query_information_irp(&mut self, handle: Handle, class: u32, length: u32) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::QueryInformation, None);
        request.parameters = IrpParameters::QueryInformation { class, length };
        request.buffer_kind = BufferKind::System;
        request.buffer_len = length as usize;
        self.send(
            handle,
            request,
            format!("NtQueryInformationFile {:#x} class {class}", handle.value),
        )
    }

    /// NtSetInformationFile: the structure goes to the file system in a system buffer. (The
    /// real I/O manager sets FilePositionInformation of synchronous files itself; the model
    /// always sends the IRP, so the file system's own handling is exercised.)
    pub fn set_information_file(&mut self, handle: Handle, class: u32, data: &[u8]) -> IrpOutcome {
        let length = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if let Err(status) = query_lengths::check_set_file(class, length) {
            return IrpOutcome::status(status);
        }
        let mut request = IrpRequest::new(IrpMajor::SetInformation, None);
        request.parameters = IrpParameters::SetInformation {
            class,
            input: data.to_vec(),
        };
        request.buffer_kind = BufferKind::System;
        self.send(
            handle,
            request,
            format!("NtSetInformationFile {:#x} class {class}", handle.value),
        )
    }

    /// NtQueryDirectoryFile (IRP_MN_QUERY_DIRECTORY; buffer per the device's I/O method).
    pub fn query_directory_file(
        &mut self,
        handle: Handle,
        class: u32,
        length: u32,
        pattern: Option<&str>,
        restart: bool,
        single: bool,
    ) -> IrpOutcome {
        let flags = u8::from(restart) * SL_RESTART_SCAN + u8::from(single) * SL_RETURN_SINGLE_ENTRY;
        let pattern: Option<Vec<u16>> = pattern.map(|p| p.encode_utf16().collect());
        self.query_directory(handle, class, length, pattern.as_deref(), flags, 0)
    }

    /// IRP_MN_QUERY_DIRECTORY with any stack flags and FileIndex, as a kernel-mode caller (a
    /// filter) may send it; NtQueryDirectoryFile itself always sends FileIndex 0 without
    /// SL_INDEX_SPECIFIED (ReactOS iofunc.c NtQueryDirectoryFile). The buffer follows the
    /// device: DO_BUFFERED_IO a system buffer, DO_DIRECT_IO an MDL, neither the caller's
    /// address (same source).
    pub fn query_directory(
        &mut self,
        handle: Handle,
        class: u32,
        length: u32,
        pattern: Option<&[u16]>,
        flags: u8,
        index: u32,
    ) -> IrpOutcome {
        if let Err(status) = query_lengths::check_query_directory(class, length) {
            return IrpOutcome::status(status);
        }
        let mut request = IrpRequest::new(IrpMajor::DirectoryControl, None);
        request.minor = IRP_MN_QUERY_DIRECTORY;
        request.parameters = IrpParameters::QueryDirectory {
            class,
            length,
            pattern: pattern.map(<[u16]>::to_vec),
            flags,
            index,
        };
        request.buffer_len = length as usize;
        self.send(
            handle,
            request,
            format!("NtQueryDirectoryFile {:#x} class {class}", handle.value),
        )
    }

    /// NtQueryVolumeInformationFile (always buffered).
    pub fn query_volume_information_file(
        &mut self,
        handle: Handle,
        class: u32,
        length: u32,
    ) -> IrpOutcome {
        if let Err(status) = query_lengths::check_query_volume(class, length) {
            return IrpOutcome::status(status);
        }
        let mut request = IrpRequest::new(IrpMajor::QueryVolumeInformation, None);
        request.parameters = IrpParameters::QueryVolumeInformation { class, length };
        request.buffer_kind = BufferKind::System;
        request.buffer_len = length as usize;
        self.send(
            handle,
            request,
            format!(
                "NtQueryVolumeInformationFile {:#x} class {class}",
                handle.value
            ),
        )
    }

    /// NtFsControlFile (IRP_MN_USER_FS_REQUEST); the buffer follows the code's METHOD_*.
    pub fn fs_control_file(
        &mut self,
        handle: Handle,
        code: u32,
        input: &[u8],
        output_length: u32,
    ) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::FileSystemControl, None);
        request.parameters = IrpParameters::FileSystemControl {
            code,
            input: input.to_vec(),
            output_length,
        };
        request.buffer_kind = match code & 3 {
            0 => BufferKind::System,
            1 | 2 => BufferKind::Mdl,
            _ => BufferKind::User,
        };
        request.buffer_len = output_length as usize;
        self.send(
            handle,
            request,
            format!("NtFsControlFile {:#x} code {code:#x}", handle.value),
        )
    }

    /// NtNotifyChangeDirectoryFile (IRP_MN_NOTIFY_CHANGE_DIRECTORY). On a handle opened for
    /// asynchronous I/O a pended request answers STATUS_PENDING at once; its completion is
    /// `take_completion`'s. A synchronous handle waits for it.
    pub fn notify_change_directory(
        &mut self,
        handle: Handle,
        filter: u32,
        watch_tree: bool,
    ) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::DirectoryControl, None);
        request.minor = crate::kernel::request::IRP_MN_NOTIFY_CHANGE_DIRECTORY;
        request.parameters = IrpParameters::NotifyDirectory { filter, watch_tree };
        self.send(
            handle,
            request,
            format!("NtNotifyChangeDirectoryFile {:#x}", handle.value),
        )
    }

    /// NtCancelIoFileEx with no IoStatusBlock: IoCancelIrp on the handle's outstanding IRPs.
    /// STATUS_NOT_FOUND if none could be cancelled.
    pub fn cancel_io(&mut self, handle: Handle) -> NtStatus {
        let Ok(file_object) = self.file_object(handle) else {
            return NtStatus::INVALID_HANDLE;
        };
        self.note(format!("NtCancelIoFileEx {:#x}", handle.value));
        if io::cancel_io(&self.kernel, file_object) > 0 {
            NtStatus::SUCCESS
        } else {
            NtStatus(0xC000_0225_u32 as i32)
        }
    }

    /// The status an outstanding IRP on `file_object` completed with (the oldest not yet
    /// taken), after running the worker (where IopCompleteRequest's last stage runs).
    pub fn take_completion(&mut self, file_object: ObjId) -> Option<NtStatus> {
        self.take_completion_with_information(file_object)
            .map(|(status, _)| status)
    }

    /// `take_completion`, with the IoStatus.Information the IRP completed with (the level an
    /// oplock broke to).
    pub fn take_completion_with_information(
        &mut self,
        file_object: ObjId,
    ) -> Option<(NtStatus, usize)> {
        while self.run_one_work_item() {}
        let mut state = self.kernel.lock();
        let index = state
            .async_completions
            .iter()
            .position(|(f, _, _, _)| *f == file_object)?;
        let (_, _, status, information) = state.async_completions.remove(index);
        Some((status, information))
    }

    /// FSCTL_DISMOUNT_VOLUME on a volume handle.
    pub fn dismount(&mut self, handle: Handle) -> NtStatus {
        self.fs_control_file(handle, FSCTL_DISMOUNT_VOLUME, &[], 0)
            .status
    }

    /// A system component (Mm creating a section, Cc) references the FILE_OBJECT.
    pub fn system_reference(&mut self, handle: Handle) -> Result<SystemRef, NtStatus> {
        let file_object = self.file_object(handle)?;
        if !io::reference(&self.kernel, file_object) {
            return Err(NtStatus(0xC000_0008_u32 as i32));
        }
        Ok(SystemRef { file_object })
    }

    /// Like `system_reference`, by object: Mm or Cc referencing a FILE_OBJECT no handle names,
    /// such as a driver's stream file object.
    pub fn system_reference_object(&mut self, file_object: ObjId) -> Result<SystemRef, NtStatus> {
        if !io::reference(&self.kernel, file_object) {
            return Err(NtStatus(0xC000_0008_u32 as i32));
        }
        Ok(SystemRef { file_object })
    }

    /// The component drops its reference later, on the worker thread (segment deletion, purge).
    pub fn release_later(&mut self, reference: SystemRef) {
        let label = format!("Mm dereference of FO {}", reference.file_object);
        self.release_on_worker(reference, label);
    }

    /// The cache manager lets go of its reference later, on the lazy writer (a lazy close: a
    /// shared cache map deleted after its last CcUninitializeCacheMap, which nobody waited
    /// for); CcWaitForCurrentLazyWriterActivity waits for it.
    pub fn release_by_lazy_writer(&mut self, reference: SystemRef) {
        let label = format!("lazy writer: lazy close of FO {}", reference.file_object);
        self.release_on_worker(reference, label);
    }

    /// Queues the reference's release as the work item `label`.
    fn release_on_worker(&mut self, reference: SystemRef, label: String) {
        let kernel = self.kernel.clone();
        let file_object = reference.file_object;
        self.kernel.lock().work_queue.push_back((
            label,
            std::boxed::Box::new(move || io::dereference(&kernel, file_object)),
        ));
    }

    /// Runs every queued work item on the worker thread. Returns how many ran.
    pub fn run_worker(&mut self) -> usize {
        let _entered = enter(&self.kernel);
        let mut count = 0;
        while crate::kernel::model::event::run_one_work_item() {
            count += 1;
        }
        count
    }

    /// Runs one queued work item, if any.
    pub fn run_one_work_item(&mut self) -> bool {
        let _entered = enter(&self.kernel);
        crate::kernel::model::event::run_one_work_item()
    }

    pub fn pending_work(&self) -> usize {
        self.kernel.lock().work_queue.len()
    }
}

/// The IRP_MJ_CREATE a pending open sends, and the device it goes to.
pub fn create_irp(pending: &PendingCreate) -> (ObjId, IrpRequest) {
    let request = &pending.request;
    let mut irp = IrpRequest::new(IrpMajor::Create, Some(pending.file_object));
    let mut options = request.options & 0x00FF_FFFF;
    let access = super::access_state::create_access_state(
        &pending.subject,
        request.desired_access,
        &mut options,
        request.disposition,
    );
    irp.parameters = IrpParameters::Create(CreateParameters {
        desired_access: access.desired_access,
        share_access: request.share_access,
        disposition: request.disposition,
        options,
        file_attributes: request.file_attributes,
        allocation_size: request.allocation_size,
        ea_length: request.ea.len() as u32,
        stack_flags: if request.case_insensitive { 0 } else { 0x80 },
        remaining_desired_access: access.remaining_desired_access,
        previously_granted_access: access.previously_granted_access,
        access_flags: access.flags,
    });
    irp.subject = Some(pending.subject.clone());
    (pending.device, irp)
}

/// What an NtXxxFile call on a handle does with the IRP it built: the FILE_OBJECT is referenced
/// for the IRP's life (ObReferenceObjectByHandle before the IRP, the dereference in
/// IopCompleteRequest; ReactOS `iofunc.c` NtReadFile, `irp.c` IopCompleteRequest), so a handle
/// closed meanwhile on another thread sends CLEANUP but not CLOSE. The caller gets back
/// `Information` bytes of the buffer, none on an error.
pub fn send_referenced(kernel: &Arc<Kernel>, device: ObjId, request: IrpRequest) -> IrpOutcome {
    let file_object = request.file_object;
    let referenced = file_object.is_some_and(|f| io::reference(kernel, f));
    let outcome = returned_data(io::call_driver(kernel, device, request));
    if referenced && let Some(file_object) = file_object {
        io::dereference(kernel, file_object);
    }
    outcome
}

/// What the caller gets back of a sent IRP's buffer: `Information` bytes, none on an error.
fn returned_data(mut outcome: IrpOutcome) -> IrpOutcome {
    let keep = outcome.information.min(outcome.data.len());
    if outcome.status.is_error() {
        outcome.data.clear();
    } else {
        outcome.data.truncate(keep);
    }
    outcome
}

/// What `Session::capture` did with a request.
pub(super) enum Captured {
    /// Kept for `take_captured_send`: the caller answers STATUS_PENDING.
    Kept,
    /// Not asked for: send it now.
    SendNow(IrpRequest),
}
