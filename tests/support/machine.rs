//! A modelled Windows machine running rustfsd over a generated image, for the lifecycle tests.

use std::path::Path;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::scheduler::{self, ScheduledRun};
use rustfsd::kernel::model::harness::session::{CreateRequest, CreateResult};
use rustfsd::kernel::model::harness::{
    DiskModel, DriverDescriptor, Handle, Pid, Session, scenario,
};
use rustfsd::kernel::model::token::{Privilege, Token};

/// Where the image is attached.
pub const DISK_NAME: &str = "Disk0";
pub const DISK: &str = "\\Device\\Disk0";

/// Paths on `tiny-ext4` for random tests to open: the volume, the root, files, directories
/// (one spelled in another case), a symlink, missing names and a file used as a directory.
pub const TINY_EXT4_PATHS: &[&str] = &[
    "",
    "\\",
    "\\hello.txt",
    "\\data",
    "\\dir",
    "\\dir\\f1",
    "\\dir\\f2",
    "\\DIR\\F3",
    "\\fast-link",
    "\\nope",
    "\\nope\\x",
    "\\hello.txt\\x",
];

/// A machine with rustfsd loaded and `image` attached as \Device\Disk0 (not yet mounted).
pub fn machine(image: &Path) -> Session {
    machine_on(disk(image), None)
}

/// The same, with the service parameter DelayedCloseLimit set before rustfsd loads.
pub fn machine_with_delayed_close_limit(image: &Path, limit: u32) -> Session {
    machine_on(disk(image), Some(limit))
}

pub fn disk(image: &Path) -> DiskModel {
    DiskModel::open(image.to_str().unwrap()).unwrap()
}

pub fn machine_on(disk: DiskModel, delayed_close_limit: Option<u32>) -> Session {
    let mut session = Session::new();
    session.add_disk(DISK_NAME, disk);
    if let Some(limit) = delayed_close_limit {
        session.set_driver_parameter("rustfsd", "DelayedCloseLimit", limit);
    }
    session.load_driver(DriverDescriptor::rustfsd()).unwrap();
    session
}

/// FCBs alive (pool blocks tagged RfFc).
pub fn live_fcbs(session: &Session) -> usize {
    session
        .pool_usage()
        .iter()
        .find(|(tag, _)| tag == "RfFc")
        .map_or(0, |(_, count)| *count)
}

/// FILE_OPEN_FOR_BACKUP_INTENT: every open the helpers below make carries it, as a backup
/// program's do; the I/O manager takes it away unless the caller enabled SeBackupPrivilege
/// (`as_backup_operator`), so for anyone else it changes nothing.
const FILE_OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;

/// The initial process becomes a backup operator: an administrator with SeBackupPrivilege
/// enabled, whose opens through the helpers below read files of any mode and owner (as
/// `robocopy /B`). Without it the initial process is an ordinary user (the "other" bits).
pub fn as_backup_operator(session: &mut Session) {
    let pid = session.initial_process();
    session.set_token(pid, Token::administrator());
    assert_eq!(
        session.enable_privilege(pid, Privilege::Backup),
        NtStatus::SUCCESS
    );
}

/// NtCreateFile of `path` (on the volume, e.g. `\hello.txt`; empty = the volume) for read.
pub fn open(session: &mut Session, path: &str) -> CreateResult {
    open_with(session, path, |_| {})
}

/// The same, after `adjust` edits the request.
pub fn open_with(
    session: &mut Session,
    path: &str,
    adjust: impl FnOnce(&mut CreateRequest),
) -> CreateResult {
    let mut request = CreateRequest::open(&format!("{DISK}{path}"));
    adjust(&mut request);
    request.options |= FILE_OPEN_FOR_BACKUP_INTENT;
    let pid = session.initial_process();
    session.nt_create_file(pid, &request)
}

/// NtCreateFile of `name` relative to `root` (ObjectAttributes.RootDirectory), for read, in
/// `root`'s process.
pub fn open_relative(session: &mut Session, root: Handle, name: &str) -> CreateResult {
    let mut request = CreateRequest::open(name);
    request.root = Some(root);
    request.options |= FILE_OPEN_FOR_BACKUP_INTENT;
    session.nt_create_file(root.pid, &request)
}

/// An open that must succeed.
pub fn open_ok(session: &mut Session, path: &str) -> Handle {
    let result = open(session, path);
    assert_eq!(result.status, NtStatus::SUCCESS, "open {path}");
    result.handle.unwrap()
}

/// The same in process `pid`.
pub fn open_in(session: &mut Session, pid: Pid, path: &str) -> Handle {
    let request = CreateRequest::open(&format!("{DISK}{path}"));
    let result = session.nt_create_file(pid, &request);
    assert_eq!(result.status, NtStatus::SUCCESS, "open {path} in {pid}");
    result.handle.unwrap()
}

/// Dismounts the volume of `disk` (e.g. `\Device\Disk0`) through a volume handle of its own
/// and closes that handle.
pub fn dismount_disk(session: &mut Session, disk: &str) {
    let pid = session.initial_process();
    let result = session.nt_create_file(pid, &CreateRequest::open(disk));
    assert_eq!(result.status, NtStatus::SUCCESS, "volume open of {disk}");
    let volume = result.handle.unwrap();
    assert_eq!(session.dismount(volume), NtStatus::SUCCESS);
    assert_eq!(session.close_handle(volume), NtStatus::SUCCESS);
}

/// Dismounts \Device\Disk0.
pub fn dismount(session: &mut Session) {
    dismount_disk(session, DISK);
}

/// The end of every test: with every handle closed, dismount, let the worker drain, stop the
/// file system the supported way (FSCTL_PREPARE_UNLOAD, then NtUnloadDriver), and require that
/// the driver is gone with no verifier finding (leaks included).
pub fn finish(mut session: Session) {
    if session.is_mounted(DISK_NAME) {
        dismount(&mut session);
    }
    session.run_worker();
    assert_eq!(session.stop_file_system("rustfsd"), NtStatus::SUCCESS);
    assert!(!session.is_loaded("rustfsd"), "rustfsd still loaded");
    let findings = session.findings();
    assert!(findings.is_empty(), "verifier findings: {findings:#?}");
}

/// SHA-256 of an image file, to show the suite never wrote it.
pub fn image_digest(image: &Path) -> String {
    rustfsd::kernel::model::harness::scenario::sha256_hex(&std::fs::read(image).unwrap())
}

/// What `debugfs -R stat` prints for `path` in `image`.
pub fn debugfs_stat(image: &Path, path: &str) -> String {
    let output = std::process::Command::new("debugfs")
        .arg("-R")
        .arg(format!("stat \"{path}\""))
        .arg(image)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The inode number of `path` in `image`, as debugfs reads it.
pub fn inode_of(image: &Path, path: &str) -> u64 {
    let text = debugfs_stat(image, path);
    let field = text
        .split("Inode:")
        .nth(1)
        .unwrap_or_else(|| panic!("debugfs stat {path}: {text}"));
    field.split_whitespace().next().unwrap().parse().unwrap()
}

pub const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x8;
pub const FILE_SYNCHRONOUS_IO_NONALERT: u32 = 0x20;
pub const FILE_NON_DIRECTORY_FILE: u32 = 0x40;

/// The create options of a synchronous file open for reading, cached or not.
pub fn read_options(non_cached: bool) -> u32 {
    let buffering = if non_cached {
        FILE_NO_INTERMEDIATE_BUFFERING
    } else {
        0
    };
    FILE_SYNCHRONOUS_IO_NONALERT | FILE_NON_DIRECTORY_FILE | buffering
}

/// Opens `path` for read, cached or not.
pub fn open_file(s: &mut Session, path: &str, non_cached: bool) -> Handle {
    let result = open_with(s, path, |request| {
        request.options = read_options(non_cached);
    });
    assert_eq!(result.status, NtStatus::SUCCESS, "open {path}");
    result.handle.unwrap()
}

/// Reads the whole file through `handle` in `chunk`-byte reads at explicit offsets.
pub fn read_all(s: &mut Session, handle: Handle, chunk: u32, what: &str) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let io = s.read_file(handle, Some(data.len() as u64), chunk);
        if io.status == NtStatus::END_OF_FILE {
            assert_eq!(io.information, 0, "{what}");
            return data;
        }
        assert_eq!(io.status, NtStatus::SUCCESS, "{what} at {}", data.len());
        assert!(
            io.information > 0 && io.information <= chunk as usize,
            "{what}"
        );
        assert_eq!(io.data.len(), io.information, "{what}");
        data.extend_from_slice(&io.data);
    }
}

/// The end of a script whose handles are all closed: the volume dismounted, the driver
/// unloaded, no verifier finding.
pub const SCRIPT_END: &str = "open v \\Device\\Disk0 => SUCCESS\n\
     dismount v => SUCCESS\n\
     close v => SUCCESS\n\
     run-worker => SUCCESS\n\
     unload rustfsd => SUCCESS\n\
     expect-findings 0\n";

/// Runs a script under the preempting scheduler and `seed`, on a fresh machine with `image` as
/// \Device\Disk0 (trace off). Ok: the run and the machine after it. Err: the script's
/// errors, or its reports and the verifier's findings when an expectation failed or something
/// was found.
pub fn run_scheduled(
    text: &str,
    image: &[u8],
    seed: u64,
) -> Result<(ScheduledRun, Session), String> {
    run_scheduled_traced(text, image, seed, false)
}

/// `run_scheduled`, keeping the model's trace (after the scheduler's lines in `run.trace`)
/// if `trace` is true.
pub fn run_scheduled_traced(
    text: &str,
    image: &[u8],
    seed: u64,
    trace: bool,
) -> Result<(ScheduledRun, Session), String> {
    let steps = scenario::parse(text)?;
    let mut session = Session::new();
    session.add_disk(DISK_NAME, DiskModel::from_bytes(image.to_vec()));
    session.set_trace_enabled(trace);
    let mut runner = scenario::Runner::new(session, vec![DriverDescriptor::rustfsd()]);
    let run = scheduler::run(&mut runner, &steps, seed);
    if run.ok {
        return Ok((run, runner.session));
    }
    let reports: Vec<&str> = run.reports.iter().map(|r| r.text.as_str()).collect();
    let findings: Vec<String> = runner
        .session
        .findings()
        .iter()
        .map(|f| f.to_string())
        .collect();
    Err(format!(
        "-- reports:\n{}\n-- findings:\n{}",
        reports.join("\n"),
        findings.join("\n")
    ))
}
