//! Processors (KeQueryActiveProcessorCountEx, KeGetCurrentProcessorNumberEx): for counters
//! kept per processor, as FastFAT keeps its volume statistics.

/// ALL_PROCESSOR_GROUPS: count the processors of every group.
const ALL_PROCESSOR_GROUPS: u16 = 0xFFFF;

/// KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS): the active processors now (more may
/// be added later: index per-processor arrays modulo the count taken when they were made).
pub fn processor_count() -> u32 {
    // SAFETY: callable at any IRQL; takes no pointer.
    unsafe { wdk_sys::ntddk::KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS) }
}

/// KeGetCurrentProcessorNumberEx(NULL): the system-wide number of the processor running the
/// caller. Below DISPATCH_LEVEL the thread may move to another processor at any time, so the
/// number is a hint for spreading counters, never an identity.
pub fn current_processor() -> u32 {
    // SAFETY: a NULL PROCESSOR_NUMBER is allowed (only the system-wide number is returned).
    unsafe { wdk_sys::ntddk::KeGetCurrentProcessorNumberEx(core::ptr::null_mut()) }
}
