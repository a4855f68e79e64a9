//! Directory change notification through FsRtl: a volume's NOTIFY_SYNC and notify list
//! (FsRtlNotifyInitializeSync / FsRtlNotifyUninitializeSync), a pended
//! IRP_MN_NOTIFY_CHANGE_DIRECTORY (FsRtlNotifyFullChangeDirectory, which owns the IRP from then
//! on, cancel routine included) and the end of a handle's notifications (FsRtlNotifyCleanup).

use alloc::vec::Vec;
use core::ptr::null_mut;

use core::ffi::c_void;

use wdk_sys::{LIST_ENTRY, PNOTIFY_SYNC, PSTRING, UNICODE_STRING};

use super::file_object::FileObject;
use super::irp::Irp;
use super::pool::{PoolBox, PoolTag};
use crate::kernel::NtStatus;

const NOTIFY_TAG: PoolTag = PoolTag(*b"RfNt");

unsafe extern "C" {
    /// `c/seh.c`: FsRtlNotifyInitializeSync under `__try` (it raises when pool is short).
    fn rustfsd_fsrtl_notify_initialize_sync(sync: *mut PNOTIFY_SYNC) -> i32;
    /// `c/seh.c`: FsRtlNotifyFullChangeDirectory under `__try`; a raise comes before FsRtl
    /// takes the IRP.
    fn rustfsd_fsrtl_notify_full_change_directory(
        sync: PNOTIFY_SYNC,
        list: *mut LIST_ENTRY,
        fs_context: *mut c_void,
        name: PSTRING,
        watch_tree: u8,
        filter: u32,
        irp: wdk_sys::PIRP,
    ) -> i32;
}

/// The name FsRtl keeps for a watched directory, alive as long as the open's CCB.
pub struct NotifyName {
    string: PoolBox<UNICODE_STRING>,
    /// The characters `string` points at (a heap block that never moves or changes).
    _units: Vec<u16>,
}

// SAFETY: the string and its characters are never written after construction.
unsafe impl Send for NotifyName {}
// SAFETY: as above; FsRtl only reads it.
unsafe impl Sync for NotifyName {}

impl NotifyName {
    pub fn try_new(name: &[u16]) -> Result<NotifyName, NtStatus> {
        let mut units = Vec::new();
        units
            .try_reserve_exact(name.len())
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        units.extend_from_slice(name);
        let bytes = u16::try_from(units.len() * 2).map_err(|_| NtStatus::NAME_TOO_LONG)?;
        let string = PoolBox::try_new(
            NOTIFY_TAG,
            UNICODE_STRING {
                Length: bytes,
                MaximumLength: bytes,
                Buffer: units.as_mut_ptr(),
            },
        )?;
        Ok(NotifyName {
            string,
            _units: units,
        })
    }

    fn as_pstring(&self) -> PSTRING {
        let string: *const UNICODE_STRING = &*self.string;
        string.cast_mut().cast()
    }
}

/// A volume's notify list and its NOTIFY_SYNC.
pub struct NotifyList {
    sync: PNOTIFY_SYNC,
    head: PoolBox<LIST_ENTRY>,
}

// SAFETY: FsRtl serializes every use of the list with the NOTIFY_SYNC.
unsafe impl Send for NotifyList {}
// SAFETY: as above.
unsafe impl Sync for NotifyList {}

impl NotifyList {
    pub fn try_new() -> Result<NotifyList, NtStatus> {
        let head = PoolBox::try_new(
            NOTIFY_TAG,
            LIST_ENTRY {
                Flink: null_mut(),
                Blink: null_mut(),
            },
        )?;
        let mut sync: PNOTIFY_SYNC = null_mut();
        // SAFETY: `sync` is a valid out-pointer; FsRtlNotifyInitializeSync allocates the
        // structure and raises when it cannot, which the guard turns into a status
        // (PASSIVE_LEVEL here).
        let status = unsafe { rustfsd_fsrtl_notify_initialize_sync(&mut sync) };
        if status < 0 {
            return Err(NtStatus(status));
        }
        if sync.is_null() {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        let list = NotifyList { sync, head };
        let head: *mut LIST_ENTRY = list.head_ptr();
        // SAFETY: InitializeListHead (an inline in the WDK) on our own pool block.
        unsafe {
            (*head).Flink = head;
            (*head).Blink = head;
        }
        Ok(list)
    }

    fn head_ptr(&self) -> *mut LIST_ENTRY {
        let head: *const LIST_ENTRY = &*self.head;
        head.cast_mut()
    }

    /// FsRtlNotifyFullChangeDirectory: FsRtl takes `irp` (pending, with its cancel routine)
    /// and completes it at the open's cleanup, at a cancel, or at once with
    /// STATUS_NOTIFY_CLEANUP if the open has already been cleaned up: STATUS_PENDING. If FsRtl
    /// raises (no pool for the open's notify structure) the IRP comes back with that status.
    pub fn watch(
        &self,
        file_object: &FileObject,
        name: &NotifyName,
        watch_tree: bool,
        filter: u32,
        irp: Irp,
    ) -> Result<NtStatus, (Irp, NtStatus)> {
        let raw_irp = irp.into_raw();
        // SAFETY: the sync and list are ours and initialized; FsContext2 (the CCB) is the
        // unique per-open key; `name` lives with the CCB, which outlives the open's cleanup
        // (after which FsRtl no longer holds it); the IRP is live and given to FsRtl here.
        let status = unsafe {
            rustfsd_fsrtl_notify_full_change_directory(
                self.sync,
                self.head_ptr(),
                (*file_object.raw()).FsContext2,
                name.as_pstring(),
                u8::from(watch_tree),
                filter,
                raw_irp,
            )
        };
        if status < 0 {
            // SAFETY: FsRtl raised before queuing or completing the IRP, so it is still the
            // one being dispatched, owned by us again.
            return Err((unsafe { Irp::from_raw(raw_irp) }, NtStatus(status)));
        }
        Ok(NtStatus::PENDING)
    }

    /// FsRtlNotifyCleanup: completes the open's pended notifications with
    /// STATUS_NOTIFY_CLEANUP and forgets the open.
    pub fn cleanup(&self, file_object: &FileObject) {
        // SAFETY: the sync and list are ours; FsContext2 is the key `watch` used.
        unsafe {
            wdk_sys::ntddk::FsRtlNotifyCleanup(
                self.sync,
                self.head_ptr(),
                (*file_object.raw()).FsContext2,
            );
        }
    }
}

impl Drop for NotifyList {
    fn drop(&mut self) {
        // SAFETY: initialized in `try_new`, uninitialized once; every open was cleaned up
        // before the VCB goes, so the list is empty.
        unsafe { wdk_sys::ntddk::FsRtlNotifyUninitializeSync(&mut self.sync) };
    }
}
