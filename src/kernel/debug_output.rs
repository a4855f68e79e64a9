//! Kernel debugger output (DbgPrintEx), shared by both backends: the component and level
//! numbers of dpfilter.h, and the bounded line both backends format a message into.

use core::fmt;

/// DPFLTR_IHVDRIVER_ID: the component third-party drivers print under; its filter mask is
/// Kd_IHVDRIVER_Mask (registry value IHVDRIVER under "Debug Print Filter").
pub const DPFLTR_IHVDRIVER_ID: u32 = 77;
/// DPFLTR_ERROR_LEVEL: shown by default.
pub const DPFLTR_ERROR_LEVEL: u32 = 0;
/// DPFLTR_INFO_LEVEL: shown only when the component's mask has bit 3 (0x8) set.
pub const DPFLTR_INFO_LEVEL: u32 = 3;

/// The longest line we print (DbgPrintEx itself cuts a message at 512 bytes).
pub const DEBUG_LINE_LIMIT: usize = 200;

/// A message formatted without allocating (it may be built at any IRQL): text beyond the
/// limit is dropped, at a character boundary.
pub struct DebugLine {
    bytes: [u8; DEBUG_LINE_LIMIT],
    len: usize,
}

impl DebugLine {
    pub fn format(arguments: fmt::Arguments<'_>) -> DebugLine {
        let mut line = DebugLine {
            bytes: [0; DEBUG_LINE_LIMIT],
            len: 0,
        };
        // A full line reports an error to stop formatting; what fitted stays.
        let _ = fmt::write(&mut line, arguments);
        line
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 strings are ever appended, so the prefix is valid.
        core::str::from_utf8(self.bytes.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl fmt::Write for DebugLine {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = DEBUG_LINE_LIMIT - self.len;
        let mut take = text.len().min(room);
        while !text.is_char_boundary(take) {
            take -= 1;
        }
        let (Some(target), Some(source)) = (
            self.bytes.get_mut(self.len..self.len + take),
            text.as_bytes().get(..take),
        ) else {
            return Err(fmt::Error);
        };
        target.copy_from_slice(source);
        self.len += take;
        if take < text.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_message_is_cut_at_the_limit_on_a_character_boundary() {
        let long = "é".repeat(DEBUG_LINE_LIMIT);
        let line = DebugLine::format(format_args!("x{long}"));
        assert_eq!(line.as_str().len(), DEBUG_LINE_LIMIT - 1);
        assert!(line.as_str().starts_with("xé"));
        let short = DebugLine::format(format_args!("irp {:#x} {}", 0x1234, "in"));
        assert_eq!(short.as_str(), "irp 0x1234 in");
    }
}
