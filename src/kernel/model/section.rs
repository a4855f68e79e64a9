//! The memory manager's file-backed sections: segments, section objects, views, page faults,
//! segment deletion, and the purge and flush calls a file system makes on them
//! (CcPurgeCacheSection, MmFlushImageSection). See docs/nt-model.md, "Memory manager".
//!
//! - A **segment** (control area) per SECTION_OBJECT_POINTERS and kind (data or image):
//!   created by the first NtCreateSection on the file, or for a data segment by the
//!   CcInitializeCacheMap that creates the shared cache map (Cc's section), with the
//!   FILE_OBJECT that call named, which it references until the segment is deleted. Sizes
//!   come from the FCB header, read while FsRtlAcquireToCreateMappedSection holds the file.
//! - **Section objects** (Cc's included, while its shared map lives) and **views** count on
//!   their segment. When both counts reach zero
//!   the segment is unused but stays, with its pages and its FILE_OBJECT reference, until
//!   memory pressure (`trim`) or a purge deletes it; or its deletion is queued to the worker
//!   right away (the seeded choice). Deleting it drops the FILE_OBJECT reference: that
//!   FILE_OBJECT's IRP_MJ_CLOSE comes then, on whichever thread deleted the segment.
//! - Touching a page not yet resident is a page fault: a paging read IRP to the driver
//!   (`cache::paging_read`), clustered up to CLUSTER_PAGES pages, never past the file's last
//!   page. A data segment's pages are the stream's one data section, shared with Cc
//!   (`CacheState::data_pages`): what a cached read brought in is resident for a view.

use std::collections::BTreeMap;
use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use super::cache::{PAGE_SIZE, paging_read, purge_pages};
use super::fcb::FcbArc;
use super::file_object::FileObject;
use super::harness::io::dereference;
use super::resource::AcquireMode;
use super::resource::Grant;
use super::slab::ObjId;
use super::state::{Kernel, State, current, enter};
use super::verifier::FindingKind;
use crate::cache::section_sync::{SectionSyncKind, pre_acquire_for_section_sync};
use crate::kernel::{FileSizes, MmFlushType, NtStatus};

/// How many pages one fault brings in at most (Mm's fault clustering for mapped files).
const CLUSTER_PAGES: u64 = 8;

/// What FsRtl and Mm read of an FCB header without knowing the file system's type.
pub(crate) trait HeaderView: Send + Sync {
    /// AllocationSize, FileSize, ValidDataLength.
    fn sizes(&self) -> FileSizes;
    /// Header.Resource.
    fn resource(&self) -> Option<ObjId>;
    /// Header.Resource, to acquire (FsRtlCopyRead takes it shared).
    fn header_resource(&self) -> &super::resource::Resource;
    /// Header.IsFastIoPossible.
    fn fast_io_possible(&self) -> crate::kernel::FastIoPossible;
}

/// NtCreateSection's SEC_IMAGE or not.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum SectionKind {
    Data,
    Image,
}

/// A segment is named by its SECTION_OBJECT_POINTERS (the FCB's id) and kind.
type SegmentKey = (ObjId, SectionKind);

/// One segment (control area).
struct Segment {
    /// The FILE_OBJECT the segment was created with; referenced while it lives.
    file_object: ObjId,
    device: ObjId,
    file_size: u64,
    /// An image segment's resident pages, by page number. A data segment's are the stream's
    /// data section pages, shared with Cc (`CacheState::data_pages`).
    pages: BTreeMap<u64, Vec<u8>>,
    sections: u32,
    views: u32,
    /// Its deletion was queued to the worker (cancelled if it is used again meanwhile).
    deletion_queued: bool,
}

impl Segment {
    fn unused(&self) -> bool {
        self.sections == 0 && self.views == 0
    }
}

#[derive(Default)]
pub struct SectionState {
    /// FCB headers by FCB id (registered by `FcbArc`).
    pub(crate) headers: BTreeMap<ObjId, Arc<dyn HeaderView>>,
    segments: BTreeMap<SegmentKey, Segment>,
    /// Section objects by the script's name for them.
    sections: BTreeMap<String, SegmentKey>,
    /// Mapped views by the script's name for them.
    views: BTreeMap<String, SegmentKey>,
    /// Page faults sent to a driver as paging reads, and segments deleted.
    pub paging_reads: u64,
    pub segments_deleted: u64,
}

/// Segments alive (each holds a FILE_OBJECT reference).
pub fn live_segments(state: &State) -> usize {
    state.sections.segments.len()
}

/// True if the stream `sop` has a data segment (its pages stay resident while it does).
pub(crate) fn has_data_segment(state: &State, sop: ObjId) -> bool {
    state
        .sections
        .segments
        .contains_key(&(sop, SectionKind::Data))
}

/// NtCreateSection(PAGE_READONLY or PAGE_EXECUTE, SEC_COMMIT or SEC_IMAGE) on `file_object`,
/// giving the section object the script's `name`.
///
/// ReactOS `ntoskrnl/mm/section.c` MmCreateSection and `mm/ARM3/section.c`: the file's lock is
/// taken with FsRtlAcquireToCreateMappedSection (the file system's
/// PreAcquireForSectionSynchronization first), the sizes read from the FCB header, the segment
/// found or created (referencing the FILE_OBJECT), and the file released (FsRtlReleaseFile).
/// An image section reads the image header with a paging read while the file is held.
pub fn create(
    kernel: &Arc<Kernel>,
    name: &str,
    file_object: ObjId,
    kind: SectionKind,
) -> Result<(), NtStatus> {
    let _entered = enter(kernel);
    let (sop, device, readable) = {
        let mut state = kernel.lock();
        if state.sections.sections.contains_key(name) {
            return Err(NtStatus::INVALID_PARAMETER);
        }
        let Some(entry) = state.file_objects.get(file_object) else {
            return Err(NtStatus::INVALID_HANDLE);
        };
        let found = (
            entry.section_object_pointers.map(|sop| sop.id),
            entry.device,
            entry.access.read,
        );
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: NtCreateSection {name} ({kind:?}) on FO {file_object}"
        ));
        found
    };
    // The handle must grant FILE_READ_DATA (PAGE_READONLY) or FILE_EXECUTE (SEC_IMAGE).
    if !readable {
        return Err(NtStatus::ACCESS_DENIED);
    }
    let Some(sop) = sop else {
        return Err(NtStatus::INVALID_FILE_FOR_SECTION);
    };
    let resource = acquire_to_create_mapped_section(kernel, file_object, device)?;
    let created = create_segment(kernel, file_object, device, sop, kind);
    release_file(kernel, resource);
    let key = created?;
    kernel
        .lock()
        .sections
        .sections
        .insert(String::from(name), key);
    Ok(())
}

/// The segment for `sop` and `kind`, with one more section object on it; created (with a
/// FILE_OBJECT reference) if there is none. Runs with the file held.
fn create_segment(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    device: ObjId,
    sop: ObjId,
    kind: SectionKind,
) -> Result<SegmentKey, NtStatus> {
    let key = (sop, kind);
    let file_size = {
        let mut state = kernel.lock();
        let sizes = state.sections.headers.get(&sop).map(|h| h.sizes());
        let Some(sizes) = sizes else {
            return Err(NtStatus::INVALID_FILE_FOR_SECTION);
        };
        // Checked first: the empty file's data segment Cc may have made does not change it.
        if sizes.file_size == 0 {
            return Err(NtStatus::MAPPED_FILE_SIZE_ZERO);
        }
        if let Some(segment) = state.sections.segments.get_mut(&key) {
            segment.sections += 1;
            segment.deletion_queued = false;
            return Ok(key);
        }
        sizes.file_size
    };
    let mut pages = BTreeMap::new();
    if kind == SectionKind::Image {
        // MiCreateImageFileMap reads the headers through the file system (paging I/O).
        kernel.lock().sections.paging_reads += 1;
        let first = paging_read(
            kernel,
            file_object,
            device,
            0,
            PAGE_SIZE as usize,
            file_size,
        )?;
        if first.get(..2) != Some(b"MZ".as_slice()) {
            return Err(NtStatus::INVALID_IMAGE_NOT_MZ);
        }
        pages.insert(0, first);
    }
    let mut state = kernel.lock();
    if !insert_segment(&mut state, key, file_object, file_size, pages) {
        return Err(NtStatus::FILE_CLOSED);
    }
    let thread = state.current_thread;
    state.push_trace(format!(
        "t{thread}: Mm: segment {kind:?} of SOP {sop} created, references FO {file_object}"
    ));
    Ok(key)
}

/// A new segment under `key` with one section object on it, referencing `file_object` (false
/// if that FILE_OBJECT is gone).
fn insert_segment(
    state: &mut State,
    key: SegmentKey,
    file_object: ObjId,
    file_size: u64,
    pages: BTreeMap<u64, Vec<u8>>,
) -> bool {
    let Some(entry) = state.file_objects.get_mut(file_object) else {
        return false;
    };
    entry.pointer_count += 1;
    let device = entry.device;
    state.sections.segments.insert(
        key,
        Segment {
            file_object,
            device,
            file_size,
            pages,
            sections: 1,
            views: 0,
            deletion_queued: false,
        },
    );
    true
}

/// Cc's section on the stream `sop`, taken when CcInitializeCacheMap creates the shared map
/// for `file_object` (ReactOS `ntoskrnl/cc/view.c` CcRosInitializeFileCache: MmCreateSection
/// of SharedCacheMap->Section with that FILE_OBJECT; `mm/section.c` MmCreateSection finds the
/// stream's data segment or creates it with that FILE_OBJECT referenced): one more section
/// object on the data segment, which keeps it from being unused while the shared map lives.
pub(crate) fn cc_reference_data_segment(state: &mut State, sop: ObjId, file_object: ObjId) {
    let key = (sop, SectionKind::Data);
    let thread = state.current_thread;
    if let Some(segment) = state.sections.segments.get_mut(&key) {
        segment.sections += 1;
        segment.deletion_queued = false;
        state.push_trace(format!(
            "t{thread}: Mm: Cc's section on the data segment of SOP {sop}"
        ));
        return;
    }
    let file_size = state
        .sections
        .headers
        .get(&sop)
        .map_or(0, |h| h.sizes().file_size);
    if !insert_segment(state, key, file_object, file_size, BTreeMap::new()) {
        return;
    }
    state.push_trace(format!(
        "t{thread}: Mm: data segment of SOP {sop} created for Cc, references FO {file_object}"
    ));
}

/// Cc's section on the stream `sop` goes with its shared map (ReactOS `cc/view.c`
/// CcRosDeleteFileCache: ObDereferenceObject(SharedCacheMap->Section)): the data segment may
/// become unused, and then stays or has its deletion queued (`maybe_unused`).
pub(crate) fn cc_dereference_data_segment(kernel: &Arc<Kernel>, sop: ObjId) {
    let key = (sop, SectionKind::Data);
    {
        let mut state = kernel.lock();
        let Some(segment) = state.sections.segments.get_mut(&key) else {
            return;
        };
        segment.sections = segment.sections.saturating_sub(1);
    }
    maybe_unused(kernel, key);
}

/// FsRtlAcquireToCreateMappedSection (ReactOS `ntoskrnl/fsrtl/fastio.c`,
/// FsRtlAcquireFileExclusiveCommon): FsRtlEnterFileSystem, then the file system's
/// PreAcquireForSectionSynchronization if it registered one. A failure ends the section
/// creation with that status. STATUS_FSFILTER_OP_COMPLETED_SUCCESSFULLY and
/// STATUS_FILE_LOCKED_WITH_ONLY_READERS / _WITH_WRITERS say the file system took its lock
/// itself; any other success leaves FsRtl to take Header.Resource exclusive (no fast I/O
/// AcquireFileForNtCreateSection in the model). Either way Header.Resource must be held now.
/// Returns the resource FsRtlReleaseFile will release.
fn acquire_to_create_mapped_section(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    device: ObjId,
) -> Result<Option<ObjId>, NtStatus> {
    let (registered, resource, driver) = {
        let mut state = kernel.lock();
        let driver = state.devices.get(device).and_then(|d| d.driver);
        let registered = driver
            .and_then(|d| state.drivers.get(d))
            .is_some_and(|d| d.section_sync_callbacks);
        let fcb = state
            .file_objects
            .get(file_object)
            .and_then(|f| f.fs_context)
            .map(|c| c.id);
        let resource = fcb
            .and_then(|fcb| state.sections.headers.get(&fcb))
            .and_then(|header| header.resource());
        state.thread().apc_disable += 1;
        (registered, resource, driver)
    };
    let mut file_system_holds = false;
    if registered {
        let previous = core::mem::replace(&mut kernel.lock().current_driver, driver);
        let status = super::heap_faults::in_driver(|| {
            pre_acquire_for_section_sync(
                &FileObject { id: file_object },
                SectionSyncKind::CreateSection,
            )
        });
        let mut state = kernel.lock();
        state.current_driver = previous;
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: PreAcquireForSectionSynchronization FO {file_object} -> {status:?}"
        ));
        if !status.is_success() {
            let thread = state.thread();
            thread.apc_disable = thread.apc_disable.saturating_sub(1);
            return Err(status);
        }
        file_system_holds = [
            NtStatus::FSFILTER_OP_COMPLETED_SUCCESSFULLY,
            NtStatus::FILE_LOCKED_WITH_ONLY_READERS,
            NtStatus::FILE_LOCKED_WITH_WRITERS,
        ]
        .contains(&status);
    }
    let mut state = kernel.lock();
    let Some(resource) = resource else {
        return Ok(None);
    };
    let thread = state.current_thread;
    if !file_system_holds {
        let grant = state
            .resources
            .get_mut(resource)
            .map(|r| r.try_acquire(thread, AcquireMode::Exclusive));
        if grant != Some(Grant::Granted) {
            state.report(FindingKind::Deadlock { resource });
        }
    }
    if !state
        .resources
        .get(resource)
        .is_some_and(|r| r.held_by(thread))
    {
        state.report(FindingKind::Other(format!(
            "PreAcquireForSectionSynchronization said the file is locked, but FO \
             {file_object}'s Header.Resource is not held"
        )));
        return Ok(None);
    }
    Ok(Some(resource))
}

/// FsRtlReleaseFile (same source): with no fast I/O ReleaseFileForNtCreateSection, releases
/// Header.Resource (however the file system acquired it), then FsRtlExitFileSystem.
fn release_file(kernel: &Arc<Kernel>, resource: Option<ObjId>) {
    let mut state = kernel.lock();
    if let Some(resource) = resource {
        let thread = state.current_thread;
        let released = state.resources.get_mut(resource).map(|r| r.release(thread));
        if released != Some(true) {
            state.report(FindingKind::UnbalancedRelease { resource });
        }
    }
    let thread = state.thread();
    thread.apc_disable = thread.apc_disable.saturating_sub(1);
}

/// NtClose of the section object named `name`.
pub fn close(kernel: &Arc<Kernel>, name: &str) -> NtStatus {
    let _entered = enter(kernel);
    let key = kernel.lock().sections.sections.remove(name);
    let Some(key) = key else {
        return NtStatus::INVALID_HANDLE;
    };
    {
        let mut state = kernel.lock();
        if let Some(segment) = state.sections.segments.get_mut(&key) {
            segment.sections = segment.sections.saturating_sub(1);
        }
    }
    maybe_unused(kernel, key);
    NtStatus::SUCCESS
}

/// NtMapViewOfSection of the whole section named `section`, as view `view`.
pub fn map_view(kernel: &Arc<Kernel>, view: &str, section: &str) -> NtStatus {
    let mut state = kernel.lock();
    let Some(key) = state.sections.sections.get(section).copied() else {
        return NtStatus::INVALID_HANDLE;
    };
    if state.sections.views.contains_key(view) {
        return NtStatus::INVALID_PARAMETER;
    }
    let Some(segment) = state.sections.segments.get_mut(&key) else {
        return NtStatus::INVALID_HANDLE;
    };
    segment.views += 1;
    state.sections.views.insert(String::from(view), key);
    NtStatus::SUCCESS
}

/// NtUnmapViewOfSection (ReactOS `mm/section.c` MiRosUnmapViewOfSection: the view goes; the
/// segment loses a view and may become unused).
pub fn unmap_view(kernel: &Arc<Kernel>, view: &str) -> NtStatus {
    let _entered = enter(kernel);
    let key = {
        let mut state = kernel.lock();
        let Some(key) = state.sections.views.remove(view) else {
            return NtStatus::INVALID_PARAMETER;
        };
        if let Some(segment) = state.sections.segments.get_mut(&key) {
            segment.views = segment.views.saturating_sub(1);
        }
        key
    };
    maybe_unused(kernel, key);
    NtStatus::SUCCESS
}

/// A segment whose last section object and view went: it stays on Mm's unused list, with its
/// pages and FILE_OBJECT reference, until memory pressure or a purge; or Mm is already short
/// of memory and queues its deletion to the worker now. Both happen on Windows: the seeded
/// choice picks.
fn maybe_unused(kernel: &Arc<Kernel>, key: SegmentKey) {
    let mut state = kernel.lock();
    let now = state.choose(2) == 1;
    let Some(segment) = state.sections.segments.get_mut(&key) else {
        return;
    };
    if !segment.unused() {
        return;
    }
    let thread = state.current_thread;
    if now {
        queue_deletion(kernel, &mut state, key);
        state.push_trace(format!(
            "t{thread}: Mm: segment of SOP {} unused, deletion queued",
            key.0
        ));
    } else {
        state.push_trace(format!(
            "t{thread}: Mm: segment of SOP {} unused, kept until trimmed",
            key.0
        ));
    }
}

fn queue_deletion(kernel: &Arc<Kernel>, state: &mut State, key: SegmentKey) {
    let Some(segment) = state.sections.segments.get_mut(&key) else {
        return;
    };
    if segment.deletion_queued {
        return;
    }
    segment.deletion_queued = true;
    let owner = kernel.clone();
    state.work_queue.push_back((
        format!("Mm: delete segment of SOP {}", key.0),
        std::boxed::Box::new(move || {
            delete_segment(&owner, key, true);
        }),
    ));
}

/// Deletes the segment if it is still unused (and, from the worker, still queued): its pages
/// go and its FILE_OBJECT reference is dropped, so IRP_MJ_CLOSE may come right here.
fn delete_segment(kernel: &Arc<Kernel>, key: SegmentKey, queued: bool) -> bool {
    let file_object = {
        let mut state = kernel.lock();
        let deletable = state
            .sections
            .segments
            .get(&key)
            .is_some_and(|s| s.unused() && (s.deletion_queued || !queued));
        if !deletable {
            return false;
        }
        let Some(segment) = state.sections.segments.remove(&key) else {
            return false;
        };
        // A data segment's pages stay resident while Cc's shared map of the stream lives.
        if key.1 == SectionKind::Data && !state.cache.shared.contains_key(&key.0) {
            state.cache.drop_data_pages(key.0);
        }
        state.sections.segments_deleted += 1;
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: Mm: segment of SOP {} deleted, dereferences FO {}",
            key.0, segment.file_object
        ));
        segment.file_object
    };
    dereference(kernel, file_object);
    true
}

/// Memory pressure: the worker deletes every unused segment (MiDeleteUnusedSegments /
/// the segment dereference thread). Returns how many went.
pub fn trim(kernel: &Arc<Kernel>) -> usize {
    let _entered = enter(kernel);
    let before = kernel.lock().sections.segments_deleted;
    {
        let mut state = kernel.lock();
        let unused: Vec<SegmentKey> = state
            .sections
            .segments
            .iter()
            .filter(|(_, s)| s.unused())
            .map(|(k, _)| *k)
            .collect();
        for key in unused {
            queue_deletion(kernel, &mut state, key);
        }
    }
    while super::event::run_one_work_item() {}
    let after = kernel.lock().sections.segments_deleted;
    (after - before) as usize
}

/// A read of `page` through view `view`: the resident page, or a page fault (a paging read of
/// up to CLUSTER_PAGES pages from `page` on, stopping at a resident page or the file's last
/// page). Returns the whole page, zeros past end of file included. STATUS_ACCESS_VIOLATION
/// past the view's last page, as the faulting thread gets.
pub fn touch(kernel: &Arc<Kernel>, view: &str, page: u64) -> Result<Vec<u8>, NtStatus> {
    let _entered = enter(kernel);
    let (file_object, device, file_size, count, key) = {
        let mut state = kernel.lock();
        let Some(key) = state.sections.views.get(view).copied() else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        let Some(segment) = state.sections.segments.get(&key) else {
            return Err(NtStatus::INVALID_PARAMETER);
        };
        let last = segment.file_size.div_ceil(PAGE_SIZE);
        if page >= last {
            return Err(NtStatus::ACCESS_VIOLATION);
        }
        let data = key.1 == SectionKind::Data;
        let (resident, next_resident) = if data {
            let resident = state.cache.run_of(key.0, page).and_then(|(first, run)| {
                let at = ((page - first) * PAGE_SIZE) as usize;
                run.get(at..at + PAGE_SIZE as usize).map(<[u8]>::to_vec)
            });
            (resident, state.cache.next_resident_after(key.0, page))
        } else {
            let next = segment
                .pages
                .range(page + 1..)
                .next()
                .map_or(u64::MAX, |(first, _)| *first);
            (segment.pages.get(&page).cloned(), next)
        };
        if let Some(bytes) = resident {
            return Ok(bytes);
        }
        let count = CLUSTER_PAGES.min(last - page).min(next_resident - page);
        let found = (
            segment.file_object,
            segment.device,
            segment.file_size,
            count,
            key,
        );
        state.sections.paging_reads += 1;
        found
    };
    let offset = page * PAGE_SIZE;
    let bytes = paging_read(
        kernel,
        file_object,
        device,
        offset,
        (count * PAGE_SIZE) as usize,
        file_size,
    )?;
    let first_page = bytes.get(..PAGE_SIZE as usize).unwrap_or(&[]).to_vec();
    let mut state = kernel.lock();
    if key.1 == SectionKind::Data {
        if !state.sections.segments.contains_key(&key) {
            return Err(NtStatus::FILE_CLOSED);
        }
        state.cache.insert_run(key.0, page, bytes);
        return Ok(first_page);
    }
    let Some(segment) = state.sections.segments.get_mut(&key) else {
        return Err(NtStatus::FILE_CLOSED);
    };
    for (index, chunk) in bytes.chunks(PAGE_SIZE as usize).enumerate() {
        segment.pages.insert(page + index as u64, chunk.to_vec());
    }
    Ok(first_page)
}

/// CcPurgeCacheSection(SectionObjectPointer, NULL, 0, FALSE) on the FCB `sop`
/// (https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccpurgecachesection):
/// FALSE while a user view of the data section is mapped. Otherwise the cached and resident
/// pages go, and an unused data segment is deleted, dropping its FILE_OBJECT reference: inside
/// the call (IRP_MJ_CLOSE nested in the caller) or on the worker later (the seeded choice).
pub(crate) fn purge(kernel: &Arc<Kernel>, sop: ObjId) -> bool {
    let key = (sop, SectionKind::Data);
    let inline = {
        let mut state = kernel.lock();
        state.require_irql("CcPurgeCacheSection", 0);
        let inline = state.choose(2) == 0;
        let thread = state.current_thread;
        if state
            .sections
            .segments
            .get(&key)
            .is_some_and(|s| s.views > 0)
        {
            state.push_trace(format!(
                "t{thread}: CcPurgeCacheSection SOP {sop}: mapped views, FALSE"
            ));
            return false;
        }
        purge_pages(&mut state, sop);
        let Some(segment) = state.sections.segments.get_mut(&key) else {
            state.push_trace(format!("t{thread}: CcPurgeCacheSection SOP {sop}: TRUE"));
            return true;
        };
        segment.pages.clear();
        if !segment.unused() {
            return true;
        }
        state.push_trace(format!(
            "t{thread}: CcPurgeCacheSection SOP {sop}: unused segment deleted {}",
            if inline { "now" } else { "by the worker" }
        ));
        if !inline {
            queue_deletion(kernel, &mut state, key);
        }
        inline
    };
    if inline {
        delete_segment(kernel, key, false);
    }
    true
}

/// MmFlushImageSection(SectionObjectPointer, flush)
/// (https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-mmflushimagesection;
/// ReactOS `mm/section.c` MmFlushImageSection): TRUE if there is no image segment, or if it
/// was unused and is deleted now (its FILE_OBJECT reference dropped inside the call); FALSE
/// while an image section object or view exists. MmFlushForWrite answers the same way here
/// (no data-section writers exist on a read-only file system).
pub(crate) fn flush_image(kernel: &Arc<Kernel>, sop: ObjId, flush: MmFlushType) -> bool {
    let key = (sop, SectionKind::Image);
    {
        let mut state = kernel.lock();
        state.require_irql("MmFlushImageSection", 0);
        let thread = state.current_thread;
        match state.sections.segments.get(&key) {
            None => return true,
            Some(segment) if !segment.unused() => {
                state.push_trace(format!(
                    "t{thread}: MmFlushImageSection({flush:?}) SOP {sop}: image mapped, FALSE"
                ));
                return false;
            }
            Some(_) => state.push_trace(format!(
                "t{thread}: MmFlushImageSection({flush:?}) SOP {sop}: unused image deleted"
            )),
        }
    }
    delete_segment(kernel, key, false);
    true
}

/// CcPurgeCacheSection on the FCB's SECTION_OBJECT_POINTERS (boundary item).
pub fn cc_purge_cache_section<T: Send + Sync + 'static>(fcb: &FcbArc<T>) -> bool {
    super::preempt::kernel_call();
    let Some(kernel) = current() else { return true };
    purge(&kernel, fcb.id())
}

/// MmFlushImageSection on the FCB's SECTION_OBJECT_POINTERS (boundary item).
pub fn mm_flush_image_section<T: Send + Sync + 'static>(
    fcb: &FcbArc<T>,
    flush: MmFlushType,
) -> bool {
    super::preempt::kernel_call();
    let Some(kernel) = current() else { return true };
    flush_image(&kernel, fcb.id(), flush)
}
