//! Passing the IRP being dispatched down to the device the volume is mounted on: PnP requests
//! that belong to the disk's stack, or that the file system acts on once the stack below has
//! answered (FastFAT pnp.c).

use core::ptr;

use wdk_sys::{
    _EVENT_TYPE, _KWAIT_REASON, _MODE, KEVENT, SL_INVOKE_ON_CANCEL, SL_INVOKE_ON_ERROR,
    SL_INVOKE_ON_SUCCESS, STATUS_PENDING,
};

use super::device::TargetDevice;
use super::irp::Irp;
use super::lower_io::signal_completion;
use crate::kernel::NtStatus;

impl Irp {
    /// IoSkipCurrentIrpStackLocation + IoCallDriver(target): the device below completes the
    /// IRP; its status comes back and the token is gone.
    pub fn forward(self, target: TargetDevice) -> NtStatus {
        let device = target.raw();
        if device.is_null() {
            return self.complete(NtStatus::INVALID_DEVICE_REQUEST);
        }
        let irp = self.raw();
        core::mem::forget(self);
        // SAFETY: `irp` is a live IRP in dispatch, ours until passed on; skipping our stack
        // location hands the device below the very location we were given (the inline
        // IoSkipCurrentIrpStackLocation). `device` is the live target under the volume.
        unsafe {
            (*irp).CurrentLocation += 1;
            let overlay = &mut (*irp).Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1;
            overlay.CurrentStackLocation = overlay.CurrentStackLocation.add(1);
            NtStatus(wdk_sys::ntddk::IofCallDriver(device, irp))
        }
    }

    /// IoCopyCurrentIrpStackLocationToNext, a completion routine that signals an event and
    /// stops completion, IoCallDriver(target) and the wait (PASSIVE_LEVEL): returns the status
    /// the device below completed with; the IRP is still ours to complete.
    pub fn forward_and_wait(&mut self, target: TargetDevice) -> NtStatus {
        let device = target.raw();
        if device.is_null() {
            return NtStatus::INVALID_DEVICE_REQUEST;
        }
        let irp = self.raw();
        // SAFETY: all-zero is valid storage for a KEVENT that KeInitializeEvent then sets up;
        // it stays in this frame, unmoved, until the wait below has returned.
        let mut event: KEVENT = unsafe { core::mem::zeroed() };
        let event_ptr: *mut KEVENT = &mut event;
        // SAFETY: `irp` is live and ours; a dispatched IRP has a next stack location for the
        // device below (our StackSize is the target's + 1). The copy is the inline
        // IoCopyCurrentIrpStackLocationToNext; the completion routine returns
        // STATUS_MORE_PROCESSING_REQUIRED, so the IRP is ours again after the event, and
        // `event` outlives the wait.
        unsafe {
            let current = (*irp)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation;
            let next = current.sub(1);
            ptr::copy_nonoverlapping(current, next, 1);
            wdk_sys::ntddk::KeInitializeEvent(event_ptr, _EVENT_TYPE::NotificationEvent, 0);
            (*next).CompletionRoutine = Some(signal_completion);
            (*next).Context = event_ptr.cast();
            (*next).Control =
                (SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL) as u8;
            if wdk_sys::ntddk::IofCallDriver(device, irp) == STATUS_PENDING {
                // KernelMode, not alertable, no timeout: the only outcome is STATUS_SUCCESS.
                let _ = wdk_sys::ntddk::KeWaitForSingleObject(
                    event_ptr.cast(),
                    _KWAIT_REASON::Executive,
                    _MODE::KernelMode as i8,
                    0,
                    ptr::null_mut(),
                );
            }
            NtStatus((*irp).IoStatus.__bindgen_anon_1.Status)
        }
    }
}
