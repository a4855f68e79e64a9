//! Access checks at IRP_MJ_CREATE, as NTFS makes them (docs/requests.md, "Access checks"):
//! the descriptor `info::security` derives from the target's mode, uid and gid goes to
//! SeAccessCheck against the caller's subject context in the CREATE's ACCESS_STATE, for the
//! access the I/O manager has not granted already (RemainingDesiredAccess; with
//! FILE_OPEN_FOR_BACKUP_INTENT and SeBackupPrivilege it has granted the read rights itself).
//! A caller without SeChangeNotifyPrivilege (no TOKEN_HAS_TRAVERSE_PRIVILEGE) also needs
//! FILE_TRAVERSE on every directory its path passes through. The `CheckAccess` parameter set to
//! 0 turns all of it off (`AttributeOptions::ignore_access`): every open is then granted what
//! it asks.

use alloc::vec::Vec;

use crate::fcb::{FcbKind, FcbRef};
use crate::info::security::{
    DACL_SECURITY_INFORMATION, GROUP_SECURITY_INFORMATION, OWNER_SECURITY_INFORMATION, descriptor,
};
use crate::kernel::{
    CreateParameters, Irp, MAXIMUM_ALLOWED, NtStatus, TOKEN_HAS_TRAVERSE_PRIVILEGE,
};
use crate::volume::Vcb;

const FILE_TRAVERSE: u32 = 0x0000_0020;

/// The caller of one CREATE, as its ACCESS_STATE describes it.
pub struct Caller<'a> {
    irp: &'a Irp,
    enforce: bool,
    may_traverse: bool,
    desired: u32,
    remaining: u32,
    previously_granted: u32,
}

impl<'a> Caller<'a> {
    pub fn new(irp: &'a Irp, parameters: &CreateParameters, vcb: &Vcb) -> Caller<'a> {
        Caller {
            irp,
            enforce: !vcb.attribute_options().ignore_access,
            may_traverse: parameters.access_flags & TOKEN_HAS_TRAVERSE_PRIVILEGE != 0,
            desired: parameters.desired_access,
            remaining: parameters.remaining_desired_access,
            previously_granted: parameters.previously_granted_access,
        }
    }

    /// The path passes through the directory `dir`: FILE_TRAVERSE unless the caller may
    /// bypass traverse checking.
    pub fn traverse(&self, vcb: &Vcb, dir: &FcbRef) -> Result<(), NtStatus> {
        if !self.enforce || self.may_traverse {
            return Ok(());
        }
        self.check(vcb, dir, FILE_TRAVERSE, 0).map(|_| ())
    }

    /// An open by file ID names no path to check for traverse rights: without the bypass it is
    /// refused.
    pub fn open_by_id(&self) -> Result<(), NtStatus> {
        if !self.enforce || self.may_traverse {
            return Ok(());
        }
        Err(NtStatus::ACCESS_DENIED)
    }

    /// The access the open of `fcb` is granted, or STATUS_ACCESS_DENIED.
    pub fn open(&self, vcb: &Vcb, fcb: &FcbRef) -> Result<u32, NtStatus> {
        // The volume itself: the I/O manager checked the device object's descriptor.
        if !self.enforce || fcb.kind() == FcbKind::Volume {
            return Ok(unchecked_access(self.desired));
        }
        // Nothing left to ask: an open for no access at all is allowed (it may query
        // attributes; Learn "CreateFileW", dwDesiredAccess), or the I/O manager granted it all.
        if self.remaining == 0 {
            return Ok(self.previously_granted);
        }
        self.check(vcb, fcb, self.remaining, self.previously_granted)
    }

    /// A frame of its own: the descriptor and SeAccessCheck's locals stay off the path walk's
    /// stack (`cargo xtask stack-depth`, CREATE's budget).
    #[inline(never)]
    fn check(&self, vcb: &Vcb, fcb: &FcbRef, desired: u32, granted: u32) -> Result<u32, NtStatus> {
        let inode = fcb.inode().ok_or(NtStatus::FILE_CORRUPT_ERROR)?;
        let stat = vcb.volume().stat(inode);
        let mut bytes = Vec::new();
        let all =
            OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;
        descriptor(stat.mode, stat.uid, stat.gid, all, &mut bytes).map_err(NtStatus::from)?;
        self.irp.check_access(&bytes, desired, granted)
    }
}

/// The access an unchecked open is granted: what it asked for, generic rights mapped to the
/// file rights (IoFileObjectType's generic mapping) and MAXIMUM_ALLOWED to all that a
/// read-only volume allows. Write rights never get here (`create::check_read_only`).
fn unchecked_access(desired: u32) -> u32 {
    const GENERIC_READ: u32 = 0x8000_0000;
    const GENERIC_EXECUTE: u32 = 0x2000_0000;
    const FILE_GENERIC_READ: u32 = 0x0012_0089;
    const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
    let mut granted = desired & !(GENERIC_READ | GENERIC_EXECUTE | MAXIMUM_ALLOWED);
    if desired & (GENERIC_READ | MAXIMUM_ALLOWED) != 0 {
        granted |= FILE_GENERIC_READ;
    }
    if desired & (GENERIC_EXECUTE | MAXIMUM_ALLOWED) != 0 {
        granted |= FILE_GENERIC_EXECUTE;
    }
    granted
}
