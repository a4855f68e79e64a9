//! The PnP manager removing a disk under a mounted volume: query-remove (and the cancel that
//! follows a veto), remove, and surprise removal.
//!
//! As ReactOS's PnP manager does (`ntoskrnl/io/pnpmgr/devaction.c`, sending the removal IRPs),
//! VPB_REMOVE_PENDING is set on the disk's VPB first (cleared by a cancel), which stops any new
//! mount (IopMountVolume answers STATUS_DEVICE_DOES_NOT_EXIST), and the IRP goes to the mounted
//! volume's device (Vpb->DeviceObject) if the VPB is mounted, else to the disk's own stack. The
//! file system passes it down (`Irp::forward`, `forward_and_wait`). A surprise removal takes
//! the disk away before anyone is told: its reads fail with STATUS_DEVICE_DOES_NOT_EXIST.
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/kernel/removing-a-device-in-a-function-driver>,
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ifs/irp-mj-pnp>.

use std::format;

use super::io::{self, IrpRequest};
use super::session::{Captured, Session};
use crate::kernel::model::device::delete_disk_device;
use crate::kernel::request::{
    IRP_MN_CANCEL_REMOVE_DEVICE, IRP_MN_QUERY_REMOVE_DEVICE, IRP_MN_REMOVE_DEVICE,
    IRP_MN_SURPRISE_REMOVAL,
};
use crate::kernel::{IrpMajor, NtStatus};

impl Session {
    /// IRP_MN_QUERY_REMOVE_DEVICE for `disk`. If it fails (a veto), IRP_MN_CANCEL_REMOVE_DEVICE
    /// follows at once. Returns the query's status.
    pub fn query_remove_disk(&mut self, disk: &str) -> NtStatus {
        let status = self.send_removal(disk, IRP_MN_QUERY_REMOVE_DEVICE);
        if !status.is_success() {
            self.send_removal(disk, IRP_MN_CANCEL_REMOVE_DEVICE);
        }
        status
    }

    /// IRP_MN_CANCEL_REMOVE_DEVICE for `disk` (another component vetoed a removal).
    pub fn cancel_remove_disk(&mut self, disk: &str) -> NtStatus {
        self.send_removal(disk, IRP_MN_CANCEL_REMOVE_DEVICE)
    }

    /// IRP_MN_REMOVE_DEVICE for `disk`; afterwards the disk is gone: its driver deletes the
    /// device object, which stays only while a driver holds a reference on it
    /// (ObReferenceObject), and its name no longer resolves.
    pub fn remove_disk(&mut self, disk: &str) -> NtStatus {
        let status = self.send_removal(disk, IRP_MN_REMOVE_DEVICE);
        if let Some(model) = self.disk(disk) {
            model.set_removed();
        }
        if let Some((device, _)) = self.disk_and_vpb(disk) {
            delete_disk_device(&mut self.kernel.lock(), device);
        }
        status
    }

    /// The disk vanishes (cable pulled), then IRP_MN_SURPRISE_REMOVAL. Files stay open; the
    /// REMOVE comes later (`remove_disk`), once their handles are closed.
    pub fn surprise_remove_disk(&mut self, disk: &str) -> NtStatus {
        if let Some(model) = self.disk(disk) {
            model.set_removed();
        }
        self.send_removal(disk, IRP_MN_SURPRISE_REMOVAL)
    }

    fn send_removal(&mut self, disk: &str, minor: u8) -> NtStatus {
        let Some((disk_device, vpb)) = self.disk_and_vpb(disk) else {
            return NtStatus::OBJECT_NAME_NOT_FOUND;
        };
        let target = {
            let mut state = self.kernel.lock();
            let Some(entry) = state.vpbs.get_mut(vpb) else {
                return NtStatus::NO_SUCH_DEVICE;
            };
            entry.remove_pending = minor != IRP_MN_CANCEL_REMOVE_DEVICE;
            match (entry.mounted, entry.device) {
                (true, Some(device)) => Some(device),
                _ => None,
            }
        };
        self.note(format!(
            "PnP: minor {minor:#x} for {disk} (disk {disk_device})"
        ));
        let Some(volume) = target else {
            // No file system on the disk: its own stack answers.
            return NtStatus::SUCCESS;
        };
        let mut request = IrpRequest::new(IrpMajor::Pnp, None);
        request.minor = minor;
        match self.capture(volume, request) {
            Captured::Kept => NtStatus::PENDING,
            Captured::SendNow(request) => io::call_driver(&self.kernel, volume, request).status,
        }
    }
}
