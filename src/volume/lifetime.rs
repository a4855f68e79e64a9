//! The end of a volume: dismount (FSCTL_DISMOUNT_VOLUME, or a failed verify), and the
//! deletion of the volume device once nothing can reach it any more.
//!
//! A dismount gives the disk the spare VPB kept since mount (FastFAT FatSwapVpb), so the next
//! open of the disk mounts afresh while the old FILE_OBJECTs still name the old VPB and come to
//! the old device, which refuses everything but CLEANUP and CLOSE. After a failed verify the
//! I/O manager gives the disk a new VPB itself, so no swap is made there. Either way the old
//! VPB is ours from then on.
//!
//! The device may go only when its last FILE_OBJECT has closed *and* the VPB counts nothing
//! but the volume's own reference: an open that passed the I/O manager's mount check holds a
//! VPB reference before its CREATE reaches us (FastFAT FatCheckForDismount, CDFS
//! CdCheckForDismount). A volume that cannot go yet is retired: the driver keeps it in a list
//! and sweeps it at the next mount and after a CREATE it refused.

use super::vcb::Vcb;
use crate::cache::teardown::purge_volume_sections;
use crate::driver::DriverGlobals;
use crate::kernel::{
    DeviceRef, NtStatus, PASSIVE_LEVEL, VolumeDevice, current_irql, queue_work_item,
};

/// How a dismount treats the disk's VPB.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VpbAfterDismount {
    /// Give the disk our spare VPB (FSCTL_DISMOUNT_VOLUME, PnP removal).
    Swap,
    /// Leave it: the I/O manager replaces it itself (a verify that answered WRONG_VOLUME).
    Replaced,
}

/// Dismounts the volume on `device`: new opens fail from now on, the disk gets a fresh VPB
/// (see `VpbAfterDismount`), the table lets go of its FCBs and the volume stream is released
/// (its CLOSE may arrive inside this call or later). Call with no lock held.
pub fn dismount(device: DeviceRef, vpb: VpbAfterDismount) -> Result<(), NtStatus> {
    // Mm's unused segments let go of their FILE_OBJECTs now (their CLOSEs may come inside);
    // files still mapped keep theirs until unmapped, and dismount goes ahead regardless.
    let _ = device.with_extension(purge_volume_sections);
    // Under the VCB resource, so no open is between its checks and its end; released before
    // the stream goes, whose CLOSE may be the volume's last and delete the device (and the
    // resource with it).
    let stream = device
        .with_extension(|vcb: &Vcb| -> Result<_, NtStatus> {
            let _vcb_held = vcb.acquire_exclusive()?;
            let Some(dismounted) = vcb.dismount()? else {
                return Ok(None);
            };
            let spare = match vpb {
                VpbAfterDismount::Swap => dismounted.spare_vpb,
                VpbAfterDismount::Replaced => None,
            };
            if let Some(volume) = VolumeDevice::from_device(device) {
                drop(volume.retire_vpb(spare));
            }
            Ok(dismounted.stream)
        })
        .ok_or(NtStatus::INVALID_DEVICE_REQUEST)??;
    drop(stream);
    Ok(())
}

/// A FILE_OBJECT on the volume has finished its CLOSE. After the last one of a dismounted
/// volume, the device goes if no open is on its way to it, or is retired until then.
pub fn release_file_object(device: DeviceRef) {
    let last = device
        .with_extension(|vcb: &Vcb| vcb.file_object_closed())
        .unwrap_or(false);
    if !last {
        return;
    }
    // IoDeleteDevice needs PASSIVE_LEVEL; a CLOSE nested under a FAST_MUTEX (a filter context
    // freed with an FCB of another volume) is at APC_LEVEL: the worker deletes it then.
    let passive = current_irql() == PASSIVE_LEVEL;
    if passive && release(device) {
        crate::driver::delete_volume_device(device);
        return;
    }
    // An open may be on its way here. Room for the device was reserved at mount; were it
    // missing, the device would stay (a leak, never a use-after-free).
    let _ = with_globals(device, |globals| {
        if let Some(mut retired) = globals.retired()
            && retired.len() < retired.capacity()
        {
            retired.push(device);
        }
    });
    if !passive {
        sweep_later(device);
    }
}

/// Drops the volume's VPB reference if it is the last one. True: nothing can reach the device
/// any more, delete it.
fn release(device: DeviceRef) -> bool {
    VolumeDevice::from_device(device).is_some_and(|volume| volume.release_vpb())
}

/// Deletes every retired volume whose VPB no longer counts an open on its way.
pub fn sweep_retired(globals: &DriverGlobals) {
    loop {
        // One at a time: the list's lock is a FAST_MUTEX, and IoDeleteDevice needs
        // PASSIVE_LEVEL.
        let next = globals.retired().and_then(|mut retired| {
            let index = retired.iter().position(|&device| release(device))?;
            Some(retired.swap_remove(index))
        });
        let Some(device) = next else {
            return;
        };
        crate::driver::delete_volume_device(device);
    }
}

/// After a CREATE this dismounted volume refused: the I/O manager gives back that open's VPB
/// reference once we return, so sweep on the worker thread.
pub fn sweep_later(device: DeviceRef) {
    let Some(control) = device
        .driver_object()
        .and_then(|driver| driver.control_device())
        .map(|control| control.device())
    else {
        return;
    };
    let sweep = move || {
        control.with_extension(sweep_retired);
    };
    // Without a work item the next mount sweeps instead.
    let _ = queue_work_item(sweep);
}

fn with_globals<R>(device: DeviceRef, f: impl FnOnce(&DriverGlobals) -> R) -> Option<R> {
    let driver = device.driver_object()?;
    let control = driver.control_device()?;
    Some(f(control.globals()))
}
