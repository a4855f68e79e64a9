//! IRP_MJ_DIRECTORY_CONTROL: IRP_MN_QUERY_DIRECTORY enumerates a directory into the caller's
//! buffer, resuming where the handle's previous query stopped (the cursor in the CCB).
//!
//! The rules are FastFAT's (dirctrl.c, FatQueryDirectory) and Learn's for
//! IRP_MN_QUERY_DIRECTORY: the search expression is fixed by the handle's first query; the
//! first query that finds nothing is STATUS_NO_SUCH_FILE, later ones STATUS_NO_MORE_FILES;
//! entries start on 8-byte boundaries; an entry that does not fit after others is left for
//! the next query; a first entry whose name does not fit is returned cut, with
//! STATUS_BUFFER_OVERFLOW. Non-root directories list `.` and `..` first, as NTFS does.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::ext4;
use crate::fcb::{Ccb, FcbKind, FcbRef, Search};
use crate::info::facts::FileFacts;
use crate::info::layout as l;
use crate::info::pattern::{self, Matcher};
use crate::kernel::{
    DeviceRef, IRP_MN_NOTIFY_CHANGE_DIRECTORY, IRP_MN_QUERY_DIRECTORY, Irp, IrpParameters,
    NtStatus, PoolArc, SL_INDEX_SPECIFIED, SL_RESTART_SCAN, SL_RETURN_SINGLE_ENTRY,
};
use crate::name;
use crate::volume::Vcb;
use crate::volume::disk::status_of;

/// The cursor of `.` (`..` is 1); ext4 cursor c is c + FIRST_ENTRY.
const DOT: u64 = 0;
const FIRST_ENTRY: u64 = 2;

// Not inlined into `dispatch`, whose frame every request (a nested paging read too) pays
// for (docs/performance.md, "Stack depth").
#[inline(never)]
pub fn directory_control(device: DeviceRef, irp: Irp) -> NtStatus {
    match irp.minor() {
        IRP_MN_QUERY_DIRECTORY => {}
        IRP_MN_NOTIFY_CHANGE_DIRECTORY => {
            return super::notify::notify_change_directory(device, irp);
        }
        _ => return irp.complete(NtStatus::INVALID_DEVICE_REQUEST),
    }
    let IrpParameters::QueryDirectory {
        class,
        length,
        pattern,
        flags,
        index,
    } = irp.parameters()
    else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some((_, fcb, ccb)) = super::reply::opened(&irp) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    // FastFAT: only a directory can be enumerated.
    if fcb.kind() != FcbKind::Directory {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    if l::directory_name_offset(class).is_none() {
        return irp.complete(NtStatus::INVALID_INFO_CLASS);
    }
    let query = Query {
        class,
        length: length as usize,
        flags,
        index,
    };
    let mut out = Vec::new();
    let answer = device
        .with_extension(|vcb: &Vcb| query_directory(vcb, &fcb, &ccb, &query, pattern, &mut out))
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    complete(irp, answer, &out)
}

fn complete(mut irp: Irp, answer: Result<(NtStatus, usize), NtStatus>, out: &[u8]) -> NtStatus {
    match answer {
        Ok((status, information)) => {
            if let Err(error) = super::reply::write_output(&irp, out) {
                return irp.complete(error);
            }
            irp.set_information(information);
            irp.complete(status)
        }
        Err(status) => irp.complete(status),
    }
}

/// One IRP_MN_QUERY_DIRECTORY's parameters.
struct Query {
    class: u32,
    length: usize,
    flags: u8,
    index: u32,
}

/// Fills `out`; returns the status and IoStatus.Information.
fn query_directory(
    vcb: &Vcb,
    fcb: &FcbRef,
    ccb: &PoolArc<Ccb>,
    query: &Query,
    pattern: Option<Vec<u16>>,
    out: &mut Vec<u8>,
) -> Result<(NtStatus, usize), NtStatus> {
    if vcb.is_dismounted() {
        return Err(NtStatus::VOLUME_DISMOUNTED);
    }
    let dir = fcb.inode().ok_or(NtStatus::FILE_CORRUPT_ERROR)?;
    let (expression, initial) = search_expression(ccb, pattern)?;
    let root = fcb.key() == u64::from(ext4::ROOT_INO);
    let mut cursor = if query.flags & SL_RESTART_SCAN != 0 {
        0
    } else if query.flags & SL_INDEX_SPECIFIED != 0 {
        after(vcb, dir, u64::from(query.index))?
    } else {
        ccb.directory_cursor.load(Ordering::Acquire)
    };
    if root && cursor < FIRST_ENTRY {
        cursor = FIRST_ENTRY;
    }
    let mut enumeration = Enumeration {
        class: query.class,
        length: query.length,
        out,
        last_entry: None,
        information: 0,
        entry: Vec::new(),
        shown: Vec::new(),
        folded: Vec::new(),
        matcher: Matcher::default(),
        expression: &expression,
        case_insensitive: ccb.case_insensitive,
    };
    let single = query.flags & SL_RETURN_SINGLE_ENTRY != 0;
    let mut status = NtStatus::SUCCESS;
    // `.` and `..` of a non-root directory come first.
    while cursor < FIRST_ENTRY {
        let (raw, ino): (&[u8], u32) = if cursor == DOT {
            (b".", dir.ino())
        } else {
            match parent_ino(vcb, dir) {
                Ok(ino) => (b"..", ino),
                // `..` cannot be read: what came before it is returned; alone, the damage
                // is reported and the cursor moves past `..`.
                Err(status) if status == NtStatus::FILE_CORRUPT_ERROR => {
                    if enumeration.last_entry.is_some() {
                        break;
                    }
                    return damaged(ccb, FIRST_ENTRY);
                }
                Err(status) => return Err(status),
            }
        };
        match enumeration.offer(vcb, raw, ino, cursor)? {
            Offer::Skipped | Offer::Added => cursor += 1,
            Offer::Cut => {
                cursor += 1;
                status = NtStatus::BUFFER_OVERFLOW;
                break;
            }
            Offer::Full => break,
        }
        if single && enumeration.last_entry.is_some() {
            break;
        }
    }
    let done = status != NtStatus::SUCCESS || (single && enumeration.last_entry.is_some());
    if !done && cursor >= FIRST_ENTRY {
        let status_of_ext4 = |error: ext4::Error| status_of(&error);
        let mut reader = vcb
            .volume()
            .read_dir(dir, cursor - FIRST_ENTRY)
            .map_err(status_of_ext4)?;
        loop {
            let before = reader.position().saturating_add(FIRST_ENTRY);
            // The reader skips a damaged block (between `before` and the entry it returns,
            // or the end). Entries already in the buffer are returned and the damage waits
            // for the next query; alone, it is reported, and the cursor moves past the block,
            // so that a caller that goes on gets the rest of the directory.
            let past_damage = match reader.next_entry().map_err(status_of_ext4)? {
                Some(entry) if entry.after_damage => Some(entry.offset),
                Some(entry) => {
                    let here = entry.offset.saturating_add(FIRST_ENTRY);
                    let next = entry.next.saturating_add(FIRST_ENTRY);
                    if entry.name == b"." || entry.name == b".." {
                        cursor = next;
                        continue;
                    }
                    match enumeration.offer(vcb, entry.name, entry.ino, here)? {
                        Offer::Skipped | Offer::Added => cursor = next,
                        Offer::Cut => {
                            cursor = next;
                            status = NtStatus::BUFFER_OVERFLOW;
                            break;
                        }
                        Offer::Full => {
                            cursor = here;
                            break;
                        }
                    }
                    if single {
                        break;
                    }
                    continue;
                }
                None => None,
            };
            let past = match past_damage {
                Some(past) => past,
                None if reader.damage().is_some() => reader.position(),
                None => break,
            };
            if enumeration.last_entry.is_some() {
                cursor = before;
                break;
            }
            return damaged(ccb, past.saturating_add(FIRST_ENTRY));
        }
        if enumeration.last_entry.is_none() && status == NtStatus::SUCCESS {
            // The end, with nothing returned: the cursor stays at the end.
            cursor = reader.position().saturating_add(FIRST_ENTRY);
        }
    }
    if enumeration.last_entry.is_none() && status == NtStatus::SUCCESS {
        return Err(if initial {
            NtStatus::NO_SUCH_FILE
        } else {
            NtStatus::NO_MORE_FILES
        });
    }
    ccb.directory_cursor.store(cursor, Ordering::Release);
    Ok((status, enumeration.information))
}

/// A query that met a damaged directory block (or a `..` it cannot read) before returning
/// anything: STATUS_FILE_CORRUPT_ERROR, as FastFAT raises for a corrupt directory
/// (`fastfat/dirsup.c`, FatRaiseStatus(STATUS_FILE_CORRUPT_ERROR)) and NTFS answers for a
/// damaged index; the handle's cursor moves to `past`, after the damage.
fn damaged(ccb: &PoolArc<Ccb>, past: u64) -> Result<(NtStatus, usize), NtStatus> {
    ccb.directory_cursor.store(past, Ordering::Release);
    Err(NtStatus::FILE_CORRUPT_ERROR)
}

/// The handle's search expression, fixed by its first query (`*` if that query gave none);
/// `true` when this is that first query.
fn search_expression(
    ccb: &PoolArc<Ccb>,
    pattern: Option<Vec<u16>>,
) -> Result<(Vec<u16>, bool), NtStatus> {
    let mut search = ccb.search.lock().ok_or(NtStatus::POSSIBLE_DEADLOCK)?;
    let initial = search.is_none();
    if search.is_none() {
        let given = match pattern {
            Some(pattern) if !pattern.is_empty() => pattern,
            _ => crate::fallible::copy_of(&[u16::from(b'*')])?,
        };
        let expression = if ccb.case_insensitive {
            let mut folded = Vec::new();
            name::upcase(&given, &mut folded).map_err(|error| error.status())?;
            folded
        } else {
            given
        };
        *search = Some(Search {
            matches_everything: pattern::matches_everything(&expression),
            expression,
        });
    }
    let copy = match search.as_ref() {
        Some(search) => crate::fallible::copy_of(&search.expression)?,
        None => Vec::new(),
    };
    Ok((copy, initial))
}

/// The cursor after the entry at `index` (SL_INDEX_SPECIFIED: resume after that entry).
fn after(vcb: &Vcb, dir: &ext4::Inode, index: u64) -> Result<u64, NtStatus> {
    if index < FIRST_ENTRY {
        return Ok(index + 1);
    }
    let status = |error: ext4::Error| status_of(&error);
    let mut reader = vcb
        .volume()
        .read_dir(dir, index - FIRST_ENTRY)
        .map_err(status)?;
    // A damaged block at `index`: the query starts there and reports it.
    let next = match reader.next_entry().map_err(status)? {
        Some(entry) if entry.after_damage => return Ok(index),
        Some(entry) => Some(entry.next),
        None => None,
    };
    let next = match next {
        Some(next) => next,
        None if reader.damage().is_some() => return Ok(index),
        None => reader.position(),
    };
    Ok(next.saturating_add(FIRST_ENTRY))
}

/// The inode `..` names in `dir`: the directory reader yields it among the first entries
/// (for inline-data directories too, whose `..` is a header, not an entry).
fn parent_ino(vcb: &Vcb, dir: &ext4::Inode) -> Result<u32, NtStatus> {
    let status = |error: ext4::Error| status_of(&error);
    let mut reader = vcb.volume().read_dir(dir, 0).map_err(status)?;
    while let Some(entry) = reader.next_entry().map_err(status)? {
        if entry.name == b".." {
            return Ok(entry.ino);
        }
    }
    Err(NtStatus::FILE_CORRUPT_ERROR)
}

enum Offer {
    /// The name does not match.
    Skipped,
    Added,
    /// The first entry, cut to the buffer: STATUS_BUFFER_OVERFLOW.
    Cut,
    /// No room for this entry after others: it is the next query's first.
    Full,
}

/// One query's output under construction.
struct Enumeration<'a> {
    class: u32,
    length: usize,
    out: &'a mut Vec<u8>,
    /// Where the last entry written starts.
    last_entry: Option<usize>,
    information: usize,
    entry: Vec<u8>,
    shown: Vec<u16>,
    folded: Vec<u16>,
    matcher: Matcher,
    expression: &'a [u16],
    case_insensitive: bool,
}

impl Enumeration<'_> {
    /// Adds the entry `raw` → `ino` at cursor `here` if it matches and fits. Its FileIndex is
    /// that cursor, which SL_INDEX_SPECIFIED takes back.
    fn offer(&mut self, vcb: &Vcb, raw: &[u8], ino: u32, here: u64) -> Result<Offer, NtStatus> {
        self.shown.clear();
        name::to_windows(raw, &mut self.shown).map_err(|error| error.status())?;
        if !self.matches()? {
            return Ok(Offer::Skipped);
        }
        // FileNamesInformation carries no metadata: no inode read.
        let (facts, ea_size) = if self.class == l::FILE_NAMES_INFORMATION {
            (FileFacts::default(), 0)
        } else {
            let inode = vcb.volume().inode(ino).map_err(|error| status_of(&error))?;
            let stat = vcb.volume().stat(&inode);
            let facts = FileFacts::of(&stat, Some(raw), vcb.attribute_options());
            // FileDirectoryInformation has no EaSize: no xattr read for it.
            let ea_size = if self.class == l::FILE_DIRECTORY_INFORMATION {
                0
            } else {
                super::ea::ea_size_of(vcb, &inode, &facts)?
            };
            (facts, ea_size)
        };
        let start = match self.last_entry {
            None => 0,
            Some(_) => self.information.next_multiple_of(8),
        };
        self.entry.clear();
        let index = u32::try_from(here).unwrap_or(u32::MAX);
        l::directory_entry(
            self.class,
            index,
            &facts,
            ea_size,
            &self.shown,
            &mut self.entry,
        )?;
        let fits = start
            .checked_add(self.entry.len())
            .is_some_and(|end| end <= self.length);
        if !fits && self.last_entry.is_some() {
            return Ok(Offer::Full);
        }
        let mut cut = false;
        if !fits {
            // The first entry: its fixed part fits (the I/O manager checked), the name is cut
            // to whole characters.
            let base = l::directory_name_offset(self.class).unwrap_or(0);
            if self.length < base {
                return Err(NtStatus::INFO_LENGTH_MISMATCH);
            }
            let keep = base + (self.length - base) / 2 * 2;
            self.entry.truncate(keep);
            cut = true;
        }
        self.out
            .try_reserve(start + self.entry.len() - self.out.len().min(start))
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        if let Some(previous) = self.last_entry {
            let link = u32::try_from(start - previous).unwrap_or(0).to_le_bytes();
            if let Some(field) = self.out.get_mut(previous..previous + 4) {
                field.copy_from_slice(&link);
            }
        }
        self.out.resize(start, 0);
        self.out.extend_from_slice(&self.entry);
        self.last_entry = Some(start);
        self.information = self.out.len();
        Ok(if cut { Offer::Cut } else { Offer::Added })
    }

    fn matches(&mut self) -> Result<bool, NtStatus> {
        if pattern::matches_everything(self.expression) {
            return Ok(true);
        }
        let name: &[u16] = if self.case_insensitive {
            self.folded.clear();
            name::upcase(&self.shown, &mut self.folded).map_err(|error| error.status())?;
            &self.folded
        } else {
            &self.shown
        };
        Ok(self.matcher.is_match(self.expression, name)?)
    }
}
