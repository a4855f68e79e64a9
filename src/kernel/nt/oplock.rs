//! `Oplock`: the FCB header's OPLOCK (FSRTL_FCB_HEADER_V2 keeps it in the header, as CDFS's
//! and FastFAT's FCBs do on Windows 8+: CdGetFcbOplock / FatGetFcbOplock), initialized by
//! FsRtlInitializeOplock in `FcbArc::try_new` and uninitialized at the FCB's last reference.
//! The methods are FsRtl's oplock package: FsRtlOplockFsctrl, FsRtlCheckOplock (with a
//! completion routine, so a request that must wait is handed back later instead of blocking
//! the thread), FsRtlOplockIsFastIoPossible and FsRtlCurrentBatchOplock.

use core::cell::UnsafeCell;
use core::ffi::c_void;

use wdk_sys::{PIRP, PVOID};

use super::irp::Irp;
use crate::kernel::NtStatus;

/// What the oplock package hands a waiting request back to (POPLOCK_WAIT_COMPLETE_ROUTINE's
/// Context is this function): the IRP and its IoStatus.Status (SUCCESS or CANCELLED).
pub type OplockResume = fn(Irp, NtStatus);

/// What FsRtlCheckOplock decided (see the model's twin).
pub enum OplockCheck {
    Proceed(Irp, NtStatus),
    Pending,
}

/// The OPLOCK field of an FCB header (a PVOID FsRtl owns). Only ever reached by reference
/// into a live FCB block (`FcbArc::oplock`).
#[repr(transparent)]
pub struct Oplock(UnsafeCell<*mut c_void>);

// SAFETY: FsRtl synchronizes every access to the oplock behind the pointer with its own lock;
// Rust never reads or writes the field itself.
unsafe impl Sync for Oplock {}
// SAFETY: as above.
unsafe impl Send for Oplock {}

impl Oplock {
    fn raw(&self) -> *mut PVOID {
        self.0.get()
    }

    /// FsRtlOplockFsctrl: FsRtl takes the IRP and completes or pends it.
    pub fn fsctrl(&self, irp: Irp, open_count: u32) -> NtStatus {
        let raw = irp.into_raw();
        // SAFETY: the oplock was initialized with its FCB and lives as long as it (the caller
        // holds a count through `&self`); `raw` is the oplock FSCTL being dispatched, given
        // up to FsRtl here.
        NtStatus(unsafe { wdk_sys::ntddk::FsRtlOplockFsctrl(self.raw(), raw, open_count) })
    }

    /// FsRtlCheckOplock(Oplock, Irp, `resume`, oplock_complete, NULL).
    pub fn check(&self, irp: Irp, resume: OplockResume) -> OplockCheck {
        let raw = irp.raw();
        // SAFETY: as in fsctrl; `raw` is being dispatched (the token is still ours). The
        // context is a plain function pointer, valid for the program's lifetime, that
        // `oplock_complete` turns back into `OplockResume`.
        let status = NtStatus(unsafe {
            wdk_sys::ntddk::FsRtlCheckOplock(
                self.raw(),
                raw,
                resume as *mut c_void,
                Some(oplock_complete),
                None,
            )
        });
        if status == NtStatus::SUCCESS || status == NtStatus::OPLOCK_BREAK_IN_PROGRESS {
            OplockCheck::Proceed(irp, status)
        } else {
            // The oplock package has the IRP (CDFS: "the oplock package completed the
            // request"): it comes back through `oplock_complete`.
            core::mem::forget(irp);
            OplockCheck::Pending
        }
    }

    /// FsRtlCheckOplock on an IRP_MJ_CLEANUP, with no completion routine (a cleanup never
    /// waits).
    pub fn cleanup(&self, irp: &Irp) {
        // SAFETY: as in check; with no completion routine FsRtl uses no context.
        unsafe {
            let _ = wdk_sys::ntddk::FsRtlCheckOplock(
                self.raw(),
                irp.raw(),
                core::ptr::null_mut(),
                None,
                None,
            );
        }
    }

    /// FsRtlOplockIsFastIoPossible.
    pub fn is_fast_io_possible(&self) -> bool {
        // SAFETY: as in fsctrl.
        unsafe { wdk_sys::ntddk::FsRtlOplockIsFastIoPossible(self.raw()) != 0 }
    }

    /// FsRtlCurrentBatchOplock.
    pub fn current_batch_oplock(&self) -> bool {
        // SAFETY: as in fsctrl.
        unsafe { wdk_sys::ntddk::FsRtlCurrentBatchOplock(self.raw()) != 0 }
    }
}

/// The oplock package's completion routine: the waiting IRP goes back to the `OplockResume`
/// that `check` passed as the context.
unsafe extern "C" fn oplock_complete(context: PVOID, irp: PIRP) {
    // SAFETY: `context` is the `OplockResume` function pointer `check` passed (a function
    // pointer and a data pointer have the same size and representation on x64); `irp` is the
    // IRP FsRtl kept, now handed back to us exactly once, with its IoStatus.Status set.
    unsafe {
        let resume = core::mem::transmute::<PVOID, OplockResume>(context);
        let status = NtStatus((*irp).IoStatus.__bindgen_anon_1.Status);
        resume(Irp::from_raw(irp), status);
    }
}
