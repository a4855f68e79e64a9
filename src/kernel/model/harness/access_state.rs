//! The ACCESS_STATE an NtCreateFile's IRP_MJ_CREATE carries in its IO_SECURITY_CONTEXT, built
//! as the object and I/O managers build it before the file system sees the open:
//! - SeCreateAccessState (ReactOS `ntoskrnl/se/access.c` SeCreateAccessStateEx; Learn
//!   "ACCESS_STATE structure"): RemainingDesiredAccess = DesiredAccess, nothing previously
//!   granted, TOKEN_HAS_TRAVERSE_PRIVILEGE in Flags when the token has SeChangeNotifyPrivilege
//!   enabled;
//! - IopParseDevice (ReactOS `ntoskrnl/io/iomgr/file.c`): generic rights mapped with
//!   IoFileObjectType's GENERIC_MAPPING, then IopCheckBackupRestorePrivilege;
//! - IopCheckBackupRestorePrivilege (ReactOS `ntoskrnl/io/iomgr/file.c`): with
//!   FILE_OPEN_FOR_BACKUP_INTENT, a disposition with the FILE_OPEN bit and any read right
//!   asked (MAXIMUM_ALLOWED asks them all), an enabled SeBackupPrivilege moves the read rights
//!   asked (READ_CONTROL, ACCESS_SYSTEM_SECURITY, FILE_GENERIC_READ, FILE_TRAVERSE) from
//!   Remaining to PreviouslyGrantedAccess and sets TOKEN_HAS_BACKUP_PRIVILEGE; write rights
//!   likewise with SeRestorePrivilege (TOKEN_HAS_RESTORE_PRIVILEGE); without either privilege
//!   the option is taken out of the create options the file system sees;
//! - IO_SECURITY_CONTEXT.DesiredAccess: the mapped desired access, with what was previously
//!   granted once the backup check ran (IopParseDevice's `DesiredAccess`).

use crate::kernel::model::access_check::{FILE_GENERIC_MAPPING, map_generic};
use crate::kernel::model::token::{Privilege, Token};
use crate::kernel::{
    FILE_OPEN_FOR_BACKUP_INTENT, MAXIMUM_ALLOWED, SE_BACKUP_PRIVILEGES_CHECKED,
    TOKEN_HAS_BACKUP_PRIVILEGE, TOKEN_HAS_RESTORE_PRIVILEGE, TOKEN_HAS_TRAVERSE_PRIVILEGE,
};

const READ_CONTROL: u32 = 0x0002_0000;
const WRITE_DAC: u32 = 0x0004_0000;
const WRITE_OWNER: u32 = 0x0008_0000;
const DELETE: u32 = 0x0001_0000;
const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
const FILE_TRAVERSE: u32 = 0x0020;
const FILE_ADD_FILE: u32 = 0x0002;
const FILE_ADD_SUBDIRECTORY: u32 = 0x0004;
const FILE_OPEN: u32 = 1;

/// What the file system finds in Parameters.Create.SecurityContext.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AccessState {
    pub desired_access: u32,
    pub remaining_desired_access: u32,
    pub previously_granted_access: u32,
    pub flags: u32,
}

/// The ACCESS_STATE of an open by `token` asking `desired` with `disposition`; `options`
/// loses FILE_OPEN_FOR_BACKUP_INTENT when no privilege backs it.
pub fn create_access_state(
    token: &Token,
    desired: u32,
    options: &mut u32,
    disposition: u32,
) -> AccessState {
    let mut state = AccessState {
        desired_access: 0,
        remaining_desired_access: map_generic(desired),
        previously_granted_access: 0,
        flags: if token.has_enabled(Privilege::ChangeNotify) {
            TOKEN_HAS_TRAVERSE_PRIVILEGE
        } else {
            0
        },
    };
    let mapped = state.remaining_desired_access;
    check_backup_restore_privilege(&mut state, token, options, disposition);
    state.desired_access = if state.flags & SE_BACKUP_PRIVILEGES_CHECKED != 0 {
        mapped | state.previously_granted_access
    } else {
        mapped
    };
    state
}

fn check_backup_restore_privilege(
    state: &mut AccessState,
    token: &Token,
    options: &mut u32,
    disposition: u32,
) {
    if *options & FILE_OPEN_FOR_BACKUP_INTENT == 0 {
        return;
    }
    state.flags |= SE_BACKUP_PRIVILEGES_CHECKED;
    let read = READ_CONTROL | ACCESS_SYSTEM_SECURITY | FILE_GENERIC_MAPPING[0] | FILE_TRAVERSE;
    let write = WRITE_DAC
        | WRITE_OWNER
        | ACCESS_SYSTEM_SECURITY
        | FILE_GENERIC_MAPPING[1]
        | FILE_ADD_FILE
        | FILE_ADD_SUBDIRECTORY
        | DELETE;
    let mut desired = state.remaining_desired_access;
    if desired & MAXIMUM_ALLOWED != 0 {
        desired |= read | write;
    }
    let mut privileged = false;
    let check_restore = disposition & FILE_OPEN == 0;
    if !check_restore && desired & read != 0 && token.has_enabled(Privilege::Backup) {
        privileged = true;
        state.previously_granted_access |= desired & read;
        state.remaining_desired_access &= !read;
        desired &= !read;
        state.flags |= TOKEN_HAS_BACKUP_PRIVILEGE;
    }
    if (desired & write != 0 || check_restore) && token.has_enabled(Privilege::Restore) {
        privileged = true;
        state.previously_granted_access |= desired & write;
        state.remaining_desired_access &= !write;
        state.flags |= TOKEN_HAS_RESTORE_PRIVILEGE;
    }
    if !privileged {
        *options &= !FILE_OPEN_FOR_BACKUP_INTENT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_moves_read_rights() {
        let mut admin = Token::administrator();
        let mut options = FILE_OPEN_FOR_BACKUP_INTENT;
        // Held but not enabled: nothing changes, and the option is dropped.
        let state = create_access_state(&admin, 0x8000_0000, &mut options, 1);
        assert_eq!(state.remaining_desired_access, 0x0012_0089);
        assert_eq!(options, 0);
        admin.enable(Privilege::Backup);
        let mut options = FILE_OPEN_FOR_BACKUP_INTENT;
        let state = create_access_state(&admin, 0x8000_0000, &mut options, 1);
        assert_eq!(state.remaining_desired_access, 0);
        assert_eq!(state.previously_granted_access, 0x0012_0089);
        assert_eq!(state.desired_access, 0x0012_0089);
        assert_eq!(
            state.flags,
            TOKEN_HAS_TRAVERSE_PRIVILEGE
                | TOKEN_HAS_BACKUP_PRIVILEGE
                | SE_BACKUP_PRIVILEGES_CHECKED
        );
        assert_eq!(options, FILE_OPEN_FOR_BACKUP_INTENT);
    }
}
