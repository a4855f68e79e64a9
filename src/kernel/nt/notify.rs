//! Directory change notification through FsRtl: a volume's NOTIFY_SYNC and notify list
//! (FsRtlNotifyInitializeSync / FsRtlNotifyUninitializeSync), a pended
//! IRP_MN_NOTIFY_CHANGE_DIRECTORY (FsRtlNotifyFullChangeDirectory, which owns the IRP from then
//! on, cancel routine included) and the end of a handle's notifications (FsRtlNotifyCleanup).

use alloc::vec::Vec;
use core::ptr::null_mut;

use wdk_sys::{LIST_ENTRY, PNOTIFY_SYNC, PSTRING, UNICODE_STRING};

use super::file_object::FileObject;
use super::irp::Irp;
use super::pool::{PoolBox, PoolTag};
use crate::kernel::NtStatus;

const NOTIFY_TAG: PoolTag = PoolTag(*b"RfNt");

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
        // structure (it raises on failure only in old versions; PASSIVE_LEVEL here).
        unsafe { wdk_sys::ntddk::FsRtlNotifyInitializeSync(&mut sync) };
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
    /// STATUS_NOTIFY_CLEANUP if the open has already been cleaned up. Returns STATUS_PENDING.
    pub fn watch(
        &self,
        file_object: &FileObject,
        name: &NotifyName,
        watch_tree: bool,
        filter: u32,
        irp: Irp,
    ) -> NtStatus {
        let raw_irp = irp.raw();
        core::mem::forget(irp);
        // SAFETY: the sync and list are ours and initialized; FsContext2 (the CCB) is the
        // unique per-open key; `name` lives with the CCB, which outlives the open's cleanup
        // (after which FsRtl no longer holds it); the IRP is live and given to FsRtl here.
        unsafe {
            wdk_sys::ntddk::FsRtlNotifyFullChangeDirectory(
                self.sync,
                self.head_ptr(),
                (*file_object.raw()).FsContext2,
                name.as_pstring(),
                u8::from(watch_tree),
                0,
                filter,
                raw_irp,
                None,
                null_mut(),
            );
        }
        NtStatus::PENDING
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
