//! Growing the FSD layers' vectors without ever aborting: in the kernel a `Vec` comes from pool
//! (wdk-alloc), so every allocation can fail, and failing is STATUS_INSUFFICIENT_RESOURCES.

use alloc::vec::Vec;

use crate::kernel::NtStatus;

/// Room for `extra` more elements.
pub fn reserve<T>(v: &mut Vec<T>, extra: usize) -> Result<(), NtStatus> {
    v.try_reserve(extra)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)
}

/// Appends `x`.
pub fn push<T>(v: &mut Vec<T>, x: T) -> Result<(), NtStatus> {
    reserve(v, 1)?;
    v.push(x);
    Ok(())
}

/// A new vector holding a copy of `items`.
pub fn copy_of<T: Copy>(items: &[T]) -> Result<Vec<T>, NtStatus> {
    let mut v = Vec::new();
    reserve(&mut v, items.len())?;
    v.extend_from_slice(items);
    Ok(v)
}

/// `text` in UTF-16.
pub fn utf16_of(text: &str) -> Result<Vec<u16>, NtStatus> {
    let mut v = Vec::new();
    reserve(&mut v, text.len())?;
    v.extend(text.encode_utf16());
    Ok(v)
}
