//! Change notification for `filetest.exe`'s `notify`/`cancel`/`await` steps. Learn:
//! NtNotifyChangeDirectoryFile
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntnotifychangedirectoryfile>,
//! NtCancelIoFileEx
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ntcanceliofileex>,
//! NtCreateEvent
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-zwcreateevent>.
//!
//! A notify that pends keeps its event, IO_STATUS_BLOCK and buffer in a `PendingNotify` until
//! the kernel has completed it (the event is signalled): they are freed only then, and leaked
//! rather than freed if it is dropped still pending.

use core::ptr;
use std::boxed::Box;

use super::ffi::{self, Handle, IoStatusBlock};
use super::{Buffer, File, status};
use crate::kernel::NtStatus;

/// The buffer a notify asks for changes in (the steps report no records).
const NOTIFY_BUFFER: u32 = 4096;

/// A notify request the kernel still owns, or has completed.
pub struct PendingNotify {
    event: Handle,
    iosb: Box<IoStatusBlock>,
    buffer: Buffer,
}

/// What NtNotifyChangeDirectoryFile returned: done at once (its status), or pending.
pub enum Notify {
    Done(NtStatus),
    Pending(PendingNotify),
}

fn new_event() -> Result<Handle, NtStatus> {
    let mut event: Handle = ptr::null_mut();
    // SAFETY: `event` is a live local; no name, a notification event, not signalled.
    let result = status(unsafe {
        ffi::NtCreateEvent(
            &mut event,
            ffi::EVENT_ALL_ACCESS,
            ptr::null(),
            ffi::NOTIFICATION_EVENT,
            0,
        )
    });
    if result.is_error() || event.is_null() {
        return Err(result);
    }
    Ok(event)
}

impl File {
    /// NtNotifyChangeDirectoryFile with an event of its own, `filter` and WatchTree
    /// (`subtree`). On a synchronous handle the call returns only once it has completed.
    pub fn notify_change_directory(&self, filter: u32, subtree: bool) -> Notify {
        let event = match new_event() {
            Ok(event) => event,
            Err(status) => return Notify::Done(status),
        };
        let mut request = PendingNotify {
            event,
            iosb: Box::new(IoStatusBlock {
                status: 0,
                information: 0,
            }),
            buffer: match Buffer::new(NOTIFY_BUFFER) {
                Ok(buffer) => buffer,
                Err(status) => {
                    // SAFETY: `event` is the event this process just created, closed once.
                    unsafe { ffi::NtClose(event) };
                    return Notify::Done(status);
                }
            },
        };
        let buffer = request.buffer.pointer();
        // SAFETY: the event, IO_STATUS_BLOCK (boxed: its address does not move) and buffer
        // are owned by `request`, which is returned while the call pends and frees them only
        // once the event is signalled (`Drop`); `self.raw` is a handle this process owns.
        let result = status(unsafe {
            ffi::NtNotifyChangeDirectoryFile(
                self.raw,
                request.event,
                ptr::null_mut(),
                ptr::null_mut(),
                &mut *request.iosb,
                buffer,
                NOTIFY_BUFFER,
                filter,
                u8::from(subtree),
            )
        });
        if result == NtStatus::PENDING {
            Notify::Pending(request)
        } else {
            Notify::Done(result)
        }
    }

    /// NtCancelIoFileEx(NULL IoRequestToCancel): every I/O of this process on the file.
    pub fn cancel_io(&self) -> NtStatus {
        let mut iosb = IoStatusBlock {
            status: 0,
            information: 0,
        };
        // SAFETY: `iosb` is a live local, written before the call returns; NULL asks for all
        // of this process's I/O on the handle's file.
        status(unsafe { ffi::NtCancelIoFileEx(self.raw, ptr::null_mut(), &mut iosb) })
    }
}

impl PendingNotify {
    /// The status and Information the request completed with, or None while it pends (the
    /// event is polled with a zero timeout).
    pub fn completion(&self) -> Option<(NtStatus, usize)> {
        let zero: i64 = 0;
        // SAFETY: `self.event` is an event this process owns; `zero` is a live local.
        let waited = status(unsafe { ffi::NtWaitForSingleObject(self.event, 0, &zero) });
        (waited == NtStatus::SUCCESS).then(|| {
            (
                status(self.iosb.status as u32 as i32),
                self.iosb.information,
            )
        })
    }
}

impl Drop for PendingNotify {
    fn drop(&mut self) {
        if self.completion().is_none() {
            // The kernel may still write the IO_STATUS_BLOCK, buffer and event: never free
            // them.
            let words = core::mem::take(&mut self.buffer.words);
            core::mem::forget(words);
            let iosb = core::mem::replace(
                &mut self.iosb,
                Box::new(IoStatusBlock {
                    status: 0,
                    information: 0,
                }),
            );
            Box::leak(iosb);
            return;
        }
        // SAFETY: the request has completed; the event is this process's, closed once here.
        unsafe { ffi::NtClose(self.event) };
    }
}
