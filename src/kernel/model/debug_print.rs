//! DbgPrintEx and the debugger's component filter.
//!
//! Learn, "DbgPrintEx function" and "Reading and filtering debugging messages": a message is
//! sent to the debugger when its level (0-31, taken as a bit number) is set in the component's
//! mask (Kd_<component>_Mask) or in the system-wide WIN2000 mask, which is 1 (errors only) by
//! default. A driver's info-level messages are therefore invisible until the mask is changed.
//! DbgPrintEx may be called at any IRQL for ANSI text, so no IRQL is checked here.

use std::string::String;

use super::state::{State, with_state};
use crate::kernel::debug_output::DebugLine;

/// The default system-wide (WIN2000) mask: DPFLTR_ERROR_LEVEL only.
const WIN2000_MASK: u32 = 1;

/// DbgPrintEx(component, level, "%s", line).
pub fn debug_print(component: u32, level: u32, line: &DebugLine) {
    with_state(|state| {
        state
            .debug_output
            .push((component, level, String::from(line.as_str())))
    });
}

/// Would the debugger show a message of `component` at `level`?
pub fn visible(state: &State, component: u32, level: u32) -> bool {
    let component_mask = state
        .debug_filter_masks
        .iter()
        .find(|(c, _)| *c == component)
        .map_or(0, |(_, mask)| *mask);
    let bit = if level < 32 { 1u32 << level } else { level };
    (component_mask | WIN2000_MASK) & bit != 0
}
