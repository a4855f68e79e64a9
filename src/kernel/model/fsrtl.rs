//! FsRtl: FsRtlEnterFileSystem/FsRtlExitFileSystem and per-stream contexts
//! (FsRtlInsertPerStreamContext, FsRtlTeardownPerStreamContexts). The advanced header's setup
//! and teardown are done by `FcbArc` (fcb.rs), never by the driver directly.

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
pub(crate) fn teardown_in(state: &mut State, fcb: ObjId) {
    let contexts = match state.pool.get_mut(fcb) {
        Some(entry) => core::mem::take(&mut entry.stream_contexts),
        None => {
            state.report_stale_pool(fcb, ObjectKind::Fcb);
            return;
        }
    };
    for context in contexts {
        free_entry(state, context);
    }
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
