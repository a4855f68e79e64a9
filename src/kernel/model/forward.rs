//! Passing the IRP being dispatched down to the device the volume is mounted on
//! (IoSkipCurrentIrpStackLocation + IoCallDriver, or IoCopyCurrentIrpStackLocationToNext + a
//! completion routine + a wait), and what the model's disk stack answers there.
//!
//! The disk stack (disk.sys and its bus driver, not modelled as code) answers IRP_MJ_PNP as a
//! storage stack does: the removal minors and IRP_MN_QUERY_DEVICE_RELATIONS succeed, any other
//! minor keeps the status a PnP IRP starts with, STATUS_NOT_SUPPORTED
//! (<https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/handling-minor-pnp-irps-that-a-driver-does-not-support>).

use std::format;

use super::device::TargetDevice;
use super::irp::{Irp, major_name};
use super::state::{IRP_FRAME_CHARGE, with_state};
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::request::{
    IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_QUERY_DEVICE_RELATIONS, IRP_MN_QUERY_REMOVE_DEVICE,
    IRP_MN_REMOVE_DEVICE, IRP_MN_SURPRISE_REMOVAL,
};
use crate::kernel::{IrpMajor, NtStatus};

impl Irp {
    /// IoSkipCurrentIrpStackLocation + IoCallDriver(target): the device below completes the
    /// IRP; its status comes back and the token is gone.
    pub fn forward(self, target: TargetDevice) -> NtStatus {
        super::preempt::kernel_call();
        let status = lower_answer(&self, target);
        self.complete(status)
    }

    /// IoCopyCurrentIrpStackLocationToNext, a completion routine that signals an event and
    /// returns STATUS_MORE_PROCESSING_REQUIRED, IoCallDriver(target) and the wait: returns the
    /// status the device below completed with; the IRP is still ours to complete.
    pub fn forward_and_wait(&mut self, target: TargetDevice) -> NtStatus {
        super::preempt::kernel_call();
        with_state(|state| {
            state.require_irql("KeWaitForSingleObject", 1);
        });
        lower_answer(self, target)
    }
}

/// What the disk stack under `target` completes the IRP with.
fn lower_answer(irp: &Irp, target: TargetDevice) -> NtStatus {
    let id = irp.id;
    with_state(|state| {
        let Some(entry) = state.irps.get(id) else {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Irp,
                id,
            });
            return NtStatus::INVALID_PARAMETER;
        };
        let (major, minor) = (entry.major, entry.minor);
        if state.devices.get(target.id).is_none() {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Device,
                id: target.id,
            });
            return NtStatus::NO_SUCH_DEVICE;
        }
        state.charge_stack(IRP_FRAME_CHARGE);
        state.release_stack(IRP_FRAME_CHARGE);
        let status = if major == IrpMajor::Pnp as u8 {
            match minor {
                IRP_MN_QUERY_REMOVE_DEVICE
                | IRP_MN_REMOVE_DEVICE
                | IRP_MN_CANCEL_REMOVE_DEVICE
                | IRP_MN_SURPRISE_REMOVAL
                | IRP_MN_QUERY_DEVICE_RELATIONS => NtStatus::SUCCESS,
                _ => NtStatus::NOT_SUPPORTED,
            }
        } else {
            NtStatus::INVALID_DEVICE_REQUEST
        };
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: disk {} answers {} minor {minor:#x}: {status:?}",
            target.id,
            major_name(major)
        ));
        status
    })
    .unwrap_or(NtStatus::UNSUCCESSFUL)
}
