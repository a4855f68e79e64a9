//! The low-stack path (seed 004, DESIGN.md invariant 5): a request that can nest (a paging
//! read sent by Cc or Mm from inside a cached read or a fault, a read issued while in a fault,
//! CREATE's path walk under a filter's own open) first checks what IoGetRemainingStackSize
//! reports. With less than its own frames and the disk stack below it need, it runs on a
//! stack expanded by KeExpandKernelStackAndCalloutEx, where FastFAT's FatFsdRead posts to its
//! stack-overflow thread (FatPostStackOverflowRead, FsRtlPostStackOverflow) below
//! OVERFLOW_READ_THRESHHOLD. If the kernel cannot expand the stack (STATUS_NO_MEMORY,
//! STATUS_STACK_OVERFLOW), the request fails with STATUS_INSUFFICIENT_RESOURCES.
//!
//! The frame figures are what `cargo xtask stack-depth` measures in rustfsd.sys and fails
//! above (docs/performance.md, "Stack depth"); the model charges them, since it cannot see
//! Rust frames.

use crate::kernel::{
    DeviceRef, Irp, NtStatus, charge_stack_frame, expand_stack_and_callout, remaining_stack,
};

/// Our frames on the deepest chain of a read, from `dispatch_irp` down to IoCallDriver.
pub const READ_FRAMES: usize = 3 * 1024;
/// Our frames on the deepest chain of a CREATE (the path walk), down to IoCallDriver: measured
/// at 4,096 bytes with the block map cache; the compiler's inlining moves it by about 150
/// bytes between unrelated changes, so half a KiB is kept above it.
pub const CREATE_FRAMES: usize = 4 * 1024 + 512;
/// What the disk stack under our IoCallDriver may use: volume snapshot, volume manager,
/// partition manager, disk class and port drivers.
pub const DISK_STACK: usize = 4 * 1024;

/// Runs `body` for the request with at least `frames` + DISK_STACK bytes of stack.
pub fn with_stack_for(
    frames: usize,
    device: DeviceRef,
    irp: Irp,
    body: impl FnOnce(DeviceRef, Irp) -> NtStatus,
) -> NtStatus {
    let reserve = frames + DISK_STACK;
    let run = |irp: Irp| {
        let _frames = charge_stack_frame(frames);
        body(device, irp)
    };
    if remaining_stack() >= reserve {
        return run(irp);
    }
    let mut pending = Some(irp);
    let expanded = expand_stack_and_callout(reserve, || pending.take().map(run));
    match (expanded, pending) {
        (Ok(Some(status)), _) => status,
        // The callout never ran: the IRP is still ours.
        (_, Some(irp)) => irp.complete(NtStatus::INSUFFICIENT_RESOURCES),
        (_, None) => NtStatus::UNSUCCESSFUL,
    }
}
