//! The VPB (volume parameter block) that links a disk (Vpb->RealDevice) to the volume device
//! mounted on it (Vpb->DeviceObject), with its ReferenceCount: the I/O manager's half, which
//! the harness calls, and the file system's half, the boundary items `SpareVpb` and
//! `VolumeDevice::{reference_vpb, retire_vpb, release_vpb}`.
//!
//! What the model reproduces (docs/nt-model.md, "VPB"):
//! - an open takes a VPB reference before its IRP_MJ_CREATE is sent and gives it back if the
//!   open fails (ReactOS IopCheckVpbMounted, IopParseDevice, IopDereferenceVpbAndFree);
//! - a FILE_OBJECT's reference goes *before* its IRP_MJ_CLOSE (ReactOS IopDeleteFile);
//! - a VPB that is no longer its real device's, whose count the I/O manager brings to zero, is
//!   freed by the I/O manager; any other VPB left behind is the file system's to free (CDFS
//!   CdDismountVcb/CdDeleteVcb, FastFAT FatSwapVpb/FatDeleteVcb);
//! - after STATUS_WRONG_VOLUME the I/O manager gives the disk a new VPB (IopCreateVpb).

use std::format;
use std::string::String;
use std::vec::Vec;

use super::device::{DeviceKind, VolumeDevice, VpbEntry};
use super::pool::{self, DETACHED, PoolTag};
use super::slab::ObjId;
use super::state::{State, with_state};
use super::verifier::{FindingKind, ObjectKind};
use crate::kernel::NtStatus;

/// sizeof(VPB) on x64: what a spare's pool block is charged.
const VPB_SIZE: usize = 0x60;

/// The pool tag of spare VPBs.
pub const SPARE_VPB_TAG: PoolTag = PoolTag(*b"RfVp");

/// A VPB the file system allocates at mount and keeps, to hand to the disk at dismount so
/// that the next open mounts afresh while the old volume's FILE_OBJECTs still name the old VPB
/// (FastFAT FatSwapVpb, CDFS CdDismountVcb). Freed on drop if never swapped in.
#[derive(Debug)]
pub struct SpareVpb {
    pool: ObjId,
}

impl SpareVpb {
    /// ExAllocatePool2(NonPaged, sizeof(VPB)), zeroed.
    pub fn try_new() -> Result<SpareVpb, NtStatus> {
        super::pool::allocate()?;
        Ok(SpareVpb {
            pool: pool::register_kind(SPARE_VPB_TAG, VPB_SIZE, None, false),
        })
    }

    /// Hands the block to the I/O manager: it is a disk's VPB from now on.
    fn give_away(self, state: &mut State) {
        let id = self.pool;
        core::mem::forget(self);
        if id != DETACHED {
            pool::free_entry(state, id);
        }
    }
}

impl Drop for SpareVpb {
    fn drop(&mut self) {
        let id = self.pool;
        if id != DETACHED {
            with_state(|state| pool::free_entry(state, id));
        }
    }
}

impl VolumeDevice {
    /// The volume's own reference on the VPB it was mounted through, taken at mount so that
    /// the I/O manager never brings the count to zero (and frees the VPB) while the volume
    /// device exists (CDFS CdMountVolume: "we are the one to have the last dereference").
    pub fn reference_vpb(&self) {
        super::preempt::point();
        let id = self.id;
        with_state(|state| {
            if let Some(vpb) = vpb_of_volume(state, id)
                && let Some(entry) = state.vpbs.get_mut(vpb)
            {
                entry.reference_count += 1;
            }
        });
    }

    /// At dismount, under the VPB spin lock: clears VPB_MOUNTED and VPB_LOCKED and, if the VPB
    /// is still its disk's, gives the disk `spare` in its place (FastFAT FatSwapVpb), so the
    /// next open of the disk mounts afresh. Vpb->DeviceObject keeps naming this device: the old
    /// FILE_OBJECTs' CLEANUPs and CLOSEs still come here. From now on the old VPB is the file
    /// system's to free (`release_vpb`). Returns the spare if it was not needed.
    pub fn retire_vpb(&self, spare: Option<SpareVpb>) -> Option<SpareVpb> {
        super::preempt::point();
        let id = self.id;
        let mut spare = spare;
        with_state(|state| {
            let Some(vpb) = vpb_of_volume(state, id) else {
                return;
            };
            let Some(entry) = state.vpbs.get_mut(vpb) else {
                return;
            };
            entry.mounted = false;
            entry.locked = false;
            let real_device = entry.real_device;
            let remove_pending = entry.remove_pending;
            if !is_current(state, vpb) {
                return;
            }
            let Some(spare) = spare.take() else {
                return;
            };
            spare.give_away(state);
            let mut entry = VpbEntry::new(real_device);
            // VPB_REMOVE_PENDING survives the swap: no mount in the middle of a removal.
            entry.remove_pending = remove_pending;
            let fresh = state.vpbs.insert(entry);
            if let Some(disk) = state.devices.get_mut(real_device) {
                disk.vpb = Some(fresh);
            }
            state.push_trace(format!(
                "VPB swap: disk {real_device} gets VPB {fresh}; VPB {vpb} stays with device {id}"
            ));
        });
        spare
    }

    /// After the volume's last FILE_OBJECT closed, under the VPB spin lock: if the volume's own
    /// reference is the only one left, drops it, detaches the VPB from this device and frees
    /// it unless it is still its disk's; true, and the caller deletes the device. False while
    /// an open is on its way to this device (it holds a reference taken before our CREATE);
    /// try again later (FastFAT FatCheckForDismount, CDFS CdCheckForDismount).
    pub fn release_vpb(&self) -> bool {
        super::preempt::point();
        let id = self.id;
        with_state(|state| {
            let Some(vpb) = vpb_of_volume(state, id) else {
                return true;
            };
            let Some(entry) = state.vpbs.get_mut(vpb) else {
                state.report(FindingKind::UseAfterFree {
                    kind: ObjectKind::Vpb,
                    id: vpb,
                });
                return false;
            };
            let references = entry.reference_count;
            if references > 1 {
                return false;
            }
            entry.reference_count = 0;
            entry.device = None;
            entry.mounted = false;
            entry.locked = false;
            if references == 0 {
                state.report(FindingKind::Other(String::from(
                    "release_vpb: the volume holds no reference on its VPB",
                )));
            }
            if !is_current(state, vpb) {
                state.vpbs.remove(vpb);
                state.push_trace(format!("FSD frees VPB {vpb} of device {id}"));
            }
            true
        })
        .unwrap_or(false)
    }
}

/// The VPB a volume device was mounted through (Vcb->Vpb), if it is still allocated.
fn vpb_of_volume(state: &mut State, device: ObjId) -> Option<ObjId> {
    match state.devices.get(device) {
        Some(entry) if entry.kind == DeviceKind::Volume => entry.vpb,
        _ => {
            state.report(FindingKind::UseAfterFree {
                kind: ObjectKind::Device,
                id: device,
            });
            None
        }
    }
}

/// True if `vpb` is its real device's VPB (RealDevice->Vpb == Vpb).
fn is_current(state: &State, vpb: ObjId) -> bool {
    state
        .vpbs
        .get(vpb)
        .and_then(|entry| state.devices.get(entry.real_device))
        .is_some_and(|disk| disk.vpb == Some(vpb))
}

/// IopCheckVpbMounted's increment (and IopParseDevice's for a relative open): the open holds
/// this until its CREATE fails or its FILE_OBJECT is deleted.
pub(crate) fn reference(state: &mut State, vpb: ObjId) {
    if let Some(entry) = state.vpbs.get_mut(vpb) {
        entry.reference_count += 1;
    }
}

/// IopDereferenceVpbAndFree: under the VPB lock, drops a reference; a VPB that is no longer
/// its disk's and reaches zero is freed by the I/O manager.
pub(crate) fn dereference_and_free(state: &mut State, vpb: ObjId) {
    let Some(entry) = state.vpbs.get_mut(vpb) else {
        return;
    };
    entry.reference_count = entry.reference_count.saturating_sub(1);
    if entry.reference_count == 0 && !entry.mounted && !is_current(state, vpb) {
        state.vpbs.remove(vpb);
        state.push_trace(format!("I/O manager frees VPB {vpb}"));
    }
}

/// IopDeleteFile's decrement, before IRP_MJ_CLOSE is sent (no free).
pub(crate) fn dereference_for_close(state: &mut State, vpb: ObjId) {
    if let Some(entry) = state.vpbs.get_mut(vpb) {
        entry.reference_count = entry.reference_count.saturating_sub(1);
    }
}

/// IopCreateVpb: the disk gets a new, unmounted VPB; the old one stays with whoever holds it.
pub(crate) fn create_for_disk(state: &mut State, disk: ObjId) -> ObjId {
    let fresh = state.vpbs.insert(VpbEntry::new(disk));
    if let Some(entry) = state.devices.get_mut(disk) {
        entry.vpb = Some(fresh);
    }
    fresh
}

/// `VolumeDevice::delete`'s detach, checked: every VPB still naming the device loses it; one
/// that still counts references is a finding, since an open past IopCheckVpbMounted would be
/// sent to the deleted device.
pub(crate) fn detach_deleted_device(state: &mut State, device: ObjId) {
    let naming: Vec<(ObjId, u32)> = state
        .vpbs
        .iter()
        .filter(|(_, entry)| entry.device == Some(device))
        .map(|(id, entry)| (id, entry.reference_count))
        .collect();
    for (vpb, references) in naming {
        if references > 0 {
            state.report(FindingKind::VolumeDeletedWithVpbReferences { vpb, references });
        }
        if let Some(entry) = state.vpbs.get_mut(vpb) {
            entry.device = None;
            entry.mounted = false;
            entry.locked = false;
        }
    }
}

/// At unload: VPBs a file system of `driver` mounted through that are no longer any disk's and
/// were never freed. Nobody else will free them.
pub(crate) fn report_leaks(state: &mut State, driver: ObjId) {
    let leaked: Vec<ObjId> = state
        .vpbs
        .iter()
        .filter(|(_, entry)| entry.file_system == Some(driver))
        .map(|(id, _)| id)
        .filter(|&id| !is_current(state, id))
        .collect();
    for vpb in leaked {
        state.report(FindingKind::VpbLeak { vpb });
    }
}
