//! A safe client of the real NT file API (ntdll.dll) for `filetest.exe`, the windows-gnu build
//! of the scenario runner: it drives a real volume (or, under Wine, a directory) through the
//! same calls the NT model's `Session` models. Compiled only for `x86_64-pc-windows-gnu`.
//!
//! Windows sources of each call's contract (Learn): NtCreateFile
//! <https://learn.microsoft.com/en-us/windows/win32/api/winternl/nf-winternl-ntcreatefile>,
//! NtReadFile <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntreadfile>,
//! NtQueryInformationFile, NtQueryDirectoryFile, NtQueryVolumeInformationFile, NtFsControlFile,
//! NtClose, NtDuplicateObject (the ntifs.h / wdm.h pages of the same names), NtLoadDriver /
//! NtUnloadDriver <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-zwloaddriver>;
//! sections and views in `section`, change notification in `notify`.
//!
//! Handles: a `File` is a handle this process owns (closed on drop, or by `close` with the
//! status NtClose returned); a `ForeignHandle` is a value in a `ChildProcess`'s table, reached
//! only through that process's handle. Every call but a notify waits for its I/O before
//! returning; a notify that pends owns its buffers (`PendingNotify`): no buffer or
//! IO_STATUS_BLOCK is ever released while the kernel may still write it.

mod ffi;
mod notify;
mod section;

use core::ffi::c_void;
use core::ptr;
use std::boxed::Box;
use std::os::windows::io::AsRawHandle;
use std::process::Child;
use std::string::String;
use std::vec::Vec;

use crate::kernel::NtStatus;
use ffi::{Handle, IoStatusBlock, ObjectAttributes, UnicodeString};
pub use notify::{Notify, PendingNotify};
pub use section::{MappedView, PAGE_SIZE, Section};

/// A handle of this process, from `create_file` or a duplicate.
pub struct File {
    raw: Handle,
}

/// The status, IoStatus.Information and, unless the status is an error, the first
/// Information bytes of the output buffer (as the model's `Session` reports them).
pub struct Io {
    pub status: NtStatus,
    pub information: usize,
    pub data: Vec<u8>,
}

impl Io {
    fn failed(status: NtStatus) -> Io {
        Io {
            status,
            information: 0,
            data: Vec::new(),
        }
    }
}

/// NtCreateFile's parameters, as a scenario's `open`/`create` step sets them.
pub struct CreateFile<'a> {
    /// An NT path (`\??\E:\dir\file`), or a name relative to `root`.
    pub path: &'a str,
    pub root: Option<&'a File>,
    pub desired_access: u32,
    pub share_access: u32,
    pub disposition: u32,
    pub options: u32,
    pub file_attributes: u32,
    pub allocation_size: u64,
    /// OBJ_CASE_INSENSITIVE.
    pub case_insensitive: bool,
    /// FILE_OPEN_BY_FILE_ID: the name is this 8-byte ID (the caller sets the option).
    pub file_id: Option<u64>,
}

/// The result of NtCreateFile: its status, IoStatus.Information and the handle on success.
pub struct Created {
    pub status: NtStatus,
    pub information: usize,
    pub file: Option<File>,
}

fn status(value: i32) -> NtStatus {
    NtStatus(value)
}

fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// A UNICODE_STRING over `units`; None if it is longer than a UNICODE_STRING can say.
fn unicode(units: &[u16]) -> Option<UnicodeString> {
    let length = u16::try_from(units.len().checked_mul(2)?).ok()?;
    Some(UnicodeString {
        length,
        maximum_length: length,
        buffer: units.as_ptr(),
    })
}

pub fn create_file(request: &CreateFile) -> Created {
    let failed = |status| Created {
        status,
        information: 0,
        file: None,
    };
    let units = match request.file_id {
        Some(id) => (0..4).map(|i| (id >> (16 * i)) as u16).collect(),
        None => utf16(request.path),
    };
    let Some(name) = unicode(&units) else {
        return failed(NtStatus::OBJECT_NAME_INVALID);
    };
    let attributes = ObjectAttributes {
        length: size_of::<ObjectAttributes>() as u32,
        root_directory: request.root.map_or(ptr::null_mut(), |root| root.raw),
        object_name: &name,
        attributes: if request.case_insensitive {
            ffi::OBJ_CASE_INSENSITIVE
        } else {
            0
        },
        security_descriptor: ptr::null_mut(),
        security_quality_of_service: ptr::null_mut(),
    };
    let allocation_size = i64::try_from(request.allocation_size).unwrap_or(i64::MAX);
    let mut handle: Handle = ptr::null_mut();
    let mut iosb = IoStatusBlock {
        status: 0,
        information: 0,
    };
    // SAFETY: every pointer is to a live local (`name` borrows `units`, which outlives the
    // call); NtCreateFile is synchronous whatever the options: it returns only once the
    // CREATE has completed, so nothing is written after it returns.
    let result = status(unsafe {
        ffi::NtCreateFile(
            &mut handle,
            request.desired_access,
            &attributes,
            &mut iosb,
            &allocation_size,
            request.file_attributes,
            request.share_access,
            request.disposition,
            request.options,
            ptr::null_mut(),
            0,
        )
    });
    Created {
        status: result,
        information: iosb.information,
        file: (!result.is_error() && !handle.is_null()).then_some(File { raw: handle }),
    }
}

/// NtClose(NULL): what closing "no handle" returns (STATUS_INVALID_HANDLE).
pub fn close_no_handle() -> NtStatus {
    // SAFETY: a NULL handle names no object; NtClose only validates it.
    status(unsafe { ffi::NtClose(ptr::null_mut()) })
}

/// An output buffer aligned for any information class (the I/O manager checks alignment).
struct Buffer {
    words: Vec<u64>,
    length: u32,
}

impl Buffer {
    fn new(length: u32) -> Result<Buffer, NtStatus> {
        let count = (length as usize).div_ceil(8);
        let mut words = Vec::new();
        words
            .try_reserve_exact(count)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        words.resize(count, 0);
        Ok(Buffer { words, length })
    }

    fn pointer(&mut self) -> *mut c_void {
        self.words.as_mut_ptr().cast()
    }

    fn bytes(&self, count: usize) -> Vec<u8> {
        self.words
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .take(count.min(self.length as usize))
            .collect()
    }
}

impl File {
    /// Sends one I/O call `call(iosb, buffer)` with a buffer of `length` bytes, waits for it if
    /// it pends (an asynchronous handle), and collects the result.
    fn io(&self, length: u32, call: impl FnOnce(*mut IoStatusBlock, *mut c_void) -> i32) -> Io {
        let mut buffer = match Buffer::new(length) {
            Ok(buffer) => buffer,
            Err(status) => return Io::failed(status),
        };
        let mut iosb = Box::new(IoStatusBlock {
            status: 0,
            information: 0,
        });
        let mut result = status(call(&mut *iosb, buffer.pointer()));
        if result == NtStatus::PENDING {
            // SAFETY: `self.raw` is a handle this process owns; the file object is signalled
            // when the I/O completes (no event was passed).
            let waited = status(unsafe { ffi::NtWaitForSingleObject(self.raw, 0, ptr::null()) });
            if waited.is_error() {
                // The I/O may still complete into these: never free them.
                core::mem::forget(buffer);
                Box::leak(iosb);
                return Io::failed(waited);
            }
            result = status(iosb.status as u32 as i32);
        }
        let information = iosb.information;
        Io {
            status: result,
            information,
            data: if result.is_error() {
                Vec::new()
            } else {
                buffer.bytes(information)
            },
        }
    }

    /// NtReadFile at `offset`, or at the current position (None).
    pub fn read(&self, offset: Option<u64>, length: u32) -> Io {
        let offset = offset.map(|o| i64::try_from(o).unwrap_or(i64::MAX));
        self.io(length, |iosb, buffer| {
            // SAFETY: `iosb` and `buffer` (of `length` bytes) stay alive until the read has
            // completed (`io` waits); `offset` is a live local or NULL.
            unsafe {
                ffi::NtReadFile(
                    self.raw,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    iosb,
                    buffer,
                    length,
                    offset.as_ref().map_or(ptr::null(), |o| o),
                    ptr::null(),
                )
            }
        })
    }

    pub fn query_information(&self, class: u32, length: u32) -> Io {
        self.io(length, |iosb, buffer| {
            // SAFETY: as in `read`; the call is synchronous.
            unsafe { ffi::NtQueryInformationFile(self.raw, iosb, buffer, length, class) }
        })
    }

    pub fn query_volume_information(&self, class: u32, length: u32) -> Io {
        self.io(length, |iosb, buffer| {
            // SAFETY: as in `read`; the call is synchronous.
            unsafe { ffi::NtQueryVolumeInformationFile(self.raw, iosb, buffer, length, class) }
        })
    }

    /// NtQueryDirectoryFile with an optional pattern (FileName), RestartScan and
    /// ReturnSingleEntry.
    pub fn query_directory(
        &self,
        class: u32,
        length: u32,
        pattern: Option<&str>,
        restart: bool,
        single: bool,
    ) -> Io {
        let units = pattern.map(utf16);
        let name = match units.as_deref().map(unicode) {
            Some(None) => return Io::failed(NtStatus::OBJECT_NAME_INVALID),
            Some(Some(name)) => Some(name),
            None => None,
        };
        self.io(length, |iosb, buffer| {
            // SAFETY: as in `read`; `name` (over `units`) lives until the call has completed.
            unsafe {
                ffi::NtQueryDirectoryFile(
                    self.raw,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    iosb,
                    buffer,
                    length,
                    class,
                    u8::from(single),
                    name.as_ref().map_or(ptr::null(), |n| n),
                    u8::from(restart),
                )
            }
        })
    }

    /// NtFsControlFile with `input` and an output buffer of `length` bytes.
    pub fn fs_control(&self, code: u32, input: &[u8], length: u32) -> Io {
        let mut input = input.to_vec();
        let Ok(input_length) = u32::try_from(input.len()) else {
            return Io::failed(NtStatus::INVALID_PARAMETER);
        };
        let input_pointer = if input.is_empty() {
            ptr::null_mut()
        } else {
            input.as_mut_ptr().cast()
        };
        self.io(length, |iosb, buffer| {
            // SAFETY: as in `read`; `input` lives until the call has completed.
            unsafe {
                ffi::NtFsControlFile(
                    self.raw,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    ptr::null_mut(),
                    iosb,
                    code,
                    input_pointer,
                    input_length,
                    if length == 0 { ptr::null_mut() } else { buffer },
                    length,
                )
            }
        })
    }

    /// NtClose, with its status.
    pub fn close(self) -> NtStatus {
        let raw = self.raw;
        core::mem::forget(self);
        // SAFETY: `raw` is a handle this process owns; `self` is consumed, so it is closed once.
        status(unsafe { ffi::NtClose(raw) })
    }

    /// DuplicateHandle into `target` (no IRP reaches the file system): the new handle's value.
    fn duplicate_to(&self, target: Handle) -> Result<Handle, NtStatus> {
        let mut value: Handle = ptr::null_mut();
        // SAFETY: both process handles are live (ours is the pseudo-handle, a child's lives as
        // long as its `ChildProcess`); `value` is a live local.
        let result = status(unsafe {
            ffi::NtDuplicateObject(
                ffi::current_process(),
                self.raw,
                target,
                &mut value,
                0,
                0,
                ffi::DUPLICATE_SAME_ACCESS,
            )
        });
        if result.is_error() {
            return Err(result);
        }
        Ok(value)
    }

    /// DuplicateHandle within this process.
    pub fn duplicate(&self) -> Result<File, NtStatus> {
        self.duplicate_to(ffi::current_process())
            .map(|raw| File { raw })
    }

    /// DuplicateHandle into `process`.
    pub fn duplicate_into(&self, process: &ChildProcess) -> Result<ForeignHandle, NtStatus> {
        self.duplicate_to(process.raw()).map(|value| ForeignHandle {
            value: value as usize,
        })
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: `self.raw` is a handle this process owns, closed only here or by `close`
        // (which forgets `self`).
        unsafe { ffi::NtClose(self.raw) };
    }
}

/// A handle value in a child process's handle table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ForeignHandle {
    value: usize,
}

/// A process this one started (a copy of filetest.exe that waits), to hold duplicated handles
/// and to exit with them.
pub struct ChildProcess {
    child: Child,
}

impl ChildProcess {
    pub fn new(child: Child) -> ChildProcess {
        ChildProcess { child }
    }

    fn raw(&self) -> Handle {
        self.child.as_raw_handle()
    }

    /// NtClose of `handle` in the child (DuplicateHandle with DUPLICATE_CLOSE_SOURCE).
    pub fn close(&self, handle: ForeignHandle) -> NtStatus {
        // SAFETY: the child's process handle is live while `self` is; no target is asked for.
        status(unsafe {
            ffi::NtDuplicateObject(
                self.raw(),
                handle.value as Handle,
                ptr::null_mut(),
                ptr::null_mut(),
                0,
                0,
                ffi::DUPLICATE_CLOSE_SOURCE,
            )
        })
    }

    /// A duplicate of the child's `handle` in this process (no IRP), to call through.
    pub fn fetch(&self, handle: ForeignHandle) -> Result<File, NtStatus> {
        let mut target: Handle = ptr::null_mut();
        // SAFETY: both process handles are live; `target` is a live local.
        let result = status(unsafe {
            ffi::NtDuplicateObject(
                self.raw(),
                handle.value as Handle,
                ffi::current_process(),
                &mut target,
                0,
                0,
                ffi::DUPLICATE_SAME_ACCESS,
            )
        });
        if result.is_error() {
            return Err(result);
        }
        Ok(File { raw: target })
    }

    /// NtTerminateProcess, then waits for the exit (which closes every handle the child has).
    pub fn terminate(mut self) -> NtStatus {
        // SAFETY: the child's process handle is live until `self.child` is dropped.
        let result = status(unsafe { ffi::NtTerminateProcess(self.raw(), 1) });
        let _ = self.child.wait();
        result
    }
}

/// The registry path of a service: what NtLoadDriver/NtUnloadDriver take.
fn service_key(name: &str) -> Vec<u16> {
    let mut key = String::from(r"\Registry\Machine\System\CurrentControlSet\Services\");
    key.push_str(name);
    utf16(&key)
}

/// RtlAdjustPrivilege: enables SeBackupPrivilege (`restore` false) or SeRestorePrivilege in
/// this process's token; STATUS_PRIVILEGE_NOT_HELD if the token does not hold it.
pub fn enable_backup_privilege(restore: bool) -> NtStatus {
    let privilege = if restore {
        ffi::SE_RESTORE_PRIVILEGE
    } else {
        ffi::SE_BACKUP_PRIVILEGE
    };
    let mut was_enabled = 0u8;
    // SAFETY: `was_enabled` is a live local; the call only adjusts this process's token.
    status(unsafe { ffi::RtlAdjustPrivilege(privilege, 1, 0, &mut was_enabled) })
}

/// Enables SeLoadDriverPrivilege (an administrator's token has it, disabled) and calls
/// NtLoadDriver (`load`) or NtUnloadDriver on the service `name`.
pub fn load_driver(name: &str, load: bool) -> NtStatus {
    let mut was_enabled = 0u8;
    // SAFETY: `was_enabled` is a live local; the call only adjusts this process's token.
    let adjusted = status(unsafe {
        ffi::RtlAdjustPrivilege(ffi::SE_LOAD_DRIVER_PRIVILEGE, 1, 0, &mut was_enabled)
    });
    if adjusted.is_error() {
        return adjusted;
    }
    let units = service_key(name);
    let Some(key) = unicode(&units) else {
        return NtStatus::OBJECT_NAME_INVALID;
    };
    // SAFETY: `key` (over `units`) lives until the call returns; both calls are synchronous.
    status(unsafe {
        if load {
            ffi::NtLoadDriver(&key)
        } else {
            ffi::NtUnloadDriver(&key)
        }
    })
}
