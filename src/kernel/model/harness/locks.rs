//! NtLockFile and NtUnlockFile, and the unlock-all the I/O manager sends when a process closes
//! its last handle to a FILE_OBJECT it locked through while other handles remain (ReactOS
//! `ntoskrnl/io/iomgr/file.c`, IopCloseFile: FileObject->LockOperation set, SystemHandleCount
//! not 1: FastIoUnlockAll or IRP_MJ_LOCK_CONTROL / IRP_MN_UNLOCK_ALL in that process's context).
//! NtLockFile sets FileObject->LockOperation before it sends IRP_MN_LOCK with
//! Parameters.LockControl.{ByteOffset, Length, Key} and SL_FAIL_IMMEDIATELY /
//! SL_EXCLUSIVE_LOCK (ReactOS `ntoskrnl/io/iomgr/iofunc.c`, NtLockFile; Learn, NtLockFile and
//! IRP_MJ_LOCK_CONTROL). Every request carries the caller's process as its requestor.

use std::format;
use std::string::String;

use super::io::{self, IrpOutcome, IrpRequest};
use super::session::{ClosingHandle, Handle, Session};
use crate::kernel::model::state::Kernel;
use crate::kernel::request::{
    IRP_MN_LOCK, IRP_MN_UNLOCK_ALL, IRP_MN_UNLOCK_ALL_BY_KEY, IRP_MN_UNLOCK_SINGLE, IrpParameters,
    SL_EXCLUSIVE_LOCK, SL_FAIL_IMMEDIATELY,
};
use crate::kernel::{FastLock, IrpMajor, NtStatus};
use std::sync::Arc;

/// What NtLockFile asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LockRequest {
    pub offset: u64,
    pub length: u64,
    pub key: u32,
    pub exclusive: bool,
    pub fail_immediately: bool,
}

impl LockRequest {
    /// An exclusive lock that fails at once on a conflict (LockFileEx with
    /// LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY), key 0.
    pub fn exclusive(offset: u64, length: u64) -> LockRequest {
        LockRequest {
            offset,
            length,
            key: 0,
            exclusive: true,
            fail_immediately: true,
        }
    }

    /// The same, shared.
    pub fn shared(offset: u64, length: u64) -> LockRequest {
        LockRequest {
            exclusive: false,
            ..LockRequest::exclusive(offset, length)
        }
    }
}

impl Session {
    /// NtLockFile.
    pub fn lock_file(&mut self, handle: Handle, lock: LockRequest) -> NtStatus {
        if let Ok(file_object) = self.file_object(handle)
            && let Some(entry) = self.kernel.lock().file_objects.get_mut(file_object)
        {
            entry.lock_operation = true;
        }
        let fast = FastLock {
            offset: lock.offset,
            length: lock.length,
            key: lock.key,
            fail_immediately: lock.fail_immediately,
            exclusive: lock.exclusive,
        };
        if let Some(status) = self.fast_lock_call(
            handle,
            "FastIoLock",
            |table, device, file_object, process| (table.lock)(device, file_object, fast, process),
        ) {
            return status;
        }
        let flags = u8::from(lock.fail_immediately) * SL_FAIL_IMMEDIATELY
            + u8::from(lock.exclusive) * SL_EXCLUSIVE_LOCK;
        let label = format!(
            "NtLockFile {:#x} at {} len {} key {} {}{}",
            handle.value,
            lock.offset,
            lock.length,
            lock.key,
            if lock.exclusive {
                "exclusive"
            } else {
                "shared"
            },
            if lock.fail_immediately {
                " fail-immediately"
            } else {
                ""
            },
        );
        self.lock_control(
            handle,
            IRP_MN_LOCK,
            (lock.offset, lock.length, lock.key, flags),
            label,
        )
        .status
    }

    /// NtUnlockFile.
    pub fn unlock_file(&mut self, handle: Handle, offset: u64, length: u64, key: u32) -> NtStatus {
        if let Some(status) = self.fast_lock_call(
            handle,
            "FastIoUnlockSingle",
            |table, device, file_object, process| {
                (table.unlock_single)(device, file_object, offset, length, process, key)
            },
        ) {
            return status;
        }
        let label = format!(
            "NtUnlockFile {:#x} at {offset} len {length} key {key}",
            handle.value
        );
        self.lock_control(
            handle,
            IRP_MN_UNLOCK_SINGLE,
            (offset, length, key, 0),
            label,
        )
        .status
    }

    /// IRP_MN_UNLOCK_ALL (what IopCloseFile sends), or IRP_MN_UNLOCK_ALL_BY_KEY with `key`.
    pub fn unlock_all(&mut self, handle: Handle, key: Option<u32>) -> NtStatus {
        let minor = if key.is_some() {
            IRP_MN_UNLOCK_ALL_BY_KEY
        } else {
            IRP_MN_UNLOCK_ALL
        };
        let name = if key.is_some() {
            "FastIoUnlockAllByKey"
        } else {
            "FastIoUnlockAll"
        };
        if let Some(status) =
            self.fast_lock_call(handle, name, |table, device, file_object, process| {
                (table.unlock_all)(device, file_object, process, key)
            })
        {
            return status;
        }
        let label = format!("unlock all {:#x} key {key:?}", handle.value);
        self.lock_control(handle, minor, (0, 0, key.unwrap_or(0), 0), label)
            .status
    }

    fn lock_control(
        &mut self,
        handle: Handle,
        minor: u8,
        (offset, length, key, flags): (u64, u64, u32, u8),
        label: String,
    ) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::LockControl, None);
        request.minor = minor;
        request.parameters = IrpParameters::LockControl {
            offset,
            length,
            key,
            flags,
        };
        self.send(handle, request, label)
    }
}

/// NtClose's second half: process `pid` lets go of one handle to `file_object` (already out
/// of its table; `still_held`: it has another): the unlock-all of IopCloseFile if that was the process's
/// last handle to a FILE_OBJECT it locked through and other handles remain, then CLEANUP at
/// the last handle, then the handle's reference.
pub fn close_in_process(kernel: &Arc<Kernel>, closing: ClosingHandle) {
    let ClosingHandle {
        pid,
        file_object,
        still_held,
    } = closing;
    let unlock_on = {
        let state = kernel.lock();
        state
            .file_objects
            .get(file_object)
            .filter(|f| f.lock_operation && f.handle_count > 1 && !still_held)
            .map(|f| f.device)
    };
    if let Some(device) = unlock_on {
        kernel.lock().push_trace(format!(
            "IopCloseFile: pid {pid} closed its last handle to locked FO {file_object}"
        ));
        if super::fast_io::close_unlock_all(kernel, device, file_object, pid) {
            io::close_handle_in(kernel, file_object, pid);
            return;
        }
        let mut request = IrpRequest::new(IrpMajor::LockControl, Some(file_object));
        request.minor = IRP_MN_UNLOCK_ALL;
        request.parameters = IrpParameters::LockControl {
            offset: 0,
            length: 0,
            key: 0,
            flags: 0,
        };
        request.requestor = pid;
        io::call_driver(kernel, device, request);
    }
    io::close_handle_in(kernel, file_object, pid);
}
