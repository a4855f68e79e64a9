//! Extended attributes: the EAs of an inode (the WSL metadata EAs and its `user.*` xattrs)
//! and the IRP_MJ_QUERY_EA answer built from them.
//!
//! Every inode has `$LXUID`, `$LXGID` and `$LXMOD`, and character and block devices `$LXDEV`,
//! in the format WSL writes on NTFS: little-endian ULONGs (uid, gid, the whole st_mode with its
//! type bits), and for `$LXDEV` the device's major then minor number (two ULONGs). Flags 0.
//! Each ext4 `user.NAME` xattr follows as EA `NAME` (see [`eas`] for the names left out).
//!
//! The query follows FastFAT's FatCommonQueryEa (`fastfat/ea.c`): an EA name list answers each
//! name in turn (a name the file lacks gets an entry with no value; a repeated name is
//! skipped; everything must fit or nothing is returned, STATUS_BUFFER_OVERFLOW); otherwise the
//! scan starts at the 1-based index given with SL_INDEX_SPECIFIED, at the first EA with
//! SL_RESTART_SCAN, or where the handle's previous scan stopped, and returns what fits
//! (STATUS_BUFFER_OVERFLOW when some were left out, STATUS_BUFFER_TOO_SMALL when not even one
//! fits, STATUS_NO_MORE_EAS at the end, STATUS_NO_EAS_ON_FILE for none). Entries are
//! FILE_FULL_EA_INFORMATION on 4-byte boundaries; Information ends at the last entry's last
//! byte.

use alloc::borrow::Cow;
use alloc::vec::Vec;

use super::facts::FileFacts;
use super::layout::NoMemory;
use crate::ext4::xattr::Xattr;
use crate::kernel::NtStatus;

const NO_EAS_ON_FILE: NtStatus = NtStatus(0xC000_0052_u32 as i32);
const NONEXISTENT_EA_ENTRY: NtStatus = NtStatus(0xC000_0051_u32 as i32);
const NO_MORE_EAS: NtStatus = NtStatus(0x8000_0012_u32 as i32);
const INVALID_EA_NAME: NtStatus = NtStatus(0x8000_0013_u32 as i32);
const EA_LIST_INCONSISTENT: NtStatus = NtStatus(0x8000_0014_u32 as i32);

/// FILE_FULL_EA_INFORMATION before the name: NextEntryOffset, Flags, EaNameLength,
/// EaValueLength.
const FULL_EA_HEADER: usize = 8;
/// FILE_GET_EA_INFORMATION before the name: NextEntryOffset, EaNameLength.
const GET_EA_HEADER: usize = 5;

/// One EA: a name (upper case, as NTFS stores EA names) and its value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Ea {
    pub name: Cow<'static, [u8]>,
    value: Value,
}

/// An EA value: the WSL ones fit in eight bytes, xattr values are owned.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Value {
    Short([u8; 8], usize),
    Owned(Vec<u8>),
}

impl Ea {
    fn ulong(name: &'static [u8], value: u32) -> Ea {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&value.to_le_bytes());
        Ea {
            name: Cow::Borrowed(name),
            value: Value::Short(bytes, 4),
        }
    }

    pub fn value(&self) -> &[u8] {
        match &self.value {
            Value::Short(bytes, len) => bytes.get(..*len).unwrap_or(&[]),
            Value::Owned(bytes) => bytes,
        }
    }

    /// The unaligned size of its FILE_FULL_EA_INFORMATION (name NUL-terminated).
    fn full_size(&self) -> usize {
        full_size(self.name.len(), self.value().len())
    }
}

fn full_size(name_len: usize, value_len: usize) -> usize {
    FULL_EA_HEADER + name_len + 1 + value_len
}

fn long_align(size: usize) -> usize {
    (size + 3) & !3
}

/// The EAs of an inode, in the order a scan returns them: the WSL metadata EAs, then each
/// `user.NAME` xattr (in disk order) whose NAME can be an EA name, as EA NAME upcased. A name
/// that is not one ([`is_ea_name`]), a value longer than EaValueLength can say, and a name
/// equal without case to an earlier EA's (EA names are case-insensitive on Windows) are
/// skipped.
pub fn eas(facts: &FileFacts, user_xattrs: Vec<Xattr>) -> Result<Vec<Ea>, NoMemory> {
    let mut eas = Vec::new();
    eas.try_reserve_exact(4 + user_xattrs.len())
        .map_err(|_| NoMemory)?;
    eas.push(Ea::ulong(b"$LXUID", facts.uid));
    eas.push(Ea::ulong(b"$LXGID", facts.gid));
    eas.push(Ea::ulong(b"$LXMOD", facts.mode));
    if facts.has_device {
        let mut value = [0u8; 8];
        value[..4].copy_from_slice(&facts.device_major.to_le_bytes());
        value[4..].copy_from_slice(&facts.device_minor.to_le_bytes());
        eas.push(Ea {
            name: Cow::Borrowed(b"$LXDEV"),
            value: Value::Short(value, 8),
        });
    }
    for Xattr {
        mut name, value, ..
    } in user_xattrs
    {
        name.make_ascii_uppercase();
        let taken = eas.iter().any(|ea| *ea.name == *name);
        if taken || !is_ea_name(&name) || value.len() > usize::from(u16::MAX) {
            continue;
        }
        eas.push(Ea {
            name: Cow::Owned(name),
            value: Value::Owned(value),
        });
    }
    Ok(eas)
}

/// FastFAT's FatIsEaNameValid (`fastfat/easup.c`): 1 to 254 characters, none of them a
/// control character or one of `\ / : * ? " < > | , + = [ ] ;` (FsRtlIsAnsiCharacterLegalFat
/// without wildcards). Only ASCII: other bytes would be read in the caller's OEM code page.
pub fn is_ea_name(name: &[u8]) -> bool {
    (1..=254).contains(&name.len())
        && name
            .iter()
            .all(|&c| (0x20..0x7F).contains(&c) && !b"\\/:*?\"<>|,+=[];".contains(&c))
}

/// FileEaInformation's EaSize: the buffer a query needs to return every EA (each entry
/// 4-byte aligned).
pub fn ea_size(eas: &[Ea]) -> u32 {
    eas.iter().map(|ea| long_align(ea.full_size()) as u32).sum()
}

/// What IRP_MJ_QUERY_EA asks.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The caller's buffer length.
    pub length: u32,
    /// FILE_GET_EA_INFORMATION entries (Parameters.QueryEa.EaList), if given.
    pub names: Option<&'a [u8]>,
    /// Parameters.QueryEa.EaIndex with SL_INDEX_SPECIFIED.
    pub index: Option<u32>,
    pub restart: bool,
    pub single: bool,
}

/// The answer: the bytes to copy out (Information is their length) and the status.
#[derive(Debug)]
pub struct Answer {
    pub data: Vec<u8>,
    pub status: NtStatus,
}

/// Answers `query` on `eas`; `cursor` is the handle's next EA for a scan (0-based), advanced
/// past every entry returned.
pub fn query(eas: &[Ea], query: &Query, cursor: &mut usize) -> Result<Answer, NoMemory> {
    if let Some(list) = query.names {
        return by_names(eas, list, query, cursor);
    }
    let start = match query.index {
        Some(0) => return Ok(refusal(NONEXISTENT_EA_ENTRY)),
        Some(index) => {
            let start = index as usize - 1;
            if start > eas.len() {
                return Ok(refusal(NONEXISTENT_EA_ENTRY));
            }
            start
        }
        None if query.restart => 0,
        None => *cursor,
    };
    scan(eas, start, query, cursor)
}

fn refusal(status: NtStatus) -> Answer {
    Answer {
        data: Vec::new(),
        status,
    }
}

/// Appends one FILE_FULL_EA_INFORMATION at `out`'s end (4-byte aligned first), linking the
/// previous entry at `previous` to it.
fn append(out: &mut Vec<u8>, previous: Option<usize>, name: &[u8], value: &[u8]) -> usize {
    let at = long_align(out.len());
    out.resize(at, 0);
    if let Some(previous) = previous
        && let Some(link) = out.get_mut(previous..previous + 4)
    {
        link.copy_from_slice(&((at - previous) as u32).to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.push(0);
    out.push(name.len() as u8);
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.push(0);
    out.extend_from_slice(value);
    at
}

/// FatQueryEaSimpleScan from EA `start`.
fn scan(eas: &[Ea], start: usize, query: &Query, cursor: &mut usize) -> Result<Answer, NoMemory> {
    let length = query.length as usize;
    let mut out = Vec::new();
    out.try_reserve(length.min(ea_size(eas) as usize))
        .map_err(|_| NoMemory)?;
    let mut previous = None;
    let mut overflow = false;
    let mut next = start;
    for ea in eas.iter().skip(start) {
        if long_align(out.len()) + ea.full_size() > length {
            overflow = true;
            break;
        }
        previous = Some(append(&mut out, previous, &ea.name, ea.value()));
        next += 1;
        *cursor = next;
        if query.single {
            break;
        }
    }
    let status = match previous {
        None if eas.is_empty() => NO_EAS_ON_FILE,
        None if start >= eas.len() => NO_MORE_EAS,
        None => NtStatus::BUFFER_TOO_SMALL,
        Some(_) if overflow => NtStatus::BUFFER_OVERFLOW,
        Some(_) => NtStatus::SUCCESS,
    };
    Ok(Answer { data: out, status })
}

/// One FILE_GET_EA_INFORMATION of the list at `at`: (name, offset of the next entry).
fn get_ea(list: &[u8], at: usize) -> Option<(&[u8], Option<usize>)> {
    let header = list.get(at..at.checked_add(GET_EA_HEADER)?)?;
    let [a, b, c, d, name_len] = *<&[u8; GET_EA_HEADER]>::try_from(header).ok()?;
    let next = u32::from_le_bytes([a, b, c, d]) as usize;
    let name_len = usize::from(name_len);
    let name = list.get(at + GET_EA_HEADER..at + GET_EA_HEADER + name_len)?;
    let next = match next {
        0 => None,
        step => Some(at.checked_add(step)?),
    };
    Some((name, next))
}

/// FatQueryEaUserEaList: each named EA in list order.
fn by_names(
    eas: &[Ea],
    list: &[u8],
    query: &Query,
    cursor: &mut usize,
) -> Result<Answer, NoMemory> {
    let length = query.length as usize;
    let mut out = Vec::new();
    out.try_reserve(length.min(list.len().saturating_mul(2) + 64))
        .map_err(|_| NoMemory)?;
    let mut previous = None;
    let mut seen: Vec<&[u8]> = Vec::new();
    let mut at = Some(0);
    while let Some(offset) = at {
        if offset >= list.len() {
            break;
        }
        let Some((name, next)) = get_ea(list, offset) else {
            return Ok(refusal(EA_LIST_INCONSISTENT));
        };
        at = next;
        if name.is_empty() {
            return Ok(refusal(INVALID_EA_NAME));
        }
        if seen
            .iter()
            .any(|earlier| earlier.eq_ignore_ascii_case(name))
        {
            continue;
        }
        seen.try_reserve(1).map_err(|_| NoMemory)?;
        seen.push(name);
        let found = eas
            .iter()
            .enumerate()
            .find(|(_, ea)| ea.name.eq_ignore_ascii_case(name));
        let (entry_name, value): (&[u8], &[u8]) = match found {
            Some((_, ea)) => (&ea.name, ea.value()),
            None => (name, &[]),
        };
        if long_align(out.len()) + full_size(entry_name.len(), value.len()) > length {
            return Ok(refusal(NtStatus::BUFFER_OVERFLOW));
        }
        out.try_reserve(long_align(out.len()) - out.len() + full_size(name.len(), value.len()))
            .map_err(|_| NoMemory)?;
        let entry = append(&mut out, previous, entry_name, value);
        if found.is_none() {
            // A name the file lacks comes back upcased, as FastFAT returns it.
            let start = entry + FULL_EA_HEADER;
            if let Some(stored) = out.get_mut(start..start + name.len()) {
                stored.make_ascii_uppercase();
            }
        }
        previous = Some(entry);
        *cursor = found.map_or(eas.len(), |(index, _)| index + 1);
        if query.single {
            break;
        }
    }
    Ok(Answer {
        data: out,
        status: NtStatus::SUCCESS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(device: bool) -> FileFacts {
        FileFacts {
            uid: 1000,
            gid: 100,
            mode: 0o100644,
            device_major: 8,
            device_minor: 1,
            has_device: device,
            ..FileFacts::default()
        }
    }

    fn user(name: &[u8], value: &[u8]) -> Xattr {
        Xattr {
            index: 1,
            name: name.to_vec(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn user_xattrs_follow_upcased_unless_they_cannot_be_ea_names() {
        let long = [b'n'; 255];
        let xattrs = alloc::vec![
            user(b"comment", b"hello"),
            user(b"Comment", b"again"),
            user(b"$lxuid", b"x"),
            user(b"a*b", b"x"),
            user(b"caf\xc3\xa9", b"x"),
            user(b"", b"x"),
            user(&long, b"x"),
            user(&long[..254], b""),
            user(b"big", &[0; 65_536]),
            user(b"mime.type", b"text/plain"),
        ];
        let eas = super::eas(&facts(false), xattrs).unwrap();
        let names: Vec<&[u8]> = eas.iter().map(|ea| &*ea.name).collect();
        assert_eq!(
            names,
            [
                &b"$LXUID"[..],
                b"$LXGID",
                b"$LXMOD",
                b"COMMENT",
                &[b'N'; 254],
                b"MIME.TYPE"
            ]
        );
        assert_eq!(eas[3].value(), b"hello");
        assert_eq!(ea_size(&eas), 60 + 20 + 264 + 32);
        assert!(is_ea_name(b"user.k1 x"));
        for bad in b"\\/:*?\"<>|,+=[];\t\x7f\xc3" {
            assert!(!is_ea_name(&[b'a', *bad, b'b']), "{bad:#x}");
        }
    }

    fn ask(length: u32) -> Query<'static> {
        Query {
            length,
            names: None,
            index: None,
            restart: false,
            single: false,
        }
    }

    #[test]
    fn values_and_sizes() {
        let eas = eas(&facts(true), Vec::new()).unwrap();
        assert_eq!(eas.len(), 4);
        assert_eq!(eas[0].value(), &1000u32.to_le_bytes());
        assert_eq!(eas[2].value(), &0o100644u32.to_le_bytes());
        assert_eq!(eas[3].value(), &[8, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(ea_size(&eas), 20 * 3 + 24);
        assert_eq!(ea_size(&super::eas(&facts(false), Vec::new()).unwrap()), 60);
    }

    #[test]
    fn scans_resume_and_restart() {
        let eas = eas(&facts(false), Vec::new()).unwrap();
        let mut cursor = 0;
        let all = query(&eas, &ask(100), &mut cursor).unwrap();
        assert_eq!(all.status, NtStatus::SUCCESS);
        // Two aligned entries of 20 and the last one's 19 bytes.
        assert_eq!(all.data.len(), 59);
        assert_eq!(&all.data[..8], &[20, 0, 0, 0, 0, 6, 4, 0]);
        assert_eq!(&all.data[8..15], b"$LXUID\0");
        let end = query(&eas, &ask(100), &mut cursor).unwrap();
        assert_eq!(end.status, NO_MORE_EAS);
        let first = query(
            &eas,
            &Query {
                restart: true,
                ..ask(39)
            },
            &mut cursor,
        )
        .unwrap();
        assert_eq!(
            (first.status, first.data.len()),
            (NtStatus::BUFFER_OVERFLOW, 39)
        );
        assert_eq!(cursor, 2);
        let small = query(&eas, &ask(18), &mut cursor).unwrap();
        assert_eq!(
            (small.status, small.data.len()),
            (NtStatus::BUFFER_TOO_SMALL, 0)
        );
        let rest = query(&eas, &ask(19), &mut cursor).unwrap();
        assert_eq!(
            (rest.status, &rest.data[8..15]),
            (NtStatus::SUCCESS, &b"$LXMOD\0"[..])
        );
    }

    #[test]
    fn indexes() {
        let eas = eas(&facts(false), Vec::new()).unwrap();
        let mut cursor = 0;
        let at = |index, cursor: &mut usize| {
            query(
                &eas,
                &Query {
                    index: Some(index),
                    single: true,
                    ..ask(100)
                },
                cursor,
            )
            .unwrap()
        };
        assert_eq!(at(0, &mut cursor).status, NONEXISTENT_EA_ENTRY);
        let second = at(2, &mut cursor);
        assert_eq!(&second.data[8..15], b"$LXGID\0");
        assert_eq!(at(4, &mut cursor).status, NO_MORE_EAS);
        assert_eq!(at(5, &mut cursor).status, NONEXISTENT_EA_ENTRY);
        assert_eq!(
            query(&[], &ask(100), &mut cursor).unwrap().status,
            NO_EAS_ON_FILE
        );
    }

    fn list(names: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let size = long_align(GET_EA_HEADER + name.len() + 1);
            let next = if i + 1 == names.len() { 0 } else { size as u32 };
            out.extend_from_slice(&next.to_le_bytes());
            out.push(name.len() as u8);
            out.extend_from_slice(name);
            out.resize(out.len() + size - GET_EA_HEADER - name.len(), 0);
        }
        out
    }

    #[test]
    fn name_lists() {
        let eas = eas(&facts(false), Vec::new()).unwrap();
        let mut cursor = 0;
        let names = list(&[b"$lxmod", b"user.x", b"$LXMOD", b"$LXUID"]);
        let by = |length, cursor: &mut usize| {
            query(
                &eas,
                &Query {
                    names: Some(&names),
                    ..ask(length)
                },
                cursor,
            )
            .unwrap()
        };
        let answer = by(100, &mut cursor);
        assert_eq!(answer.status, NtStatus::SUCCESS);
        assert_eq!(&answer.data[8..15], b"$LXMOD\0");
        // The missing name, upcased, with no value.
        assert_eq!(&answer.data[20..28], &[16, 0, 0, 0, 0, 6, 0, 0]);
        assert_eq!(&answer.data[28..35], b"USER.X\0");
        assert_eq!(&answer.data[44..51], b"$LXUID\0");
        assert_eq!(answer.data.len(), 36 + 19);
        let short = by(54, &mut cursor);
        assert_eq!(
            (short.status, short.data.len()),
            (NtStatus::BUFFER_OVERFLOW, 0)
        );
        let mut broken = names.clone();
        broken[4] = 200;
        assert_eq!(
            query(
                &eas,
                &Query {
                    names: Some(&broken),
                    ..ask(100)
                },
                &mut cursor
            )
            .unwrap()
            .status,
            EA_LIST_INCONSISTENT
        );
    }
}
