//! FSCTL_QUERY_PERSISTENT_VOLUME_STATE on a volume open: the settings NTFS keeps on the volume
//! (Learn: FSCTL_QUERY_PERSISTENT_VOLUME_STATE and FILE_FS_PERSISTENT_VOLUME_INFORMATION). An
//! ext4 volume has none to keep but one: it never creates 8.3 short names, so
//! PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED is set.

use super::reply::write_output;
use crate::fcb::{Fcb, FcbKind};
use crate::kernel::{DeviceRef, Irp, NtStatus};
use crate::volume::control::FsctlRequest;

/// CTL_CODE(FILE_DEVICE_FILE_SYSTEM, 143, METHOD_BUFFERED, FILE_ANY_ACCESS).
pub const FSCTL_QUERY_PERSISTENT_VOLUME_STATE: u32 = 0x0009_023C;

/// sizeof(FILE_FS_PERSISTENT_VOLUME_INFORMATION): VolumeFlags, FlagMask, Version, Reserved.
const PERSISTENT_VOLUME_INFORMATION_SIZE: usize = 16;
/// The only Version the structure has.
const VERSION: u32 = 1;
const PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED: u32 = 0x0000_0001;

/// Learn's statuses: a handle that is no volume open INVALID_PARAMETER, an input or output
/// shorter than the structure BUFFER_TOO_SMALL, a Version other than 1 NOT_SUPPORTED.
/// FlagMask is not checked: a query changes nothing.
pub fn query_persistent_volume_state(
    _device: DeviceRef,
    mut irp: Irp,
    request: FsctlRequest,
) -> NtStatus {
    let volume_open = irp
        .file_object()
        .and_then(|f| f.fcb::<Fcb>())
        .is_some_and(|fcb| fcb.kind() == FcbKind::Volume);
    if !volume_open {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    }
    if request.input.len() < PERSISTENT_VOLUME_INFORMATION_SIZE
        || (request.output_length as usize) < PERSISTENT_VOLUME_INFORMATION_SIZE
    {
        return irp.complete(NtStatus::BUFFER_TOO_SMALL);
    }
    let version = request
        .input
        .get(8..12)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_le_bytes);
    if version != Some(VERSION) {
        return irp.complete(NtStatus::NOT_SUPPORTED);
    }
    // VolumeFlags, FlagMask 0, Version, Reserved 0.
    let [f0, f1, f2, f3] = PERSISTENT_VOLUME_STATE_SHORT_NAME_CREATION_DISABLED.to_le_bytes();
    let [v0, v1, v2, v3] = VERSION.to_le_bytes();
    let answer: [u8; PERSISTENT_VOLUME_INFORMATION_SIZE] =
        [f0, f1, f2, f3, 0, 0, 0, 0, v0, v1, v2, v3, 0, 0, 0, 0];
    if let Err(status) = write_output(&irp, &answer) {
        return irp.complete(status);
    }
    irp.set_information(PERSISTENT_VOLUME_INFORMATION_SIZE);
    irp.complete(NtStatus::SUCCESS)
}
