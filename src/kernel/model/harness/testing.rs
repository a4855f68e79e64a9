//! Escape hatches that exist only to prove the verifier: they let a test driver commit the C
//! bugs the boundary's types rule out.

use crate::kernel::model::{FcbArc, FileObject, Irp, PoolArc};

/// A second token for the same IRP: what a C driver has when it keeps a PIRP after completing
/// it. Completing both is the double completion the verifier must catch.
pub fn forge_second_irp_token(irp: &Irp) -> Irp {
    Irp { id: irp.id }
}

/// FsContext's FCB reference, taken without clearing FsContext: what C code does when it frees
/// the FCB through `FileObject->FsContext` while the FILE_OBJECT still points at it (seed 000).
/// Dropping the result frees the FCB under the FILE_OBJECT.
pub fn forge_fcb_reference<T: Send + Sync + 'static>(
    file_object: &FileObject,
) -> Option<FcbArc<T>> {
    let raw = file_object.raw_fs_context()?;
    FcbArc::<T>::lookup(raw.id, false)
}

/// FsContext2's CCB reference, taken without clearing FsContext2 (the CCB twin of
/// `forge_fcb_reference`).
pub fn forge_ccb_reference<C: Send + Sync + 'static>(
    file_object: &FileObject,
) -> Option<PoolArc<C>> {
    PoolArc::<C>::from_raw(file_object.raw_fs_context2()?)
}

/// Drops an FCB reference; if it was the last, frees the FCB without
/// FsRtlTeardownPerStreamContexts (seed 001: a C FSD that forgot the call).
pub fn release_without_teardown<T: Send + Sync + 'static>(fcb: FcbArc<T>) {
    fcb.release_without_teardown();
}

/// Sets the DO_BUFFERED_IO / DO_DIRECT_IO bits of every mounted volume's device to `io_flags`:
/// a file system that created its volume devices with another I/O method (or none), so that a
/// test sees which buffer the I/O manager hands it for each.
pub fn set_volume_device_io_method(session: &super::Session, io_flags: u32) {
    use crate::kernel::model::device::{DO_BUFFERED_IO, DO_DIRECT_IO, DeviceKind};
    let mut state = session.kernel().lock();
    let volumes: std::vec::Vec<_> = state
        .devices
        .iter()
        .filter(|(_, device)| device.kind == DeviceKind::Volume)
        .map(|(id, _)| id)
        .collect();
    for id in volumes {
        if let Some(device) = state.devices.get_mut(id) {
            let method = io_flags & (DO_BUFFERED_IO | DO_DIRECT_IO);
            device.flags = (device.flags & !(DO_BUFFERED_IO | DO_DIRECT_IO)) | method;
        }
    }
}
