//! Counted UTF-16 strings for names the driver passes to the kernel.

use alloc::vec::Vec;

use wdk_sys::UNICODE_STRING;

use crate::kernel::NtStatus;

/// A UTF-16 copy of a name, owned, with a UNICODE_STRING view over it.
pub struct OwnedUnicode {
    units: Vec<u16>,
}

impl OwnedUnicode {
    pub fn from_str(text: &str) -> Result<OwnedUnicode, NtStatus> {
        let mut units = Vec::new();
        let count = text.encode_utf16().count();
        if count > usize::from(u16::MAX / 2) {
            return Err(NtStatus::OBJECT_NAME_INVALID);
        }
        units
            .try_reserve_exact(count)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        units.extend(text.encode_utf16());
        Ok(OwnedUnicode { units })
    }

    /// A view valid while `self` lives and is not moved's buffer is not reallocated.
    pub fn as_unicode_string(&mut self) -> UNICODE_STRING {
        let bytes = (self.units.len() * 2) as u16;
        UNICODE_STRING {
            Length: bytes,
            MaximumLength: bytes,
            Buffer: self.units.as_mut_ptr(),
        }
    }
}
