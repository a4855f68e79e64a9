//! SeAccessCheck, the model's own: an oracle independent of the driver's descriptor code. It
//! parses the self-relative SECURITY_DESCRIPTOR the driver hands it and evaluates its DACL
//! against a token, as ReactOS `ntoskrnl/se/accesschk.c` (SeAccessCheck, SepAccessCheck) and
//! Learn "SeAccessCheck function (wdm.h)" / "How DACLs Control Access to an Object" describe:
//! - a kernel-mode check grants everything asked (MAXIMUM_ALLOWED: GenericAll);
//! - generic rights are mapped with the file object type's GENERIC_MAPPING
//!   (IoGetFileObjectGenericMapping);
//! - nothing asked: granted what was previously granted, or STATUS_ACCESS_DENIED if nothing;
//! - rights previously granted need no ACE;
//! - the owner is implicitly allowed READ_CONTROL and WRITE_DAC;
//! - no DACL (SE_DACL_PRESENT clear, or a NULL DACL): everything is granted;
//! - ACEs in order: an access-allowed ACE whose SID the token holds grants its mask, an
//!   access-denied one refuses any still-wanted right in its mask; other ACE types are skipped;
//! - MAXIMUM_ALLOWED: everything the ACEs allow (less what an earlier-unmatched deny refuses),
//!   STATUS_ACCESS_DENIED if that is nothing or lacks a right asked for explicitly;
//! - ACCESS_SYSTEM_SECURITY needs SeSecurityPrivilege, which no model token holds:
//!   STATUS_PRIVILEGE_NOT_HELD.

use super::token::{Sid, Token};
use crate::kernel::{MAXIMUM_ALLOWED, NtStatus};

pub const GENERIC_READ: u32 = 0x8000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
pub const GENERIC_ALL: u32 = 0x1000_0000;
const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
const READ_CONTROL: u32 = 0x0002_0000;
const WRITE_DAC: u32 = 0x0004_0000;

/// IoFileObjectType's GENERIC_MAPPING: FILE_GENERIC_READ, FILE_GENERIC_WRITE,
/// FILE_GENERIC_EXECUTE, FILE_ALL_ACCESS (Learn "File Security and Access Rights").
pub const FILE_GENERIC_MAPPING: [u32; 4] = [0x0012_0089, 0x0012_0116, 0x0012_00A0, 0x001F_01FF];

const STATUS_PRIVILEGE_NOT_HELD: NtStatus = NtStatus(0xC000_0061_u32 as i32);
const STATUS_INVALID_SECURITY_DESCR: NtStatus = NtStatus(0xC000_0079_u32 as i32);

/// RtlMapGenericMask with the file mapping: each generic bit becomes its rights.
pub fn map_generic(mask: u32) -> u32 {
    let generic = [GENERIC_READ, GENERIC_WRITE, GENERIC_EXECUTE, GENERIC_ALL];
    let mut mapped = mask & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
    for (bit, rights) in generic.iter().zip(FILE_GENERIC_MAPPING) {
        if mask & bit != 0 {
            mapped |= rights;
        }
    }
    mapped
}

/// One ACE of a DACL: allowed (true) or denied, its mask and SID.
struct Ace {
    allowed: bool,
    mask: u32,
    sid: Sid,
}

/// What the check reads of a self-relative descriptor: the owner, and the DACL's ACEs (None:
/// no DACL, or a NULL one).
struct Descriptor {
    owner: Option<Sid>,
    dacl: Option<std::vec::Vec<Ace>>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn parse(bytes: &[u8]) -> Option<Descriptor> {
    const SE_DACL_PRESENT: u16 = 0x0004;
    const SE_SELF_RELATIVE: u16 = 0x8000;
    if *bytes.first()? != 1 {
        return None;
    }
    let control = u16_at(bytes, 2)?;
    if control & SE_SELF_RELATIVE == 0 {
        return None;
    }
    let owner = match u32_at(bytes, 4)? as usize {
        0 => None,
        at => Some(Sid::parse(bytes.get(at..)?)?.0),
    };
    let dacl_at = u32_at(bytes, 16)? as usize;
    if control & SE_DACL_PRESENT == 0 || dacl_at == 0 {
        return Some(Descriptor { owner, dacl: None });
    }
    let acl = bytes.get(dacl_at..)?;
    let acl_size = usize::from(u16_at(acl, 2)?);
    let count = u16_at(acl, 4)?;
    let acl = acl.get(..acl_size)?;
    let mut aces = std::vec::Vec::new();
    let mut at = 8;
    for _ in 0..count {
        let kind = *acl.get(at)?;
        let size = usize::from(u16_at(acl, at + 2)?);
        if size < 8 {
            return None;
        }
        if kind <= 1 {
            aces.push(Ace {
                allowed: kind == 0,
                mask: map_generic(u32_at(acl, at + 4)?),
                sid: Sid::parse(acl.get(at + 8..at + size)?)?.0,
            });
        }
        at += size;
    }
    Some(Descriptor {
        owner,
        dacl: Some(aces),
    })
}

/// SeAccessCheck(descriptor, subject, desired, previously_granted, file mapping, mode):
/// the access granted, or why not. `token` None: a kernel-mode check.
pub fn se_access_check(
    descriptor: &[u8],
    token: Option<&Token>,
    desired: u32,
    previously_granted: u32,
) -> Result<u32, NtStatus> {
    let desired = map_generic(desired);
    let Some(token) = token else {
        return Ok(if desired & MAXIMUM_ALLOWED != 0 {
            FILE_GENERIC_MAPPING[3] | (desired & !MAXIMUM_ALLOWED) | previously_granted
        } else {
            desired | previously_granted
        });
    };
    if desired == 0 {
        return match previously_granted {
            0 => Err(NtStatus::ACCESS_DENIED),
            granted => Ok(granted),
        };
    }
    let descriptor = parse(descriptor).ok_or(STATUS_INVALID_SECURITY_DESCR)?;
    let maximum = desired & MAXIMUM_ALLOWED != 0;
    let explicit = desired & !MAXIMUM_ALLOWED;
    if explicit & ACCESS_SYSTEM_SECURITY != 0 {
        return Err(STATUS_PRIVILEGE_NOT_HELD);
    }
    let Some(aces) = descriptor.dacl else {
        let all = if maximum { FILE_GENERIC_MAPPING[3] } else { 0 };
        return Ok(all | explicit | previously_granted);
    };
    let mut allowed = 0;
    let mut denied = 0;
    if descriptor
        .owner
        .is_some_and(|owner| token.holds_sid(&owner))
    {
        allowed |= READ_CONTROL | WRITE_DAC;
    }
    let wanted = explicit & !previously_granted;
    for ace in aces.iter().filter(|ace| token.holds_sid(&ace.sid)) {
        if ace.allowed {
            allowed |= ace.mask & !denied;
        } else {
            if !maximum && ace.mask & wanted & !allowed != 0 {
                return Err(NtStatus::ACCESS_DENIED);
            }
            denied |= ace.mask & !allowed;
        }
        if !maximum && wanted & !allowed == 0 {
            break;
        }
    }
    if wanted & !allowed != 0 {
        return Err(NtStatus::ACCESS_DENIED);
    }
    if maximum {
        if allowed | previously_granted == 0 {
            return Err(NtStatus::ACCESS_DENIED);
        }
        return Ok(allowed | explicit | previously_granted);
    }
    Ok(explicit | previously_granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor: owner S-1-22-1-`uid`, DACL of `aces` (allowed?, mask, SID).
    fn descriptor(uid: u32, aces: &[(bool, u32, Sid)]) -> std::vec::Vec<u8> {
        let sid = |sid: &Sid, out: &mut std::vec::Vec<u8>| {
            out.push(1);
            out.push(sid.subs.len() as u8);
            out.extend_from_slice(&sid.authority.to_be_bytes()[2..]);
            for sub in &sid.subs {
                out.extend_from_slice(&sub.to_le_bytes());
            }
        };
        let mut owner = std::vec::Vec::new();
        sid(&Sid::unix_user(uid), &mut owner);
        let mut acl = std::vec::Vec::new();
        for (allowed, mask, who) in aces {
            let mut body = std::vec::Vec::new();
            sid(who, &mut body);
            acl.push(u8::from(!allowed));
            acl.push(0);
            acl.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
            acl.extend_from_slice(&mask.to_le_bytes());
            acl.extend_from_slice(&body);
        }
        let mut out = std::vec![1, 0, 0x04, 0x80];
        let dacl_at = 20 + owner.len();
        for offset in [20, 0, 0, dacl_at] {
            out.extend_from_slice(&(offset as u32).to_le_bytes());
        }
        out.extend_from_slice(&owner);
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&((8 + acl.len()) as u16).to_le_bytes());
        out.extend_from_slice(&(aces.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&acl);
        out
    }

    #[test]
    fn allowed_denied_and_maximum() {
        let sd = descriptor(7, &[(true, 0x0012_0089, Sid::everyone())]);
        let user = Token::ordinary_user();
        assert_eq!(
            se_access_check(&sd, Some(&user), GENERIC_READ, 0),
            Ok(0x0012_0089)
        );
        assert_eq!(
            se_access_check(&sd, Some(&user), 0x20, 0),
            Err(NtStatus::ACCESS_DENIED)
        );
        assert_eq!(
            se_access_check(&sd, Some(&user), MAXIMUM_ALLOWED, 0),
            Ok(0x0012_0089)
        );
        // Previously granted rights need no ACE.
        assert_eq!(se_access_check(&sd, Some(&user), 0x20, 0x20), Ok(0x20));
        // The owner may always read and write the DACL.
        let owner = Token::unix_user(7, &[]);
        assert_eq!(
            se_access_check(&sd, Some(&owner), MAXIMUM_ALLOWED, 0),
            Ok(0x0016_0089)
        );
        assert_eq!(se_access_check(&sd, None, 0x20, 0), Ok(0x20));
    }

    #[test]
    fn deny_before_allow() {
        let sd = descriptor(
            7,
            &[
                (false, 0x1, Sid::everyone()),
                (true, 0x0012_0089, Sid::everyone()),
            ],
        );
        let user = Token::ordinary_user();
        assert_eq!(
            se_access_check(&sd, Some(&user), 0x1, 0),
            Err(NtStatus::ACCESS_DENIED)
        );
        assert_eq!(
            se_access_check(&sd, Some(&user), MAXIMUM_ALLOWED, 0),
            Ok(0x0012_0088)
        );
    }
}
