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
use crate::kernel::model::fast_io::{Process, fs_rtl_copy_read};
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
            core::mem::replace(&mut state.context, format!("{name} on device {device}")),
        );
        state.fast_io_calls += 1;
        let thread = state.current_thread;
        state.push_trace(format!("t{thread}: {name} ->"));
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
    state.push_trace(format!("t{thread}: {name} <- {said}"));
    answer
}

/// FastIoRead = FsRtlCopyRead, with the file system's FastIoCheckIfPossible when the header is
/// questionable: the IO_STATUS_BLOCK and the bytes, or `None` (FALSE).
pub(super) fn read(
    kernel: &Arc<Kernel>,
    device: ObjId,
    file_object: ObjId,
    pid: u32,
    (offset, length, key): (u64, u32, u32),
) -> Option<(IoStatus, Vec<u8>)> {
    call(kernel, device, pid, "FastIoRead", |table, device| {
        fs_rtl_copy_read(kernel, file_object, offset, length, || {
            (table.check_if_possible)(
                device,
                &FileObject { id: file_object },
                offset,
                length,
                true,
                key,
                true,
            )
        })
    })
}

impl Session {
    /// Header.IsFastIoPossible of the FCB behind `handle` (what FsRtl reads), for tests.
    pub fn fast_io_possible(&self, handle: Handle) -> Option<FastIoPossible> {
        let file_object = self.file_object(handle).ok()?;
        let state = self.kernel.lock();
        let fcb = state.file_objects.get(file_object)?.fs_context?.id;
        Some(state.sections.headers.get(&fcb)?.fast_io_possible())
    }

    /// The device of a FILE_OBJECT and whether it is synchronous and has a private cache map.
    fn fast_target(&self, file_object: ObjId) -> Option<(ObjId, bool, bool)> {
        let state = self.kernel.lock();
        let entry = state.file_objects.get(file_object)?;
        let synchronous = entry.flags & FO_SYNCHRONOUS_IO != 0;
        let cached = state.cache.private.contains_key(&file_object);
        Some((entry.device, synchronous, cached))
    }

    /// NtReadFile's fast path (see the module's notes), holding the FILE_OBJECT referenced
    /// across the call as NtReadFile does. `None`: the IRP must be sent.
    pub(super) fn fast_read(
        &mut self,
        handle: Handle,
        offset: u64,
        length: u32,
    ) -> Option<IrpOutcome> {
        let file_object = self.file_object(handle).ok()?;
        let (device, synchronous, cached) = self.fast_target(file_object)?;
        if !(synchronous && cached && try_fast(&self.kernel, device)) {
            return None;
        }
        self.note(format!(
            "NtReadFile {:#x} at {offset} len {length} (fast I/O)",
            handle.value
        ));
        if !io::reference(&self.kernel, file_object) {
            return None;
        }
        let answer = read(
            &self.kernel,
            device,
            file_object,
            handle.pid,
            (offset, length, 0),
        );
        io::dereference(&self.kernel, file_object);
        let (status, data) = answer?;
        let accepted = [
            NtStatus::SUCCESS,
            NtStatus::BUFFER_OVERFLOW,
            NtStatus::END_OF_FILE,
        ];
        accepted
            .contains(&status.status)
            .then(|| outcome(status, data))
    }

    /// NtQueryInformationFile's fast path for FileBasicInformation, FileStandardInformation
    /// and FileNetworkOpenInformation on a synchronous FILE_OBJECT.
    pub(super) fn fast_query(&mut self, handle: Handle, class: u32) -> Option<IrpOutcome> {
        let which = FastQuery::of_class(class)?;
        let file_object = self.file_object(handle).ok()?;
        let (device, synchronous, _) = self.fast_target(file_object)?;
        if !synchronous || !try_fast(&self.kernel, device) {
            return None;
        }
        self.note(format!(
            "NtQueryInformationFile {:#x} class {class} (fast I/O)",
            handle.value
        ));
        if !io::reference(&self.kernel, file_object) {
            return None;
        }
        let name = match which {
            FastQuery::Basic => "FastIoQueryBasicInfo",
            FastQuery::Standard => "FastIoQueryStandardInfo",
            FastQuery::NetworkOpen => "FastIoQueryNetworkOpenInfo",
        };
        let answer = call(&self.kernel, device, handle.pid, name, |table, device| {
            (table.query)(device, &FileObject { id: file_object }, true, which)
        });
        io::dereference(&self.kernel, file_object);
        let (status, data) = answer?;
        Some(outcome(status, data))
    }

    /// NtLockFile / NtUnlockFile / the unlock-all's fast path: `routine` is the table entry.
    pub(super) fn fast_lock_call(
        &mut self,
        handle: Handle,
        name: &'static str,
        routine: impl FnOnce(&FastIoRoutines, DeviceRef, &FileObject, Process) -> Option<IoStatus>,
    ) -> Option<NtStatus> {
        let file_object = self.file_object(handle).ok()?;
        let (device, _, _) = self.fast_target(file_object)?;
        if !try_fast(&self.kernel, device) {
            return None;
        }
        self.note(format!("{name} {:#x}", handle.value));
        if !io::reference(&self.kernel, file_object) {
            return None;
        }
        let pid = handle.pid;
        let answer = call(&self.kernel, device, pid, name, |table, device| {
            routine(
                table,
                device,
                &FileObject { id: file_object },
                Process { pid },
            )
        });
        io::dereference(&self.kernel, file_object);
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
