//! The IRP being dispatched: an owned token that must be completed exactly once.

use wdk_sys::{IO_NO_INCREMENT, PIRP};

use crate::kernel::{IrpMajor, NtStatus};

/// An IRP the I/O manager handed to our dispatch routine. Completing it consumes the token.
pub struct Irp {
    raw: PIRP,
}

impl Irp {
    /// # Safety
    /// `raw` is the IRP passed to a dispatch routine, not yet completed, owned by the caller.
    pub(super) unsafe fn from_raw(raw: PIRP) -> Irp {
        Irp { raw }
    }

    /// The major function of the current stack location.
    pub fn major(&self) -> Option<IrpMajor> {
        // SAFETY: `raw` is a live IRP (type invariant); the current stack location of an IRP in
        // dispatch is valid and is not changed while we hold the IRP.
        let code = unsafe {
            let stack = (*self.raw)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation;
            (*stack).MajorFunction
        };
        IrpMajor::from_code(code)
    }

    /// Sets the final status and completes the IRP. Returns the status for the dispatch routine.
    pub fn complete(self, status: NtStatus) -> NtStatus {
        // SAFETY: `raw` is live and not yet completed (type invariant); `self` is consumed, so
        // it cannot be completed twice.
        unsafe {
            (*self.raw).IoStatus.__bindgen_anon_1.Status = status.0;
            wdk_sys::ntddk::IofCompleteRequest(self.raw, IO_NO_INCREMENT as i8);
        }
        status
    }
}
