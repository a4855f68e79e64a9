//! `StreamFileObject`: a FILE_OBJECT the driver creates on its own volume
//! (IoCreateStreamFileObjectEx2 without IO_CREATE_STREAM_FILE_LITE), e.g. for a volume or
//! directory stream it caches. It holds one object reference; dropping it is
//! ObDereferenceObject, so IRP_MJ_CLOSE reaches the volume device inside the drop (nested) or
//! later, if Mm/Cc took references of their own.
//!
//! Not "lite": the I/O manager inserts the object with a handle and, since the caller asks for
//! none, closes that handle before returning (ReactOS IoCreateStreamFileObjectEx: ObInsertObject
//! then ObCloseHandle), so the file system gets IRP_MJ_CLEANUP for it inside the call, with no
//! FsContext yet. Its CLOSE is then as certain as any FILE_OBJECT's, unlike a LITE one's
//! (Learn's IO_CREATE_STREAM_FILE_OPTIONS page: none is sent), which is why the driver uses
//! this form, as FastFAT and CDFS (IoCreateStreamFileObject) do.

use std::format;
use std::sync::Arc;

use super::device::{DeviceKind, VolumeDevice};
use super::file_object::{FO_STREAM_FILE, FileObject, FileObjectEntry};
use super::slab::ObjId;
use super::state::{Kernel, current};
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::NtStatus;

/// A stream FILE_OBJECT on one of our volumes, with the reference its creator holds.
pub struct StreamFileObject {
    id: ObjId,
    kernel: Arc<Kernel>,
}

impl StreamFileObject {
    /// IoCreateStreamFileObjectEx2 on the volume's real device, pointed at the volume's VPB so
    /// that its IRPs reach `volume`: inserted with a handle, which is closed at once (the
    /// CLEANUP reaches the driver now), leaving pointer count 1 and FO_STREAM_FILE.
    pub fn try_create(volume: &VolumeDevice) -> Result<StreamFileObject, NtStatus> {
        super::preempt::kernel_call();
        super::pool::allocate()?;
        let device = volume.device().id;
        let kernel = current().ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        let id = {
            let mut state = kernel.lock();
            state.require_irql("IoCreateStreamFileObjectEx2", 1);
            let vpb = match state.devices.get(device) {
                Some(entry) if entry.kind == DeviceKind::Volume => entry.vpb,
                _ => {
                    state.report(FindingKind::UseAfterFree {
                        kind: ObjectKind::Device,
                        id: device,
                    });
                    return Err(NtStatus::INVALID_DEVICE_REQUEST);
                }
            };
            let id = state.file_objects.insert(FileObjectEntry {
                // The caller's reference and the handle's.
                pointer_count: 2,
                handle_count: 1,
                fs_context: None,
                fs_context2: None,
                flags: FO_STREAM_FILE,
                file_name: std::vec::Vec::new(),
                related: None,
                device,
                vpb,
                current_byte_offset: 0,
                section_object_pointers: None,
                access: Default::default(),
                lock_operation: false,
            });
            if let Some(entry) = vpb.and_then(|v| state.vpbs.get_mut(v)) {
                entry.reference_count += 1;
            }
            state.push_trace(format!(
                "IoCreateStreamFileObjectEx2 on device {device} -> FO {id}"
            ));
            id
        };
        // ObCloseHandle of the handle nobody asked for: IRP_MJ_CLEANUP, then its reference.
        super::harness::io::close_handle(&kernel, id);
        Ok(StreamFileObject { id, kernel })
    }

    /// The FILE_OBJECT (to attach an FCB/CCB to, or to hand to Cc).
    pub fn file_object(&self) -> FileObject {
        FileObject { id: self.id }
    }
}

impl Drop for StreamFileObject {
    fn drop(&mut self) {
        // ObDereferenceObject: the filter observer and IRP_MJ_CLOSE run now if this was the
        // last reference.
        super::preempt::kernel_call();
        super::harness::io::dereference(&self.kernel, self.id);
    }
}
