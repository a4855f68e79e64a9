//! DbgPrintEx: one formatted line to the kernel debugger, filtered by the component's mask.

use crate::kernel::debug_output::DebugLine;

/// DbgPrintEx(component, level, "%.*s\n", line).
pub fn debug_print(component: u32, level: u32, line: &DebugLine) {
    let text = line.as_str();
    // The line's length fits an int (it is at most DEBUG_LINE_LIMIT bytes).
    let length = text.len() as i32;
    // SAFETY: the format string is NUL-terminated and names exactly the two arguments passed:
    // an int and a pointer to `length` readable bytes (precision-bounded, so no NUL is needed).
    // ANSI text may be printed at any IRQL.
    unsafe {
        wdk_sys::ntddk::DbgPrintEx(component, level, c"%.*s\n".as_ptr(), length, text.as_ptr());
    }
}
