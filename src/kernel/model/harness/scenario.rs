//! Scenario scripts: one step per line, each with its expected NTSTATUS and data digest.
//! The format is documented in docs/scenarios.md.

use std::collections::BTreeMap;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use sha2::{Digest, Sha256};

use super::disk::ReadFault;
use super::driver::DriverDescriptor;
use super::session::{CreateRequest, Handle, Pid, Session};
use crate::kernel::NtStatus;

/// What a step must produce.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expect {
    pub status: Option<NtStatus>,
    /// A prefix (at least 8 hex digits) of the SHA-256 of the returned data.
    pub sha256: Option<String>,
    pub information: Option<usize>,
}

#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Step {
    pub line: usize,
    /// `@tN` prefix: the modelled user thread that runs the step (the scheduler interleaves).
    pub thread: u32,
    pub verb: String,
    pub args: Vec<String>,
    pub expect: Expect,
}

const STATUS_NAMES: &[(&str, NtStatus)] = &[
    ("SUCCESS", NtStatus::SUCCESS),
    ("PENDING", NtStatus::PENDING),
    ("REPARSE", NtStatus::REPARSE),
    ("BUFFER_OVERFLOW", NtStatus::BUFFER_OVERFLOW),
    ("NO_MORE_FILES", NtStatus::NO_MORE_FILES),
    ("UNSUCCESSFUL", NtStatus::UNSUCCESSFUL),
    ("NOT_IMPLEMENTED", NtStatus::NOT_IMPLEMENTED),
    ("INVALID_HANDLE", NtStatus(0xC000_0008_u32 as i32)),
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
    ("DEVICE_DATA_ERROR", NtStatus(0xC000_009C_u32 as i32)),
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

fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => text.replace('_', "").parse().ok(),
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses a script. Errors name the line.
pub fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let (action, expectation) = match content.split_once("=>") {
            Some((a, e)) => (a.trim(), Some(e.trim())),
            None => (content, None),
        };
        let mut words: Vec<String> = action.split_whitespace().map(ToString::to_string).collect();
        let mut thread = 0;
        if let Some(first) = words.first()
            && let Some(number) = first.strip_prefix("@t")
        {
            thread = number
                .parse()
                .map_err(|_| format!("line {line}: bad thread {first}"))?;
            words.remove(0);
        }
        if words.is_empty() {
            return Err(format!("line {line}: no verb"));
        }
        let verb = words.remove(0);
        let mut expect = Expect::default();
        if let Some(expectation) = expectation {
            for (position, word) in expectation.split_whitespace().enumerate() {
                if let Some(hex) = word.strip_prefix("sha256=") {
                    if hex.len() < 8 {
                        return Err(format!("line {line}: sha256 prefix needs 8+ hex digits"));
                    }
                    expect.sha256 = Some(hex.to_ascii_lowercase());
                } else if let Some(info) = word.strip_prefix("info=") {
                    let value =
                        parse_number(info).ok_or(format!("line {line}: bad info {info}"))?;
                    expect.information = Some(value as usize);
                } else if position == 0 {
                    let status =
                        parse_status(word).ok_or(format!("line {line}: unknown status {word}"))?;
                    expect.status = Some(status);
                } else {
                    return Err(format!("line {line}: unknown expectation {word}"));
                }
            }
        }
        steps.push(Step {
            line,
            thread,
            verb,
            args: words,
            expect,
        });
    }
    Ok(steps)
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

/// Runs steps against a session, keeping the script's handle and process names.
pub struct Runner {
    pub session: Session,
    drivers: Vec<DriverDescriptor>,
    handles: BTreeMap<String, Handle>,
    pids: BTreeMap<String, Pid>,
    system_refs: BTreeMap<String, super::session::SystemRef>,
}

fn key_values(args: &[String]) -> (Vec<&str>, BTreeMap<&str, &str>) {
    let mut positional = Vec::new();
    let mut named = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((k, v)) => {
                named.insert(k, v);
            }
            None => positional.push(arg.as_str()),
        }
    }
    (positional, named)
}

struct Outcome {
    status: NtStatus,
    information: Option<usize>,
    data: Option<Vec<u8>>,
}

impl Outcome {
    fn status(status: NtStatus) -> Outcome {
        Outcome {
            status,
            information: None,
            data: None,
        }
    }
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
                Outcome::status(s.unload_driver(name))
            }
            "process" => {
                let name = positional.first().ok_or("process needs a name")?;
                let pid = s.create_process();
                self.pids.insert(String::from(*name), pid);
                Outcome::status(NtStatus::SUCCESS)
            }
            "terminate" => {
                let name = positional.first().ok_or("terminate needs a process name")?;
                let pid = *self
                    .pids
                    .get(*name)
                    .ok_or(format!("unknown process {name}"))?;
                Outcome::status(self.session.terminate_process(pid))
            }
            "create" | "open" => {
                let handle_name = positional.first().ok_or("create needs a handle name")?;
                let path = positional.get(1).copied().unwrap_or("");
                let pid = self.pid(&named)?;
                let mut request = CreateRequest::open(path);
                request.desired_access = Self::number(&named, "access", 0x0012_0089)? as u32;
                request.share_access = Self::number(&named, "share", 7)? as u16;
                request.disposition = Self::number(&named, "disposition", 1)? as u32;
                request.options = Self::number(&named, "options", 0x20)? as u32;
                request.file_attributes = Self::number(&named, "attributes", 0)? as u16;
                request.allocation_size = Self::number(&named, "alloc", 0)?;
                request.case_insensitive = !step.args.iter().any(|a| a == "case-sensitive");
                if let Some(id) = named.get("id") {
                    request.file_id = Some(parse_number(id).ok_or(format!("bad id={id}"))?);
                    request.options |= crate::kernel::FILE_OPEN_BY_FILE_ID;
                }
                if let Some(root) = named.get("root") {
                    request.root = Some(self.handle(root).ok_or(format!("unknown handle {root}"))?);
                }
                let result = self.session.nt_create_file(pid, &request);
                if let Some(handle) = result.handle {
                    self.handles.insert(String::from(*handle_name), handle);
                }
                Outcome {
                    status: result.status,
                    information: Some(result.information),
                    data: None,
                }
            }
            "close" => {
                let handle = self.handle_arg(&positional, 0)?;
                if let Some(name) = positional.first() {
                    self.handles.remove(*name);
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
                    Err(status) => Outcome::status(status),
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
                        self.session.fs_control_file(handle, code, &[], length)
                    }
                };
                Outcome {
                    status: io.status,
                    information: Some(io.information),
                    data: Some(io.data),
                }
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
            other => return Err(format!("unknown verb {other}")),
        };
        Ok(outcome)
    }

    /// Runs one step: executes it, checks the expectation, and describes what happened.
    pub fn run_step(&mut self, step: &Step) -> StepReport {
        self.session.set_thread(step.thread);
        let before = self.session.findings().len();
        let result = self.execute(step);
        let new_findings: Vec<String> = self
            .session
            .findings()
            .iter()
            .skip(before)
            .map(|f| format!("{f}"))
            .collect();
        let mut ok = true;
        let mut text = format!("line {:>3} {:<14}", step.line, step.verb);
        match result {
            Err(error) => {
                ok = false;
                text.push_str(&format!(" ERROR {error}"));
            }
            Ok(outcome) => {
                text.push_str(&format!(" {}", status_name(outcome.status)));
                if let Some(information) = outcome.information {
                    text.push_str(&format!(" info={information}"));
                }
                let digest = outcome
                    .data
                    .as_deref()
                    .filter(|d| !d.is_empty())
                    .map(sha256_hex);
                if let Some(digest) = &digest {
                    text.push_str(&format!(" sha256={}", &digest[..16]));
                }
                if let Some(expected) = step.expect.status
                    && expected != outcome.status
                {
                    ok = false;
                    text.push_str(&format!(" (expected {})", status_name(expected)));
                }
                if let Some(expected) = step.expect.information
                    && outcome.information != Some(expected)
                {
                    ok = false;
                    text.push_str(&format!(" (expected info={expected})"));
                }
                if let Some(expected) = &step.expect.sha256
                    && !digest
                        .as_deref()
                        .is_some_and(|d| d.starts_with(expected.as_str()))
                {
                    ok = false;
                    text.push_str(&format!(" (expected sha256={expected})"));
                }
            }
        }
        for finding in new_findings {
            text.push_str(&format!("\n      {finding}"));
        }
        StepReport {
            line: step.line,
            text: format!("{} {text}", if ok { "ok  " } else { "FAIL" }),
            ok,
        }
    }

    /// Runs every step in order. True if every expectation held and the verifier found nothing.
    pub fn run_all(&mut self, steps: &[Step], out: &mut dyn FnMut(&str)) -> bool {
        let mut ok = true;
        for step in steps {
            let report = self.run_step(step);
            ok &= report.ok;
            out(&report.text);
        }
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
