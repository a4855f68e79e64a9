//! A filter-manager-like observer. At every IRP_MJ_CLOSE, before the file system sees it, it
//! reads FsContext as an advanced FCB header and walks the per-stream context list: the access
//! that crashes when an FCB was freed while a FILE_OBJECT still pointed at it (seed 000). It can
//! also attach per-stream contexts of its own, as minifilters do.

use std::format;

use crate::kernel::model::fsrtl::insert_stream_context;
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::State;
use crate::kernel::model::verifier::ObjectKind;

/// The filter's pre-CLOSE callback.
pub fn observe_close(state: &mut State, file_object: ObjId) {
    let Some(fs_context) = state
        .file_objects
        .get(file_object)
        .and_then(|f| f.fs_context)
    else {
        return;
    };
    let contexts = match state.pool.get(fs_context.id) {
        None => {
            state.report_stale_pool(fs_context.id, ObjectKind::Fcb);
            return;
        }
        Some(header) if header.advanced_header => header.stream_contexts.clone(),
        Some(_) => return,
    };
    for context in contexts {
        if state.pool.get(context).is_none() {
            state.report_stale_pool(context, ObjectKind::StreamContext);
        }
    }
    state.push_trace(format!(
        "filter: CLOSE of FO {file_object} saw FCB {}",
        fs_context.id
    ));
}

/// The filter's post-CREATE callback: attach a context if the FCB supports them.
pub fn observe_create(state: &mut State, file_object: ObjId) {
    if !state.filter_attach_contexts {
        return;
    }
    let Some(fs_context) = state
        .file_objects
        .get(file_object)
        .and_then(|f| f.fs_context)
    else {
        return;
    };
    if let Some(context) = insert_stream_context(state, fs_context.id) {
        state.push_trace(format!(
            "filter: attached context {context} to FCB {}",
            fs_context.id
        ));
    }
}
