//! `filetest --walk`: the whole tree of an image through rustfsd's dispatch, in the NT model
//! with the verifier on, as the `walk` listing (`crate::walk_listing`) that
//! `rustfsd-inspect walk` prints from the ext4 reader alone.
//!
//! Only what a user-mode program can ask: NtCreateFile of each entry relative to its
//! directory's handle (FILE_OPEN_REPARSE_POINT, so links and special files open as
//! themselves), NtQueryDirectoryFile (FileNamesInformation) in 1 KiB buffers, then once more
//! with SL_RESTART_SCAN and SL_RETURN_SINGLE_ENTRY, which must give the first entry again;
//! NtQueryInformationFile(FileStatLxInformation) for the inode, type and size; NtReadFile in
//! 64 KiB chunks for a file's SHA-256; FSCTL_GET_REPARSE_POINT for a link's target; every
//! handle closed. Names come back to their disk bytes through `name::to_disk`. The order is
//! `rustfsd-inspect walk`'s (a stack of directories, entries in directory order), so both name
//! the same path of a directory met twice. At the end the volume is dismounted and rustfsd
//! stopped and unloaded: a verifier finding (a leak included) is an error of the walk.
//!
//! The walk runs as a backup operator, as `robocopy /B` does: an administrator whose
//! SeBackupPrivilege is enabled opens everything with FILE_OPEN_FOR_BACKUP_INTENT, so that the
//! read access the I/O manager grants it reaches files whatever their mode (0000 included).

use std::collections::HashSet;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use super::io::IrpOutcome;
use super::scenario::status_name;
use super::session::CreateRequest;
use super::{DiskModel, DriverDescriptor, Handle, Session};
use crate::ext4::FileType;
use crate::info::layout::{FILE_NAMES_INFORMATION, FILE_STAT_LX_INFORMATION, STAT_LX_SIZE};
use crate::kernel::model::token::{Privilege, Token};
use crate::kernel::{FILE_OPEN_FOR_BACKUP_INTENT, NtStatus};
use crate::name;
use crate::walk_listing::{self, ContentHash, Listing};

const DISK_NAME: &str = "Disk0";
const VOLUME: &str = "\\Device\\Disk0";
/// FILE_CORRUPT_ERROR answers one directory's listing goes on past (each one a damaged block
/// the driver moved past); more, and the listing stops there (a driver that does not move).
const MAX_DAMAGED_BLOCKS: usize = 4096;

/// The buffer of each NtQueryDirectoryFile: several queries for most directories, and still
/// room for the longest name (255 units) after FILE_NAMES_INFORMATION's 12 bytes.
const LIST_BUFFER: u32 = 1024;
const READ_CHUNK: u32 = 64 * 1024;
/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 42, METHOD_BUFFERED, FILE_ANY_ACCESS), as a program has it.
const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
/// MAXIMUM_REPARSE_DATA_BUFFER_SIZE.
const REPARSE_BUFFER: u32 = 16 * 1024;
/// FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_REPARSE_POINT | FILE_OPEN_FOR_BACKUP_INTENT.
const OPEN_OPTIONS: u32 = 0x0000_0020 | 0x0020_0000 | FILE_OPEN_FOR_BACKUP_INTENT;
/// FILE_DIRECTORY_FILE | FILE_SYNCHRONOUS_IO_NONALERT | FILE_OPEN_FOR_BACKUP_INTENT.
const ROOT_OPTIONS: u32 = 0x0000_0001 | 0x0000_0020 | FILE_OPEN_FOR_BACKUP_INTENT;
const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
const IO_REPARSE_TAG_LX_SYMLINK: u32 = 0xA000_001D;
/// SYMLINK_FLAG_RELATIVE.
const SYMLINK_RELATIVE: u32 = 1;

/// What a walk found.
pub struct WalkOutcome {
    /// The lines and the damaged paths.
    pub listing: Listing,
    /// The volume did not mount: the status of the root's open.
    pub unmounted: Option<NtStatus>,
    /// Faults of the machine rather than the image: verifier findings (leaks included), a
    /// driver that would not load, dismount or unload.
    pub machine_errors: Vec<String>,
    /// Entries listed (without `.` and `..`).
    pub entries: usize,
    /// IRPs the walk sent to rustfsd: CREATE, CLEANUP and CLOSE of every handle, every query,
    /// read and FSCTL; plus `paging_reads`.
    pub irps: u64,
    /// The paging reads the cache manager sent rustfsd for the walk's cached reads.
    pub paging_reads: u64,
}

/// Mounts `disk` as `\Device\Disk0` in a fresh model machine with rustfsd, walks it, and
/// takes everything down again.
pub fn walk(disk: DiskModel) -> WalkOutcome {
    let mut session = Session::new();
    session.set_trace_enabled(false);
    session.add_disk(DISK_NAME, disk);
    // WSL's symlink data carries the target's exact bytes; the NT form loses repeated and
    // trailing `/` (docs/names.md).
    session.set_driver_parameter("rustfsd", "LxSymlinks", 1);
    let pid = session.initial_process();
    session.set_token(pid, Token::administrator());
    session.enable_privilege(pid, Privilege::Backup);
    let mut walker = Walker {
        session,
        listing: Listing::default(),
        visited: HashSet::new(),
        stack: Vec::new(),
        entries: 0,
        too_many: false,
        irps: 0,
    };
    let mut outcome = WalkOutcome {
        listing: Listing::default(),
        unmounted: None,
        machine_errors: Vec::new(),
        entries: 0,
        irps: 0,
        paging_reads: 0,
    };
    match walker.session.load_driver(DriverDescriptor::rustfsd()) {
        Ok(()) => outcome.unmounted = walker.run().err(),
        Err(status) => outcome
            .machine_errors
            .push(format!("rustfsd did not load: {}", status_name(status))),
    }
    walker.close_pending();
    outcome.machine_errors.extend(walker.take_down());
    outcome.listing = walker.listing;
    outcome.entries = walker.entries;
    outcome.paging_reads = walker.session.cache_counters().0;
    outcome.irps = walker.irps + outcome.paging_reads;
    outcome
}

struct Walker {
    session: Session,
    listing: Listing,
    /// Inode numbers of the directories met so far.
    visited: HashSet<u64>,
    /// Directories still to list: path, open handle, depth.
    stack: Vec<(Vec<u8>, Handle, usize)>,
    entries: usize,
    /// The walk reached `walk_listing::MAX_ENTRIES` and stops.
    too_many: bool,
    irps: u64,
}

/// What FileStatLxInformation says of an open.
struct Stat {
    inode: u64,
    end_of_file: u64,
    file_type: Option<FileType>,
    mode: u32,
}

impl Walker {
    /// The walk; Err(status) when the volume does not mount.
    fn run(&mut self) -> Result<(), NtStatus> {
        let pid = self.session.initial_process();
        let mut request = CreateRequest::open(&format!("{VOLUME}\\"));
        request.options = ROOT_OPTIONS;
        self.irps += 1;
        let opened = self.session.nt_create_file(pid, &request);
        let Some(root) = opened.handle else {
            if !self.session.is_mounted(DISK_NAME) {
                return Err(opened.status);
            }
            self.listing.damage(b"", status_name(opened.status));
            return Ok(());
        };
        match self.stat(root) {
            Ok(stat) => {
                self.visited.insert(stat.inode);
                self.stack.push((Vec::new(), root, 0));
            }
            Err(status) => {
                self.listing.damage(b"", status_name(status));
                self.close(root);
            }
        }
        while let Some((path, dir, depth)) = self.stack.pop() {
            let names = self.list(dir, &path);
            for name in names {
                self.entries += 1;
                let p = walk_listing::child_path(&path, &disk_bytes(&name));
                match self.entry(dir, &name, &p, depth) {
                    Ok(line) => self.listing.line(p, line),
                    Err(reason) => self.listing.damage(&p, reason),
                }
            }
            self.close(dir);
            if self.too_many {
                self.listing.damage(b"", "too many entries");
                break;
            }
        }
        Ok(())
    }

    /// The names in directory `dir` (without `.` and `..`), in the order listed. A damaged
    /// directory block (STATUS_FILE_CORRUPT_ERROR: the driver moves past it) is reported once
    /// as damage of `path` and the listing goes on, as `rustfsd-inspect walk` lists the other
    /// blocks; any other failed query is reported and ends the listing with what came before.
    fn list(&mut self, dir: Handle, path: &[u8]) -> Vec<Vec<u16>> {
        let mut names: Vec<Vec<u16>> = Vec::new();
        let mut first: Option<Vec<u16>> = None;
        let mut restart = true;
        let mut damaged_blocks = 0;
        loop {
            let answer = self.query_names(dir, restart, false);
            restart = false;
            if answer.status == NtStatus::NO_MORE_FILES || answer.status == NtStatus::NO_SUCH_FILE {
                break;
            }
            if answer.status == NtStatus::FILE_CORRUPT_ERROR && damaged_blocks < MAX_DAMAGED_BLOCKS
            {
                if damaged_blocks == 0 {
                    self.listing.damage(path, status_name(answer.status));
                }
                damaged_blocks += 1;
                continue;
            }
            if answer.status != NtStatus::SUCCESS {
                if damaged_blocks == 0 {
                    self.listing.damage(path, status_name(answer.status));
                }
                return names;
            }
            let Some(batch) = parse_names(&answer.data) else {
                self.listing.damage(path, "malformed FileNamesInformation");
                return names;
            };
            for entry in batch {
                first.get_or_insert_with(|| entry.clone());
                if self.entries + names.len() >= walk_listing::MAX_ENTRIES {
                    self.too_many = true;
                    return names;
                }
                if entry != [0x2E] && entry != [0x2E, 0x2E] {
                    names.push(entry);
                }
            }
        }
        // A restarted scan, one entry: the first one again.
        if let Some(first) = first {
            let again = self.query_names(dir, true, true);
            let entry = parse_names(&again.data).and_then(|mut e| e.pop());
            let damage_first = damaged_blocks > 0 && again.status == NtStatus::FILE_CORRUPT_ERROR;
            if !damage_first
                && (again.status != NtStatus::SUCCESS || entry.as_ref() != Some(&first))
            {
                self.listing.damage(
                    path,
                    format!(
                        "a restarted scan gave {} first, not {}",
                        status_name(again.status),
                        String::from_utf16_lossy(&first)
                    ),
                );
            }
        }
        names
    }

    /// NtQueryDirectoryFile(FileNamesInformation) into a 1 KiB buffer.
    fn query_names(&mut self, dir: Handle, restart: bool, single: bool) -> IrpOutcome {
        self.irps += 1;
        self.session.query_directory_file(
            dir,
            FILE_NAMES_INFORMATION,
            LIST_BUFFER,
            None,
            restart,
            single,
        )
    }

    /// The line of entry `name` of directory `dir` at path `p`; a directory stays open on the
    /// stack.
    fn entry(
        &mut self,
        dir: Handle,
        name: &[u16],
        p: &[u8],
        depth: usize,
    ) -> Result<String, String> {
        let handle = self.open(dir, name).map_err(status_name)?;
        let stat = match self.stat(handle) {
            Ok(stat) => stat,
            Err(status) => {
                self.close(handle);
                return Err(status_name(status));
            }
        };
        let line = match stat.file_type {
            Some(FileType::Directory) => {
                let refused = if !self.visited.insert(stat.inode) {
                    Some(walk_listing::cycle_reason(stat.inode))
                } else if depth + 1 > walk_listing::MAX_DEPTH {
                    Some(walk_listing::TOO_DEEP.to_string())
                } else {
                    None
                };
                if let Some(reason) = refused {
                    self.close(handle);
                    return Err(reason);
                }
                self.stack.push((p.to_vec(), handle, depth + 1));
                return Ok(walk_listing::DIRECTORY_LINE.to_string());
            }
            Some(FileType::Regular) => self.content(handle, stat.end_of_file),
            Some(FileType::Symlink) => self
                .link_target(handle)
                .map(|t| walk_listing::symlink_line(&t)),
            Some(special) => Ok(walk_listing::special_line(special)),
            None => Err(format!("unknown file type (LxMode {:o})", stat.mode)),
        };
        self.close(handle);
        line
    }

    fn open(&mut self, dir: Handle, name: &[u16]) -> Result<Handle, NtStatus> {
        let mut request = CreateRequest::open(&String::from_utf16_lossy(name));
        request.root = Some(dir);
        request.options = OPEN_OPTIONS;
        self.irps += 1;
        let opened = self.session.nt_create_file(dir.pid, &request);
        match opened.handle {
            Some(handle) if opened.status == NtStatus::SUCCESS => Ok(handle),
            Some(handle) => {
                self.close(handle);
                Err(opened.status)
            }
            None => Err(opened.status),
        }
    }

    fn close(&mut self, handle: Handle) {
        // CLEANUP and CLOSE.
        self.irps += 2;
        self.session.close_handle(handle);
    }

    fn stat(&mut self, handle: Handle) -> Result<Stat, NtStatus> {
        self.irps += 1;
        let answer = self.session.query_information_file(
            handle,
            FILE_STAT_LX_INFORMATION,
            STAT_LX_SIZE as u32,
        );
        if answer.status != NtStatus::SUCCESS {
            return Err(answer.status);
        }
        let data = &answer.data;
        let (Some(inode), Some(end_of_file), Some(mode)) =
            (u64_at(data, 0), u64_at(data, 48), u32_at(data, 84))
        else {
            return Err(NtStatus::INFO_LENGTH_MISMATCH);
        };
        Ok(Stat {
            inode,
            end_of_file,
            file_type: u16::try_from(mode).ok().and_then(FileType::from_mode),
            mode,
        })
    }

    /// A regular file's line from its content, read to END_OF_FILE in 64 KiB chunks; the
    /// bytes read must be EndOfFile's.
    fn content(&mut self, handle: Handle, end_of_file: u64) -> Result<String, String> {
        let mut content = ContentHash::default();
        loop {
            self.irps += 1;
            let read = self
                .session
                .read_file(handle, Some(content.size()), READ_CHUNK);
            if read.status == NtStatus::END_OF_FILE
                || (read.status.is_success() && read.data.is_empty())
            {
                break;
            }
            if read.status != NtStatus::SUCCESS {
                return Err(status_name(read.status));
            }
            content.update(&read.data);
            if content.size() > end_of_file {
                break;
            }
        }
        if content.size() != end_of_file {
            return Err(format!(
                "read {} bytes, EndOfFile is {end_of_file}",
                content.size()
            ));
        }
        Ok(content.line())
    }

    /// A symlink's target bytes from FSCTL_GET_REPARSE_POINT.
    fn link_target(&mut self, handle: Handle) -> Result<Vec<u8>, String> {
        self.irps += 1;
        let answer =
            self.session
                .fs_control_file(handle, FSCTL_GET_REPARSE_POINT, &[], REPARSE_BUFFER);
        if answer.status != NtStatus::SUCCESS {
            return Err(status_name(answer.status));
        }
        reparse_target(&answer.data).ok_or_else(|| "malformed reparse buffer".to_string())
    }

    /// Closes the handles of directories not listed (a walk cut short).
    fn close_pending(&mut self) {
        while let Some((_, handle, _)) = self.stack.pop() {
            self.close(handle);
        }
    }

    /// Dismount, let the worker drain, stop rustfsd the supported way and unload it; every
    /// verifier finding is an error.
    fn take_down(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        let session = &mut self.session;
        if session.is_mounted(DISK_NAME) {
            let pid = session.initial_process();
            let opened = session.nt_create_file(pid, &CreateRequest::open(VOLUME));
            match opened.handle {
                Some(volume) => {
                    let status = session.dismount(volume);
                    if status != NtStatus::SUCCESS {
                        errors.push(format!("dismount: {}", status_name(status)));
                    }
                    session.close_handle(volume);
                }
                None => errors.push(format!(
                    "volume open for the dismount: {}",
                    status_name(opened.status)
                )),
            }
        }
        session.run_worker();
        if session.is_loaded("rustfsd") {
            let status = session.stop_file_system("rustfsd");
            if status != NtStatus::SUCCESS {
                errors.push(format!("stopping rustfsd: {}", status_name(status)));
            }
            if session.is_loaded("rustfsd") {
                errors.push("rustfsd did not unload".to_string());
            }
        }
        errors.extend(
            session
                .findings()
                .iter()
                .map(|finding| format!("verifier: {finding}")),
        );
        errors
    }
}

/// The disk bytes of a listed name: `name::to_disk`, or, for a name it refuses (a corrupt
/// directory's `/` or NUL), each escape unit as its byte and every other character as UTF-8.
fn disk_bytes(name: &[u16]) -> Vec<u8> {
    let mut bytes = Vec::new();
    if name::to_disk(name, &mut bytes).is_ok() {
        return bytes;
    }
    for c in char::decode_utf16(name.iter().copied()) {
        match c {
            Ok(c) if (0xF000..=0xF0FF).contains(&u32::from(c)) => {
                bytes.push((u32::from(c) - 0xF000) as u8);
            }
            Ok(c) => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            Err(_) => bytes.extend_from_slice("\u{FFFD}".as_bytes()),
        }
    }
    bytes
}

/// The names of a FileNamesInformation buffer; None if an entry runs past the buffer.
fn parse_names(data: &[u8]) -> Option<Vec<Vec<u16>>> {
    let mut names = Vec::new();
    let mut at = 0usize;
    loop {
        let entry = data.get(at..)?;
        let next = u32_at(entry, 0)? as usize;
        let length = u32_at(entry, 8)? as usize;
        let bytes = entry.get(12..12usize.checked_add(length)?)?;
        names.push(
            bytes
                .chunks_exact(2)
                .map(|unit| u16::from_le_bytes([unit[0], unit[1]]))
                .collect(),
        );
        if next == 0 {
            return Some(names);
        }
        at = at.checked_add(next)?;
    }
}

/// The target bytes of a symlink's REPARSE_DATA_BUFFER: an IO_REPARSE_TAG_LX_SYMLINK buffer
/// holds them as they are (a version ULONG, then the UTF-8 bytes); an IO_REPARSE_TAG_SYMLINK
/// one holds the NT form of docs/names.md (`\` separators, escaped components, a rooted
/// target for an absolute one), turned back here into `/` and disk bytes. That form has lost
/// repeated and trailing `/`, so such targets come back without them.
fn reparse_target(data: &[u8]) -> Option<Vec<u8>> {
    let tag = u32_at(data, 0)?;
    let length = usize::from(u16_at(data, 4)?);
    let body = data.get(8..8 + length)?;
    match tag {
        IO_REPARSE_TAG_LX_SYMLINK => Some(body.get(4..)?.to_vec()),
        IO_REPARSE_TAG_SYMLINK => {
            let offset = usize::from(u16_at(body, 0)?);
            let bytes = usize::from(u16_at(body, 2)?);
            let flags = u32_at(body, 8)?;
            let path = body.get(12 + offset..12 + offset + bytes)?;
            let units: Vec<u16> = path
                .chunks_exact(2)
                .map(|unit| u16::from_le_bytes([unit[0], unit[1]]))
                .collect();
            let mut target = Vec::new();
            for (index, component) in units.split(|&u| u == u16::from(b'\\')).enumerate() {
                if index > 0 {
                    target.push(b'/');
                }
                if !component.is_empty() {
                    target.extend_from_slice(&disk_bytes(component));
                }
            }
            // Only a relative target is written by rustfsd; keep an absolute one visible.
            (flags & SYMLINK_RELATIVE != 0).then_some(target)
        }
        _ => None,
    }
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}
