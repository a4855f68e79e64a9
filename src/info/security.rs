//! The security descriptor of an ext4 inode, derived from its mode, uid and gid (docs/requests.md,
//! "Security"): a self-relative SECURITY_DESCRIPTOR with
//! - owner S-1-22-1-uid and group S-1-22-2-gid, the "Unix User" and "Unix Group" SIDs that
//!   Windows' NFS client and Samba give Unix identities;
//! - a DACL of three access-allowed ACEs, owner, group and Everyone (S-1-1-0), in that order,
//!   each from its class's rwx bits: every ACE grants READ_CONTROL, SYNCHRONIZE and
//!   FILE_READ_ATTRIBUTES (stat works whatever the file's own mode, as on Linux); `r` adds
//!   FILE_READ_DATA and FILE_READ_EA (FILE_GENERIC_READ in all), `x` adds FILE_EXECUTE
//!   (FILE_GENERIC_EXECUTE; FILE_TRAVERSE on a directory). `w` grants nothing: the volume is
//!   read-only;
//! - no SACL.
//!
//! Only the parts SECURITY_INFORMATION asks for are present, as SeQuerySecurityDescriptorInfo
//! returns them: the header, then owner, group and DACL, each offset 0 when not asked.

use alloc::vec::Vec;

use super::layout::{Encoded, NoMemory};

// SECURITY_INFORMATION bits.
pub const OWNER_SECURITY_INFORMATION: u32 = 0x1;
pub const GROUP_SECURITY_INFORMATION: u32 = 0x2;
pub const DACL_SECURITY_INFORMATION: u32 = 0x4;

// SECURITY_DESCRIPTOR_CONTROL bits.
const SE_DACL_PRESENT: u16 = 0x0004;
const SE_SELF_RELATIVE: u16 = 0x8000;

/// SECURITY_DESCRIPTOR_RELATIVE: Revision, Sbz1, Control, then the Owner, Group, Sacl and Dacl
/// offsets.
const HEADER_SIZE: usize = 20;
const SECURITY_DESCRIPTOR_REVISION: u8 = 1;
const SID_REVISION: u8 = 1;
/// ACL_REVISION (access-allowed ACEs only).
const ACL_REVISION: u8 = 2;
const ACL_HEADER_SIZE: usize = 8;
/// ACCESS_ALLOWED_ACE: AceType, AceFlags, AceSize, Mask, then the SID.
const ACE_HEADER_SIZE: usize = 8;
const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;

// Access rights.
const FILE_READ_DATA: u32 = 0x0000_0001;
const FILE_READ_EA: u32 = 0x0000_0008;
const FILE_EXECUTE: u32 = 0x0000_0020;
const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
const READ_CONTROL: u32 = 0x0002_0000;
const SYNCHRONIZE: u32 = 0x0010_0000;

/// What every ACE grants, whatever the mode.
const ALWAYS: u32 = READ_CONTROL | SYNCHRONIZE | FILE_READ_ATTRIBUTES;

/// SECURITY_NT_AUTHORITY-style identifier authorities of the SIDs used.
const WORLD_AUTHORITY: u8 = 1;
const UNIX_AUTHORITY: u8 = 22;

/// A SID `S-1-authority-sub...` with at most two sub-authorities.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Sid {
    authority: u8,
    sub: [u32; 2],
    count: u8,
}

impl Sid {
    /// S-1-22-1-uid ("Unix User").
    pub fn unix_user(uid: u32) -> Sid {
        Sid {
            authority: UNIX_AUTHORITY,
            sub: [1, uid],
            count: 2,
        }
    }

    /// S-1-22-2-gid ("Unix Group").
    pub fn unix_group(gid: u32) -> Sid {
        Sid {
            authority: UNIX_AUTHORITY,
            sub: [2, gid],
            count: 2,
        }
    }

    /// S-1-1-0 (Everyone).
    pub fn everyone() -> Sid {
        Sid {
            authority: WORLD_AUTHORITY,
            sub: [0, 0],
            count: 1,
        }
    }

    /// RtlLengthSid: 8 bytes and 4 per sub-authority.
    fn len(&self) -> usize {
        8 + 4 * usize::from(self.count)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(SID_REVISION);
        out.push(self.count);
        // IdentifierAuthority: six bytes, big-endian.
        out.extend_from_slice(&[0, 0, 0, 0, 0, self.authority]);
        for sub in self.sub.iter().take(usize::from(self.count)) {
            out.extend_from_slice(&sub.to_le_bytes());
        }
    }
}

/// The access one permission class (three mode bits, `rwx` as 4/2/1) is allowed.
pub fn class_access(bits: u16) -> u32 {
    let mut mask = ALWAYS;
    if bits & 4 != 0 {
        mask |= FILE_READ_DATA | FILE_READ_EA;
    }
    if bits & 1 != 0 {
        mask |= FILE_EXECUTE;
    }
    mask
}

/// The three ACEs of a mode: (owner, group, Everyone) SIDs with their masks.
fn aces(mode: u16, uid: u32, gid: u32) -> [(Sid, u32); 3] {
    [
        (Sid::unix_user(uid), class_access((mode >> 6) & 7)),
        (Sid::unix_group(gid), class_access((mode >> 3) & 7)),
        (Sid::everyone(), class_access(mode & 7)),
    ]
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends the self-relative descriptor of an inode with `mode`, `uid` and `gid` to `out`,
/// holding the parts `information` asks for.
pub fn descriptor(mode: u16, uid: u32, gid: u32, information: u32, out: &mut Vec<u8>) -> Encoded {
    let owner = (information & OWNER_SECURITY_INFORMATION != 0).then(|| Sid::unix_user(uid));
    let group = (information & GROUP_SECURITY_INFORMATION != 0).then(|| Sid::unix_group(gid));
    let dacl = (information & DACL_SECURITY_INFORMATION != 0).then(|| aces(mode, uid, gid));
    let owner_len = owner.map_or(0, |sid| sid.len());
    let group_len = group.map_or(0, |sid| sid.len());
    let acl_len = dacl.as_ref().map_or(0, |aces| {
        ACL_HEADER_SIZE
            + aces
                .iter()
                .map(|(sid, _)| ACE_HEADER_SIZE + sid.len())
                .sum::<usize>()
    });
    let total = HEADER_SIZE + owner_len + group_len + acl_len;
    out.try_reserve(total).map_err(|_| NoMemory)?;
    let offset = |present: bool, at: usize| if present { at as u32 } else { 0 };
    let owner_at = HEADER_SIZE;
    let group_at = owner_at + owner_len;
    let dacl_at = group_at + group_len;
    out.push(SECURITY_DESCRIPTOR_REVISION);
    out.push(0);
    let control = SE_SELF_RELATIVE | if dacl.is_some() { SE_DACL_PRESENT } else { 0 };
    u16le(out, control);
    u32le(out, offset(owner.is_some(), owner_at));
    u32le(out, offset(group.is_some(), group_at));
    u32le(out, 0);
    u32le(out, offset(dacl.is_some(), dacl_at));
    if let Some(sid) = owner {
        sid.encode(out);
    }
    if let Some(sid) = group {
        sid.encode(out);
    }
    if let Some(aces) = dacl {
        out.push(ACL_REVISION);
        out.push(0);
        u16le(out, acl_len as u16);
        u16le(out, aces.len() as u16);
        u16le(out, 0);
        for (sid, mask) in aces {
            out.push(ACCESS_ALLOWED_ACE_TYPE);
            out.push(0);
            u16le(out, (ACE_HEADER_SIZE + sid.len()) as u16);
            u32le(out, mask);
            sid.encode(out);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u32 =
        OWNER_SECURITY_INFORMATION | GROUP_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION;

    #[test]
    fn full_descriptor_layout() {
        let mut out = Vec::new();
        descriptor(0o754, 1000, 100, ALL, &mut out).unwrap();
        // Header 20, two 16-byte SIDs, ACL 8 + 24 + 24 + 20.
        assert_eq!(out.len(), 20 + 16 + 16 + 76);
        assert_eq!(&out[..4], &[1, 0, 0x04, 0x80]);
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 20);
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), 36);
        assert_eq!(u32::from_le_bytes(out[12..16].try_into().unwrap()), 0);
        assert_eq!(u32::from_le_bytes(out[16..20].try_into().unwrap()), 52);
        // S-1-22-1-1000.
        assert_eq!(&out[20..28], &[1, 2, 0, 0, 0, 0, 0, 22]);
        assert_eq!(&out[28..36], &[1, 0, 0, 0, 0xE8, 0x03, 0, 0]);
        // ACL: revision 2, size 76, 3 ACEs.
        assert_eq!(&out[52..58], &[2, 0, 76, 0, 3, 0]);
        // Owner rwx → read and execute, no write; Everyone r-- → read only.
        let mask = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().unwrap());
        assert_eq!(mask(60 + 4), 0x0012_00A9);
        assert_eq!(mask(60 + 24 + 4), 0x0012_00A9);
        assert_eq!(mask(60 + 48 + 4), 0x0012_0089);
    }

    #[test]
    fn only_what_is_asked() {
        let mut out = Vec::new();
        descriptor(0o644, 0, 0, GROUP_SECURITY_INFORMATION, &mut out).unwrap();
        assert_eq!(out.len(), 36);
        assert_eq!(&out[2..4], &[0, 0x80]);
        assert_eq!(&out[4..8], &[0; 4]);
        assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), 20);
        let mut none = Vec::new();
        descriptor(0o644, 0, 0, 0, &mut none).unwrap();
        assert_eq!(none.len(), 20);
    }

    #[test]
    fn class_masks() {
        assert_eq!(class_access(0), 0x0012_0080);
        assert_eq!(class_access(2), 0x0012_0080);
        assert_eq!(class_access(4), 0x0012_0089);
        assert_eq!(class_access(1), 0x0012_00A0);
    }
}
