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

/// The filter keeps a reference on the FILE_OBJECT `held` in its per-stream context on the
/// FCB `fcb`: what a minifilter does when it stores a referenced FILE_OBJECT in a stream context
/// (FltAllocateContext, FltSetStreamContext, ObReferenceObject) and dereferences it in its
/// context cleanup callback. The filter's first context on the FCB is used, or one is attached.
/// The reference is dropped when FsRtlTeardownPerStreamContexts frees the context
/// (`fsrtl::teardown_in`). `None`, with nothing referenced, if the FCB supports no per-stream
/// contexts or is stale, or `held` is not a live FILE_OBJECT.
pub fn hold_reference(state: &mut State, fcb: ObjId, held: ObjId) -> Option<ObjId> {
    state.file_objects.get(held)?;
    let existing = state
        .pool
        .get(fcb)
        .filter(|header| header.advanced_header)?
        .stream_contexts
        .first()
        .copied();
    let context = match existing {
        Some(context) => context,
        None => insert_stream_context(state, fcb)?,
    };
    let entry = state.file_objects.get_mut(held)?;
    entry.pointer_count += 1;
    state
        .filter_held_references
        .entry(context)
        .or_default()
        .push(held);
    state.push_trace(format!(
        "filter: context {context} of FCB {fcb} references FO {held}"
    ));
    Some(context)
}
