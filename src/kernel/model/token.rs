//! The caller's identity: an access token (user SID, group SIDs, privileges), as
//! SeCaptureSubjectContext captures it into the SECURITY_SUBJECT_CONTEXT of a CREATE's
//! ACCESS_STATE (Learn: "SECURITY_SUBJECT_CONTEXT", "ACCESS_STATE"). Every group is enabled
//! (no deny-only or restricted SIDs: not modelled). A privilege is held, and enabled or not;
//! only an enabled one counts (SePrivilegeCheck).

use std::fmt;
use std::vec::Vec;

/// A SID: its identifier authority and sub-authorities.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Sid {
    pub authority: u64,
    pub subs: Vec<u32>,
}

impl Sid {
    pub fn new(authority: u64, subs: &[u32]) -> Sid {
        Sid {
            authority,
            subs: subs.to_vec(),
        }
    }

    /// A SID at the start of `bytes` (Revision 1, SubAuthorityCount, a six-byte big-endian
    /// authority, then the sub-authorities little-endian), and its length.
    pub fn parse(bytes: &[u8]) -> Option<(Sid, usize)> {
        let (&revision, rest) = bytes.split_first()?;
        let (&count, rest) = rest.split_first()?;
        if revision != 1 || count > 15 {
            return None;
        }
        let authority = rest
            .get(..6)?
            .iter()
            .fold(0u64, |value, &byte| (value << 8) | u64::from(byte));
        let length = 8 + 4 * usize::from(count);
        let subs = bytes
            .get(8..length)?
            .chunks_exact(4)
            .map(|chunk| u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        Some((Sid { authority, subs }, length))
    }

    pub fn everyone() -> Sid {
        Sid::new(1, &[0])
    }

    pub fn unix_user(uid: u32) -> Sid {
        Sid::new(22, &[1, uid])
    }

    pub fn unix_group(gid: u32) -> Sid {
        Sid::new(22, &[2, gid])
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S-1-{}", self.authority)?;
        for sub in &self.subs {
            write!(f, "-{sub}")?;
        }
        Ok(())
    }
}

/// The privileges the model's tokens can hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Privilege {
    /// SeChangeNotifyPrivilege: "bypass traverse checking" (TOKEN_HAS_TRAVERSE_PRIVILEGE).
    ChangeNotify,
    /// SeBackupPrivilege: read anything, with FILE_OPEN_FOR_BACKUP_INTENT.
    Backup,
    /// SeRestorePrivilege: write anything, with FILE_OPEN_FOR_BACKUP_INTENT.
    Restore,
}

/// An access token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Token {
    pub user: Sid,
    pub groups: Vec<Sid>,
    /// Held privileges and whether each is enabled.
    pub privileges: Vec<(Privilege, bool)>,
}

/// The domain part of the model's Windows accounts (S-1-5-21-x-y-z).
const DOMAIN: [u32; 4] = [21, 1_004_336_348, 1_177_238_915, 682_003_330];

fn account(rid: u32) -> Sid {
    Sid::new(5, &[DOMAIN[0], DOMAIN[1], DOMAIN[2], DOMAIN[3], rid])
}

/// Groups every interactive logon has: Everyone, Authenticated Users (S-1-5-11), Interactive
/// (S-1-5-4).
fn logon_groups() -> Vec<Sid> {
    std::vec![Sid::everyone(), Sid::new(5, &[11]), Sid::new(5, &[4])]
}

impl Token {
    /// An ordinary Windows user (RID 1001, BUILTIN\Users), neither owner nor group of any
    /// ext4 file: the "other" bits apply to it. SeChangeNotifyPrivilege is held and enabled,
    /// as every Windows logon has it (Learn: "Bypass traverse checking").
    pub fn ordinary_user() -> Token {
        let mut groups = logon_groups();
        groups.push(Sid::new(5, &[32, 545]));
        Token {
            user: account(1001),
            groups,
            privileges: std::vec![(Privilege::ChangeNotify, true)],
        }
    }

    /// The Unix user `uid` with the Unix groups `gids` (S-1-22-1-uid, S-1-22-2-gid), as the
    /// descriptors name owners and groups.
    pub fn unix_user(uid: u32, gids: &[u32]) -> Token {
        let mut groups = logon_groups();
        groups.extend(gids.iter().map(|&gid| Sid::unix_group(gid)));
        Token {
            user: Sid::unix_user(uid),
            groups,
            privileges: std::vec![(Privilege::ChangeNotify, true)],
        }
    }

    /// An elevated administrator (RID 500, BUILTIN\Administrators): SeBackupPrivilege and
    /// SeRestorePrivilege held but disabled until the program enables them (as robocopy /B
    /// does with AdjustTokenPrivileges).
    pub fn administrator() -> Token {
        let mut groups = logon_groups();
        groups.push(Sid::new(5, &[32, 544]));
        Token {
            user: account(500),
            groups,
            privileges: std::vec![
                (Privilege::ChangeNotify, true),
                (Privilege::Backup, false),
                (Privilege::Restore, false),
            ],
        }
    }

    /// True if `sid` is the user or one of the groups.
    pub fn holds_sid(&self, sid: &Sid) -> bool {
        self.user == *sid || self.groups.contains(sid)
    }

    /// SePrivilegeCheck of one privilege: held and enabled.
    pub fn has_enabled(&self, privilege: Privilege) -> bool {
        self.privileges.contains(&(privilege, true))
    }

    /// AdjustTokenPrivileges: enables a held privilege. False if it is not held.
    pub fn enable(&mut self, privilege: Privilege) -> bool {
        match self.privileges.iter_mut().find(|(p, _)| *p == privilege) {
            Some((_, enabled)) => {
                *enabled = true;
                true
            }
            None => false,
        }
    }

    /// The token without `privilege` at all (a logon whose policy removed it).
    pub fn without(mut self, privilege: Privilege) -> Token {
        self.privileges.retain(|(p, _)| *p != privilege);
        self
    }
}
