//! The cache manager: shared and private cache maps, CcCopyRead and its paging reads,
//! CcUninitializeCacheMap with its completion event. See docs/nt-model.md, "Cache manager".
//!
//! - A **shared cache map** per SECTION_OBJECT_POINTERS (the FCB): created by the first
//!   CcInitializeCacheMap, it references the FILE_OBJECT that call named and keeps that
//!   reference until the shared map is deleted. Its section counts on the stream's data
//!   segment, which it creates with that FILE_OBJECT if there is none
//!   (`section::cc_reference_data_segment`): that reference outlives the shared map.
//! - A **private cache map** per FILE_OBJECT that called CcInitializeCacheMap, taken away by
//!   CcUninitializeCacheMap.
//! - When the last private map goes, the shared map is deleted either inside the call or
//!   later by the lazy writer (a work item): the seeded choice produces both. Deleting it
//!   drops the FILE_OBJECT reference, so IRP_MJ_CLOSE may come inside CcUninitializeCacheMap
//!   or later on the worker thread, and the uninitialize event is set only then.
//! - Cached pages are the stream's data section, one per SECTION_OBJECT_POINTERS, shared with
//!   Mm's data segment (`data_pages`): a page either brought in is resident for the other.
//! - CcCopyRead copies from cached pages; a page not cached yet is read with a paging read
//!   IRP (IRP_PAGING_IO | IRP_NOCACHE | IRP_SYNCHRONOUS_PAGING_IO, an MDL, page-aligned
//!   offset and length, possibly past end of file within the last page) sent to the driver
//!   with the shared map's FILE_OBJECT, nested in the caller's request as a page fault is.
//! - The cache's working set is bounded: past the machine's limit (`WorkingSetLimit`, 64 MiB
//!   unless the session sets another) of cached pages, the oldest clean runs are dropped
//!   (every cached page is clean on a read-only volume), as Mm trims the system cache's
//!   working set under memory pressure
//!   (the file cache has a working set of its own:
//!   <https://learn.microsoft.com/en-us/windows/win32/api/memoryapi/nf-memoryapi-setsystemfilecachesize>;
//!   ReactOS `ntoskrnl/cc/view.c` CcRosTrimCache); a later read of them is a paging read
//!   again. The limit is not fixed on Windows (it follows the machine's memory); see
//!   docs/nt-model.md, "Cache manager".

use std::collections::{BTreeMap, VecDeque};
use std::format;
use std::sync::Arc;
use std::vec::Vec;

use super::event::Event;
use super::file_object::FileObject;
use super::harness::io::{IrpRequest, call_driver, dereference};
use super::irp::{BufferKind, Irp, OutputBuffer};
use super::slab::ObjId;
use super::state::{FAULT_STACK_CHARGE, Kernel, State, current};
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::request::{
    IRP_NOCACHE, IRP_PAGING_IO, IRP_SYNCHRONOUS_PAGING_IO, IrpParameters,
};
use crate::kernel::{FileSizes, IrpMajor, NtStatus};

/// PAGE_SIZE.
pub const PAGE_SIZE: u64 = 4096;
/// How many pages one paging read brings in at most (Mm's fault clustering).
const CLUSTER_PAGES: u64 = 16;
/// What a page frame holds before a paging read fills it: stale data from its last use, and
/// this byte at both ends of every sector and over the part past end of file.
const STALE_BYTE: u8 = 0xA5;
/// How often the stale marks recur in a recycled frame.
const STALE_MARK_STRIDE: usize = 512;
/// Page frames kept for reuse (runs the working set dropped), at most.
const FREE_FRAMES: usize = 64;
/// The most bytes of cached pages kept, over all shared maps: the system cache's working-set
/// maximum, which on Windows follows the machine's memory (docs/nt-model.md, "Cache manager").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkingSetLimit(pub usize);

impl Default for WorkingSetLimit {
    /// 64 MiB: a small machine's cache, so that tests meet the trim.
    fn default() -> WorkingSetLimit {
        WorkingSetLimit(64 << 20)
    }
}

/// One shared cache map.
pub struct SharedCacheMap {
    /// The FILE_OBJECT the section was created with; referenced while the map lives.
    pub file_object: ObjId,
    /// The LazyWriteContext the callbacks get: the FsContext (FCB) of that FILE_OBJECT.
    pub context: Option<ObjId>,
    pub file_size: u64,
    /// Private cache maps (FILE_OBJECTs) still open on it, plus read-aheads in flight.
    pub open_count: u32,
    /// Read-aheads queued or running, each holding one of `open_count` (`read_ahead.rs`).
    pub read_aheads: u32,
    /// Uninitialize events to set when the map is really deleted.
    pub waiters: Vec<Event>,
    /// Deletion was queued to the lazy writer.
    pub delete_queued: bool,
}

/// The resident pages of one stream's data section, which Cc's views and Mm's data segment
/// share (one section per stream, as on Windows): runs of whole pages as one paging read
/// brought them in, by first page. Shared, so a copy out of them needs no lock and no
/// intermediate buffer.
pub type DataPages = BTreeMap<u64, Arc<Vec<u8>>>;

#[derive(Default)]
pub struct CacheState {
    /// By SECTION_OBJECT_POINTERS (the FCB block's id).
    pub shared: BTreeMap<ObjId, SharedCacheMap>,
    /// FILE_OBJECT -> its SECTION_OBJECT_POINTERS, for FILE_OBJECTs with a private map.
    pub private: BTreeMap<ObjId, ObjId>,
    /// Each private map's read history and read-ahead flag (`read_ahead.rs`).
    pub history: BTreeMap<ObjId, super::read_ahead::ReadHistory>,
    /// Read-ahead counters, for tests.
    pub read_ahead: super::read_ahead::ReadAheadCounters,
    /// Paging reads sent, for tests.
    pub paging_reads: u64,
    /// Shared maps deleted inside CcUninitializeCacheMap / by the lazy writer.
    pub deleted_inline: u64,
    pub deleted_lazily: u64,
    /// MDL chains CcMdlRead handed out and CcMdlReadComplete has not taken back, by chain id
    /// (what Irp->MdlAddress names).
    pub mdl_chains: BTreeMap<u64, MdlChain>,
    pub next_mdl_chain: u64,
    /// The resident pages of each stream's data section, by SECTION_OBJECT_POINTERS: kept while
    /// the shared cache map or the data segment lives, dropped by a purge.
    pub data_pages: BTreeMap<ObjId, DataPages>,
    /// Resident runs in the order they came in (section, first page), and their bytes: the
    /// working set the trim takes the oldest from.
    pub working_set: VecDeque<(ObjId, u64)>,
    pub working_set_bytes: usize,
    /// Past it, the oldest runs are dropped.
    pub working_set_limit: WorkingSetLimit,
    /// Page frames of dropped runs, for the next paging reads: the pages of a page-in are
    /// taken for it and only the read fills them (ReactOS `mm/section.c` MmMakeSegmentResident).
    pub free_frames: Vec<Vec<u8>>,
}

impl CacheState {
    /// The resident run holding `page` of the data section `section`: its first page and bytes.
    pub(crate) fn run_of(&self, section: ObjId, page: u64) -> Option<(u64, Arc<Vec<u8>>)> {
        self.data_pages
            .get(&section)?
            .range(..=page)
            .next_back()
            .filter(|(first, bytes)| (page - **first) < bytes.len() as u64 / PAGE_SIZE)
            .map(|(first, bytes)| (*first, bytes.clone()))
    }

    /// True if `page` of the data section is resident.
    pub(crate) fn is_resident(&self, section: ObjId, page: u64) -> bool {
        self.run_of(section, page).is_some()
    }

    /// The first resident page after `page` (u64::MAX if none).
    pub(crate) fn next_resident_after(&self, section: ObjId, page: u64) -> u64 {
        self.data_pages
            .get(&section)
            .and_then(|pages| pages.range(page + 1..).next())
            .map_or(u64::MAX, |(first, _)| *first)
    }

    /// Makes a run of pages that a paging read brought in resident, trimming the oldest runs
    /// past the working-set limit.
    pub(crate) fn insert_run(&mut self, section: ObjId, page: u64, bytes: Vec<u8>) {
        self.working_set_bytes += bytes.len();
        let pages = self.data_pages.entry(section).or_default();
        if let Some(old) = pages.insert(page, Arc::new(bytes)) {
            self.working_set_bytes = self.working_set_bytes.saturating_sub(old.len());
        }
        self.working_set.push_back((section, page));
        self.trim_working_set();
    }

    /// A new working-set limit (the machine's memory, or SetSystemFileCacheSize with
    /// FILE_CACHE_MAX_HARD_ENABLE): a lower one trims at once.
    pub(crate) fn set_working_set_limit(&mut self, limit: WorkingSetLimit) {
        self.working_set_limit = limit;
        self.trim_working_set();
    }

    /// Drops the oldest runs while the working set is past its limit.
    fn trim_working_set(&mut self) {
        while self.working_set_bytes > self.working_set_limit.0 {
            let Some((section, page)) = self.working_set.pop_front() else {
                break;
            };
            let dropped = self
                .data_pages
                .get_mut(&section)
                .and_then(|pages| pages.remove(&page));
            if let Some(run) = dropped {
                self.working_set_bytes = self.working_set_bytes.saturating_sub(run.len());
                self.free_frame(run);
            }
        }
    }

    /// Keeps the pages of a dropped run for a later paging read, if nothing else holds them.
    fn free_frame(&mut self, run: Arc<Vec<u8>>) {
        if self.free_frames.len() < FREE_FRAMES
            && let Ok(frame) = Arc::try_unwrap(run)
        {
            self.free_frames.push(frame);
        }
    }

    /// `length` bytes of page frames holding stale data: a recycled frame (its old contents,
    /// marked with STALE_BYTE at both ends of every sector) or a new one full of STALE_BYTE;
    /// past `valid` bytes (end of file), STALE_BYTE throughout, so a tail left unzeroed shows.
    fn stale_frame(&mut self, length: usize, valid: usize) -> Vec<u8> {
        let Some(at) = self.free_frames.iter().position(|f| f.len() == length) else {
            return std::vec![STALE_BYTE; length];
        };
        let mut frame = self.free_frames.swap_remove(at);
        for sector in frame.chunks_mut(STALE_MARK_STRIDE) {
            if let Some(first) = sector.first_mut() {
                *first = STALE_BYTE;
            }
            if let Some(last) = sector.last_mut() {
                *last = STALE_BYTE;
            }
        }
        if let Some(tail) = frame.get_mut(valid..) {
            tail.fill(STALE_BYTE);
        }
        frame
    }

    /// Forgets the resident pages of a data section that is purged or gone.
    pub(crate) fn drop_data_pages(&mut self, section: ObjId) {
        let Some(runs) = self.data_pages.remove(&section) else {
            return;
        };
        let bytes: usize = runs.values().map(|run| run.len()).sum();
        self.working_set_bytes = self.working_set_bytes.saturating_sub(bytes);
    }
}

/// The cache pages of one CcMdlRead, locked until CcMdlReadComplete.
pub struct MdlChain {
    pub file_object: ObjId,
    /// What the pages held when they were locked (the caller reads them through the chain).
    pub bytes: Vec<u8>,
}

fn section_of(state: &mut State, file_object: ObjId) -> Option<ObjId> {
    match state.file_objects.get(file_object) {
        Some(entry) => entry.section_object_pointers.map(|sop| sop.id),
        None => {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id: file_object,
            });
            None
        }
    }
}

/// CcInitializeCacheMap (PASSIVE_LEVEL): gives `file_object` a private cache map, creating the
/// shared map (and its FILE_OBJECT reference) if this is the first.
pub fn initialize_cache_map(file_object: &FileObject, sizes: FileSizes) -> Result<(), NtStatus> {
    super::preempt::kernel_call();
    let id = file_object.id;
    let kernel = current().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    let mut state = kernel.lock();
    state.require_irql("CcInitializeCacheMap", 0);
    let Some(section) = section_of(&mut state, id) else {
        state.report(FindingKind::Other(format!(
            "CcInitializeCacheMap on FO {id} without SectionObjectPointer"
        )));
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if state.cache.private.contains_key(&id) {
        return Ok(());
    }
    let thread = state.current_thread;
    let created = !state.cache.shared.contains_key(&section);
    let context = state
        .file_objects
        .get(id)
        .and_then(|entry| entry.fs_context)
        .map(|fcb| fcb.id);
    if created {
        // The shared map holds a reference on the FILE_OBJECT it was created with, and Cc's
        // section one on the data segment (made with that FILE_OBJECT if there is none).
        if let Some(entry) = state.file_objects.get_mut(id) {
            entry.pointer_count += 1;
        }
        super::section::cc_reference_data_segment(&mut state, section, id);
        state.cache.shared.insert(
            section,
            SharedCacheMap {
                file_object: id,
                context,
                file_size: sizes.file_size,
                open_count: 0,
                read_aheads: 0,
                waiters: Vec::new(),
                delete_queued: false,
            },
        );
    }
    if let Some(map) = state.cache.shared.get_mut(&section) {
        map.open_count += 1;
        // A map whose deletion the lazy writer has queued is revived (its work item then
        // finds it open and leaves it).
        map.delete_queued = false;
        map.file_size = sizes.file_size;
    }
    state.cache.private.insert(id, section);
    state
        .cache
        .history
        .insert(id, super::read_ahead::ReadHistory::default());
    state.push_trace(format!(
        "t{thread}: CcInitializeCacheMap FO {id} section {section}{}",
        if created { " (shared map created)" } else { "" }
    ));
    Ok(())
}

/// True if `file_object` has a private cache map (FileObject->PrivateCacheMap != NULL).
pub fn has_private_cache_map(file_object: &FileObject) -> bool {
    let id = file_object.id;
    super::state::with_state(|state| state.cache.private.contains_key(&id)).unwrap_or(false)
}

/// CcCopyRead with Wait = TRUE: copies `length` bytes at `offset` of the cached file into
/// `buffer` at `buffer_offset`. Missing pages are read first with paging reads to the driver.
/// A failed paging read is returned as its status (Windows raises it; see docs/nt-model.md).
pub fn copy_read(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    buffer: &OutputBuffer,
    buffer_offset: usize,
) -> Result<usize, NtStatus> {
    super::preempt::kernel_call();
    let _model = super::heap_faults::Scope::model();
    copy_cached(file_object, offset, length, true, |at, data| match buffer {
        OutputBuffer::Mdl(mdl) => mdl.write(buffer_offset + at, data),
        OutputBuffer::System(system) => system.write(buffer_offset + at, data),
        // Cc copies into whatever address it is given; a user address is touched.
        OutputBuffer::User(user) => user.write(buffer_offset + at, data),
        OutputBuffer::None => Err(NtStatus::INVALID_USER_BUFFER),
    })?;
    Ok(length)
}

/// CcCopyRead's work into a new buffer (for FsRtlCopyRead and CcMdlRead): `length` bytes at
/// `offset` of the cached file, faulting missing pages in.
pub(crate) fn copy_bytes(
    file_object: &FileObject,
    offset: u64,
    length: usize,
) -> Result<Vec<u8>, NtStatus> {
    copy_bytes_waiting(file_object, offset, length, true)?.ok_or(NtStatus::UNSUCCESSFUL)
}

/// CcCopyRead with Wait = FALSE into a new buffer (for FsRtlCopyRead called with Wait FALSE):
/// `None` (FALSE) if a page of the range is not resident, with nothing copied (see
/// `copy_cached`).
pub(crate) fn copy_bytes_no_wait(
    file_object: &FileObject,
    offset: u64,
    length: usize,
) -> Result<Option<Vec<u8>>, NtStatus> {
    copy_bytes_waiting(file_object, offset, length, false)
}

fn copy_bytes_waiting(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    wait: bool,
) -> Result<Option<Vec<u8>>, NtStatus> {
    let mut data = Vec::new();
    data.try_reserve_exact(length)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    let copied = copy_cached(file_object, offset, length, wait, |_, bytes| {
        data.extend_from_slice(bytes);
        Ok(())
    })?;
    Ok(copied.then_some(data))
}

/// Hands `write(position from offset, bytes)` the cached bytes of `length` at `offset`, in
/// order, straight from the cached runs (no lock held while writing), faulting missing pages in
/// if `wait`. Without `wait` (CcCopyRead's Wait FALSE) it returns `Ok(false)`, before writing
/// anything, if a page of the range is not resident: not cached, or (the seeded choice) cached
/// but out of the system cache's working set, on the standby list, where touching it would be
/// a fault (Learn, CcCopyRead: with Wait FALSE it "returns FALSE if the required pages of the
/// cached file are not already resident"; ReactOS `ntoskrnl/cc/view.c`
/// CcRosEnsureVacbResident: MmArePagesResident, FALSE without Wait).
fn copy_cached(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    wait: bool,
    mut write: impl FnMut(usize, &[u8]) -> Result<(), NtStatus>,
) -> Result<bool, NtStatus> {
    let id = file_object.id;
    let kernel = current().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    let section = {
        let mut state = kernel.lock();
        state.require_irql("CcCopyRead", 1);
        let section = state.cache.private.get(&id).copied();
        let Some(section) = section.filter(|s| state.cache.shared.contains_key(s)) else {
            state.report(FindingKind::CachedReadWithoutCacheMap { file_object: id });
            return Err(NtStatus::INVALID_PARAMETER);
        };
        section
    };
    let end = offset
        .checked_add(length as u64)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    if !wait && !resident(&kernel, section, offset, end) {
        return Ok(false);
    }
    let mut position = offset;
    while position < end {
        // The cached run holding `position`, or the first page that is not cached.
        let found = {
            let state = kernel.lock();
            if !state.cache.shared.contains_key(&section) {
                return Err(NtStatus::FILE_CLOSED);
            }
            let page = position / PAGE_SIZE;
            state.cache.run_of(section, page).ok_or(page)
        };
        match found {
            Ok((first, bytes)) => {
                let within = (position - first * PAGE_SIZE) as usize;
                let take = ((bytes.len() - within) as u64).min(end - position) as usize;
                let slice = bytes
                    .get(within..within + take)
                    .ok_or(NtStatus::UNSUCCESSFUL)?;
                write((position - offset) as usize, slice)?;
                position += take as u64;
            }
            Err(page) => fault_in(&kernel, section, page, (end - 1) / PAGE_SIZE)?,
        }
    }
    super::read_ahead::after_read(&kernel, id, section, offset, end);
    Ok(true)
}

/// True if every page of `offset..end` of the section is cached and, as the seeded choice says
/// for each cached run, still valid in the working set (MmArePagesResident).
fn resident(kernel: &Arc<Kernel>, section: ObjId, offset: u64, end: u64) -> bool {
    let mut state = kernel.lock();
    let mut runs = 0;
    let mut page = offset / PAGE_SIZE;
    while page * PAGE_SIZE < end {
        let Some((first, bytes)) = state.cache.run_of(section, page) else {
            return false;
        };
        runs += 1;
        page = first + bytes.len() as u64 / PAGE_SIZE;
    }
    (0..runs).all(|_| state.choose(4) != 0)
}

/// CcMdlRead(file_object, offset, length, &Irp->MdlAddress, &Irp->IoStatus): the cache pages of
/// the range, faulted in as CcCopyRead's are, locked and described by an MDL chain stored in
/// the IRP (IRP_MN_MDL) for its caller, who must give it back with IRP_MN_COMPLETE_MDL
/// (CcMdlReadComplete). Returns the bytes described.
pub fn mdl_read(
    file_object: &FileObject,
    offset: u64,
    length: usize,
    irp: &Irp,
) -> Result<usize, NtStatus> {
    super::preempt::kernel_call();
    // Cc's copy of the pages into the chain is the kernel's memory, not the driver's heap.
    let _model = super::heap_faults::Scope::model();
    let bytes = copy_bytes(file_object, offset, length)?;
    let kernel = current().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    let mut state = kernel.lock();
    state.require_irql("CcMdlRead", 1);
    let chain = state.cache.next_mdl_chain + 1;
    let Some(entry) = state.irps.get_mut(irp.id) else {
        state.report(FindingKind::UseAfterFree {
            kind: ObjectKind::Irp,
            id: irp.id,
        });
        return Err(NtStatus::INVALID_PARAMETER);
    };
    if let Some(previous) = entry.mdl_chain.replace(chain) {
        state.report(FindingKind::Other(format!(
            "CcMdlRead into IRP {} whose MdlAddress already names chain {previous}",
            irp.id
        )));
    }
    let count = bytes.len();
    hand_out(&mut state, file_object.id, offset, bytes);
    Ok(count)
}

/// CcMdlRead(file_object, offset, length, MdlChain, IoStatus) for FsRtlMdlReadDev, whose
/// caller's MdlChain is no IRP's: the chain (what `*MdlChain` names) and how many bytes it
/// describes.
pub(crate) fn mdl_read_chain(
    file_object: &FileObject,
    offset: u64,
    length: usize,
) -> Result<(u64, usize), NtStatus> {
    let bytes = copy_bytes(file_object, offset, length)?;
    let kernel = current().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
    let mut state = kernel.lock();
    state.require_irql("CcMdlRead", 1);
    let count = bytes.len();
    Ok((hand_out(&mut state, file_object.id, offset, bytes), count))
}

/// Records a chain CcMdlRead hands out, until CcMdlReadComplete takes it back.
fn hand_out(state: &mut State, file_object: ObjId, offset: u64, bytes: Vec<u8>) -> u64 {
    let chain = state.cache.next_mdl_chain + 1;
    let count = bytes.len();
    state.cache.next_mdl_chain = chain;
    state
        .cache
        .mdl_chains
        .insert(chain, MdlChain { file_object, bytes });
    let thread = state.current_thread;
    state.push_trace(format!(
        "t{thread}: CcMdlRead FO {file_object} at {offset} len {count}: chain {chain}"
    ));
    chain
}

/// CcMdlReadComplete(file_object, Irp->MdlAddress), then Irp->MdlAddress = NULL: the chain's
/// pages are unlocked and the chain freed. A chain already given back, or none, is a finding.
pub fn mdl_read_complete(file_object: &FileObject, irp: &Irp) {
    super::preempt::kernel_call();
    let Some(kernel) = current() else { return };
    let mut state = kernel.lock();
    let chain = state.irps.get_mut(irp.id).and_then(|e| e.mdl_chain.take());
    give_back(&mut state, file_object.id, chain);
}

/// CcMdlReadComplete2(file_object, MdlChain), as FsRtlMdlReadCompleteDev calls it (ReactOS
/// `ntoskrnl/fsrtl/fastio.c`): the chain's pages are unlocked and the chain freed.
pub(crate) fn mdl_read_complete_chain(file_object: ObjId, chain: u64) {
    let Some(kernel) = current() else { return };
    give_back(&mut kernel.lock(), file_object, Some(chain));
}

/// Takes back a chain (`None`: MdlAddress was NULL); one not outstanding is a finding.
fn give_back(state: &mut State, file_object: ObjId, chain: Option<u64>) {
    state.require_irql("CcMdlReadComplete", 1);
    let returned = chain.and_then(|chain| state.cache.mdl_chains.remove(&chain));
    if returned.is_none() {
        state.report(FindingKind::MdlChainNotOutstanding { chain });
        return;
    }
    let thread = state.current_thread;
    state.push_trace(format!(
        "t{thread}: CcMdlReadComplete FO {file_object} chain {chain:?}"
    ));
}

/// Chains still out (at unload): each is a leak.
pub(crate) fn report_mdl_chain_leaks(state: &mut State) {
    let leaks: Vec<(u64, ObjId)> = state
        .cache
        .mdl_chains
        .iter()
        .map(|(chain, c)| (*chain, c.file_object))
        .collect();
    for (chain, file_object) in leaks {
        state.report(FindingKind::MdlChainLeak { file_object, chain });
    }
}

/// A page fault on `page` of the section: one paging read of up to CLUSTER_PAGES pages (not
/// past `last`, nor past the last page of the file, nor over pages already cached).
pub(crate) fn fault_in(
    kernel: &Arc<Kernel>,
    section: ObjId,
    page: u64,
    last: u64,
) -> Result<(), NtStatus> {
    let (file_object, device, file_size, count) = {
        let mut state = kernel.lock();
        let Some(map) = state.cache.shared.get(&section) else {
            return Err(NtStatus::FILE_CLOSED);
        };
        let file_pages = map.file_size.div_ceil(PAGE_SIZE);
        // Up to the next resident run, the end of the request, the cluster, the end of file.
        let next_cached = state.cache.next_resident_after(section, page);
        let count = CLUSTER_PAGES
            .min(last.saturating_sub(page) + 1)
            .min(file_pages.saturating_sub(page).max(1))
            .min(next_cached - page);
        let (file_object, file_size) = (map.file_object, map.file_size);
        let Some(device) = state.file_objects.get(file_object).map(|f| f.device) else {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::FileObject,
                id: file_object,
            });
            return Err(NtStatus::FILE_CLOSED);
        };
        state.cache.paging_reads += 1;
        (file_object, device, file_size, count)
    };
    let offset = page * PAGE_SIZE;
    let length = (count * PAGE_SIZE) as usize;
    let bytes = paging_read(kernel, file_object, device, offset, length, file_size)?;
    let mut state = kernel.lock();
    if !state.cache.shared.contains_key(&section) {
        return Err(NtStatus::FILE_CLOSED);
    }
    state.cache.insert_run(section, page, bytes);
    Ok(())
}

/// One paging read IRP, as Mm sends it for a fault on a cached or mapped file: `length` bytes
/// (whole pages) at the page-aligned `offset`, IRP_PAGING_IO | IRP_NOCACHE |
/// IRP_SYNCHRONOUS_PAGING_IO, into an MDL whose pages hold stale data, with the FILE_OBJECT
/// the section was created with. Returns the pages; what lies past `file_size` must have been
/// zeroed by the driver (a finding otherwise). Any status but success (a warning such as
/// STATUS_VERIFY_REQUIRED included) leaves the pages unread: Mm raises it to the faulting code.
pub(crate) fn paging_read(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    device: ObjId,
    offset: u64,
    length: usize,
    file_size: u64,
) -> Result<Vec<u8>, NtStatus> {
    let mut request = IrpRequest::new(IrpMajor::Read, Some(file_object));
    request.parameters = IrpParameters::Read {
        offset,
        length: length as u32,
    };
    request.flags = IRP_PAGING_IO | IRP_NOCACHE | IRP_SYNCHRONOUS_PAGING_IO;
    request.buffer_kind = BufferKind::Mdl;
    request.buffer_len = length;
    let valid = file_size.saturating_sub(offset).min(length as u64) as usize;
    request.pages = Some(kernel.lock().cache.stale_frame(length, valid));
    // Mm resolves a fault, and sends its paging read, at APC_LEVEL (Learn, "Dispatch Routine
    // IRQL and Thread Context": paging reads may arrive at APC_LEVEL; ReactOS
    // MiResolveMappedFileFault / IoPageRead run under the working-set lock).
    // The fault path's own frames are on the stack below the paging read.
    let irql_before = {
        let mut state = kernel.lock();
        state.charge_stack(FAULT_STACK_CHARGE);
        let thread = state.thread();
        let before = thread.irql;
        thread.irql = before.max(1);
        before
    };
    let outcome = call_driver(kernel, device, request);
    {
        let mut state = kernel.lock();
        state.thread().irql = irql_before;
        state.release_stack(FAULT_STACK_CHARGE);
    }
    if !outcome.status.is_success() {
        return Err(outcome.status);
    }
    // Mm maps whole pages: what lies past end of file must have been zeroed by the driver.
    if outcome
        .data
        .get(valid..)
        .is_some_and(|tail| tail.iter().any(|&b| b != 0))
    {
        kernel.lock().report(FindingKind::PagingReadTailNotZeroed {
            file_object,
            offset,
        });
    }
    let mut bytes = outcome.data;
    bytes.resize(length, 0);
    Ok(bytes)
}

/// CcUninitializeCacheMap(file_object, NULL, event), then KeWaitForSingleObject on the event:
/// takes away the FILE_OBJECT's private map. The event is set at once unless this was the last
/// private map; then it is set when the shared map is really deleted, inside the call or later
/// on the lazy writer's thread (the seeded choice), and the wait lets the worker run meanwhile.
/// Returns whether the FILE_OBJECT had a private map.
pub fn uninitialize_cache_map(file_object: &FileObject) -> bool {
    super::preempt::kernel_call();
    // `nt` waits on a CACHE_UNINITIALIZE_EVENT in its own frame: nothing to allocate.
    let event = Event::on_stack();
    let had = uninitialize_with_event(file_object, &event);
    event.wait();
    had
}

fn uninitialize_with_event(file_object: &FileObject, event: &Event) -> bool {
    let id = file_object.id;
    let set = |event: &Event| event.set();
    let Some(kernel) = current() else {
        set(event);
        return false;
    };
    let now = {
        let mut state = kernel.lock();
        state.require_irql("CcUninitializeCacheMap", 0);
        let thread = state.current_thread;
        let Some(section) = state.cache.private.remove(&id) else {
            state.push_trace(format!(
                "t{thread}: CcUninitializeCacheMap FO {id}: not cached, event set"
            ));
            set(event);
            return false;
        };
        state.cache.history.remove(&id);
        let inline = state.choose(2) == 0;
        let privates_left = state.cache.private.values().any(|s| *s == section);
        let Some(map) = state.cache.shared.get_mut(&section) else {
            set(event);
            return true;
        };
        if privates_left {
            map.open_count = map.open_count.saturating_sub(1);
            state.push_trace(format!(
                "t{thread}: CcUninitializeCacheMap FO {id}: other private maps remain, event set"
            ));
            set(event);
            return true;
        }
        map.waiters.push(event.clone());
        drop_open_count(
            &kernel,
            &mut state,
            section,
            inline,
            &format!("FO {id}: last private map"),
        )
    };
    if let Some(section) = now {
        delete_shared_map(&kernel, section, false);
    }
    true
}

/// One open count of the shared map of `section` goes (a private map's, or a read-ahead's
/// hold). At zero the map is deleted: now (`Some(section)` back, for the caller to delete
/// once it has let go of the state) or by the lazy writer (queued here), as `inline` says.
/// The map's uninitialize events are set only by that deletion.
pub(crate) fn drop_open_count(
    kernel: &Arc<Kernel>,
    state: &mut State,
    section: ObjId,
    inline: bool,
    why: &str,
) -> Option<ObjId> {
    let thread = state.current_thread;
    let map = state.cache.shared.get_mut(&section)?;
    map.open_count = map.open_count.saturating_sub(1);
    if map.open_count > 0 {
        let count = map.open_count;
        state.push_trace(format!(
            "t{thread}: Cc: {why}; shared map {section} still open ({count})"
        ));
        return None;
    }
    if inline {
        state.push_trace(format!(
            "t{thread}: Cc: {why}; shared map {section} deleted now"
        ));
        return Some(section);
    }
    map.delete_queued = true;
    state.push_trace(format!(
        "t{thread}: Cc: {why}; deletion of shared map {section} left to the lazy writer"
    ));
    let owner = kernel.clone();
    state.work_queue.push_back((
        format!("lazy writer: delete shared cache map {section}"),
        std::boxed::Box::new(move || delete_shared_map(&owner, section, true)),
    ));
    None
}

/// Deletes the shared map of `section` if no private map was opened on it again: the section's
/// FILE_OBJECT reference goes (IRP_MJ_CLOSE may follow right here), then the waiters' events
/// are set.
pub(crate) fn delete_shared_map(kernel: &Arc<Kernel>, section: ObjId, lazy: bool) {
    let map = {
        let mut state = kernel.lock();
        let still_unused = state
            .cache
            .shared
            .get(&section)
            .is_some_and(|m| m.open_count == 0 && (m.delete_queued || !lazy));
        if !still_unused {
            return;
        }
        if lazy {
            state.cache.deleted_lazily += 1;
        } else {
            state.cache.deleted_inline += 1;
        }
        let map = state.cache.shared.remove(&section);
        // The pages stay resident while Mm's data segment of the stream lives.
        if !super::section::has_data_segment(&state, section) {
            state.cache.drop_data_pages(section);
        }
        map
    };
    let Some(map) = map else { return };
    super::section::cc_dereference_data_segment(kernel, section);
    dereference(kernel, map.file_object);
    for event in &map.waiters {
        event.set();
    }
}

/// CcPurgeCacheSection's part in Cc: the resident pages of the data section `section` go (the
/// shared map stays).
pub(crate) fn purge_pages(state: &mut State, section: ObjId) {
    state.cache.drop_data_pages(section);
}

/// Shared maps still alive (each holds a FILE_OBJECT reference).
pub fn live_shared_maps(state: &State) -> usize {
    state.cache.shared.len()
}

/// FSRTL_CACHE_TOP_LEVEL_IRP: what IoGetTopLevelIrp returns on a Cc thread inside the file
/// system's AcquireForReadAhead / AcquireForLazyWrite.
pub const FSRTL_CACHE_TOP_LEVEL_IRP: u64 = 1;

/// IoSetTopLevelIrp(FSRTL_CACHE_TOP_LEVEL_IRP) if the thread has none. True if it was set.
pub fn enter_cache_top_level() -> bool {
    super::state::with_state(|state| {
        let thread = state.thread();
        if thread.top_level_irp != 0 {
            return false;
        }
        thread.top_level_irp = FSRTL_CACHE_TOP_LEVEL_IRP;
        true
    })
    .unwrap_or(false)
}

/// IoSetTopLevelIrp(NULL) if the thread's top-level IRP is FSRTL_CACHE_TOP_LEVEL_IRP.
pub fn leave_cache_top_level() {
    super::state::with_state(|state| {
        let thread = state.thread();
        if thread.top_level_irp == FSRTL_CACHE_TOP_LEVEL_IRP {
            thread.top_level_irp = 0;
        }
    });
}
