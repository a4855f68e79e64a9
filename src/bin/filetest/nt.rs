//! The executor of `filetest.exe`: runs a parsed script through the real NT API
//! (`rustfsd::kernel::ntdll`) and reports each step in the model runner's format.
//!
//! Verbs that only the model can do are reported as `skip ... model only` and counted; with
//! `--root` (a plain directory, no driver) so are `load`/`unload`/`nt-unload`. Processes other
//! than `p0` are copies of filetest.exe started with `--child`, which hold duplicated handles
//! until they are terminated (or this process ends and closes their stdin).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::report::{Outcome, run_in_order, skipped_report, step_report};
use rustfsd::kernel::model::harness::scenario::{
    Step, StepReport, key_values, parse_hex_bytes, parse_number,
};
use rustfsd::kernel::ntdll::{
    self, ChildProcess, CreateFile, File, ForeignHandle, Io, MappedView, Notify, PendingNotify,
    Section,
};

use super::disk_map;

/// FSCTL_DISMOUNT_VOLUME (winioctl.h).
const FSCTL_DISMOUNT_VOLUME: u32 = 0x0009_0020;
/// FileModeInformation and its FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT bits.
const FILE_MODE_INFORMATION: u32 = 16;
const SYNCHRONOUS_IO: u32 = 0x30;
/// FILE_OPEN_BY_FILE_ID (wdm.h).
const FILE_OPEN_BY_FILE_ID: u32 = 0x2000;
/// FILE_OPEN_FOR_BACKUP_INTENT (wdm.h).
const FILE_OPEN_FOR_BACKUP_INTENT: u32 = 0x4000;
/// FILE_READ_ATTRIBUTES | SYNCHRONIZE: the volume handle an open by ID goes through.
const ID_ROOT_ACCESS: u32 = 0x0010_0080;

/// What a script's handle name holds.
enum Slot {
    /// The open failed, or the handle was closed: using it is STATUS_INVALID_HANDLE.
    Nothing,
    Own(File),
    In(String, ForeignHandle),
}

/// A handle to call through: ours, or a temporary duplicate of a child's (no IRP either way).
enum Borrowed<'a> {
    Own(&'a File),
    Fetched(File),
}

impl Borrowed<'_> {
    fn file(&self) -> &File {
        match self {
            Borrowed::Own(file) => file,
            Borrowed::Fetched(file) => file,
        }
    }
}

pub struct NtRunner {
    /// NT path prefixes of `\Device\Disk0`, `\Device\Disk1`, ...
    disks: Vec<String>,
    /// `--root`: no driver behind the disks, so load/unload are skipped.
    driverless: bool,
    handles: BTreeMap<String, Slot>,
    processes: BTreeMap<String, ChildProcess>,
    /// Section objects and views by the script's names (`create-section`, `map-view`).
    sections: BTreeMap<String, Section>,
    views: BTreeMap<String, MappedView>,
    /// The notifies sent on each handle name that pended, oldest first (after `handles`, so
    /// the handles are closed, completing them, before these are dropped).
    notifies: BTreeMap<String, Vec<PendingNotify>>,
    pub skipped: usize,
}

fn number(named: &BTreeMap<&str, &str>, key: &str, default: u64) -> Result<u64, String> {
    match named.get(key) {
        Some(text) => parse_number(text).ok_or(format!("bad {key}={text}")),
        None => Ok(default),
    }
}

fn io_outcome(io: Io) -> Outcome {
    Outcome {
        status: io.status,
        information: Some(io.information),
        data: Some(io.data),
    }
}

impl NtRunner {
    pub fn new(disks: Vec<String>, driverless: bool) -> NtRunner {
        NtRunner {
            disks,
            driverless,
            handles: BTreeMap::new(),
            processes: BTreeMap::new(),
            sections: BTreeMap::new(),
            views: BTreeMap::new(),
            notifies: BTreeMap::new(),
            skipped: 0,
        }
    }

    /// Runs every step in file order (`@tN` threads are not interleaved). True if every step
    /// that ran met its expectation.
    pub fn run_all(&mut self, steps: &[Step], out: &mut dyn FnMut(&str)) -> bool {
        let ok = run_in_order(steps, |step| self.run_step(step), out);
        out(&format!(
            "model only: {} step(s) skipped; verifier: none here (Driver Verifier on a VM)",
            self.skipped
        ));
        ok
    }

    fn run_step(&mut self, step: &Step) -> StepReport {
        let blocking = step.verb == "notify" && self.synchronous(step);
        if let Some(why) = self.why_skipped(&step.verb, blocking) {
            self.skipped += 1;
            return skipped_report(step, why);
        }
        let result = self.execute(step);
        step_report(step, result, &[])
    }

    fn why_skipped(&self, verb: &str, blocking: bool) -> Option<&'static str> {
        match verb {
            "notify" if blocking => {
                Some("model only (a synchronous handle's notify would block the one thread)")
            }
            "load" | "unload" | "nt-unload" if self.driverless => {
                Some("model only (no driver behind --root)")
            }
            "load" | "unload" | "nt-unload" | "process" | "terminate" | "create" | "open"
            | "close" | "dup" | "read" | "query-info" | "query-dir" | "query-volume" | "fsctl"
            | "dismount" | "create-section" | "close-section" | "map-view" | "unmap-view"
            | "touch" | "notify" | "cancel" | "await" | "privilege" => None,
            _ => Some("model only"),
        }
    }

    /// True if the step's handle was opened for synchronous I/O (FileModeInformation).
    fn synchronous(&self, step: &Step) -> bool {
        let (positional, _) = key_values(&step.args);
        let Some(Ok(file)) = positional.first().and_then(|name| self.borrow(name).ok()) else {
            return false;
        };
        let mode = file.file().query_information(FILE_MODE_INFORMATION, 4);
        let bytes: [u8; 4] = mode
            .data
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]);
        !mode.status.is_error() && u32::from_le_bytes(bytes) & SYNCHRONOUS_IO != 0
    }

    fn borrow(&self, name: &str) -> Result<Result<Borrowed<'_>, NtStatus>, String> {
        match self.handles.get(name) {
            None => Err(format!("unknown handle {name}")),
            Some(Slot::Nothing) => Ok(Err(NtStatus::INVALID_HANDLE)),
            Some(Slot::Own(file)) => Ok(Ok(Borrowed::Own(file))),
            Some(Slot::In(process, handle)) => Ok(match self.processes.get(process) {
                Some(child) => child.fetch(*handle).map(Borrowed::Fetched),
                None => Err(NtStatus::INVALID_HANDLE),
            }),
        }
    }

    /// Stores a new handle of this process under `name`, moving it into process `pid` first.
    fn store(&mut self, name: &str, pid: &str, file: File) -> NtStatus {
        if pid == "p0" {
            self.handles.insert(String::from(name), Slot::Own(file));
            return NtStatus::SUCCESS;
        }
        let moved = match self.processes.get(pid) {
            Some(child) => file.duplicate_into(child),
            None => Err(NtStatus::INVALID_HANDLE),
        };
        match moved {
            Ok(handle) => {
                self.handles
                    .insert(String::from(name), Slot::In(String::from(pid), handle));
                NtStatus::SUCCESS
            }
            Err(status) => {
                self.handles.insert(String::from(name), Slot::Nothing);
                status
            }
        }
    }

    fn pid<'a>(&self, named: &BTreeMap<&str, &'a str>) -> Result<&'a str, String> {
        let pid = named.get("pid").copied().unwrap_or("p0");
        if pid == "p0" || self.processes.contains_key(pid) {
            Ok(pid)
        } else {
            Err(format!("unknown process {pid}"))
        }
    }

    fn execute(&mut self, step: &Step) -> Result<Outcome, String> {
        let (positional, named) = key_values(&step.args);
        let handle_name = |index: usize| -> Result<&str, String> {
            positional
                .get(index)
                .copied()
                .ok_or(String::from("missing handle name"))
        };
        Ok(match step.verb.as_str() {
            "load" | "unload" | "nt-unload" => {
                let name = positional
                    .first()
                    .ok_or(format!("{} needs a driver name", step.verb))?;
                Outcome::status(ntdll::load_driver(name, step.verb == "load"))
            }
            "process" => {
                let name = positional.first().ok_or("process needs a name")?;
                let child = spawn_child().map_err(|e| format!("starting a child: {e}"))?;
                self.processes.insert(String::from(*name), child);
                Outcome::status(NtStatus::SUCCESS)
            }
            "terminate" => {
                let name = positional.first().ok_or("terminate needs a process name")?;
                let child = self
                    .processes
                    .remove(*name)
                    .ok_or(format!("unknown process {name}"))?;
                for slot in self.handles.values_mut() {
                    if matches!(slot, Slot::In(process, _) if process == name) {
                        *slot = Slot::Nothing;
                    }
                }
                Outcome::status(child.terminate())
            }
            "create" | "open" => self.open(&positional, &named)?,
            "privilege" => {
                if positional.first() != Some(&"p0") {
                    return Err(String::from("privilege: only p0's token here (model only)"));
                }
                let restore = match positional.get(1).copied() {
                    Some("backup") => false,
                    Some("restore") => true,
                    _ => return Err(String::from("privilege needs backup or restore")),
                };
                Outcome::status(ntdll::enable_backup_privilege(restore))
            }
            "close" => {
                let name = handle_name(0)?;
                let slot = self
                    .handles
                    .get_mut(name)
                    .map(|slot| std::mem::replace(slot, Slot::Nothing))
                    .ok_or(format!("unknown handle {name}"))?;
                Outcome::status(match slot {
                    Slot::Nothing => ntdll::close_no_handle(),
                    Slot::Own(file) => file.close(),
                    Slot::In(process, handle) => match self.processes.get(&process) {
                        Some(child) => child.close(handle),
                        None => ntdll::close_no_handle(),
                    },
                })
            }
            "dup" => {
                let new_name = positional.get(1).ok_or("dup needs a new handle name")?;
                let pid = self.pid(&named)?;
                let duplicate = match self.borrow(handle_name(0)?)? {
                    Ok(source) => source.file().duplicate(),
                    Err(status) => Err(status),
                };
                let status = match duplicate {
                    Ok(file) => self.store(new_name, pid, file),
                    Err(status) => {
                        self.handles.insert(String::from(*new_name), Slot::Nothing);
                        status
                    }
                };
                Outcome::status(status)
            }
            "create-section" | "close-section" | "map-view" | "unmap-view" | "touch" => {
                self.execute_mapping(step)?
            }
            "await" => {
                let name = handle_name(0)?;
                let sent = self
                    .notifies
                    .get_mut(name)
                    .ok_or(format!("no notify was sent on {name}"))?;
                let completed = sent
                    .iter()
                    .enumerate()
                    .find_map(|(index, notify)| Some((index, notify.completion()?)));
                // IoStatus.Information as the model's `await` reports it (0 while pending).
                let (status, information) = match completed {
                    Some((index, done)) => {
                        sent.remove(index);
                        done
                    }
                    None => (NtStatus::PENDING, 0),
                };
                Outcome {
                    status,
                    information: Some(information),
                    data: None,
                }
            }
            verb => {
                let file = match self.borrow(handle_name(0)?)? {
                    Ok(file) => file,
                    Err(status) => return Ok(Outcome::status(status)),
                };
                let file = file.file();
                let class = number(&named, "class", 1)? as u32;
                let length = number(&named, "len", 4096)? as u32;
                match verb {
                    "read" => {
                        let offset = match named.get("offset") {
                            Some(text) => {
                                Some(parse_number(text).ok_or(format!("bad offset {text}"))?)
                            }
                            None => None,
                        };
                        io_outcome(file.read(offset, number(&named, "len", 512)? as u32))
                    }
                    "query-info" => io_outcome(file.query_information(class, length)),
                    "query-volume" => io_outcome(file.query_volume_information(class, length)),
                    "query-dir" => io_outcome(file.query_directory(
                        class,
                        length,
                        named.get("pattern").copied(),
                        positional.contains(&"restart"),
                        positional.contains(&"single"),
                    )),
                    "fsctl" => {
                        let code = number(&named, "code", 0)? as u32;
                        let input = match named.get("in") {
                            Some(hex) => parse_hex_bytes(hex)
                                .ok_or_else(|| format!("bad input bytes {hex}"))?,
                            None => Vec::new(),
                        };
                        io_outcome(file.fs_control(code, &input, number(&named, "len", 0)? as u32))
                    }
                    "notify" => {
                        let filter = number(&named, "filter", 0x17)? as u32;
                        let subtree = positional.contains(&"subtree");
                        // Nothing is returned yet (pending) or at all (refused): info=0,
                        // as the model reports.
                        let status = match file.notify_change_directory(filter, subtree) {
                            Notify::Done(status) => status,
                            Notify::Pending(pending) => {
                                self.notifies
                                    .entry(String::from(handle_name(0)?))
                                    .or_default()
                                    .push(pending);
                                NtStatus::PENDING
                            }
                        };
                        Outcome {
                            status,
                            information: Some(0),
                            data: None,
                        }
                    }
                    "cancel" => Outcome::status(file.cancel_io()),
                    "dismount" => {
                        Outcome::status(file.fs_control(FSCTL_DISMOUNT_VOLUME, &[], 0).status)
                    }
                    other => return Err(format!("unknown verb {other}")),
                }
            }
        })
    }

    /// The section verbs, with the model runner's statuses for names that hold nothing
    /// (`harness::sections`): an unknown section is INVALID_HANDLE, an unknown view (or a view
    /// name in use) INVALID_PARAMETER.
    fn execute_mapping(&mut self, step: &Step) -> Result<Outcome, String> {
        let verb = step.verb.as_str();
        let (positional, named) = key_values(&step.args);
        let name = |index: usize| -> Result<String, String> {
            positional
                .get(index)
                .map(|name| String::from(*name))
                .ok_or(format!("{verb} needs a name"))
        };
        let status = match verb {
            "create-section" => {
                let section_name = name(0)?;
                if self.sections.contains_key(&section_name) {
                    return Ok(Outcome::status(NtStatus::INVALID_PARAMETER));
                }
                let created = match self.borrow(&name(1)?)? {
                    Ok(file) => file.file().create_section(positional.contains(&"image")),
                    Err(status) => Err(status),
                };
                match created {
                    Ok(section) => {
                        self.sections.insert(section_name, section);
                        NtStatus::SUCCESS
                    }
                    Err(status) => status,
                }
            }
            "close-section" => match self.sections.remove(&name(0)?) {
                Some(section) => section.close(),
                None => NtStatus::INVALID_HANDLE,
            },
            "map-view" => {
                let view_name = name(0)?;
                if self.views.contains_key(&view_name) {
                    return Ok(Outcome::status(NtStatus::INVALID_PARAMETER));
                }
                match self.sections.get(&name(1)?).map(Section::map) {
                    Some(Ok(view)) => {
                        self.views.insert(view_name, view);
                        NtStatus::SUCCESS
                    }
                    Some(Err(status)) => status,
                    None => NtStatus::INVALID_HANDLE,
                }
            }
            "unmap-view" => match self.views.remove(&name(0)?) {
                Some(view) => view.unmap(),
                None => NtStatus::INVALID_PARAMETER,
            },
            _ => {
                let page = number(&named, "page", 0)?;
                return Ok(
                    match self.views.get(&name(0)?).map(|view| view.page(page)) {
                        Some(Ok(data)) => Outcome {
                            status: NtStatus::SUCCESS,
                            information: Some(data.len()),
                            data: Some(data),
                        },
                        Some(Err(status)) => Outcome::status(status),
                        None => Outcome::status(NtStatus::INVALID_PARAMETER),
                    },
                );
            }
        };
        Ok(Outcome::status(status))
    }

    /// `open`/`create`: NtCreateFile with every parameter the step sets (docs/scenarios.md).
    fn open(
        &mut self,
        positional: &[&str],
        named: &BTreeMap<&str, &str>,
    ) -> Result<Outcome, String> {
        let name = positional.first().ok_or("create needs a handle name")?;
        let path = disk_map::map(positional.get(1).copied().unwrap_or(""), &self.disks);
        let pid = self.pid(named)?;
        let mut options = number(named, "options", 0x20)? as u32;
        if positional.contains(&"backup") {
            options |= FILE_OPEN_FOR_BACKUP_INTENT;
        }
        let file_id = match named.get("id") {
            Some(id) => {
                options |= FILE_OPEN_BY_FILE_ID;
                Some(parse_number(id).ok_or(format!("bad id={id}"))?)
            }
            None => None,
        };
        let mut request = CreateFile {
            path: &path,
            root: None,
            desired_access: number(named, "access", 0x0012_0089)? as u32,
            share_access: number(named, "share", 7)? as u32,
            disposition: number(named, "disposition", 1)? as u32,
            options,
            file_attributes: number(named, "attributes", 0)? as u32,
            allocation_size: number(named, "alloc", 0)?,
            case_insensitive: !positional.contains(&"case-sensitive"),
            file_id,
        };
        // By ID, Windows takes the 8-byte ID relative to a handle on the volume: without
        // `root=`, the step's path is opened for that (and closed after).
        let id_root = if file_id.is_some() && !named.contains_key("root") {
            let created = ntdll::create_file(&CreateFile {
                path: &path,
                root: None,
                desired_access: ID_ROOT_ACCESS,
                share_access: 7,
                disposition: 1,
                options: 0x20,
                file_attributes: 0,
                allocation_size: 0,
                case_insensitive: true,
                file_id: None,
            });
            match created.file {
                Some(file) => Some(file),
                None => return Ok(self.failed_open(name, created.status)),
            }
        } else {
            None
        };
        let root = match named.get("root") {
            Some(root) => match self.borrow(root)? {
                Ok(root) => Some(root),
                Err(status) => return Ok(self.failed_open(name, status)),
            },
            None => None,
        };
        request.root = root.as_ref().map(Borrowed::file).or(id_root.as_ref());
        let created = ntdll::create_file(&request);
        drop(root);
        drop(id_root);
        let mut status = created.status;
        match created.file {
            Some(file) => {
                let stored = self.store(name, pid, file);
                if stored.is_error() {
                    status = stored;
                }
            }
            None => {
                self.handles.insert(String::from(*name), Slot::Nothing);
            }
        }
        Ok(Outcome {
            status,
            information: Some(created.information),
            data: None,
        })
    }

    fn failed_open(&mut self, name: &str, status: NtStatus) -> Outcome {
        self.handles.insert(String::from(name), Slot::Nothing);
        Outcome {
            status,
            information: Some(0),
            data: None,
        }
    }
}

/// A copy of this program that waits (`--child`) until its stdin closes.
fn spawn_child() -> std::io::Result<ChildProcess> {
    let child = Command::new(std::env::current_exe()?)
        .arg("--child")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    Ok(ChildProcess::new(child))
}
