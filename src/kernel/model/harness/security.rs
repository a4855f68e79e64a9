//! NtQuerySecurityObject and NtSetSecurityObject on a file handle, as the I/O manager's
//! security procedure for file objects (ReactOS ntoskrnl/io/iomgr/file.c,
//! IopGetSetSecurityObject) turns them into IRPs:
//! - a handle to the device or volume itself (no name, no RelatedFileObject) never reaches
//!   the file system: the I/O manager answers from the device object's own descriptor (the
//!   model does not keep one and answers STATUS_SUCCESS with nothing; documented);
//! - otherwise IRP_MJ_QUERY_SECURITY with Parameters.QuerySecurity.{SecurityInformation,
//!   Length} and the caller's buffer in Irp->UserBuffer whatever the device's I/O method
//!   (neither I/O: the file system must lock it before writing, `Irp::lock_user_buffer`);
//! - a file system that answers STATUS_INVALID_DEVICE_REQUEST gets a world descriptor made for
//!   it (SeSetWorldSecurityDescriptor), and a set "succeeds";
//! - STATUS_BUFFER_OVERFLOW becomes STATUS_BUFFER_TOO_SMALL ("callers usually expect the
//!   normalized form"), and the caller's length is IoStatus.Information either way.

use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::io::{IrpOutcome, IrpRequest};
use super::session::{Handle, Pid, Session};
use crate::kernel::model::irp::BufferKind;
use crate::kernel::model::token::{Privilege, Token};
use crate::kernel::request::IrpParameters;
use crate::kernel::{IrpMajor, NtStatus};

/// SECURITY_INFORMATION bits SeSetWorldSecurityDescriptor looks at.
const OWNER: u32 = 0x1;
const GROUP: u32 = 0x2;
const DACL: u32 = 0x4;
const SACL: u32 = 0x8;
/// S-1-1-0, Everyone.
const WORLD_SID: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];

impl Session {
    /// The process's token becomes `token` (the identity its later opens are checked
    /// against, docs/nt-model.md "Security").
    pub fn set_token(&mut self, pid: Pid, token: Token) -> NtStatus {
        match self.processes.get_mut(&pid) {
            Some(process) => {
                process.token = token;
                NtStatus::SUCCESS
            }
            None => NtStatus::INVALID_PARAMETER,
        }
    }

    /// RtlAdjustPrivilege(privilege, TRUE, FALSE) in the process: enables it in the process's
    /// token; STATUS_PRIVILEGE_NOT_HELD if the token does not hold it (NtAdjustPrivilegesToken's
    /// STATUS_NOT_ALL_ASSIGNED, as RtlAdjustPrivilege reports it: ReactOS `sdk/lib/rtl/priv.c`).
    pub fn enable_privilege(&mut self, pid: Pid, privilege: Privilege) -> NtStatus {
        match self
            .processes
            .get_mut(&pid)
            .map(|p| p.token.enable(privilege))
        {
            Some(true) => NtStatus::SUCCESS,
            Some(false) => NtStatus(0xC000_0061_u32 as i32), // STATUS_PRIVILEGE_NOT_HELD
            None => NtStatus::INVALID_PARAMETER,
        }
    }

    /// The access a handle was granted (ObpCreateHandle: the ACCESS_STATE's remaining and
    /// previously granted access after the CREATE).
    pub fn granted_access(&self, handle: Handle) -> Option<u32> {
        self.processes
            .get(&handle.pid)?
            .granted_access(handle.value)
    }

    /// NtQuerySecurityObject(`information`) into a caller buffer of `length` bytes.
    /// `bad_buffer`: the buffer address is one the caller cannot write (freed or read-only),
    /// which the file system only learns by probing it.
    pub fn query_security(
        &mut self,
        handle: Handle,
        information: u32,
        length: u32,
        bad_buffer: bool,
    ) -> IrpOutcome {
        if self.is_device_open(handle) {
            self.note(format!(
                "NtQuerySecurityObject {:#x}: a volume handle, answered by the I/O manager",
                handle.value
            ));
            return IrpOutcome::status(NtStatus::SUCCESS);
        }
        let mut request = IrpRequest::new(IrpMajor::QuerySecurity, None);
        request.parameters = IrpParameters::QuerySecurity {
            information,
            length,
        };
        request.buffer_kind = BufferKind::User;
        request.buffer_len = length as usize;
        request.user_buffer_invalid = bad_buffer;
        let label = format!(
            "NtQuerySecurityObject {:#x} info {information:#x} len {length}",
            handle.value
        );
        let mut outcome = self.send(handle, request, label);
        if outcome.status == NtStatus::INVALID_DEVICE_REQUEST {
            return world_descriptor(information, length);
        }
        if outcome.status == NtStatus::BUFFER_OVERFLOW {
            outcome.status = NtStatus::BUFFER_TOO_SMALL;
            outcome.data.clear();
        }
        outcome
    }

    /// NtSetSecurityObject(`information`); the descriptor itself is not modelled (the file
    /// system reads it from Parameters.SetSecurity.SecurityDescriptor, captured kernel memory).
    pub fn set_security(&mut self, handle: Handle, information: u32) -> NtStatus {
        if self.is_device_open(handle) {
            return NtStatus::SUCCESS;
        }
        let mut request = IrpRequest::new(IrpMajor::SetSecurity, None);
        request.parameters = IrpParameters::SetSecurity { information };
        let label = format!(
            "NtSetSecurityObject {:#x} info {information:#x}",
            handle.value
        );
        match self.send(handle, request, label).status {
            NtStatus::INVALID_DEVICE_REQUEST => NtStatus::SUCCESS,
            status => status,
        }
    }

    /// A handle to the device or volume itself: no file name and no RelatedFileObject.
    fn is_device_open(&self, handle: Handle) -> bool {
        let Ok(file_object) = self.file_object(handle) else {
            return false;
        };
        self.kernel
            .lock()
            .file_objects
            .get(file_object)
            .is_some_and(|f| f.file_name.is_empty() && f.related.is_none())
    }
}

/// The token of a script's `token P KIND ...` step: `user` (an ordinary Windows user),
/// `unix uid=N [gids=A,B]` (S-1-22-1-N with those Unix groups), `admin`; `no-traverse` takes
/// SeChangeNotifyPrivilege away.
pub fn script_token(words: &[&str], named: &BTreeMap<&str, &str>) -> Result<Token, String> {
    let number =
        |text: &str| super::scenario::parse_number(text).and_then(|n| u32::try_from(n).ok());
    let token = match words.first().copied() {
        Some("user") => Token::ordinary_user(),
        Some("admin") => Token::administrator(),
        Some("unix") => {
            let uid = named.get("uid").ok_or("token unix needs uid=N")?;
            let uid = number(uid).ok_or(format!("bad uid={uid}"))?;
            let gids = named.get("gids").map_or(Ok(Vec::new()), |list| {
                list.split(',')
                    .map(|gid| number(gid).ok_or(format!("bad gid {gid}")))
                    .collect::<Result<Vec<u32>, String>>()
            })?;
            Token::unix_user(uid, &gids)
        }
        _ => return Err(String::from("token needs user, unix or admin")),
    };
    Ok(if words.contains(&"no-traverse") {
        token.without(Privilege::ChangeNotify)
    } else {
        token
    })
}

/// The privilege a script's `privilege P NAME` step enables: `backup` or `restore`.
pub fn script_privilege(words: &[&str]) -> Result<Privilege, String> {
    match words.first().copied() {
        Some("backup") => Ok(Privilege::Backup),
        Some("restore") => Ok(Privilege::Restore),
        _ => Err(String::from("privilege needs backup or restore")),
    }
}

/// SeSetWorldSecurityDescriptor (ReactOS ntoskrnl/se/sd.c): a self-relative descriptor whose
/// owner and group, if asked, are Everyone, with a NULL DACL and SACL marked present if asked;
/// STATUS_BUFFER_TOO_SMALL with the length needed if it does not fit.
fn world_descriptor(information: u32, length: u32) -> IrpOutcome {
    let sids = usize::from(information & OWNER != 0) + usize::from(information & GROUP != 0);
    let needed = 20 + sids * WORLD_SID.len();
    if needed > length as usize {
        let mut outcome = IrpOutcome::status(NtStatus::BUFFER_TOO_SMALL);
        outcome.information = needed;
        return outcome;
    }
    let mut control: u16 = 0x8000;
    if information & DACL != 0 {
        control |= 0x0004;
    }
    if information & SACL != 0 {
        control |= 0x0010;
    }
    let mut data: Vec<u8> = std::vec![1, 0];
    data.extend_from_slice(&control.to_le_bytes());
    let mut next = 20u32;
    for bit in [OWNER, GROUP] {
        let offset = if information & bit != 0 {
            next += WORLD_SID.len() as u32;
            next - WORLD_SID.len() as u32
        } else {
            0
        };
        data.extend_from_slice(&offset.to_le_bytes());
    }
    data.extend_from_slice(&[0; 8]);
    for _ in 0..sids {
        data.extend_from_slice(&WORLD_SID);
    }
    IrpOutcome {
        status: NtStatus::SUCCESS,
        information: data.len(),
        data,
        reparse: None,
        mdl_chain: None,
        granted_access: 0,
    }
}
