//! IRQL bookkeeping (KeGetCurrentIrql, KeRaiseIrql/KeLowerIrql) and kernel-stack accounting
//! (IoGetRemainingStackSize, KeExpandKernelStackAndCalloutEx).

use super::state::with_state;

pub const PASSIVE_LEVEL: u8 = 0;
pub const APC_LEVEL: u8 = 1;
pub const DISPATCH_LEVEL: u8 = 2;

/// KeGetCurrentIrql.
pub fn current_irql() -> u8 {
    with_state(|state| state.thread().irql).unwrap_or(PASSIVE_LEVEL)
}

/// KeRaiseIrql; the guard lowers back (KeLowerIrql) on drop.
pub struct IrqlGuard {
    previous: u8,
}

pub fn raise_irql(new: u8) -> IrqlGuard {
    let previous = with_state(|state| {
        let thread = state.thread();
        let previous = thread.irql;
        if new < previous {
            let routine = "KeRaiseIrql (to a lower IRQL)";
            state.report(super::verifier::FindingKind::WrongIrql {
                routine,
                irql: previous,
                max: new,
            });
        } else {
            state.thread().irql = new;
        }
        previous
    })
    .unwrap_or(PASSIVE_LEVEL);
    IrqlGuard { previous }
}

impl Drop for IrqlGuard {
    fn drop(&mut self) {
        let previous = self.previous;
        with_state(|state| state.thread().irql = previous);
    }
}

/// IoGetRemainingStackSize.
pub fn remaining_stack() -> usize {
    with_state(|state| {
        let thread = state.thread();
        thread.stack_limit.saturating_sub(thread.stack_used)
    })
    .unwrap_or(super::state::KERNEL_STACK_SIZE)
}

/// A frame the driver declares on a path that can recurse (the model cannot see real Rust
/// frames). Released on drop. On Windows this is a no-op: the real stack is the real stack.
pub struct StackFrame {
    bytes: usize,
}

pub fn charge_stack_frame(bytes: usize) -> StackFrame {
    with_state(|state| state.charge_stack(bytes));
    StackFrame { bytes }
}

impl Drop for StackFrame {
    fn drop(&mut self) {
        let bytes = self.bytes;
        with_state(|state| state.release_stack(bytes));
    }
}

/// The largest expansion KeExpandKernelStackAndCalloutEx grants (MAXIMUM_EXPANSION_SIZE on x64:
/// KERNEL_LARGE_STACK_SIZE (0x12000) - PAGE_SIZE / 2, as in the nt backend).
pub const MAXIMUM_EXPANSION_SIZE: usize = 0x11800;

/// KeExpandKernelStackAndCalloutEx(callout, parameter, size, Wait = TRUE, NULL): runs `callout`
/// with at least `size` bytes of stack
/// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntddk/nf-ntddk-keexpandkernelstackandcalloutex>).
/// If the current stack has `size` bytes left, the callout runs on it. Otherwise a new stack
/// segment is needed, and allocating it can fail: the seeded choice produces a fresh segment
/// of `size` bytes, STATUS_NO_MEMORY or STATUS_STACK_OVERFLOW (the segments would exceed the
/// system's limit), and on failure the callout never runs. Wait = TRUE is allowed only below
/// DISPATCH_LEVEL (STATUS_INVALID_PARAMETER_4 there).
pub fn expand_stack_and_callout<R>(
    size: usize,
    callout: impl FnOnce() -> R,
) -> Result<R, crate::kernel::NtStatus> {
    use crate::kernel::NtStatus;
    if size > MAXIMUM_EXPANSION_SIZE {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let expansion = with_state(|state| {
        state.require_irql("KeExpandKernelStackAndCalloutEx (Wait = TRUE)", APC_LEVEL);
        let thread = state.thread();
        if thread.stack_limit.saturating_sub(thread.stack_used) >= size {
            return Ok(None);
        }
        match state.choose(3) {
            1 => Err(NtStatus::NO_MEMORY),
            2 => Err(NtStatus::STACK_OVERFLOW),
            _ => {
                let thread = state.thread();
                let saved = (thread.stack_used, thread.stack_limit, thread.overflowed);
                thread.stack_used = 0;
                thread.stack_limit = size;
                thread.overflowed = false;
                Ok(Some(saved))
            }
        }
    });
    let saved = match expansion {
        Some(Ok(saved)) => saved,
        Some(Err(status)) => return Err(status),
        None => None,
    };
    let result = callout();
    if let Some((used, limit, overflowed)) = saved {
        with_state(|state| {
            let thread = state.thread();
            thread.stack_used = used;
            thread.stack_limit = limit;
            thread.overflowed = overflowed;
        });
    }
    Ok(result)
}
