//! Scenario scripts: one step per line, each with its expected NTSTATUS and data digest.
//! The format is documented in docs/scenarios.md.

use std::boxed::Box;
use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::vec::Vec;

use sha2::{Digest, Sha256};

use super::disk::ReadFault;
use super::driver::DriverDescriptor;
use super::io::{self, IrpOutcome};
use super::report::{self, Outcome};
use super::script_line;
use super::session::{CreateRequest, Handle, PendingCreate, Pid, Session};
use crate::kernel::NtStatus;
use crate::kernel::model::preempt::Job;
use crate::kernel::model::section::SectionKind;

/// What a step must produce.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expect {
    /// The step's status must be one of these; empty: any status (`=> any`, or no `=>`).
    pub status: Vec<NtStatus>,
    /// A prefix (at least 8 hex digits) of the SHA-256 of the returned data.
    pub sha256: Option<String>,
    pub information: Option<usize>,
}

/// An argument of a step: `NAME=VALUE` (a bare `=` after a name), or positional.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Arg {
    Positional(String),
    Named(String, String),
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Step {
    pub line: usize,
    /// `@tN` prefix: the modelled user thread that runs the step (the scheduler interleaves).
    pub thread: u32,
    pub verb: String,
    pub args: Vec<Arg>,
    pub expect: Expect,
}

const STATUS_NAMES: &[(&str, NtStatus)] = &[
    ("SUCCESS", NtStatus::SUCCESS),
    ("PENDING", NtStatus::PENDING),
    ("REPARSE", NtStatus::REPARSE),
    ("NOTIFY_CLEANUP", NtStatus::NOTIFY_CLEANUP),
    ("CANCELLED", NtStatus::CANCELLED),
    ("OPLOCK_NOT_GRANTED", NtStatus::OPLOCK_NOT_GRANTED),
    ("INVALID_OPLOCK_PROTOCOL", NtStatus::INVALID_OPLOCK_PROTOCOL),
    (
        "OPLOCK_BREAK_IN_PROGRESS",
        NtStatus::OPLOCK_BREAK_IN_PROGRESS,
    ),
    ("BUFFER_OVERFLOW", NtStatus::BUFFER_OVERFLOW),
    ("NO_MORE_FILES", NtStatus::NO_MORE_FILES),
    ("UNSUCCESSFUL", NtStatus::UNSUCCESSFUL),
    ("INVALID_INFO_CLASS", NtStatus::INVALID_INFO_CLASS),
    ("INFO_LENGTH_MISMATCH", NtStatus::INFO_LENGTH_MISMATCH),
    ("NO_SUCH_FILE", NtStatus::NO_SUCH_FILE),
    ("INVALID_USER_BUFFER", NtStatus::INVALID_USER_BUFFER),
    ("NOT_IMPLEMENTED", NtStatus::NOT_IMPLEMENTED),
    ("INVALID_HANDLE", NtStatus::INVALID_HANDLE),
    ("FILE_CLOSED", NtStatus::FILE_CLOSED),
    ("INVALID_PARAMETER", NtStatus::INVALID_PARAMETER),
    ("INVALID_DEVICE_REQUEST", NtStatus::INVALID_DEVICE_REQUEST),
    ("END_OF_FILE", NtStatus::END_OF_FILE),
    ("ACCESS_DENIED", NtStatus::ACCESS_DENIED),
    ("BUFFER_TOO_SMALL", NtStatus::BUFFER_TOO_SMALL),
    ("OBJECT_NAME_INVALID", NtStatus::OBJECT_NAME_INVALID),
    ("OBJECT_NAME_NOT_FOUND", NtStatus::OBJECT_NAME_NOT_FOUND),
    ("OBJECT_PATH_NOT_FOUND", NtStatus::OBJECT_PATH_NOT_FOUND),
    ("SHARING_VIOLATION", NtStatus::SHARING_VIOLATION),
    ("INSUFFICIENT_RESOURCES", NtStatus::INSUFFICIENT_RESOURCES),
    ("MEDIA_WRITE_PROTECTED", NtStatus::MEDIA_WRITE_PROTECTED),
    ("FILE_IS_A_DIRECTORY", NtStatus::FILE_IS_A_DIRECTORY),
    ("NOT_A_DIRECTORY", NtStatus::NOT_A_DIRECTORY),
    ("FILE_CORRUPT_ERROR", NtStatus::FILE_CORRUPT_ERROR),
    ("DISK_CORRUPT_ERROR", NtStatus::DISK_CORRUPT_ERROR),
    ("UNRECOGNIZED_VOLUME", NtStatus::UNRECOGNIZED_VOLUME),
    ("VOLUME_DISMOUNTED", NtStatus::VOLUME_DISMOUNTED),
    ("DEVICE_BUSY", NtStatus::DEVICE_BUSY),
    ("DEVICE_DATA_ERROR", NtStatus::DEVICE_DATA_ERROR),
    ("NOT_A_REPARSE_POINT", NtStatus::NOT_A_REPARSE_POINT),
    ("WRONG_VOLUME", NtStatus::WRONG_VOLUME),
    ("NO_SUCH_DEVICE", NtStatus::NO_SUCH_DEVICE),
    ("NOT_SUPPORTED", NtStatus::NOT_SUPPORTED),
    ("DEVICE_DOES_NOT_EXIST", NtStatus::DEVICE_DOES_NOT_EXIST),
    ("ACCESS_VIOLATION", NtStatus::ACCESS_VIOLATION),
    (
        "INVALID_FILE_FOR_SECTION",
        NtStatus::INVALID_FILE_FOR_SECTION,
    ),
    ("MAPPED_FILE_SIZE_ZERO", NtStatus::MAPPED_FILE_SIZE_ZERO),
    ("INVALID_IMAGE_NOT_MZ", NtStatus::INVALID_IMAGE_NOT_MZ),
    ("FILE_LOCK_CONFLICT", NtStatus::FILE_LOCK_CONFLICT),
    ("LOCK_NOT_GRANTED", NtStatus::LOCK_NOT_GRANTED),
    ("RANGE_NOT_LOCKED", NtStatus::RANGE_NOT_LOCKED),
];

/// Parses `SUCCESS`, `STATUS_SUCCESS` or `0xC0000010`.
pub fn parse_status(text: &str) -> Option<NtStatus> {
    let name = text.strip_prefix("STATUS_").unwrap_or(text);
    if let Some((_, status)) = STATUS_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Some(*status);
    }
    parse_number(text).map(|n| NtStatus(n as u32 as i32))
}

/// The name of a status, or its hex value.
pub fn status_name(status: NtStatus) -> String {
    match STATUS_NAMES.iter().find(|(_, s)| *s == status) {
        Some((name, _)) => String::from(*name),
        None => format!("{:#010x}", status.0 as u32),
    }
}

pub fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

/// `in=` bytes: hex digits in pairs (`01000000` is the little-endian ULONG 1).
pub fn parse_hex_bytes(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every verb `Runner` executes: `parse` refuses any other. (A new verb goes here too.)
pub const VERBS: &[&str] = &[
    "load",
    "unload",
    "nt-unload",
    "process",
    "token",
    "privilege",
    "terminate",
    "create",
    "open",
    "open-held",
    "send-held",
    "close",
    "dup",
    "read",
    "query-info",
    "query-dir",
    "query-volume",
    "fsctl",
    "query-security",
    "set-security",
    "lock",
    "unlock",
    "unlock-all",
    "query-ea",
    "set-ea",
    "dismount",
    "notify",
    "cancel",
    "await",
    "oplock",
    "ack",
    "sysref",
    "release-later",
    "filter-contexts",
    "filter-hold",
    "run-worker",
    "fault",
    "shutdown",
    "verify",
    "pnp",
    "param",
    "expect-findings",
    "create-section",
    "close-section",
    "map-view",
    "unmap-view",
    "touch",
    "trim",
    "purge",
    "read-nowait",
    "mdl-read",
    "mdl-read-complete",
];

/// The FSCTL an `oplock H level=1|2|batch|filter|notify` or `ack H [no2|close-pending]`
/// step sends.
fn oplock_fsctl(
    verb: &str,
    positional: &[&str],
    named: &BTreeMap<&str, &str>,
) -> Result<u32, String> {
    use crate::kernel::request::{
        FSCTL_OPBATCH_ACK_CLOSE_PENDING, FSCTL_OPLOCK_BREAK_ACK_NO_2,
        FSCTL_OPLOCK_BREAK_ACKNOWLEDGE, FSCTL_OPLOCK_BREAK_NOTIFY, FSCTL_REQUEST_BATCH_OPLOCK,
        FSCTL_REQUEST_FILTER_OPLOCK, FSCTL_REQUEST_OPLOCK_LEVEL_1, FSCTL_REQUEST_OPLOCK_LEVEL_2,
    };
    if verb == "ack" {
        return Ok(if positional.contains(&"no2") {
            FSCTL_OPLOCK_BREAK_ACK_NO_2
        } else if positional.contains(&"close-pending") {
            FSCTL_OPBATCH_ACK_CLOSE_PENDING
        } else {
            FSCTL_OPLOCK_BREAK_ACKNOWLEDGE
        });
    }
    match named.get("level").copied() {
        Some("1") => Ok(FSCTL_REQUEST_OPLOCK_LEVEL_1),
        Some("2") => Ok(FSCTL_REQUEST_OPLOCK_LEVEL_2),
        Some("batch") => Ok(FSCTL_REQUEST_BATCH_OPLOCK),
        Some("filter") => Ok(FSCTL_REQUEST_FILTER_OPLOCK),
        Some("notify") => Ok(FSCTL_OPLOCK_BREAK_NOTIFY),
        other => Err(format!(
            "oplock needs level=1|2|batch|filter|notify, not {other:?}"
        )),
    }
}

/// Parses a script. Errors name the line.
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if let Some(step) = parse_line(raw, line).map_err(|e| format!("line {line}: {e}"))? {
            steps.push(step);
        }
    }
    Ok(steps)
}

/// One line: None if it holds only blanks and a comment.
fn parse_line(raw: &str, line: usize) -> Result<Option<Step>, String> {
    let split = script_line::split(raw)?;
    let mut words = split.action.into_iter().peekable();
    let mut thread = 0;
    if let Some(first) = words.peek()
        && !first.quoted
        && let Some(number) = first.text.strip_prefix("@t")
    {
        thread = number
            .parse()
            .map_err(|_| format!("bad thread {}", first.text))?;
        words.next();
    }
    let Some(verb) = words.next() else {
        if split.expectation.is_some() || thread != 0 {
            return Err(String::from("no verb"));
        }
        return Ok(None);
    };
    if verb.quoted || !VERBS.contains(&verb.text.as_str()) {
        return Err(format!("unknown verb {}", verb.text));
    }
    let args = words.map(argument).collect::<Result<Vec<Arg>, String>>()?;
    let expect = match split.expectation {
        Some(words) => parse_expectation(&words)?,
        None => Expect::default(),
    };
    Ok(Some(Step {
        line,
        thread,
        verb: verb.text,
        args,
        expect,
    }))
}

fn argument(word: script_line::Word) -> Result<Arg, String> {
    match word.bare_equals {
        Some(0) => Err(format!("argument {} has no name before `=`", word.text)),
        Some(at) => {
            let (name, value) = word.text.split_at(at);
            Ok(Arg::Named(String::from(name), String::from(&value[1..])))
        }
        None => Ok(Arg::Positional(word.text)),
    }
}

/// `STATUS[|STATUS...]` or `any`, then `info=N` and `sha256=HEX` in any order.
fn parse_expectation(words: &[script_line::Word]) -> Result<Expect, String> {
    let mut expect = Expect::default();
    for (position, word) in words.iter().enumerate() {
        let text = word.text.as_str();
        if word.quoted {
            return Err(format!("quoted expectation \"{text}\""));
        }
        if let Some(hex) = text.strip_prefix("sha256=") {
            if hex.len() < 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(String::from("sha256 prefix needs 8+ hex digits"));
            }
            expect.sha256 = Some(hex.to_ascii_lowercase());
        } else if let Some(info) = text.strip_prefix("info=") {
            let value = parse_number(info).ok_or(format!("bad info {info}"))?;
            expect.information =
                Some(usize::try_from(value).map_err(|_| format!("bad info {info}"))?);
        } else if position == 0 {
            if !text.eq_ignore_ascii_case("any") {
                for name in text.split('|') {
                    let status = parse_status(name).ok_or(format!("unknown status {name}"))?;
                    expect.status.push(status);
                }
            }
        } else {
            return Err(format!("unknown expectation {text}"));
        }
    }
    Ok(expect)
}

/// The most severe status (error, then warning, then informational, then success); the first
/// of equal severity. SUCCESS for none.
pub fn worst_status(statuses: &[NtStatus]) -> NtStatus {
    let severity = |status: &NtStatus| (status.0 as u32) >> 30;
    let mut worst = NtStatus::SUCCESS;
    for status in statuses {
        if severity(status) > severity(&worst) {
            worst = *status;
        }
    }
    worst
}

/// The result of one step.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StepReport {
    pub line: usize,
    pub text: String,
    pub ok: bool,
}

/// A step whose request is inside the driver on its own thread (`Runner::start_step`).
pub struct RunningStep {
    step: Step,
    job: Job<IrpOutcome>,
    finish: Finish,
    findings_before: usize,
}

impl RunningStep {
    pub fn job(&self) -> &Job<IrpOutcome> {
        &self.job
    }

    pub fn line(&self) -> usize {
        self.step.line
    }
}

/// What the I/O manager does with a job's result.
enum Finish {
    /// IRP_MJ_CREATE returned: a handle, or the FILE_OBJECT freed.
    Create {
        name: String,
        pending: PendingCreate,
    },
    /// Only the status matters (close, dismount).
    StatusOnly,
    /// The status, Information and the returned buffer.
    Data,
    /// The status and Information (an awaited completion).
    Information,
}

enum Started {
    Running(Job<IrpOutcome>, Finish),
    /// Answered before any IRP was sent.
    Done(Outcome),
    /// Not a request that runs as a job.
    Atomic,
}

/// Runs steps against a session, keeping the script's handle and process names.
pub struct Runner {
    pub session: Session,
    drivers: Vec<DriverDescriptor>,
    handles: BTreeMap<String, Handle>,
    pids: BTreeMap<String, Pid>,
    system_refs: BTreeMap<String, super::session::SystemRef>,
    /// Opens held between their VPB check and their CREATE (`open-held`, `send-held`).
    held: BTreeMap<String, super::session::PendingCreate>,
    /// The FILE_OBJECT each `notify` was sent on, by handle name, for `await`.
    notified: BTreeMap<String, crate::kernel::model::slab::ObjId>,
    /// MDL chains `mdl-read` handed out, by name, for `mdl-read-complete`.
    chains: BTreeMap<String, u64>,
}

pub fn key_values(args: &[Arg]) -> (Vec<&str>, BTreeMap<&str, &str>) {
    let mut positional = Vec::new();
    let mut named = BTreeMap::new();
    for arg in args {
        match arg {
            Arg::Named(k, v) => {
                named.insert(k.as_str(), v.as_str());
            }
            Arg::Positional(text) => positional.push(text.as_str()),
        }
    }
    (positional, named)
}

/// What a script's handle name holds after a failed open or dup, or a close: no handle, so
/// using it fails with STATUS_INVALID_HANDLE as NtClose(NULL) does.
fn no_handle(pid: Pid) -> Handle {
    Handle { pid, value: 0 }
}

impl Runner {
    /// `drivers`: what `load NAME` can load.
    pub fn new(session: Session, drivers: Vec<DriverDescriptor>) -> Runner {
        let mut pids = BTreeMap::new();
        pids.insert(String::from("p0"), session.initial_process());
        Runner {
            session,
            drivers,
            handles: BTreeMap::new(),
            pids,
            system_refs: BTreeMap::new(),
            held: BTreeMap::new(),
            notified: BTreeMap::new(),
            chains: BTreeMap::new(),
        }
    }

    pub fn handle(&self, name: &str) -> Option<Handle> {
        self.handles.get(name).copied()
    }

    fn pid(&self, named: &BTreeMap<&str, &str>) -> Result<Pid, String> {
        let name = named.get("pid").copied().unwrap_or("p0");
        self.pids
            .get(name)
            .copied()
            .ok_or(format!("unknown process {name}"))
    }

    fn number(named: &BTreeMap<&str, &str>, key: &str, default: u64) -> Result<u64, String> {
        match named.get(key) {
            Some(text) => parse_number(text).ok_or(format!("bad {key}={text}")),
            None => Ok(default),
        }
    }

    fn handle_arg(&self, positional: &[&str], index: usize) -> Result<Handle, String> {
        let name = positional.get(index).ok_or("missing handle name")?;
        self.handle(name).ok_or(format!("unknown handle {name}"))
    }

    /// NtCreateFile's parameters from a `create`/`open` line: the handle name, then the path.
    fn create_request(
        &self,
        positional: &[&str],
        named: &BTreeMap<&str, &str>,
    ) -> Result<(Pid, CreateRequest), String> {
        let path = positional.get(1).copied().unwrap_or("");
        let pid = self.pid(named)?;
        let mut request = CreateRequest::open(path);
        request.desired_access = Self::number(named, "access", 0x0012_0089)? as u32;
        request.share_access = Self::number(named, "share", 7)? as u16;
        request.disposition = Self::number(named, "disposition", 1)? as u32;
        request.options = Self::number(named, "options", 0x20)? as u32;
        request.file_attributes = Self::number(named, "attributes", 0)? as u16;
        request.allocation_size = Self::number(named, "alloc", 0)?;
        request.case_insensitive = !positional.contains(&"case-sensitive");
        if positional.contains(&"backup") {
            request.options |= crate::kernel::FILE_OPEN_FOR_BACKUP_INTENT;
        }
        if let Some(id) = named.get("id") {
            request.file_id = Some(parse_number(id).ok_or(format!("bad id={id}"))?);
            request.options |= crate::kernel::FILE_OPEN_BY_FILE_ID;
        }
        if let Some(root) = named.get("root") {
            request.root = Some(self.handle(root).ok_or(format!("unknown handle {root}"))?);
        }
        Ok((pid, request))
    }

    fn execute(&mut self, step: &Step) -> Result<Outcome, String> {
        let (positional, named) = key_values(&step.args);
        let s = &mut self.session;
        let outcome = match step.verb.as_str() {
            "load" => {
                let name = positional.first().ok_or("load needs a driver name")?;
                let descriptor = self
                    .drivers
                    .iter()
                    .find(|d| d.name == *name)
                    .copied()
                    .ok_or(format!("no driver named {name}"))?;
                let status = match s.load_driver(descriptor) {
                    Ok(()) => NtStatus::SUCCESS,
                    Err(status) => status,
                };
                Outcome::status(status)
            }
            "unload" => {
                let name = positional.first().ok_or("unload needs a driver name")?;
                Outcome::status(s.stop_file_system(name))
            }
            "nt-unload" => {
                let name = positional.first().ok_or("nt-unload needs a driver name")?;
                Outcome::status(s.unload_driver(name))
            }
            "process" => {
                let name = positional.first().ok_or("process needs a name")?;
                let pid = s.create_process();
                self.pids.insert(String::from(*name), pid);
                Outcome::status(NtStatus::SUCCESS)
            }
            "token" | "privilege" => {
                let name = positional.first().ok_or("token needs a process name")?;
                let pid = *self
                    .pids
                    .get(*name)
                    .ok_or(format!("unknown process {name}"))?;
                let words = positional.get(1..).unwrap_or_default();
                let status = if step.verb == "token" {
                    let token = super::security::script_token(words, &named)?;
                    self.session.set_token(pid, token)
                } else {
                    let privilege = super::security::script_privilege(words)?;
                    self.session.enable_privilege(pid, privilege)
                };
                Outcome::status(status)
            }
            "terminate" => {
                let name = positional.first().ok_or("terminate needs a process name")?;
                let pid = *self
                    .pids
                    .get(*name)
                    .ok_or(format!("unknown process {name}"))?;
                Outcome::status(self.session.terminate_process(pid))
            }
            "create" | "open" | "open-held" => {
                let handle_name = positional.first().ok_or("create needs a handle name")?;
                let (pid, request) = self.create_request(&positional, &named)?;
                let result = if step.verb == "open-held" {
                    match self.session.begin_create(pid, &request) {
                        Ok(pending) => {
                            self.held.insert(String::from(*handle_name), pending);
                            return Ok(Outcome::status(NtStatus::SUCCESS));
                        }
                        Err(failed) => failed,
                    }
                } else {
                    self.session.nt_create_file(pid, &request)
                };
                let handle = result.handle.unwrap_or(no_handle(pid));
                self.handles.insert(String::from(*handle_name), handle);
                Outcome {
                    status: result.status,
                    information: Some(result.information),
                    data: None,
                }
            }
            "send-held" => {
                let name = positional
                    .first()
                    .ok_or("send-held needs a held open's name")?;
                let pending = self
                    .held
                    .remove(*name)
                    .ok_or(format!("no held open {name}"))?;
                let result = self.session.finish_create(pending);
                let pid = result.handle.map_or(0, |handle| handle.pid);
                let handle = result.handle.unwrap_or(no_handle(pid));
                self.handles.insert(String::from(*name), handle);
                Outcome {
                    status: result.status,
                    information: Some(result.information),
                    data: None,
                }
            }
            "pnp" => {
                let disk = positional.first().ok_or("pnp needs a disk name")?;
                let status = match positional.get(1).copied() {
                    Some("query-remove") => self.session.query_remove_disk(disk),
                    Some("cancel-remove") => self.session.cancel_remove_disk(disk),
                    Some("remove") => self.session.remove_disk(disk),
                    Some("surprise-remove") => self.session.surprise_remove_disk(disk),
                    _ => {
                        return Err(String::from(
                            "pnp needs query-remove, cancel-remove, remove or surprise-remove",
                        ));
                    }
                };
                Outcome::status(status)
            }
            "close" => {
                let handle = self.handle_arg(&positional, 0)?;
                if let Some(name) = positional.first() {
                    self.handles
                        .insert(String::from(*name), no_handle(handle.pid));
                }
                Outcome::status(self.session.close_handle(handle))
            }
            "dup" => {
                let handle = self.handle_arg(&positional, 0)?;
                let new_name = positional.get(1).ok_or("dup needs a new handle name")?;
                let pid = self.pid(&named)?;
                match self.session.duplicate_handle(handle, pid) {
                    Ok(new) => {
                        self.handles.insert(String::from(*new_name), new);
                        Outcome::status(NtStatus::SUCCESS)
                    }
                    Err(status) => {
                        self.handles.insert(String::from(*new_name), no_handle(pid));
                        Outcome::status(status)
                    }
                }
            }
            "read" => {
                let handle = self.handle_arg(&positional, 0)?;
                let offset = match named.get("offset") {
                    Some(text) => Some(parse_number(text).ok_or(format!("bad offset {text}"))?),
                    None => None,
                };
                let length = Self::number(&named, "len", 512)? as u32;
                let io = self.session.read_file(handle, offset, length);
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: Some(io.data),
                }
            }
            "query-info" | "query-dir" | "query-volume" | "fsctl" => {
                let handle = self.handle_arg(&positional, 0)?;
                let class = Self::number(&named, "class", 1)? as u32;
                let length = Self::number(&named, "len", 4096)? as u32;
                let io = match step.verb.as_str() {
                    "query-info" => self.session.query_information_file(handle, class, length),
                    "query-volume" => self
                        .session
                        .query_volume_information_file(handle, class, length),
                    "query-dir" => self.session.query_directory_file(
                        handle,
                        class,
                        length,
                        named.get("pattern").copied(),
                        positional.contains(&"restart"),
                        positional.contains(&"single"),
                    ),
                    _ => {
                        let code = Self::number(&named, "code", 0)? as u32;
                        let length = Self::number(&named, "len", 0)? as u32;
                        let input = match named.get("in") {
                            Some(hex) => parse_hex_bytes(hex)
                                .ok_or_else(|| format!("bad input bytes {hex}"))?,
                            None => Vec::new(),
                        };
                        self.session.fs_control_file(handle, code, &input, length)
                    }
                };
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: Some(io.data),
                }
            }
            "notify" => {
                let handle = self.handle_arg(&positional, 0)?;
                let filter = Self::number(&named, "filter", 0x17)? as u32;
                if let (Some(name), Some(file_object)) =
                    (positional.first(), self.session.file_object(handle).ok())
                {
                    self.notified.insert(String::from(*name), file_object);
                }
                let io = self.session.notify_change_directory(
                    handle,
                    filter,
                    positional.contains(&"subtree"),
                );
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: None,
                }
            }
            "cancel" => {
                let handle = self.handle_arg(&positional, 0)?;
                Outcome::status(self.session.cancel_io(handle))
            }
            "oplock" | "ack" => {
                let handle = self.handle_arg(&positional, 0)?;
                let code = oplock_fsctl(&step.verb, &positional, &named)?;
                if let (Some(name), Some(file_object)) =
                    (positional.first(), self.session.file_object(handle).ok())
                {
                    self.notified.insert(String::from(*name), file_object);
                }
                let io = self.session.fs_control_file(handle, code, &[], 0);
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: None,
                }
            }
            "await" => {
                let name = positional.first().ok_or("await needs a handle name")?;
                let file_object = *self
                    .notified
                    .get(*name)
                    .ok_or(format!("no notify or oplock request was sent on {name}"))?;
                let (status, information) = self
                    .session
                    .take_completion_with_information(file_object)
                    .unwrap_or((NtStatus::PENDING, 0));
                Outcome {
                    status,
                    information: Some(information),
                    data: None,
                }
            }
            "query-security" => {
                let handle = self.handle_arg(&positional, 0)?;
                let information = Self::number(&named, "info", 7)? as u32;
                let length = Self::number(&named, "len", 4096)? as u32;
                let bad_buffer = positional.contains(&"bad-buffer");
                let io = self
                    .session
                    .query_security(handle, information, length, bad_buffer);
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: Some(io.data),
                }
            }
            "lock" => {
                let handle = self.handle_arg(&positional, 0)?;
                let lock = super::locks::LockRequest {
                    offset: Self::number(&named, "offset", 0)?,
                    length: Self::number(&named, "len", 1)?,
                    key: Self::number(&named, "key", 0)? as u32,
                    exclusive: !positional.contains(&"shared"),
                    fail_immediately: !positional.contains(&"wait"),
                };
                Outcome::status(self.session.lock_file(handle, lock))
            }
            "unlock" => {
                let handle = self.handle_arg(&positional, 0)?;
                let offset = Self::number(&named, "offset", 0)?;
                let length = Self::number(&named, "len", 1)?;
                let key = Self::number(&named, "key", 0)? as u32;
                Outcome::status(self.session.unlock_file(handle, offset, length, key))
            }
            "unlock-all" => {
                let handle = self.handle_arg(&positional, 0)?;
                let key = match named.get("key") {
                    Some(text) => Some(parse_number(text).ok_or(format!("bad key {text}"))? as u32),
                    None => None,
                };
                Outcome::status(self.session.unlock_all(handle, key))
            }
            "query-ea" => {
                let handle = self.handle_arg(&positional, 0)?;
                let length = Self::number(&named, "len", 4096)? as u32;
                let index = match named.get("index") {
                    Some(text) => {
                        Some(parse_number(text).ok_or(format!("bad index {text}"))? as u32)
                    }
                    None => None,
                };
                let query = super::ea::EaQuery {
                    list: named.get("names").map(|names| {
                        super::ea::get_ea_list(&names.split(',').collect::<Vec<&str>>())
                    }),
                    index,
                    restart: positional.contains(&"restart"),
                    single: positional.contains(&"single"),
                };
                let io = self.session.query_ea(handle, length, &query);
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: Some(io.data),
                }
            }
            "set-ea" => {
                let handle = self.handle_arg(&positional, 0)?;
                Outcome::status(self.session.set_ea(handle))
            }
            "set-security" => {
                let handle = self.handle_arg(&positional, 0)?;
                let information = Self::number(&named, "info", 7)? as u32;
                Outcome::status(self.session.set_security(handle, information))
            }
            "dismount" => {
                let handle = self.handle_arg(&positional, 0)?;
                Outcome::status(self.session.dismount(handle))
            }
            "sysref" => {
                let name = positional.first().ok_or("sysref needs a reference name")?;
                let handle = self.handle_arg(&positional, 1)?;
                match self.session.system_reference(handle) {
                    Ok(reference) => {
                        self.system_refs.insert(String::from(*name), reference);
                        Outcome::status(NtStatus::SUCCESS)
                    }
                    Err(status) => Outcome::status(status),
                }
            }
            "release-later" => {
                let name = positional
                    .first()
                    .ok_or("release-later needs a reference name")?;
                let reference = self
                    .system_refs
                    .remove(*name)
                    .ok_or(format!("unknown reference {name}"))?;
                self.session.release_later(reference);
                Outcome::status(NtStatus::SUCCESS)
            }
            "filter-contexts" => {
                self.session
                    .set_filter_attach_contexts(positional.first() != Some(&"off"));
                Outcome::status(NtStatus::SUCCESS)
            }
            "filter-hold" => {
                let stream = self.handle_arg(&positional, 0)?;
                let held = self.handle_arg(&positional, 1)?;
                let status = match self.session.filter_hold_reference(stream, held) {
                    Ok(()) => NtStatus::SUCCESS,
                    Err(status) => status,
                };
                Outcome::status(status)
            }
            "run-worker" => {
                self.session.run_worker();
                Outcome::status(NtStatus::SUCCESS)
            }
            "fault" => {
                let disk_name = positional.first().ok_or("fault needs a disk name")?;
                let disk = self
                    .session
                    .disk(disk_name)
                    .ok_or(format!("no disk {disk_name}"))?;
                match positional.get(1).copied() {
                    Some("read-error") => {
                        let status = named.get("status").copied().unwrap_or("DEVICE_DATA_ERROR");
                        disk.inject_read_error(ReadFault {
                            offset: Self::number(&named, "offset", 0)?,
                            length: Self::number(&named, "len", u64::MAX)?,
                            status: parse_status(status).ok_or(format!("bad status {status}"))?,
                        });
                    }
                    Some("short-read") => {
                        disk.set_short_read(Some(Self::number(&named, "max", 0)? as usize))
                    }
                    Some("latency") => disk.set_latency(Self::number(&named, "ticks", 1)?),
                    Some("clear") => disk.clear_faults(),
                    other => return Err(format!("unknown fault {other:?}")),
                }
                Outcome::status(NtStatus::SUCCESS)
            }
            "shutdown" => {
                let statuses = self.session.shutdown();
                Outcome {
                    status: worst_status(&statuses),
                    information: Some(statuses.len()),
                    data: None,
                }
            }
            "verify" => {
                let disk = positional.first().ok_or("verify needs a disk name")?;
                Outcome::status(self.session.verify_volume(disk))
            }
            "param" => {
                let driver = positional.first().ok_or("param needs a driver name")?;
                if named.is_empty() {
                    return Err(String::from("param needs NAME=VALUE"));
                }
                for (name, value) in &named {
                    let value = parse_number(value).ok_or(format!("bad value {name}={value}"))?;
                    let value = u32::try_from(value).map_err(|_| format!("{name} exceeds u32"))?;
                    self.session.set_driver_parameter(driver, name, value);
                }
                Outcome::status(NtStatus::SUCCESS)
            }
            "expect-findings" => {
                let expected = positional
                    .first()
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or("expect-findings needs a count")?;
                let found = self.session.take_findings().len();
                if found != expected {
                    return Err(format!(
                        "expected {expected} verifier findings, found {found}"
                    ));
                }
                Outcome::status(NtStatus::SUCCESS)
            }
            "create-section" | "close-section" | "map-view" | "unmap-view" | "touch" | "trim"
            | "purge" => self.execute_mapping(step.verb.as_str(), &positional, &named)?,
            "read-nowait" | "mdl-read" | "mdl-read-complete" => {
                self.execute_kernel_read(step.verb.as_str(), &positional, &named)?
            }
            other => return Err(format!("unknown verb {other}")),
        };
        Ok(outcome)
    }

    /// The memory-mapping verbs (docs/scenarios.md, "Sections").
    fn execute_mapping(
        &mut self,
        verb: &str,
        positional: &[&str],
        named: &BTreeMap<&str, &str>,
    ) -> Result<Outcome, String> {
        let name = |index: usize| -> Result<&str, String> {
            positional
                .get(index)
                .copied()
                .ok_or(format!("{verb} needs a name"))
        };
        let s = &mut self.session;
        let outcome = match verb {
            "create-section" => {
                let handle = self.handle_arg(positional, 1)?;
                let kind = if positional.contains(&"image") {
                    SectionKind::Image
                } else {
                    SectionKind::Data
                };
                Outcome::status(self.session.create_section(name(0)?, handle, kind))
            }
            "close-section" => Outcome::status(s.close_section(name(0)?)),
            "map-view" => Outcome::status(s.map_view(name(0)?, name(1)?)),
            "unmap-view" => Outcome::status(s.unmap_view(name(0)?)),
            "touch" => {
                let page = Self::number(named, "page", 0)?;
                match s.touch(name(0)?, page) {
                    Ok(data) => Outcome {
                        status: NtStatus::SUCCESS,
                        information: Some(data.len()),
                        data: Some(data),
                    },
                    Err(status) => Outcome::status(status),
                }
            }
            "trim" => Outcome {
                status: NtStatus::SUCCESS,
                information: Some(s.trim()),
                data: None,
            },
            _ => {
                let handle = self.handle_arg(positional, 0)?;
                match self.session.purge(handle) {
                    Ok(purged) => Outcome {
                        status: NtStatus::SUCCESS,
                        information: Some(usize::from(purged)),
                        data: None,
                    },
                    Err(status) => Outcome::status(status),
                }
            }
        };
        Ok(outcome)
    }

    /// The reads a kernel caller makes (docs/scenarios.md, "Kernel callers' reads"): FastIoRead
    /// with Wait FALSE, and MDL reads given back later, fast or by IRP as the seed decides.
    fn execute_kernel_read(
        &mut self,
        verb: &str,
        positional: &[&str],
        named: &BTreeMap<&str, &str>,
    ) -> Result<Outcome, String> {
        let handle = self.handle_arg(positional, 0)?;
        let offset = Self::number(named, "offset", 0)?;
        let length = Self::number(named, "len", 512)? as u32;
        let chain_name = || {
            positional
                .get(1)
                .copied()
                .ok_or(format!("{verb} needs a chain name after the handle"))
        };
        let io = match verb {
            "read-nowait" => self.session.read_no_wait(handle, offset, length),
            "mdl-read" => {
                let name = chain_name()?;
                let io = self.session.mdl_read_any(handle, offset, length);
                match io.mdl_chain {
                    Some(chain) => self.chains.insert(String::from(name), chain),
                    None => self.chains.remove(name),
                };
                io
            }
            _ => {
                let name = chain_name()?;
                // A name whose read handed out no chain has nothing to give back.
                let Some(chain) = self.chains.remove(name) else {
                    return Ok(Outcome::status(NtStatus::INVALID_PARAMETER));
                };
                return Ok(Outcome::status(
                    self.session.mdl_read_complete_any(handle, chain),
                ));
            }
        };
        Ok(Outcome {
            status: io.status,
            information: Some(io.information),
            data: Some(io.data),
        })
    }

    /// Runs one step: executes it, checks the expectation, and describes what happened.
    pub fn run_step(&mut self, step: &Step) -> StepReport {
        self.session.set_thread(step.thread);
        let before = self.session.findings().len();
        let result = self.execute(step);
        self.report(step, result, before)
    }

    /// Starts `step` on its modelled thread. A request that can be preempted inside the
    /// driver (open, close, read, queries, FSCTLs, dismount, surprise removal) comes back running as a job
    /// (`preempt`), for `RunningStep::resume` and `finish_step`; anything else runs to
    /// completion here and comes back as its report.
    pub fn start_step(&mut self, step: &Step) -> Result<RunningStep, StepReport> {
        self.session.set_thread(step.thread);
        let findings_before = self.session.findings().len();
        let started = match self.start_job(step) {
            Ok(Started::Running(job, finish)) => (job, finish),
            Ok(Started::Done(outcome)) => {
                return Err(self.report(step, Ok(outcome), findings_before));
            }
            Ok(Started::Atomic) => return Err(self.run_step(step)),
            Err(error) => return Err(self.report(step, Err(error), findings_before)),
        };
        Ok(RunningStep {
            step: step.clone(),
            job: started.0,
            finish: started.1,
            findings_before,
        })
    }

    fn start_job(&mut self, step: &Step) -> Result<Started, String> {
        let kernel = self.session.kernel().clone();
        let thread = step.thread;
        let (positional, named) = key_values(&step.args);
        let spawn =
            |request: Box<dyn FnOnce() -> IrpOutcome + Send>| Job::spawn(&kernel, thread, request);
        match step.verb.as_str() {
            "create" | "open" => {
                let name = positional.first().ok_or("create needs a handle name")?;
                let (pid, request) = self.create_request(&positional, &named)?;
                match self.session.begin_create(pid, &request) {
                    Ok(pending) => {
                        let (device, irp) = super::session::create_irp(&pending);
                        let job_kernel = kernel.clone();
                        let job =
                            spawn(Box::new(move || io::call_driver(&job_kernel, device, irp)));
                        Ok(Started::Running(
                            job,
                            Finish::Create {
                                name: String::from(*name),
                                pending,
                            },
                        ))
                    }
                    Err(failed) => {
                        self.handles.insert(String::from(*name), no_handle(pid));
                        Ok(Started::Done(Outcome {
                            status: failed.status,
                            information: Some(failed.information),
                            data: None,
                        }))
                    }
                }
            }
            "close" => {
                let handle = self.handle_arg(&positional, 0)?;
                if let Some(name) = positional.first() {
                    self.handles
                        .insert(String::from(*name), no_handle(handle.pid));
                }
                let Some(closing) = self.session.take_handle(handle) else {
                    return Ok(Started::Done(Outcome::status(NtStatus(
                        0xC000_0008_u32 as i32,
                    ))));
                };
                let job_kernel = kernel.clone();
                let job = spawn(Box::new(move || {
                    super::locks::close_in_process(&job_kernel, closing);
                    IrpOutcome::status(NtStatus::SUCCESS)
                }));
                Ok(Started::Running(job, Finish::StatusOnly))
            }
            "pnp" if !matches!(positional.get(1).copied(), Some("surprise-remove")) => {
                // The other removal steps are two IRPs or act after theirs: run whole.
                Ok(Started::Atomic)
            }
            "await" if step.thread != 0 => {
                // On its own thread, `await` waits for the completion, as a caller waiting on
                // the request's event.
                let name = step.args.iter().find_map(|arg| match arg {
                    Arg::Positional(name) => Some(name.clone()),
                    Arg::Named(..) => None,
                });
                let name = name.ok_or_else(|| String::from("await needs a handle name"))?;
                let file_object = *self
                    .notified
                    .get(&name)
                    .ok_or(format!("no notify or oplock request was sent on {name}"))?;
                let job_kernel = kernel.clone();
                let job = spawn(Box::new(move || {
                    super::io::await_completion(&job_kernel, file_object)
                }));
                Ok(Started::Running(job, Finish::Information))
            }
            "read" | "query-info" | "query-dir" | "query-volume" | "fsctl" | "dismount"
            | "notify" | "oplock" | "ack" | "pnp" => {
                self.session.capture_next_send();
                let outcome = self.execute(step);
                let captured = self.session.take_captured_send();
                let (Ok(_), Some((device, irp))) = (&outcome, captured) else {
                    // Refused before any IRP (a bad handle, the I/O manager's checks).
                    return outcome.map(Started::Done);
                };
                let job_kernel = kernel.clone();
                let job = spawn(Box::new(move || {
                    super::session::send_referenced(&job_kernel, device, irp)
                }));
                let finish = if matches!(step.verb.as_str(), "dismount" | "pnp") {
                    Finish::StatusOnly
                } else {
                    Finish::Data
                };
                Ok(Started::Running(job, finish))
            }
            _ => Ok(Started::Atomic),
        }
    }

    /// The report of a step whose job has finished.
    pub fn finish_step(&mut self, running: RunningStep) -> StepReport {
        let RunningStep {
            step,
            job,
            finish,
            findings_before,
        } = running;
        let Some(io) = job.finish() else {
            return self.report(
                &step,
                Err(String::from("its request never returned")),
                findings_before,
            );
        };
        let outcome = match finish {
            Finish::Create { name, pending } => {
                let result = self.session.complete_create(pending, io);
                let pid = result.handle.map_or(0, |handle| handle.pid);
                let handle = result.handle.unwrap_or(no_handle(pid));
                self.handles.insert(name, handle);
                Outcome {
                    status: result.status,
                    information: Some(result.information),
                    data: None,
                }
            }
            Finish::StatusOnly => Outcome::status(io.status),
            Finish::Data => Outcome {
                status: io.status,
                information: Some(io.information),
                data: Some(io.data),
            },
            Finish::Information => Outcome {
                status: io.status,
                information: Some(io.information),
                data: None,
            },
        };
        self.report(&step, Ok(outcome), findings_before)
    }

    fn report(
        &mut self,
        step: &Step,
        result: Result<Outcome, String>,
        before: usize,
    ) -> StepReport {
        let new_findings: Vec<String> = self
            .session
            .findings()
            .iter()
            .skip(before)
            .map(|f| format!("{f}"))
            .collect();
        report::step_report(step, result, &new_findings)
    }

    /// Runs every step in order. True if every expectation held and the verifier found nothing.
    pub fn run_all(&mut self, steps: &[Step], out: &mut dyn FnMut(&str)) -> bool {
        let mut ok = report::run_in_order(steps, |step| self.run_step(step), out);
        let findings = self.session.findings();
        if !findings.is_empty() {
            ok = false;
            out(&format!("verifier: {} finding(s)", findings.len()));
            for finding in &findings {
                out(&format!("  {finding}"));
            }
        } else {
            out("verifier: no findings");
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_verb_is_executed() {
        let mut runner = Runner::new(Session::new(), Vec::new());
        for verb in VERBS {
            let step = Step {
                line: 1,
                thread: 0,
                verb: String::from(*verb),
                args: Vec::new(),
                expect: Expect::default(),
            };
            if let Err(error) = runner.execute(&step) {
                assert!(!error.starts_with("unknown verb"), "{verb}: {error}");
            }
        }
    }

    #[test]
    fn an_unknown_verb_names_its_line() {
        let error = parse("load rustfsd\n\n# note\nopne a \\Device\\Disk0\n").unwrap_err();
        assert_eq!(error, "line 4: unknown verb opne");
        assert!(parse("\"load\" rustfsd\n").is_err());
    }

    #[test]
    fn quoted_arguments_are_positional_and_bare_equals_name_arguments() {
        let steps = parse(r#"open a "\Device\Disk0\x=1 #2" root=b "" "#).unwrap();
        assert_eq!(
            steps[0].args,
            [
                Arg::Positional(String::from("a")),
                Arg::Positional(String::from(r"\Device\Disk0\x=1 #2")),
                Arg::Named(String::from("root"), String::from("b")),
                Arg::Positional(String::new()),
            ]
        );
        assert!(parse("open a =x\n").unwrap_err().contains("no name"));
    }

    #[test]
    fn status_sets_any_and_unchecked() {
        let steps = parse(
            "close a => SUCCESS|VOLUME_DISMOUNTED|0xC0000008 info=0\n\
             close a => any info=0\n\
             close a => ANY\n\
             close a\n",
        )
        .unwrap();
        assert_eq!(
            steps[0].expect.status,
            [
                NtStatus::SUCCESS,
                NtStatus::VOLUME_DISMOUNTED,
                NtStatus(0xC000_0008_u32 as i32)
            ]
        );
        assert_eq!(steps[0].expect.information, Some(0));
        assert!(steps[1].expect.status.is_empty());
        assert_eq!(steps[1].expect.information, Some(0));
        assert!(steps[2].expect.status.is_empty());
        assert_eq!(steps[3].expect, Expect::default());
    }

    #[test]
    fn malformed_expectations_name_their_line() {
        for (script, message) in [
            ("close a => SUCCESS|NOPE\n", "line 1: unknown status NOPE"),
            ("close a => SUCCESS|\n", "line 1: unknown status"),
            ("close a => any|SUCCESS\n", "line 1: unknown status any"),
            (
                "\nclose a => SUCCESS SUCCESS\n",
                "line 2: unknown expectation",
            ),
            ("close a => \"SUCCESS\"\n", "line 1: quoted expectation"),
            ("close a => sha256=12zz5678\n", "line 1: sha256"),
            ("close a => info=x\n", "line 1: bad info"),
            ("@tx close a\n", "line 1: bad thread"),
            ("@t1\n", "line 1: no verb"),
            ("=> SUCCESS\n", "line 1: no verb"),
        ] {
            let error = parse(script).unwrap_err();
            assert!(error.starts_with(message), "{script:?}: {error}");
        }
    }

    #[test]
    fn closing_a_failed_open_or_a_closed_handle_is_invalid_handle() {
        let steps = parse(
            "open a \\Device\\NoSuchDisk\\x\n\
             close a => INVALID_HANDLE\n\
             close a => INVALID_HANDLE\n\
             read a => INVALID_HANDLE\n",
        )
        .unwrap();
        let mut runner = Runner::new(Session::new(), Vec::new());
        let first = runner.run_step(&steps[0]);
        assert!(!first.text.contains("SUCCESS"), "{}", first.text);
        for step in &steps[1..] {
            let report = runner.run_step(step);
            assert!(report.ok, "{}", report.text);
        }
        assert_eq!(runner.handle("a").map(|h| h.value), Some(0));
        let never_opened = parse("close b\n").unwrap();
        let report = runner.run_step(&never_opened[0]);
        assert!(!report.ok && report.text.contains("unknown handle b"));
    }
}
