//! FsRtl: FsRtlEnterFileSystem/FsRtlExitFileSystem and per-stream contexts
//! (FsRtlInsertPerStreamContext, FsRtlTeardownPerStreamContexts). The advanced header's setup
//! and teardown are done by `FcbArc` (fcb.rs), never by the driver directly.

use std::format;
use std::vec::Vec;

use super::pool::{PoolEntry, PoolTag, free_entry, insert_entry};
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::ObjectKind;

/// FsRtlEnterFileSystem: normal kernel APCs disabled until the guard drops
/// (FsRtlExitFileSystem).
pub struct FileSystemRegion {
    _private: (),
}

pub fn enter_file_system() -> FileSystemRegion {
    super::preempt::kernel_call();
    with_state(|state| {
        state.require_irql("FsRtlEnterFileSystem", 1);
        state.thread().apc_disable += 1;
    });
    FileSystemRegion { _private: () }
}

impl Drop for FileSystemRegion {
    fn drop(&mut self) {
        with_state(|state| {
            let thread = state.thread();
            thread.apc_disable = thread.apc_disable.saturating_sub(1);
        });
    }
}

/// FsRtlTeardownPerStreamContexts on the FCB `fcb`: frees every per-stream context attached
/// to it (each owner's free callback runs). `FcbArc`'s last drop calls it right before the
/// FCB's memory goes. (FsRtlSetupAdvancedHeader is `pool::register_kind(.., fcb: true)`.)
///
/// Returns the FILE_OBJECTs whose references the freed contexts held (the filter's context
/// cleanup callback dereferences them). The caller does those ObDereferenceObject calls once
/// it has let go of the state lock, still inside the FCB's teardown: each may send
/// IRP_MJ_CLOSE, nested inside whatever the driver was doing when it dropped the FCB.
#[must_use = "the held FILE_OBJECTs must be dereferenced outside the state lock"]
pub(crate) fn teardown_in(state: &mut State, fcb: ObjId) -> Vec<ObjId> {
    let contexts = match state.pool.get_mut(fcb) {
        Some(entry) => core::mem::take(&mut entry.stream_contexts),
        None => {
            state.report_stale_pool(fcb, ObjectKind::Fcb);
            return Vec::new();
        }
    };
    let mut held = Vec::new();
    for context in contexts {
        if let Some(file_objects) = state.filter_held_references.remove(&context) {
            for &file_object in &file_objects {
                state.push_trace(format!(
                    "filter: context {context} of FCB {fcb} cleaned up, dereferences FO \
                     {file_object}"
                ));
            }
            held.extend(file_objects);
        }
        free_entry(state, context);
    }
    held
}

/// FsRtlInsertPerStreamContext, as a filter does it: allocates a context (owned by the filter,
/// not the driver) and links it to the FCB's advanced header. `None` if the FCB has no advanced
/// header (FsRtlSupportsPerStreamContexts is false) or is stale.
pub(crate) fn insert_stream_context(state: &mut State, fcb: ObjId) -> Option<ObjId> {
    if !state.pool.get(fcb)?.advanced_header {
        return None;
    }
    let context = insert_entry(
        state,
        PoolEntry {
            tag: PoolTag(*b"FMsc"),
            size: 64,
            kind: ObjectKind::StreamContext,
            strong: 1,
            value: None,
            owner: None,
            advanced_header: false,
            stream_contexts: Vec::new(),
        },
    );
    state.pool.get_mut(fcb)?.stream_contexts.push(context);
    Some(context)
}
