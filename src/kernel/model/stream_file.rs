//! `StreamFileObject`: a FILE_OBJECT the driver creates on its own volume
//! (IoCreateStreamFileObjectEx2), e.g. for a volume or directory stream it caches. It holds
//! one object reference; dropping it is ObDereferenceObject, so IRP_MJ_CLOSE may reach the
//! volume device inside the drop (nested) or later, if Mm/Cc took references of their own.
//! "Lite": it never gets IRP_MJ_CLEANUP.

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
    /// that its CLOSE reaches `volume`: pointer count 1, no handle, FO_STREAM_FILE.
    pub fn try_create(volume: &VolumeDevice) -> Result<StreamFileObject, NtStatus> {
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
                pointer_count: 1,
                handle_count: 0,
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
            });
            if let Some(entry) = vpb.and_then(|v| state.vpbs.get_mut(v)) {
                entry.reference_count += 1;
            }
            state.lite_stream_files.insert(id);
            state.push_trace(format!(
                "IoCreateStreamFileObjectEx2 on device {device} -> FO {id}"
            ));
            id
        };
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
        super::harness::io::dereference(&self.kernel, self.id);
    }
}
