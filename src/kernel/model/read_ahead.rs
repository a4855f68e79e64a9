//! The cache manager's read-ahead. See docs/nt-model.md, "Cache manager: read-ahead".
//!
//! After a cached read (CcCopyRead, CcMdlRead, FsRtlCopyRead) Cc looks at the FILE_OBJECT's read
//! history and, for sequential access, schedules a read of what comes next on a system worker
//! (ReactOS `ntoskrnl/cc/copy.c` CcCopyData → CcScheduleReadAhead, and CcPerformReadAhead;
//! Learn: <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccschedulereadahead>,
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccsetreadaheadgranularity>):
//! - a read is sequential when it starts where the FILE_OBJECT's previous cached read ended
//!   (the private map's BeyondLastByte; a fresh map's history is 0, so a first read at 0
//!   counts); FO_RANDOM_ACCESS turns read-ahead off; one read-ahead per private map at a time
//!   (PRIVATE_CACHE_MAP_READ_AHEAD_ACTIVE);
//! - it covers the next granule: the read's length rounded up to the private map's read-ahead
//!   granularity (PAGE_SIZE unless CcSetReadAheadGranularity set it; FastFAT and CDFS set 64 KiB
//!   right after CcInitializeCacheMap), ending on a granularity boundary (CcScheduleReadAhead
//!   rounds ReadAheadLength up with ReadAheadMask and masks the end offset with it), at most
//!   MAX_READ_AHEAD, cut at end of file; nothing is queued if it is all cached already;
//! - scheduling references the FILE_OBJECT (ObReferenceObject in CcScheduleReadAhead, dropped
//!   when the read-ahead ends: that drop may be the last and send IRP_MJ_CLOSE on the worker)
//!   and keeps the shared map open (one more OpenCount) until it ends, so a CcUninitializeCacheMap
//!   meanwhile leaves the map to the read-ahead, which deletes it (inline or through the lazy
//!   writer) and sets the uninitialize events when it is done;
//! - the work item runs on the worker thread whenever the scheduler lets it: first in the queue
//!   or last (the seeded choice), so before, during or after the caller's next request, its
//!   CLEANUP (whose CcUninitializeCacheMap wait runs the worker) or a purge;
//! - it quits if the FILE_OBJECT lost its private map meanwhile (CcPerformReadAhead), otherwise
//!   calls AcquireForReadAhead(LazyWriteContext, Wait) — Wait TRUE or FALSE, the seeded choice:
//!   ReactOS passes FALSE, the brief's Windows TRUE — reads the missing pages of the granule
//!   with paging reads on the shared map's FILE_OBJECT (a failure ends it quietly), and calls
//!   ReleaseFromReadAhead.
//!
//! The verifier flags a callback due on a shared map that is gone, a context FCB freed while
//! the read-ahead holds it (the pool's generation check), and (through the worker's return
//! checks and the resource model) a resource or top-level IRP left set, or a release with
//! nothing held.

use std::boxed::Box;
use std::format;
use std::sync::Arc;

use super::cache::{PAGE_SIZE, delete_shared_map, drop_open_count, fault_in};
use super::fcb::FcbArc;
use super::harness::io::dereference;
use super::slab::ObjId;
use super::state::Kernel;
use super::verifier::FindingKind;

/// FO_RANDOM_ACCESS: the opener said it reads at random; Cc does no read-ahead for it.
const FO_RANDOM_ACCESS: u32 = 0x0010_0000;
/// The most bytes one read-ahead brings in.
const MAX_READ_AHEAD: u64 = 256 << 10;

/// A private cache map's read history (BeyondLastByte), read-ahead flag and granularity
/// (ReadAheadMask + 1).
#[derive(Clone, Copy)]
pub struct ReadHistory {
    pub beyond_last_byte: u64,
    pub read_ahead_active: bool,
    pub granularity: u64,
}

impl Default for ReadHistory {
    /// A new private map: no history, read-ahead in pages (CcInitializeCacheMap sets
    /// ReadAheadMask to PAGE_SIZE - 1).
    fn default() -> ReadHistory {
        ReadHistory {
            beyond_last_byte: 0,
            read_ahead_active: false,
            granularity: PAGE_SIZE,
        }
    }
}

/// CcSetReadAheadGranularity(file_object, granularity): the read-ahead of this FILE_OBJECT's
/// private map comes in multiples of `granularity` from now on
/// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/ntifs/nf-ntifs-ccsetreadaheadgranularity>:
/// a power of 2, at least PAGE_SIZE; the FILE_OBJECT must be cached, as ReactOS
/// `ntoskrnl/cc/copy.c` CcSetReadAheadGranularity writes FileObject->PrivateCacheMap's
/// ReadAheadMask unchecked). Anything else is a finding and changes nothing.
pub fn set_read_ahead_granularity(file_object: &super::file_object::FileObject, granularity: u32) {
    super::preempt::kernel_call();
    let Some(kernel) = super::state::current() else {
        return;
    };
    let mut state = kernel.lock();
    let id = file_object.id;
    let granularity = u64::from(granularity);
    if !granularity.is_power_of_two() || granularity < PAGE_SIZE {
        state.report(FindingKind::Other(format!(
            "CcSetReadAheadGranularity on FO {id}: {granularity} is not a power of 2 >= PAGE_SIZE"
        )));
        return;
    }
    match state.cache.history.get_mut(&id) {
        Some(history) => history.granularity = granularity,
        None => state.report(FindingKind::Other(format!(
            "CcSetReadAheadGranularity on FO {id}, which has no private cache map"
        ))),
    }
}

/// What read-ahead did, for tests.
#[derive(Default, Clone, Copy, Debug)]
pub struct ReadAheadCounters {
    pub scheduled: u64,
    /// Ran with the callbacks' lock held (AcquireForReadAhead said TRUE).
    pub performed: u64,
    /// AcquireForReadAhead said FALSE (Wait FALSE and the resource was busy).
    pub refused: u64,
    /// The FILE_OBJECT's private map was gone when it ran.
    pub abandoned: u64,
    /// Paging reads it sent.
    pub paging_reads: u64,
    /// It ended after the shared map's last private map had gone: it held the map alive.
    pub held_map_alive: u64,
}

/// After a cached read of [offset, end) on `file_object` (of `section`): updates the read
/// history and schedules a read-ahead for sequential access.
pub(crate) fn after_read(
    kernel: &Arc<Kernel>,
    file_object: ObjId,
    section: ObjId,
    offset: u64,
    end: u64,
) {
    let mut state = kernel.lock();
    let random = state
        .file_objects
        .get(file_object)
        .is_some_and(|entry| entry.flags & FO_RANDOM_ACCESS != 0);
    let Some(history) = state.cache.history.get_mut(&file_object) else {
        return;
    };
    let sequential = offset == history.beyond_last_byte;
    history.beyond_last_byte = end;
    let granularity = history.granularity;
    if random || !sequential || history.read_ahead_active {
        return;
    }
    let Some(map) = state.cache.shared.get(&section) else {
        return;
    };
    // ReadAheadLength = Length rounded up with ReadAheadMask; the end masked with it.
    let span = (end - offset)
        .div_ceil(granularity)
        .saturating_mul(granularity)
        .clamp(PAGE_SIZE, MAX_READ_AHEAD);
    let ahead_end = (end.saturating_add(span) & !(granularity - 1)).min(map.file_size);
    if ahead_end <= end {
        return;
    }
    let (first, last) = (end / PAGE_SIZE, (ahead_end - 1) / PAGE_SIZE);
    if (first..=last).all(|page| state.cache.is_resident(section, page)) {
        return;
    }
    if let Some(history) = state.cache.history.get_mut(&file_object) {
        history.read_ahead_active = true;
    }
    // ObReferenceObject(FileObject), and one more open count on the shared map.
    if let Some(entry) = state.file_objects.get_mut(file_object) {
        entry.pointer_count += 1;
    }
    if let Some(map) = state.cache.shared.get_mut(&section) {
        map.open_count += 1;
        map.read_aheads += 1;
    }
    state.cache.read_ahead.scheduled += 1;
    let first_in_queue = state.choose(2) == 0;
    let thread = state.current_thread;
    state.push_trace(format!(
        "t{thread}: CcScheduleReadAhead FO {file_object} bytes {end}..{ahead_end} ({})",
        if first_in_queue {
            "next to run"
        } else {
            "queued last"
        }
    ));
    let owner = kernel.clone();
    let item = (
        format!("Cc read-ahead: FO {file_object} bytes {end}..{ahead_end}"),
        Box::new(move || perform(&owner, file_object, section, first, last))
            as super::state::WorkRoutine,
    );
    if first_in_queue {
        state.work_queue.push_front(item);
    } else {
        state.work_queue.push_back(item);
    }
}

/// CcPerformReadAhead on the worker thread: pages `first..=last` of the section.
fn perform(kernel: &Arc<Kernel>, file_object: ObjId, section: ObjId, first: u64, last: u64) {
    let (wait, context, driver, cached) = {
        let mut state = kernel.lock();
        let wait = state.choose(2) == 0;
        let cached = state.cache.private.get(&file_object) == Some(&section);
        let Some(map) = state.cache.shared.get(&section) else {
            state.report(FindingKind::Other(format!(
                "read-ahead for FO {file_object}: shared cache map {section} deleted under it"
            )));
            drop(state);
            dereference(kernel, file_object);
            return;
        };
        let context = map.context;
        let device = state.file_objects.get(file_object).map(|f| f.device);
        let driver = device
            .and_then(|d| state.devices.get(d))
            .and_then(|d| d.driver);
        (wait, context, driver, cached)
    };
    if cached {
        read_granule(kernel, context, driver, wait, section, first, last);
    } else {
        let mut state = kernel.lock();
        state.cache.read_ahead.abandoned += 1;
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: Cc read-ahead: FO {file_object} has no private map any more, quits"
        ));
    }
    finish(kernel, file_object, section);
}

/// AcquireForReadAhead, the paging reads, ReleaseFromReadAhead.
fn read_granule(
    kernel: &Arc<Kernel>,
    context: Option<ObjId>,
    driver: Option<ObjId>,
    wait: bool,
    section: ObjId,
    first: u64,
    last: u64,
) {
    // The context's generation is checked here: a freed FCB is a use-after-free finding.
    let Some(fcb) = context.and_then(|id| FcbArc::<crate::fcb::Fcb>::lookup(id, true)) else {
        kernel.lock().report(FindingKind::Other(format!(
            "read-ahead on shared map {section}: no live FCB as LazyWriteContext"
        )));
        return;
    };
    let acquired = as_driver(kernel, driver, || {
        crate::cache::callbacks::acquire_for_cache(&fcb, wait)
    });
    {
        let mut state = kernel.lock();
        let thread = state.current_thread;
        state.push_trace(format!(
            "t{thread}: Cc read-ahead: AcquireForReadAhead(Wait {wait}) -> {acquired}"
        ));
        if !acquired {
            state.cache.read_ahead.refused += 1;
        }
    }
    if acquired {
        for page in first..=last {
            let missing = {
                let state = kernel.lock();
                state.cache.shared.contains_key(&section) && !state.cache.is_resident(section, page)
            };
            if !missing {
                continue;
            }
            kernel.lock().cache.read_ahead.paging_reads += 1;
            // CcPerformReadAhead ends quietly on a failed read.
            if fault_in(kernel, section, page, last).is_err() {
                break;
            }
        }
        kernel.lock().cache.read_ahead.performed += 1;
        as_driver(kernel, driver, || {
            crate::cache::callbacks::release_from_cache(&fcb);
        });
    }
    as_driver(kernel, driver, || drop(fcb));
}

/// Runs `f` as the driver's code (a callback Cc calls).
fn as_driver<R>(kernel: &Arc<Kernel>, driver: Option<ObjId>, f: impl FnOnce() -> R) -> R {
    let previous = core::mem::replace(&mut kernel.lock().current_driver, driver);
    let result = super::heap_faults::in_driver(f);
    kernel.lock().current_driver = previous;
    result
}

/// The end of a read-ahead: the private map's flag goes, the shared map's open count it held
/// goes (its deletion may follow, now or on the lazy writer), then its FILE_OBJECT reference
/// (IRP_MJ_CLOSE may follow right here, on the worker).
fn finish(kernel: &Arc<Kernel>, file_object: ObjId, section: ObjId) {
    let delete_now = {
        let mut state = kernel.lock();
        if let Some(history) = state.cache.history.get_mut(&file_object) {
            history.read_ahead_active = false;
        }
        let inline = state.choose(2) == 0;
        let privates_left = state.cache.private.values().any(|s| *s == section);
        if let Some(map) = state.cache.shared.get_mut(&section) {
            map.read_aheads = map.read_aheads.saturating_sub(1);
            if !privates_left {
                state.cache.read_ahead.held_map_alive += 1;
            }
        }
        drop_open_count(
            kernel,
            &mut state,
            section,
            inline,
            &format!("read-ahead for FO {file_object} done"),
        )
    };
    if let Some(section) = delete_now {
        delete_shared_map(kernel, section, false);
    }
    dereference(kernel, file_object);
}
