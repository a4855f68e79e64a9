//! IRQL (KeGetCurrentIrql / KeRaiseIrql / KeLowerIrql, inlines over CR8 on x64) and the
//! kernel stack (IoGetRemainingStackSize, KeExpandKernelStackAndCalloutEx).

use core::ffi::c_void;
use core::marker::PhantomData;

use crate::kernel::NtStatus;

pub const PASSIVE_LEVEL: u8 = 0;
pub const APC_LEVEL: u8 = 1;
pub const DISPATCH_LEVEL: u8 = 2;

/// KeGetCurrentIrql: on x64 the IRQL is CR8 (what the WDK inline reads).
pub fn current_irql() -> u8 {
    let irql: u64;
    // SAFETY: reading CR8 in kernel mode has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) irql, options(nomem, nostack, preserves_flags))
    };
    irql as u8
}

/// Writes CR8 (what the WDK's KfRaiseIrql/KeLowerIrql inlines do). Not `nomem`: memory
/// accesses must not move across an IRQL change.
///
/// # Safety
/// Kernel mode; `irql` restores or raises the IRQL as KeRaiseIrql/KeLowerIrql would.
unsafe fn write_irql(irql: u8) {
    // SAFETY: as the caller promises.
    unsafe {
        core::arch::asm!("mov cr8, {}", in(reg) u64::from(irql), options(nostack, preserves_flags))
    };
}

/// KeRaiseIrql; the guard lowers back (KeLowerIrql) on drop. Not Send.
pub struct IrqlGuard {
    previous: u8,
    _same_thread: PhantomData<*const ()>,
}

/// Raises to `new`. A request below the current IRQL (a bug KeRaiseIrql would bugcheck on) is
/// ignored: the IRQL stays, and the guard restores the same level.
pub fn raise_irql(new: u8) -> IrqlGuard {
    let previous = current_irql();
    if new > previous {
        // SAFETY: raising the IRQL of the current processor; the guard lowers it back.
        unsafe { write_irql(new) };
    }
    IrqlGuard {
        previous,
        _same_thread: PhantomData,
    }
}

impl Drop for IrqlGuard {
    fn drop(&mut self) {
        if current_irql() > self.previous {
            // SAFETY: lowering back to the IRQL raise_irql found, on the same processor and
            // thread (the guard is not Send).
            unsafe { write_irql(self.previous) };
        }
    }
}

/// IoGetRemainingStackSize (an inline in the WDK): this frame's address minus the stack's low
/// limit (IoGetStackLimits).
pub fn remaining_stack() -> usize {
    let mut low: u64 = 0;
    let mut high: u64 = 0;
    // SAFETY: IoGetStackLimits writes the current thread's stack bounds.
    unsafe { wdk_sys::ntddk::IoGetStackLimits(&mut low, &mut high) };
    let here = &raw const low as usize;
    here.saturating_sub(low as usize)
}

/// A frame declared on a path that can recurse. The model charges it to a stack budget; on
/// Windows it is a no-op: the real stack is the real stack.
pub struct StackFrame {
    _private: (),
}

pub fn charge_stack_frame(_bytes: usize) -> StackFrame {
    StackFrame { _private: () }
}

/// MAXIMUM_EXPANSION_SIZE on x64: KERNEL_LARGE_STACK_SIZE (0x12000) - PAGE_SIZE / 2.
pub const MAXIMUM_EXPANSION_SIZE: usize = 0x11800;

/// What the callout trampoline needs: the closure in, its result out.
struct Callout<F, R> {
    callout: Option<F>,
    result: Option<R>,
}

unsafe extern "C" fn run_callout<F: FnOnce() -> R, R>(parameter: *mut c_void) {
    // SAFETY: `parameter` is the Callout of `expand_stack_and_callout`, alive (on the
    // caller's stack) until KeExpandKernelStackAndCalloutEx returns, used only here meanwhile.
    let state = unsafe { &mut *parameter.cast::<Callout<F, R>>() };
    if let Some(callout) = state.callout.take() {
        state.result = Some(callout());
    }
}

/// KeExpandKernelStackAndCalloutEx: runs `callout` on a stack with at least `size` bytes free
/// (waiting for the stack if need be).
pub fn expand_stack_and_callout<R>(
    size: usize,
    callout: impl FnOnce() -> R,
) -> Result<R, NtStatus> {
    expand::<_, R>(size, callout)
}

fn expand<F: FnOnce() -> R, R>(size: usize, callout: F) -> Result<R, NtStatus> {
    if size > MAXIMUM_EXPANSION_SIZE {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let mut state: Callout<F, R> = Callout {
        callout: Some(callout),
        result: None,
    };
    // SAFETY: the trampoline matches F and R; `state` outlives the synchronous call.
    let status = unsafe {
        wdk_sys::ntddk::KeExpandKernelStackAndCalloutEx(
            Some(run_callout::<F, R>),
            (&raw mut state).cast(),
            size as _,
            1,
            core::ptr::null_mut(),
        )
    };
    if status < 0 {
        return Err(NtStatus(status));
    }
    state.result.ok_or(NtStatus::UNSUCCESSFUL)
}
