//! Random schedules: thousands of seeded sequences of create, duplicate, close, process exit,
//! system references dropped later on the worker thread, volume locks and dismounts, disk read
//! errors, filter contexts that hold FILE_OBJECTs, opens held between the I/O manager's VPB
//! check and their CREATE while anything else runs, media changes found by a verify, and PnP
//! removals (query-remove, vetoed or followed by a cancel or a remove; surprise removal) of the
//! disk under open files, reads, directory listings and file and volume queries, byte-range
//! locks and unlocks, security descriptor and EA queries (reads, queries and locks through
//! the fast I/O table or the IRP, as each seed decides; kernel callers' reads: FastIoRead with
//! Wait FALSE, MDL reads by IRP or FsRtlMdlRead whose chains are held across later steps and
//! given back, or now and then dropped by their caller; the cache manager's read-ahead after
//! sequential cached reads, run by the worker steps, inside CLEANUP's wait or at the end,
//! calling rustfsd's AcquireForReadAhead), on a small mke2fs tree, each ending with everything
//! closed and the driver unloaded. After every step the verifier must have found nothing; at
//! the end no pool block may be left, and the verifier must report exactly the dropped chains
//! (MdlChainLeak at unload).
//!
//! `RUSTFSD_SCHEDULES=N` changes how many seeds run (default 10 000). A failing seed prints
//! its operations; keep it in `REGRESSION_SEEDS`.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::ea::EaQuery;
use rustfsd::kernel::model::harness::locks::LockRequest;
use rustfsd::kernel::model::harness::scheduler::Rng;
use rustfsd::kernel::model::harness::session::{CreateRequest, PendingCreate, SystemRef};
use rustfsd::kernel::model::harness::{DiskModel, Handle, Pid, ReadFault, Session, USER_THREAD};
use rustfsd::kernel::model::section::SectionKind;
use rustfsd::kernel::model::verifier::FindingKind;
use support::machine::{DISK, DISK_NAME, TINY_EXT4_PATHS as PATHS, machine_on};

/// Seeds that once failed, replayed first.
const REGRESSION_SEEDS: &[u64] = &[];

/// Every status a schedule's open may see.
const OPEN_STATUSES: &[NtStatus] = &[
    NtStatus::SUCCESS,
    NtStatus::REPARSE,
    NtStatus::SHARING_VIOLATION,
    NtStatus::OBJECT_NAME_NOT_FOUND,
    NtStatus::OBJECT_PATH_NOT_FOUND,
    NtStatus::VOLUME_DISMOUNTED,
    NtStatus::ACCESS_DENIED,
    NtStatus::INVALID_PARAMETER,
    NtStatus::MEDIA_WRITE_PROTECTED,
    // With a disk fault injected: the read error itself, or (at mount) "not ours".
    DEVICE_DATA_ERROR,
    NtStatus::UNRECOGNIZED_VOLUME,
    // A held open whose process exited before its CREATE was sent: no handle to insert.
    NtStatus::INVALID_HANDLE,
    // The disk is being removed, or is gone (VPB_REMOVE_PENDING: no new mount).
    NtStatus::DEVICE_DOES_NOT_EXIST,
];

/// `\hello.txt` as the image's source tree holds it.
fn hello() -> &'static [u8] {
    static HELLO: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    HELLO.get_or_init(|| {
        std::fs::read(support::source_of("tiny-ext4").join("hello.txt")).expect("hello.txt")
    })
}

/// Every status a schedule's read may see.
const READ_STATUSES: &[NtStatus] = &[
    NtStatus::SUCCESS,
    NtStatus::END_OF_FILE,
    // A directory, or the control device.
    NtStatus::INVALID_DEVICE_REQUEST,
    // No offset on an asynchronous FILE_OBJECT, or a misaligned volume read.
    NtStatus::INVALID_PARAMETER,
    NtStatus::VOLUME_DISMOUNTED,
    NtStatus::VERIFY_REQUIRED,
    DEVICE_DATA_ERROR,
    NtStatus::DEVICE_DOES_NOT_EXIST,
    NtStatus::INVALID_HANDLE,
    // Another owner's exclusive byte-range lock.
    NtStatus::FILE_LOCK_CONFLICT,
];

/// Every status a schedule's query may see.
const QUERY_STATUSES: &[NtStatus] = &[
    NtStatus::SUCCESS,
    NtStatus::BUFFER_OVERFLOW,
    NtStatus::NO_MORE_FILES,
    NtStatus::NO_SUCH_FILE,
    // The I/O manager's length check, and a fixed part that does not fit.
    NtStatus::INFO_LENGTH_MISMATCH,
    NtStatus::BUFFER_TOO_SMALL,
    // A listing asked of a file or of the volume.
    NtStatus::INVALID_PARAMETER,
    // The control device.
    NtStatus::INVALID_DEVICE_REQUEST,
    NtStatus::VOLUME_DISMOUNTED,
    NtStatus::VERIFY_REQUIRED,
    DEVICE_DATA_ERROR,
    NtStatus::DEVICE_DOES_NOT_EXIST,
    NtStatus::INVALID_HANDLE,
    // Byte-range locks: a conflict, an unlock of nothing.
    NtStatus::LOCK_NOT_GRANTED,
    NtStatus::RANGE_NOT_LOCKED,
    // An EA scan past the last EA, or an index outside the EAs.
    NO_MORE_EAS,
    NONEXISTENT_EA_ENTRY,
];

/// What a schedule's NtCreateSection may get besides a read's statuses (the image header is a
/// paging read).
const SECTION_STATUSES: &[NtStatus] = &[
    // The handle grants neither FILE_READ_DATA nor FILE_EXECUTE.
    NtStatus::ACCESS_DENIED,
    // A directory, a symbolic link, the volume, the control device.
    NtStatus::INVALID_FILE_FOR_SECTION,
    NtStatus::MAPPED_FILE_SIZE_ZERO,
    NtStatus::INVALID_IMAGE_NOT_MZ,
];
/// STATUS_NONEXISTENT_EA_ENTRY: an EA index of 0 or past the end.
const NONEXISTENT_EA_ENTRY: NtStatus = NtStatus(0xC000_0051_u32 as i32);

/// STATUS_NO_MORE_EAS.
const NO_MORE_EAS: NtStatus = NtStatus(0x8000_0012_u32 as i32);

/// STATUS_DEVICE_DATA_ERROR, what the faulty disk answers.
const DEVICE_DATA_ERROR: NtStatus = NtStatus(0xC000_009C_u32 as i32);

struct Schedule {
    session: Session,
    rng: Rng,
    processes: Vec<Pid>,
    handles: Vec<Handle>,
    /// What each handle opened, as a lower-case volume path ("" = the volume).
    opened: Vec<(Handle, String)>,
    references: Vec<SystemRef>,
    /// Opens past IopCheckVpbMounted whose CREATE has not been sent yet.
    pending: Vec<(PendingCreate, String)>,
    /// Section objects and mapped views (with the path they map), by name.
    sections: Vec<(String, String)>,
    views: Vec<(String, String)>,
    /// MDL chains a kernel caller holds, with the handle whose FILE_OBJECT they came from.
    chains: Vec<(Handle, u64)>,
    /// Chains their caller dropped without giving them back: the verifier must name each.
    abandoned: Vec<u64>,
    next_name: usize,
    log: Vec<String>,
    image: Vec<u8>,
}

/// Only contexts on this file's FCB hold references, and never on a FILE_OBJECT of this
/// file: a context holding a FILE_OBJECT of its own FCB (directly or through another file's
/// context) would be a reference cycle, a filter bug no file system can undo.
const CONTEXT_OWNER: &str = "\\hello.txt";

impl Schedule {
    fn new(seed: u64, image: &[u8]) -> Schedule {
        let session = machine_on(
            DiskModel::from_bytes(image.to_vec()),
            Some((seed % 4) as u32),
        );
        let first = session.initial_process();
        Schedule {
            session,
            rng: Rng::new(seed),
            processes: vec![first],
            handles: Vec::new(),
            opened: Vec::new(),
            references: Vec::new(),
            pending: Vec::new(),
            sections: Vec::new(),
            views: Vec::new(),
            chains: Vec::new(),
            abandoned: Vec::new(),
            next_name: 0,
            log: Vec::new(),
            image: image.to_vec(),
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.rng.below(items.len())])
    }

    fn open(&mut self) -> Result<(), String> {
        let pid = self.pick(&self.processes.clone()).unwrap();
        let path = self.pick(PATHS).unwrap();
        let relative = self.rng.below(4) == 0;
        let (mut request, opened) = match (relative, self.pick(&self.handles.clone())) {
            (true, Some(root)) if root.pid == pid => {
                let name = path.trim_start_matches('\\');
                let mut request = CreateRequest::open(name);
                request.root = Some(root);
                let base = self.path_of(root);
                let opened = match (base.as_str(), name) {
                    (_, "") => base.clone(),
                    ("" | "\\", name) => format!("\\{name}"),
                    (base, name) => format!("{base}\\{name}"),
                };
                (request, opened)
            }
            _ => (
                CreateRequest::open(&format!("{DISK}{path}")),
                String::from(path),
            ),
        };
        request.share_access = [7, 7, 1, 0][self.rng.below(4)];
        if self.rng.below(8) == 0 {
            request.disposition = 2; // FILE_CREATE
        }
        let held = self.rng.below(4) == 0;
        let result = match self.session.begin_create(pid, &request) {
            Ok(pending) if held => {
                self.log.push(format!(
                    "open {:?} root={:?} share={} in {pid}: held before its CREATE",
                    request.path, request.root, request.share_access
                ));
                self.pending.push((pending, opened));
                return Ok(());
            }
            Ok(pending) => self.session.finish_create(pending),
            Err(failed) => failed,
        };
        self.log.push(format!(
            "open {:?} root={:?} share={} in {pid}: {:?}",
            request.path, request.root, request.share_access, result.status
        ));
        self.opened(result, opened)
    }

    /// Sends the CREATE of an open held since its VPB check.
    fn finish_held_open(&mut self, index: usize) -> Result<(), String> {
        let (pending, opened) = self.pending.swap_remove(index);
        let result = self.session.finish_create(pending);
        self.log
            .push(format!("held open of {opened:?} sent: {:?}", result.status));
        self.opened(result, opened)
    }

    fn opened(
        &mut self,
        result: rustfsd::kernel::model::harness::session::CreateResult,
        opened: String,
    ) -> Result<(), String> {
        if !OPEN_STATUSES.contains(&result.status) {
            return Err(format!("unexpected status {:?}", result.status));
        }
        if let Some(handle) = result.handle {
            self.handles.push(handle);
            self.opened.push((handle, opened.to_lowercase()));
        }
        Ok(())
    }

    fn path_of(&self, handle: Handle) -> String {
        self.opened
            .iter()
            .find(|(h, _)| *h == handle)
            .map(|(_, path)| path.clone())
            .unwrap_or_default()
    }

    fn step(&mut self) -> Result<(), String> {
        match self.rng.below(32) {
            30 | 31 => self.query()?,
            25 if self.rng.below(3) == 0 => {
                let status = self.session.query_remove_disk(DISK_NAME);
                self.log.push(format!("pnp query-remove: {status:?}"));
                if status.is_success() {
                    // Mostly another component vetoes: the disk stays for the rest of the run.
                    let cancel = self.rng.below(4) != 0;
                    let status = if cancel {
                        self.session.cancel_remove_disk(DISK_NAME)
                    } else {
                        self.session.remove_disk(DISK_NAME)
                    };
                    self.log
                        .push(format!("pnp cancel={cancel} after the query: {status:?}"));
                }
            }
            27..=29 => self.read()?,
            26 => {
                if self.rng.below(8) == 0 {
                    let status = self.session.surprise_remove_disk(DISK_NAME);
                    self.log.push(format!("pnp surprise-remove: {status:?}"));
                }
            }
            22 | 23 => {
                if let Some(index) = self.index(self.pending.len()) {
                    self.finish_held_open(index)?;
                }
            }
            24 if self.rng.below(2) == 0 => {
                // The medium changes (to a blank one, or back). The I/O manager verifies at
                // once, or the next open finds DO_VERIFY_VOLUME and has the FSD verify.
                let blank = self.rng.below(3) == 0;
                let contents = if blank {
                    vec![0; self.image.len()]
                } else {
                    self.image.clone()
                };
                self.session.change_media(DISK_NAME, contents);
                if self.rng.below(2) == 0 {
                    let status = self.session.verify_volume(DISK_NAME);
                    self.log
                        .push(format!("media swap (blank={blank}), verify: {status:?}"));
                } else {
                    self.log.push(format!(
                        "media swap (blank={blank}), verify left to the next open"
                    ));
                }
            }
            21 => self.mapping()?,
            0..=6 => self.open()?,
            7..=9 => {
                if let Some(index) = self.index(self.handles.len()) {
                    let handle = self.handles[index];
                    self.release_chains(|h| h == handle)?;
                    self.handles.swap_remove(index);
                    self.log.push(format!("close {handle:?}"));
                    self.session.close_handle(handle);
                }
            }
            10 | 11 => {
                let target = self.pick(&self.processes.clone()).unwrap();
                if let Some(handle) = self.pick(&self.handles.clone()) {
                    let duplicate = self.session.duplicate_handle(handle, target).unwrap();
                    self.log.push(format!("dup {handle:?} -> {duplicate:?}"));
                    self.handles.push(duplicate);
                    self.opened.push((duplicate, self.path_of(handle)));
                }
            }
            12 => {
                let pid = self.session.create_process();
                self.log.push(format!("process {pid}"));
                self.processes.push(pid);
            }
            13 => {
                if self.processes.len() > 1 {
                    let index = 1 + self.rng.below(self.processes.len() - 1);
                    let pid = self.processes.swap_remove(index);
                    self.release_chains(|h| h.pid == pid)?;
                    self.log.push(format!("terminate {pid}"));
                    self.session.terminate_process(pid);
                    self.handles.retain(|handle| handle.pid != pid);
                }
            }
            14 | 15 => {
                if let Some(handle) = self.pick(&self.handles.clone()) {
                    self.log.push(format!("sysref {handle:?}"));
                    self.references
                        .push(self.session.system_reference(handle).unwrap());
                }
            }
            16 => {
                if let Some(index) = self.index(self.references.len()) {
                    self.log.push("release-later".into());
                    let reference = self.references.swap_remove(index);
                    self.session.release_later(reference);
                }
            }
            17 => {
                self.log.push("worker step".into());
                self.session.run_one_work_item();
            }
            18 => {
                if let Some(handle) = self.pick(&self.handles.clone()) {
                    let code =
                        [0x0009_0018u32, 0x0009_0018, 0x0009_001C, 0x0009_0028][self.rng.below(4)];
                    let status = self.session.fs_control_file(handle, code, &[], 0).status;
                    self.log
                        .push(format!("fsctl {code:#x} on {handle:?}: {status:?}"));
                }
            }
            20 => {
                // The disk fails a few KiB somewhere (metadata or data), or heals.
                let disk = self.session.disk(DISK_NAME).unwrap();
                if self.rng.below(2) == 0 {
                    let offset = (self.rng.below(self.image.len() / 1024) * 1024) as u64;
                    disk.inject_read_error(ReadFault {
                        offset,
                        length: 4096,
                        status: DEVICE_DATA_ERROR,
                    });
                    self.log.push(format!("fault at {offset}"));
                } else {
                    disk.clear_faults();
                    self.log.push("faults cleared".into());
                }
            }
            19 => {
                // A minifilter's context on one file's FCB keeps a reference on another
                // FILE_OBJECT, dropped when that FCB is torn down: a CLOSE nested wherever
                // the driver frees an FCB.
                let owners: Vec<Handle> = self.handles_where(|path| path == CONTEXT_OWNER);
                let others: Vec<Handle> = self.handles_where(|path| path != CONTEXT_OWNER);
                if let (Some(owner), Some(held)) = (self.pick(&owners), self.pick(&others)) {
                    let status = self.session.filter_hold_reference(owner, held);
                    self.log
                        .push(format!("filter-hold {owner:?} {held:?}: {status:?}"));
                }
            }
            _ => {
                if self.rng.below(4) == 0
                    && let Some(handle) = self.pick(&self.handles.clone())
                {
                    let status = self.session.dismount(handle);
                    self.log
                        .push(format!("dismount via {handle:?}: {status:?}"));
                }
            }
        }
        Ok(())
    }

    /// A read on a random handle, as a user sends it (NtReadFile) or a kernel caller: FastIoRead
    /// with Wait FALSE, or an MDL read (IRP_MN_MDL, or FsRtlMdlRead's fast routine first) whose
    /// chain the caller keeps across later steps; or a kept chain given back. Every status must
    /// be one a read may give, and bytes read from `\hello.txt` must be the file's.
    fn read(&mut self) -> Result<(), String> {
        if let Some(index) = self.index(self.chains.len())
            && self.rng.below(3) == 0
        {
            return self.give_back(index);
        }
        let Some(handle) = self.pick(&self.handles.clone()) else {
            return Ok(());
        };
        let offset = [None, Some(0), Some(1), Some(512), Some(5000)][self.rng.below(5)];
        let length = [0u32, 1, 512, 4096, 65536][self.rng.below(5)];
        let kind = match offset.map(|_| self.rng.below(8)) {
            Some(0 | 1) => "MDL read",
            Some(2 | 3) => "FsRtlMdlRead",
            Some(4 | 5) => "read-nowait",
            _ => "read",
        };
        let at = offset.unwrap_or(0);
        let io = match kind {
            "MDL read" => self.session.mdl_read(handle, at, length),
            "FsRtlMdlRead" => self.session.mdl_read_any(handle, at, length),
            "read-nowait" => self.session.read_no_wait(handle, at, length),
            _ => self.session.read_file(handle, offset, length),
        };
        self.log.push(format!(
            "{kind} {handle:?} at {offset:?} len {length}: {:?} {}",
            io.status, io.information
        ));
        if let Some(chain) = io.mdl_chain {
            // The caller keeps the pages until a later step gives them back.
            self.log.push(format!("MDL chain {chain} held"));
            self.chains.push((handle, chain));
        }
        if !READ_STATUSES.contains(&io.status) {
            return Err(format!("{kind}: unexpected {:?}", io.status));
        }
        if io.status.is_success() && !io.data.is_empty() && self.path_of(handle) == CONTEXT_OWNER {
            let start = at as usize;
            let hello = hello();
            if offset.is_some() && hello.get(start..start + io.data.len()) != Some(&io.data[..]) {
                return Err(format!(
                    "{kind}: wrong bytes from {CONTEXT_OWNER} at {start}"
                ));
            }
        }
        Ok(())
    }

    /// The caller of an MDL read gives chain `index` back (FsRtlMdlReadComplete: the fast
    /// routine, or IRP_MN_COMPLETE_MDL, as the seed decides) on the FILE_OBJECT it came from.
    fn give_back(&mut self, index: usize) -> Result<(), String> {
        let (handle, chain) = self.chains.swap_remove(index);
        let status = self.session.mdl_read_complete_any(handle, chain);
        self.log
            .push(format!("MDL read complete chain {chain}: {status:?}"));
        if status != NtStatus::SUCCESS {
            return Err(format!("MDL read complete: {status:?}"));
        }
        Ok(())
    }

    /// The chains held through handles about to close: mostly given back first, as their
    /// caller must; now and then dropped, a caller's leak the verifier must report at unload.
    fn release_chains(&mut self, closing: impl Fn(Handle) -> bool) -> Result<(), String> {
        while let Some(index) = self.chains.iter().position(|(h, _)| closing(*h)) {
            if self.rng.below(3) == 0 {
                let (_, chain) = self.chains.swap_remove(index);
                self.log.push(format!("MDL chain {chain} abandoned"));
                self.abandoned.push(chain);
            } else {
                self.give_back(index)?;
            }
        }
        Ok(())
    }

    /// A memory-mapping event: a section created on a handle (data, or now and then image), a
    /// view mapped or unmapped, a page touched (bytes of `\hello.txt` checked), a section
    /// closed, memory pressure, or a purge by another component.
    fn mapping(&mut self) -> Result<(), String> {
        // A step that needs a view or a section it lacks makes one first, and a new section is
        // often mapped and faulted at once (notepad), so the schedules get as far as faults.
        let choice = match self.rng.below(7) {
            1..=3 if self.sections.is_empty() => 0,
            2 | 3 if self.views.is_empty() => 1,
            choice => choice,
        };
        match choice {
            0 => {
                if self.create_section()? && self.rng.below(2) == 0 {
                    self.map_view(self.sections.len() - 1);
                    self.touch(self.views.len().saturating_sub(1))?;
                }
            }
            1 => {
                if let Some(index) = self.index(self.sections.len()) {
                    self.map_view(index);
                }
            }
            2 | 3 => {
                if let Some(index) = self.index(self.views.len()) {
                    self.touch(index)?;
                }
            }
            4 => {
                if let Some(index) = self.index(self.views.len()) {
                    let (view, _) = self.views.swap_remove(index);
                    let status = self.session.unmap_view(&view);
                    self.log.push(format!("unmap-view {view}: {status:?}"));
                } else if let Some(index) = self.index(self.sections.len()) {
                    let (section, _) = self.sections.swap_remove(index);
                    let status = self.session.close_section(&section);
                    self.log
                        .push(format!("close-section {section}: {status:?}"));
                }
            }
            5 => {
                let deleted = self.session.trim();
                self.log.push(format!("trim: {deleted} segments"));
            }
            _ => {
                if let Some(handle) = self.pick(&self.handles.clone()) {
                    let purged = self.session.purge(handle);
                    self.log.push(format!("purge {handle:?}: {purged:?}"));
                }
            }
        }
        Ok(())
    }

    /// NtCreateSection on a random handle (data, or now and then image). True if it made one.
    fn create_section(&mut self) -> Result<bool, String> {
        let Some(handle) = self.pick(&self.handles.clone()) else {
            return Ok(false);
        };
        let kind = if self.rng.below(4) == 0 {
            SectionKind::Image
        } else {
            SectionKind::Data
        };
        self.next_name += 1;
        let name = format!("s{}", self.next_name);
        let status = self.session.create_section(&name, handle, kind);
        self.log.push(format!(
            "create-section {name} {kind:?} on {handle:?}: {status:?}"
        ));
        if status.is_success() {
            self.sections.push((name, self.path_of(handle)));
            return Ok(true);
        }
        if SECTION_STATUSES.contains(&status) || READ_STATUSES.contains(&status) {
            Ok(false)
        } else {
            Err(format!("create-section: unexpected {status:?}"))
        }
    }

    /// A view of section `index`.
    fn map_view(&mut self, index: usize) {
        let Some((section, path)) = self.sections.get(index).cloned() else {
            return;
        };
        self.next_name += 1;
        let view = format!("v{}", self.next_name);
        let status = self.session.map_view(&view, &section);
        self.log
            .push(format!("map-view {view} of {section}: {status:?}"));
        if status.is_success() {
            self.views.push((view, path));
        }
    }

    /// A page of view `index` read (a fault if not resident); `\hello.txt`'s bytes checked.
    fn touch(&mut self, index: usize) -> Result<(), String> {
        let Some((view, path)) = self.views.get(index).cloned() else {
            return Ok(());
        };
        let page = self.rng.below(3) as u64;
        let touched = self.session.touch(&view, page);
        self.log.push(format!(
            "touch {view} page {page}: {:?}",
            touched.as_ref().map(Vec::len)
        ));
        match touched {
            Ok(bytes) if path == CONTEXT_OWNER => {
                let mut expected = hello().to_vec();
                expected.resize(4096, 0);
                if page == 0 && bytes != expected {
                    return Err(format!("touch: wrong bytes from {CONTEXT_OWNER}"));
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(status)
                if status == NtStatus::ACCESS_VIOLATION || READ_STATUSES.contains(&status) =>
            {
                Ok(())
            }
            Err(status) => Err(format!("touch: unexpected {status:?}")),
        }
    }

    /// A directory listing, a file information query or a volume information query on a
    /// handle, with the lengths, classes and flags Explorer and `dir` use (and some they don't).
    fn query(&mut self) -> Result<(), String> {
        let Some(handle) = self.pick(&self.handles.clone()) else {
            return Ok(());
        };
        let length = [0u32, 24, 100, 700, 4096][self.rng.below(5)];
        let (what, io) = match self.rng.below(6) {
            3 => return self.lock(handle),
            4 => {
                let information = self.rng.below(16) as u32;
                let io = self
                    .session
                    .query_security(handle, information, length, false);
                (format!("query-security info {information:#x}"), io)
            }
            5 => {
                let query = EaQuery {
                    index: (self.rng.below(4) == 0).then(|| self.rng.below(5) as u32),
                    restart: self.rng.below(2) == 0,
                    single: self.rng.below(2) == 0,
                    ..EaQuery::default()
                };
                let io = self.session.query_ea(handle, length, &query);
                (format!("query-ea {query:?}"), io)
            }
            0 => {
                let class = [1u32, 3, 12, 37][self.rng.below(4)];
                let pattern = [None, Some("*"), Some("F*"), Some("<.txt")][self.rng.below(4)];
                let restart = self.rng.below(4) == 0;
                let single = self.rng.below(4) == 0;
                let io = self
                    .session
                    .query_directory_file(handle, class, length, pattern, restart, single);
                (format!("query-dir class {class} {pattern:?}"), io)
            }
            1 => {
                let class = [4u32, 5, 6, 9, 18, 34, 35][self.rng.below(7)];
                let io = self.session.query_information_file(handle, class, length);
                (format!("query-info class {class}"), io)
            }
            _ => {
                let class = [1u32, 3, 4, 5, 7][self.rng.below(5)];
                let io = self
                    .session
                    .query_volume_information_file(handle, class, length);
                (format!("query-volume class {class}"), io)
            }
        };
        self.log.push(format!(
            "{what} {handle:?} len {length}: {:?} {}",
            io.status, io.information
        ));
        if !QUERY_STATUSES.contains(&io.status) {
            return Err(format!("{what}: unexpected {:?}", io.status));
        }
        // A security query too small for the descriptor reports the length it needs.
        let needed = what.starts_with("query-security") && io.status == NtStatus::BUFFER_TOO_SMALL;
        if io.information > length as usize && !needed {
            return Err(format!(
                "{what}: {} bytes in a {length}-byte buffer",
                io.information
            ));
        }
        Ok(())
    }

    /// NtLockFile or NtUnlockFile on a random handle, over the bytes the reads use.
    fn lock(&mut self, handle: Handle) -> Result<(), String> {
        let offset = [0u64, 1, 512, 5000][self.rng.below(4)];
        let length = [0u64, 1, 512, 4096][self.rng.below(4)];
        let status = if self.rng.below(3) == 0 {
            self.session.unlock_file(handle, offset, length, 0)
        } else {
            let lock = LockRequest {
                offset,
                length,
                key: 0,
                exclusive: self.rng.below(2) == 0,
                fail_immediately: self.rng.below(4) != 0,
            };
            self.session.lock_file(handle, lock)
        };
        self.log.push(format!(
            "byte-range lock/unlock {handle:?} at {offset} len {length}: {status:?}"
        ));
        if !QUERY_STATUSES.contains(&status) {
            return Err(format!("byte-range lock: unexpected {status:?}"));
        }
        Ok(())
    }

    fn handles_where(&self, keep: impl Fn(&str) -> bool) -> Vec<Handle> {
        self.handles
            .iter()
            .copied()
            .filter(|handle| keep(&self.path_of(*handle)))
            .collect()
    }

    fn index(&mut self, len: usize) -> Option<usize> {
        (len > 0).then(|| self.rng.below(len))
    }

    /// Everything closed, every reference dropped, the volume dismounted, the driver unloaded.
    fn finish(&mut self) -> Result<(), String> {
        if let Some(disk) = self.session.disk(DISK_NAME) {
            disk.clear_faults();
        }
        while !self.pending.is_empty() {
            self.finish_held_open(0)?;
        }
        self.release_chains(|_| true)?;
        for pid in self.processes.split_off(1) {
            self.session.terminate_process(pid);
        }
        for (view, _) in std::mem::take(&mut self.views) {
            self.session.unmap_view(&view);
        }
        for (section, _) in std::mem::take(&mut self.sections) {
            self.session.close_section(&section);
        }
        for handle in std::mem::take(&mut self.handles) {
            self.session.close_handle(handle);
        }
        for reference in std::mem::take(&mut self.references) {
            self.session.release_later(reference);
        }
        self.session.run_worker();
        self.session.trim();
        if self.session.is_mounted(DISK_NAME) {
            let pid = self.session.initial_process();
            let volume = self.session.nt_create_file(pid, &CreateRequest::open(DISK));
            if let Some(volume) = volume.handle {
                self.session.dismount(volume);
                self.session.close_handle(volume);
            }
        }
        self.session.run_worker();
        let unloaded = self.session.stop_file_system("rustfsd");
        if unloaded != NtStatus::SUCCESS || self.session.is_loaded("rustfsd") {
            let devices: Vec<_> = (0..8u32)
                .map(|index| rustfsd::kernel::model::ObjId {
                    index,
                    generation: 1,
                })
                .filter_map(|d| self.session.vpb_references_of(d).map(|n| (d, n)))
                .collect();
            return Err(format!(
                "unload: {unloaded:?}, VPB references by device: {devices:?}, file objects {:?}",
                self.session.live_file_objects()
            ));
        }
        self.check_after_unload()
    }

    /// The verifier's findings after unload: exactly one MdlChainLeak per abandoned chain.
    fn check_after_unload(&self) -> Result<(), String> {
        let findings = self.session.findings();
        let chain_of = |kind: &FindingKind| match kind {
            FindingKind::MdlChainLeak { chain, .. } => Some(*chain),
            _ => None,
        };
        let mut leaked: Vec<u64> = findings.iter().filter_map(|f| chain_of(&f.kind)).collect();
        let others: Vec<_> = findings
            .iter()
            .filter(|f| chain_of(&f.kind).is_none())
            .collect();
        leaked.sort_unstable();
        let mut abandoned = self.abandoned.clone();
        abandoned.sort_unstable();
        if leaked != abandoned || !others.is_empty() {
            return Err(format!(
                "verifier: chains abandoned {abandoned:?}, reported leaked {leaked:?}, \
                 other findings {others:#?}"
            ));
        }
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        let findings = self.session.findings();
        if findings.is_empty() {
            Ok(())
        } else {
            Err(format!("verifier: {findings:#?}"))
        }
    }
}

/// What the schedules did, summed over seeds: each kind of event must have happened often, or
/// the schedules would prove little.
#[derive(Default, Debug)]
struct Tally {
    steps: usize,
    opened: usize,
    reparsed: usize,
    shared_out: usize,
    refused_dismounted: usize,
    dismounted: usize,
    locked: usize,
    filter_holds: usize,
    device_errors: usize,
    held_opens_refused_dismounted: usize,
    wrong_volumes: usize,
    removals_vetoed: usize,
    removals_granted: usize,
    surprise_removals: usize,
    listings: usize,
    queries_answered: usize,
    pages_touched: usize,
    byte_range_locks: usize,
    descriptors: usize,
    ea_answers: usize,
    /// Fast I/O calls (reads, queries, locks) the file system answered instead of an IRP.
    fast_io_answered: usize,
    mdl_chains_returned: usize,
    /// Chains handed out and held by their caller, and chains their caller dropped.
    mdl_chains_held: usize,
    mdl_chains_abandoned: usize,
    /// Reads with Wait FALSE (FastIoRead, or the IRP after a FALSE) that read something.
    reads_without_waiting: usize,
    /// Read-aheads the cache manager scheduled; those that ran (rustfsd's AcquireForReadAhead
    /// called, or the FILE_OBJECT's private map found gone); those that read under it.
    read_aheads_scheduled: usize,
    read_aheads_ran: usize,
    read_aheads_performed: usize,
}

impl Tally {
    fn add(&mut self, log: &[String]) {
        self.steps += log.len();
        for line in log {
            let has = |text: &str| line.contains(text);
            self.opened += usize::from(has("open ") && has("NtStatus(0x00000000)"));
            self.reparsed += usize::from(has("NtStatus(0x00000104)"));
            self.shared_out += usize::from(has("NtStatus(0xc0000043)"));
            self.refused_dismounted += usize::from(has("open ") && has("NtStatus(0xc000026e)"));
            self.dismounted += usize::from(has("dismount via") && has("NtStatus(0x00000000)"));
            self.locked += usize::from(has("fsctl 0x90018") && has("NtStatus(0x00000000)"));
            self.filter_holds += usize::from(has("filter-hold") && has("Ok(())"));
            self.device_errors += usize::from(has("open ") && has("NtStatus(0xc000009c)"));
            self.held_opens_refused_dismounted +=
                usize::from(has("held open") && has("NtStatus(0xc000026e)"));
            self.wrong_volumes += usize::from(has("verify: NtStatus(0xc0000012)"));
            self.removals_vetoed +=
                usize::from(has("pnp query-remove") && has("NtStatus(0xc0000022)"));
            self.removals_granted +=
                usize::from(has("pnp query-remove") && has("NtStatus(0x00000000)"));
            self.surprise_removals += usize::from(has("pnp surprise-remove"));
            let answered = has("NtStatus(0x00000000)") || has("NtStatus(0x80000005)");
            self.listings += usize::from(has("query-dir") && answered);
            self.queries_answered +=
                usize::from((has("query-info") || has("query-volume")) && answered);
            self.pages_touched += usize::from(has("touch ") && has("Ok(4096)"));
            self.byte_range_locks += usize::from(has("byte-range lock") && answered);
            self.descriptors += usize::from(has("query-security") && answered);
            self.ea_answers += usize::from(has("query-ea") && answered);
            self.mdl_chains_returned +=
                usize::from(has("MDL read complete") && has("NtStatus(0x00000000)"));
            self.mdl_chains_held += usize::from(has("MDL chain") && has("held"));
            self.mdl_chains_abandoned += usize::from(has("MDL chain") && has("abandoned"));
            self.reads_without_waiting += usize::from(
                has("read-nowait")
                    && has("NtStatus(0x00000000)")
                    && !has(": NtStatus(0x00000000) 0"),
            );
        }
    }
}

fn run(seed: u64, image: &[u8], tally: &mut Tally) -> Result<(), String> {
    let mut schedule = Schedule::new(seed, image);
    schedule.session.set_thread(USER_THREAD);
    // RUSTFSD_TRACE_SEED=N keeps the model's trace for seed N and prints it on failure.
    let traced = std::env::var("RUSTFSD_TRACE_SEED").is_ok_and(|s| s == seed.to_string());
    schedule.session.set_trace_enabled(traced);
    let steps = 10 + schedule.rng.below(50);
    let result = (|| {
        for _ in 0..steps {
            schedule.step()?;
            schedule.check()?;
        }
        Ok(())
    })();
    let log = schedule.log.clone();
    tally.add(&log);
    tally.fast_io_answered += schedule.session.fast_io_counters().1 as usize;
    let result = result.and_then(|()| schedule.finish());
    let read_ahead = schedule.session.read_ahead_counters();
    tally.read_aheads_scheduled += read_ahead.scheduled as usize;
    tally.read_aheads_ran +=
        (read_ahead.performed + read_ahead.refused + read_ahead.abandoned) as usize;
    tally.read_aheads_performed += read_ahead.performed as usize;
    let trace = if traced {
        format!(
            "\n  trace:\n    {}",
            schedule.session.trace().join("\n    ")
        )
    } else {
        String::new()
    };
    result.map_err(|error| format!("seed {seed}: {error}\n  {}{trace}", log.join("\n  ")))
}

#[test]
fn ten_thousand_random_schedules_end_clean() {
    let image_path = support::image("tiny-ext4");
    let image = std::fs::read(&image_path).unwrap();
    let before = support::machine::image_digest(&image_path);
    let count = support::seeds::count("RUSTFSD_SCHEDULES", 10_000);
    let mut tally = Tally::default();
    let seeds = REGRESSION_SEEDS.iter().copied().chain(0..count);
    support::seeds::run_all(seeds, &mut tally, 3, |seed, tally| run(seed, &image, tally));
    eprintln!(
        "random schedules: {count} seeds (+{} regression seeds) clean: {tally:?}",
        REGRESSION_SEEDS.len()
    );
    let counts = [
        ("successful opens", tally.opened),
        ("reparses", tally.reparsed),
        ("sharing violations", tally.shared_out),
        ("opens refused after a dismount", tally.refused_dismounted),
        ("dismounts", tally.dismounted),
        ("volume locks", tally.locked),
        ("filter-held references", tally.filter_holds),
        ("opens failed by a disk error", tally.device_errors),
        (
            "held opens refused by a volume dismounted meanwhile",
            tally.held_opens_refused_dismounted,
        ),
        ("media changes found by verify", tally.wrong_volumes),
        (
            "query-removes vetoed by an open handle",
            tally.removals_vetoed,
        ),
        ("query-removes granted", tally.removals_granted),
        ("surprise removals", tally.surprise_removals),
        ("directory listings answered", tally.listings),
        ("file and volume queries answered", tally.queries_answered),
        ("mapped pages touched", tally.pages_touched),
        (
            "byte-range locks and unlocks granted",
            tally.byte_range_locks,
        ),
        ("security descriptors answered", tally.descriptors),
        ("EA queries answered", tally.ea_answers),
        ("fast I/O calls answered", tally.fast_io_answered),
        (
            "MDL chains handed out and given back",
            tally.mdl_chains_returned,
        ),
        ("MDL chains held across steps", tally.mdl_chains_held),
        ("MDL chains abandoned", tally.mdl_chains_abandoned),
        ("reads without waiting", tally.reads_without_waiting),
        ("read-aheads scheduled", tally.read_aheads_scheduled),
        ("read-aheads run", tally.read_aheads_ran),
    ];
    support::seeds::require_often(&counts, count as usize / 100, &tally);
    assert!(
        tally.read_aheads_performed > 0 || count < 1000,
        "no read-ahead ever called AcquireForReadAhead: {tally:?}"
    );
    assert_eq!(support::machine::image_digest(&image_path), before);
}
