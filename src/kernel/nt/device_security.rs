//! The control device's DACL: SYSTEM and Administrators get all access, nobody else any
//! (SDDL `D:P(A;;GA;;;SY)(A;;GA;;;BA)`).
//!
//! IoCreateDeviceSecure would apply it at creation, but it is implemented in the static library
//! wdmsec.lib, which the Linux kit (mingw-w64) does not provide. So the device is created with
//! IoCreateDevice and FILE_DEVICE_SECURE_OPEN, and while it is still initializing (no open can
//! reach it) its DACL is replaced through a kernel handle: ObOpenObjectByPointer for WRITE_DAC,
//! then ZwSetSecurityObject. The two SIDs are written out here rather than read from SeExports,
//! a data export.

use core::mem::size_of;
use core::ptr::{self, NonNull};

use wdk_sys::{
    _ACCESS_ALLOWED_ACE, _ACL, _MODE, _SECURITY_DESCRIPTOR, ACL_REVISION,
    DACL_SECURITY_INFORMATION, FILE_ALL_ACCESS, HANDLE, OBJ_KERNEL_HANDLE, PDEVICE_OBJECT,
    SECURITY_DESCRIPTOR_REVISION, WRITE_DAC,
};

use super::pool::{self, PoolTag};
use crate::kernel::NtStatus;

/// Pool tag of the ACL while it is built.
const ACL_TAG: PoolTag = PoolTag(*b"RfAc");

/// A SID in its binary form (revision 1, NT authority 5), word aligned.
#[repr(C, align(4))]
struct Sid<const N: usize>([u8; N]);

/// S-1-5-18, LocalSystem.
static LOCAL_SYSTEM: Sid<12> = Sid([1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0]);
/// S-1-5-32-544, BUILTIN\Administrators.
static ADMINISTRATORS: Sid<16> = Sid([1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]);

/// Gives `device` the administrators-only DACL.
///
/// # Safety
/// `device` is a device object this driver has just created, still DO_DEVICE_INITIALIZING, at
/// PASSIVE_LEVEL.
pub(super) unsafe fn restrict_to_administrators(device: PDEVICE_OBJECT) -> Result<(), NtStatus> {
    // Each ACCESS_ALLOWED_ACE ends with the first ULONG of its SID.
    let ace_bytes = size_of::<_ACCESS_ALLOWED_ACE>() - size_of::<u32>();
    let acl_bytes =
        size_of::<_ACL>() + 2 * ace_bytes + LOCAL_SYSTEM.0.len() + ADMINISTRATORS.0.len();
    let acl = pool::allocate(ACL_TAG, acl_bytes)?;
    // SAFETY: `acl` is a fresh block of `acl_bytes`; `device` is as our caller promises.
    let result = unsafe { apply(device, acl, acl_bytes as u32) };
    // SAFETY: ZwSetSecurityObject copied the descriptor; nothing refers to the block now.
    unsafe { pool::free(acl, ACL_TAG) };
    result
}

/// # Safety
/// As for `restrict_to_administrators`; `acl` is a writable block of `acl_bytes` bytes.
unsafe fn apply(device: PDEVICE_OBJECT, acl: NonNull<u8>, acl_bytes: u32) -> Result<(), NtStatus> {
    let acl = acl.as_ptr().cast::<_ACL>();
    let check = |status: i32| {
        if status < 0 {
            Err(NtStatus(status))
        } else {
            Ok(())
        }
    };
    // SAFETY: every pointer passed is live for the call: the ACL block (sized for both ACEs
    // above), the static SIDs (copied into the ACL), the descriptor on our stack, and the handle
    // variable; the handle is a kernel handle closed before we return.
    unsafe {
        check(wdk_sys::ntddk::RtlCreateAcl(acl, acl_bytes, ACL_REVISION))?;
        for sid in [LOCAL_SYSTEM.0.as_ptr(), ADMINISTRATORS.0.as_ptr()] {
            check(wdk_sys::ntddk::RtlAddAccessAllowedAce(
                acl,
                ACL_REVISION,
                FILE_ALL_ACCESS,
                sid.cast_mut().cast(),
            ))?;
        }
        let mut descriptor: _SECURITY_DESCRIPTOR = core::mem::zeroed();
        let descriptor_ptr = (&raw mut descriptor).cast();
        check(wdk_sys::ntddk::RtlCreateSecurityDescriptor(
            descriptor_ptr,
            SECURITY_DESCRIPTOR_REVISION,
        ))?;
        check(wdk_sys::ntddk::RtlSetDaclSecurityDescriptor(
            descriptor_ptr,
            1,
            acl,
            0,
        ))?;
        let mut handle: HANDLE = ptr::null_mut();
        check(wdk_sys::ntddk::ObOpenObjectByPointer(
            device.cast(),
            OBJ_KERNEL_HANDLE,
            ptr::null_mut(),
            WRITE_DAC,
            ptr::null_mut(),
            _MODE::KernelMode as i8,
            &mut handle,
        ))?;
        let status =
            wdk_sys::ntddk::ZwSetSecurityObject(handle, DACL_SECURITY_INFORMATION, descriptor_ptr);
        let _ = wdk_sys::ntddk::ZwClose(handle);
        check(status)
    }
}
