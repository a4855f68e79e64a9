//! Processors: how many the modelled machine has (`Session::set_processor_count`, 2 unless
//! set) and which one a thread runs on when it asks.
//!
//! KeGetCurrentProcessorNumberEx's number may change at any moment below DISPATCH_LEVEL
//! (Learn, KeGetCurrentProcessorNumberEx: "the thread can be preempted and rescheduled on
//! another processor"), so the model answers each call with a processor picked from its own
//! seeded sequence: two calls of one request may name different processors, and a counter
//! kept per processor must add up whatever the spread.
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kegetcurrentprocessornumberex>
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-kequeryactiveprocessorcountex>

use super::state::with_state;

/// Processors of a machine whose test did not say.
pub const DEFAULT_PROCESSORS: u32 = 2;

/// KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS).
pub fn processor_count() -> u32 {
    with_state(|state| state.processors.max(1)).unwrap_or(1)
}

/// KeGetCurrentProcessorNumberEx(NULL).
pub fn current_processor() -> u32 {
    with_state(|state| state.choose_processor()).unwrap_or(0)
}
