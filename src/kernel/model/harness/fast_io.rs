//! The I/O manager's fast I/O calls: where it calls a file system's FAST_IO_DISPATCH routine
//! instead of building an IRP, and falls back to the IRP when the routine answers FALSE.
//!
//! - NtReadFile on a synchronous FILE_OBJECT with a private cache map calls FastIoRead (Wait
//!   TRUE, the caller's key) and keeps its answer only if it is TRUE with STATUS_SUCCESS,
//!   STATUS_BUFFER_OVERFLOW or STATUS_END_OF_FILE (ReactOS `ntoskrnl/io/iomgr/iofunc.c`,
//!   NtReadFile). rustfsd's FastIoRead is FsRtlCopyRead (`model::fast_io`).
//! - NtQueryInformationFile of FileBasicInformation / FileStandardInformation on a synchronous
//!   FILE_OBJECT calls FastIoQueryBasicInfo / FastIoQueryStandardInfo, and callers of
//!   FileNetworkOpenInformation FastIoQueryNetworkOpenInfo (ReactOS `io/iomgr/file.c`
//!   IopGetBasicInformationFile; Learn, FAST_IO_DISPATCH); a FALSE sends the IRP.
//! - NtLockFile calls FastIoLock, NtUnlockFile FastIoUnlockSingle, and IopCloseFile's
//!   unlock-all FastIoUnlockAll (ReactOS `iofunc.c` NtLockFile / NtUnlockFile, `file.c`
//!   IopCloseFile), each with the caller's process.
//!
//! Whether the fast path is tried at all is the seeded choice (`State::choose`): a legacy
//! filter above the file system may have no fast I/O routine, or answer FALSE itself, and
//! then every request comes as an IRP; both paths must give the same answers. A routine is
//! called with no IRP, the caller's process current (PsGetCurrentProcess), on the caller's
//! stack, and checked on return as a dispatch routine is (`io::check_return_to_caller`).

use std::format;
use std::sync::Arc;
use std::vec::Vec;

use super::driver::FastIoRoutines;
use super::io::{self, IrpOutcome, check_return_to_caller};
use super::session::{Handle, Session};
use crate::kernel::model::context::Context;
use crate::kernel::model::fast_io::{
    Process, fs_rtl_copy_read, fs_rtl_mdl_read_complete_dev, fs_rtl_mdl_read_dev,
};
use crate::kernel::model::file_object::FO_SYNCHRONOUS_IO;
use crate::kernel::model::preempt;
use crate::kernel::model::resource::held_by_current;
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::{BASE_STACK_CHARGE, IRP_FRAME_CHARGE, Kernel, State, enter};
use crate::kernel::model::{DeviceRef, FileObject};
use crate::kernel::{FastIoPossible, FastQuery, IoStatus, NtStatus};

/// The fast I/O table of the driver behind `device`, if its DriverEntry installed one.
fn routines(state: &State, device: ObjId) -> Option<FastIoRoutines> {
    let driver = state.devices.get(device)?.driver?;
    let entry = state.drivers.get(driver)?;
    if !(entry.loaded && entry.fast_io_installed) {
        return None;
    }
    entry.descriptor.fast_io
}

/// True if the I/O manager tries the fast path for this request: the driver has a table and
/// the seeded choice says no filter in between refused it.
pub(super) fn try_fast(kernel: &Arc<Kernel>, device: ObjId) -> bool {
    let mut state = kernel.lock();
    routines(&state, device).is_some() && state.choose(2) == 0
}

/// Calls one fast I/O routine of the driver behind `device` for `file_object`, as process
/// `pid`: `None` if there is none or it answered FALSE.
pub(super) fn call<R>(
    kernel: &Arc<Kernel>,
    device: ObjId,
    pid: u32,
    name: &'static str,
    routine: impl FnOnce(&FastIoRoutines, DeviceRef) -> Option<R>,
) -> Option<R> {
    preempt::point();
    let _entered = enter(kernel);
    let (table, charge, top_level, apcs_before, held_before, saved) = {
        let mut state = kernel.lock();
        let table = routines(&state, device)?;
        let top_level = state.thread().stack_used == 0;
        let charge = IRP_FRAME_CHARGE + if top_level { BASE_STACK_CHARGE } else { 0 };
        state.charge_stack(charge);
        let apcs_before = state.thread().apc_disable;
        let held_before = held_by_current(&state);
        let driver = state.devices.get(device).and_then(|d| d.driver);
        let saved = (
            core::mem::replace(&mut state.current_driver, driver),
            core::mem::replace(&mut state.current_process, pid),
            core::mem::replace(&mut state.context, Context::FastIo { name, device }),
        );
        state.fast_io_calls += 1;
        let thread = state.current_thread;
        // Formatted only for a trace that is kept (the hot path of every fast read).
        if !state.trace_off {
            state.push_trace(format!("t{thread}: {name} ->"));
        }
        (table, charge, top_level, apcs_before, held_before, saved)
    };
    let answer = routine(&table, DeviceRef { id: device });
    let mut state = kernel.lock();
    if top_level {
        check_return_to_caller(&mut state, apcs_before, &held_before);
    }
    state.release_stack(charge);
    (state.current_driver, state.current_process, state.context) = saved;
    if answer.is_some() {
        state.fast_io_taken += 1;
    }
    let thread = state.current_thread;
    let said = if answer.is_some() { "TRUE" } else { "FALSE" };
    if !state.trace_off {
        state.push_trace(format!("t{thread}: {name} <- {said}"));
    }
    answer
}

/// The file system's FastIoCheckIfPossible(file_object, offset, length, Wait TRUE, key,
/// CheckForReadOperation TRUE), as FsRtl's fast reads ask it.
fn check_read(
    table: &FastIoRoutines,
    device: DeviceRef,
    file_object: ObjId,
    (offset, length, key): (u64, u32, u32),
) -> bool {
    (table.check_if_possible)(
        device,
        &FileObject { id: file_object },
        offset,
        length,
        true,
        key,
        true,
    )
}

/// The statuses with which a caller keeps a fast read's answer (NtReadFile's; Learn,
/// FsRtlCopyRead: a failure status in IoStatus means the caller sends the IRP instead).
const FAST_READ_KEPT: [NtStatus; 3] = [
    NtStatus::SUCCESS,
    NtStatus::BUFFER_OVERFLOW,
    NtStatus::END_OF_FILE,
];

impl Session {
    /// Header.IsFastIoPossible of the FCB behind `handle` (what FsRtl reads), for tests.
    pub fn fast_io_possible(&self, handle: Handle) -> Option<FastIoPossible> {
        let file_object = self.file_object(handle).ok()?;
        let state = self.kernel.lock();
        let fcb = state.file_objects.get(file_object)?.fs_context?.id;
        Some(state.sections.headers.get(&fcb)?.fast_io_possible())
    }

    /// Wait-FALSE fast reads refused because another thread held Header.Resource, for tests.
    pub fn fast_read_busy(&self) -> u64 {
        self.kernel.lock().fast_read_busy
    }

    /// The device of a FILE_OBJECT and whether it is synchronous and has a private cache map.
    fn fast_target(&self, file_object: ObjId) -> Option<(ObjId, bool, bool)> {
        let state = self.kernel.lock();
        let entry = state.file_objects.get(file_object)?;
        let synchronous = entry.flags & FO_SYNCHRONOUS_IO != 0;
        let cached = state.cache.private.contains_key(&file_object);
        Some((entry.device, synchronous, cached))
    }

    /// Calls the fast I/O routine `name` for `handle` as every caller here does: only if the
    /// FILE_OBJECT is `eligible` (given whether it is synchronous and has a private cache map)
    /// and the seeded choice tries the fast path; noting `what`, with the FILE_OBJECT
    /// referenced across the call as for an IRP. `None`: not called, or FALSE.
    fn fast_call<R>(
        &mut self,
        handle: Handle,
        (name, what): (&'static str, core::fmt::Arguments<'_>),
        eligible: impl FnOnce(bool, bool) -> bool,
        routine: impl FnOnce(&Arc<Kernel>, &FastIoRoutines, DeviceRef, ObjId) -> Option<R>,
    ) -> Option<R> {
        let file_object = self.file_object(handle).ok()?;
        let (device, synchronous, cached) = self.fast_target(file_object)?;
        if !(eligible(synchronous, cached) && try_fast(&self.kernel, device)) {
            return None;
        }
        self.note(format!("{what} {:#x}", handle.value));
        let kernel = self.kernel.clone();
        if !io::reference(&kernel, file_object) {
            return None;
        }
        let answer = call(&kernel, device, handle.pid, name, |table, device| {
            routine(&kernel, table, device, file_object)
        });
        io::dereference(&kernel, file_object);
        answer
    }

    /// FastIoRead (FsRtlCopyRead) with `wait`, kept only with a status a caller keeps.
    fn fast_copy_read(
        &mut self,
        handle: Handle,
        (offset, length, wait): (u64, u32, bool),
        eligible: impl FnOnce(bool, bool) -> bool,
    ) -> Option<IrpOutcome> {
        let (status, data) = self.fast_call(
            handle,
            (
                "FastIoRead",
                format_args!("FastIoRead at {offset} len {length} Wait {wait} on"),
            ),
            eligible,
            |kernel, table, device, file_object| {
                fs_rtl_copy_read(kernel, file_object, (offset, length, wait), || {
                    check_read(table, device, file_object, (offset, length, 0))
                })
            },
        )?;
        FAST_READ_KEPT
            .contains(&status.status)
            .then(|| outcome(status, data))
    }

    /// NtReadFile's fast path (see the module's notes): a synchronous, cached FILE_OBJECT,
    /// Wait TRUE. `None`: the IRP must be sent.
    pub(super) fn fast_read(
        &mut self,
        handle: Handle,
        offset: u64,
        length: u32,
    ) -> Option<IrpOutcome> {
        self.fast_copy_read(handle, (offset, length, true), |synchronous, cached| {
            synchronous && cached
        })
    }

    /// A kernel caller that must not block reads `length` bytes at `offset`: FastIoRead with
    /// Wait FALSE on a cached FILE_OBJECT (Learn, FsRtlIncrementCcFastReadNoWait: FsRtlCopyRead
    /// "called with the Wait parameter set to FALSE"), which is FALSE when the header's
    /// resource is busy or a page is not resident; then, or on a failure status, it sends the
    /// read IRP as FsRtlCopyRead's page says the caller must. Whether the fast call is tried at
    /// all is the seeded choice, as for NtReadFile.
    pub fn read_no_wait(&mut self, handle: Handle, offset: u64, length: u32) -> IrpOutcome {
        match self.fast_copy_read(handle, (offset, length, false), |_, cached| cached) {
            Some(answer) => answer,
            None => self.read_irp(handle, offset, length),
        }
    }

    /// FsRtlMdlRead as the SMB server and AFD's TransmitFile call it: the file system's MdlRead
    /// (rustfsd's is FsRtlMdlReadDev) unless the seeded choice says a filter in between has
    /// none; if it answers FALSE, or is not called, IRP_MJ_READ / IRP_MN_MDL (ReactOS
    /// `ntoskrnl/fsrtl/fastio.c` FsRtlMdlRead; the fast routine fails on a file not cached
    /// yet, the IRP caches it). The outcome's data is what the chain describes, `mdl_chain`
    /// the chain to give back.
    pub fn mdl_read_any(&mut self, handle: Handle, offset: u64, length: u32) -> IrpOutcome {
        let answer = self.fast_call(
            handle,
            (
                "FastIoMdlRead",
                format_args!("FastIoMdlRead at {offset} len {length} on"),
            ),
            |_, _| true,
            |kernel, table, device, file_object| {
                fs_rtl_mdl_read_dev(kernel, file_object, (offset, length), || {
                    check_read(table, device, file_object, (offset, length, 0))
                })
            },
        );
        let Some((status, chain)) = answer else {
            return self.mdl_read(handle, offset, length);
        };
        let state = self.kernel.lock();
        let data = chain
            .and_then(|chain| state.cache.mdl_chains.get(&chain))
            .map(|c| c.bytes.clone())
            .unwrap_or_default();
        IrpOutcome {
            status: status.status,
            information: status.information,
            data,
            reparse: None,
            mdl_chain: chain,
            granted_access: 0,
        }
    }

    /// FsRtlMdlReadComplete: the file system's MdlReadComplete (FsRtlMdlReadCompleteDev) unless
    /// the seeded choice says a filter in between has none or answers FALSE; then
    /// IRP_MJ_READ / IRP_MN_COMPLETE_MDL (Learn, FLT_PARAMETERS for IRP_MJ_MDL_READ_COMPLETE:
    /// a failed fast MdlReadComplete is reissued as IRP_MJ_READ + IRP_MN_COMPLETE_MDL). A chain
    /// from either kind of MDL read may go back either way.
    pub fn mdl_read_complete_any(&mut self, handle: Handle, chain: u64) -> NtStatus {
        let answer = self.fast_call(
            handle,
            (
                "FastIoMdlReadComplete",
                format_args!("FastIoMdlReadComplete chain {chain} on"),
            ),
            |_, _| true,
            |_, _, _, file_object| fs_rtl_mdl_read_complete_dev(file_object, chain),
        );
        match answer {
            Some(()) => NtStatus::SUCCESS,
            None => self.mdl_read_complete(handle, chain),
        }
    }

    /// NtQueryInformationFile's fast path for FileBasicInformation, FileStandardInformation
    /// and FileNetworkOpenInformation on a synchronous FILE_OBJECT.
    pub(super) fn fast_query(&mut self, handle: Handle, class: u32) -> Option<IrpOutcome> {
        let which = FastQuery::of_class(class)?;
        let name = match which {
            FastQuery::Basic => "FastIoQueryBasicInfo",
            FastQuery::Standard => "FastIoQueryStandardInfo",
            FastQuery::NetworkOpen => "FastIoQueryNetworkOpenInfo",
        };
        let (status, data) = self.fast_call(
            handle,
            (
                name,
                format_args!("NtQueryInformationFile class {class} (fast I/O) on"),
            ),
            |synchronous, _| synchronous,
            |_, table, device, file_object| {
                (table.query)(device, &FileObject { id: file_object }, true, which)
            },
        )?;
        Some(outcome(status, data))
    }

    /// NtLockFile / NtUnlockFile / the unlock-all's fast path: `routine` is the table entry.
    pub(super) fn fast_lock_call(
        &mut self,
        handle: Handle,
        name: &'static str,
        routine: impl FnOnce(&FastIoRoutines, DeviceRef, &FileObject, Process) -> Option<IoStatus>,
    ) -> Option<NtStatus> {
        let pid = handle.pid;
        let answer = self.fast_call(
            handle,
            (name, format_args!("{name}")),
            |_, _| true,
            |_, table, device, file_object| {
                routine(
                    table,
                    device,
                    &FileObject { id: file_object },
                    Process { pid },
                )
            },
        );
        answer.map(|status| status.status)
    }
}

/// What the caller gets back of a fast I/O call: Information bytes, none on an error.
fn outcome(status: IoStatus, mut data: Vec<u8>) -> IrpOutcome {
    if status.status.is_error() {
        data.clear();
    } else {
        data.truncate(status.information);
    }
    IrpOutcome {
        status: status.status,
        information: status.information,
        data,
        reparse: None,
        mdl_chain: None,
        granted_access: 0,
    }
}

/// IopCloseFile's unlock-all for process `pid` (the handle is already out of its table):
/// FastIoUnlockAll if the table has it and the seeded choice takes it. True if it answered.
pub(super) fn close_unlock_all(
    kernel: &Arc<Kernel>,
    device: ObjId,
    file_object: ObjId,
    pid: u32,
) -> bool {
    if !try_fast(kernel, device) {
        return false;
    }
    call(kernel, device, pid, "FastIoUnlockAll", |table, device| {
        (table.unlock_all)(
            device,
            &FileObject { id: file_object },
            Process { pid },
            None,
        )
    })
    .is_some()
}
