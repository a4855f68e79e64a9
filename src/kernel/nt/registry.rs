//! Driver parameters: a REG_DWORD under the service key's `Parameters` subkey, read in
//! DriverEntry with ZwOpenKey + ZwQueryValueKey (KeyValuePartialInformation). The key path is
//! built in pool (a Vec); the value comes back in a 32-byte buffer on the stack.

use alloc::vec::Vec;
use core::mem::size_of;
use core::ptr;

use wdk_sys::{
    _KEY_VALUE_INFORMATION_CLASS, HANDLE, KEY_READ, OBJ_CASE_INSENSITIVE, OBJ_KERNEL_HANDLE,
    OBJECT_ATTRIBUTES, PCUNICODE_STRING, REG_DWORD, UNICODE_STRING,
};

use super::unicode::OwnedUnicode;

/// The subkey appended to the service key.
const PARAMETERS: &str = "\\Parameters";
/// KEY_VALUE_PARTIAL_INFORMATION: TitleIndex, Type, DataLength, then Data.
const TYPE_OFFSET: usize = 4;
const LENGTH_OFFSET: usize = 8;
const DATA_OFFSET: usize = 12;

/// A kernel key handle, closed (ZwClose) on drop.
struct KeyHandle(HANDLE);

impl Drop for KeyHandle {
    fn drop(&mut self) {
        // SAFETY: the handle came from a successful ZwOpenKey and is closed once, here.
        let _ = unsafe { wdk_sys::ntddk::ZwClose(self.0) };
    }
}

/// Opens `<service_key>\Parameters` for reading.
///
/// # Safety
/// `service_key` is DriverEntry's RegistryPath, valid for the call; PASSIVE_LEVEL.
unsafe fn open_parameters(service_key: PCUNICODE_STRING) -> Option<KeyHandle> {
    // SAFETY: as the caller promises, a valid counted string in kernel memory.
    let (buffer, count) = unsafe {
        (
            (*service_key).Buffer,
            usize::from((*service_key).Length) / 2,
        )
    };
    if buffer.is_null() {
        return None;
    }
    let suffix = PARAMETERS.encode_utf16();
    let mut path: Vec<u16> = Vec::new();
    path.try_reserve_exact(count + PARAMETERS.len()).ok()?;
    // SAFETY: the buffer holds `count` UTF-16 units (Length bytes).
    path.extend_from_slice(unsafe { core::slice::from_raw_parts(buffer, count) });
    path.extend(suffix);
    let bytes = u16::try_from(path.len() * 2).ok()?;
    let mut name = UNICODE_STRING {
        Length: bytes,
        MaximumLength: bytes,
        Buffer: path.as_mut_ptr(),
    };
    let mut attributes = OBJECT_ATTRIBUTES {
        Length: size_of::<OBJECT_ATTRIBUTES>() as u32,
        RootDirectory: ptr::null_mut(),
        ObjectName: &mut name,
        Attributes: OBJ_KERNEL_HANDLE | OBJ_CASE_INSENSITIVE,
        SecurityDescriptor: ptr::null_mut(),
        SecurityQualityOfService: ptr::null_mut(),
    };
    let mut key: HANDLE = ptr::null_mut();
    // SAFETY: the attributes and the name they point at live across the call; a kernel
    // handle is requested, so no user process can use or close it.
    let status = unsafe { wdk_sys::ntddk::ZwOpenKey(&mut key, KEY_READ, &mut attributes) };
    (status >= 0 && !key.is_null()).then_some(KeyHandle(key))
}

/// The REG_DWORD `<service_key>\Parameters\<name>`, if present and of that type.
///
/// # Safety
/// As for `open_parameters`.
pub(super) unsafe fn parameter_u32(service_key: PCUNICODE_STRING, name: &str) -> Option<u32> {
    // SAFETY: as the caller promises.
    let key = unsafe { open_parameters(service_key) }?;
    let mut value_name = OwnedUnicode::from_str(name).ok()?;
    let mut value_name = value_name.as_unicode_string();
    // 8-byte aligned, larger than the 16 bytes a REG_DWORD needs.
    let mut info = [0u64; 4];
    let mut returned = 0u32;
    // SAFETY: `key` is open; the name and the output buffer (its exact size passed) live
    // across the call.
    let status = unsafe {
        wdk_sys::ntddk::ZwQueryValueKey(
            key.0,
            &mut value_name,
            _KEY_VALUE_INFORMATION_CLASS::KeyValuePartialInformation,
            info.as_mut_ptr().cast(),
            size_of::<[u64; 4]>() as u32,
            &mut returned,
        )
    };
    if status < 0 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(info.iter()) {
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    let field = |offset: usize| -> Option<u32> {
        let raw: [u8; 4] = bytes.get(offset..offset + 4)?.try_into().ok()?;
        Some(u32::from_ne_bytes(raw))
    };
    if field(TYPE_OFFSET)? != REG_DWORD || field(LENGTH_OFFSET)? != 4 {
        return None;
    }
    field(DATA_OFFSET)
}
