//! IRP_MN_MOUNT_VOLUME: is this disk an ext2/3/4 volume we can serve? If so, create its volume
//! device with a VCB, name the volume in the VPB, open the volume stream, and withdraw the
//! driver's unload routine while it is mounted. IRP_MN_VERIFY_VOLUME: is the disk under a
//! mounted volume still the same volume?

use alloc::vec::Vec;

use super::disk::{DiskReader, status_of};
use super::lifetime;
use super::recognize;
use super::statistics::Statistics;
use super::vcb::Vcb;
use crate::ext4;
use crate::fcb::Fcb;
use crate::kernel::debug_output::{DPFLTR_ERROR_LEVEL, DPFLTR_IHVDRIVER_ID, DebugLine};
use crate::kernel::{
    DeviceRef, Irp, NtStatus, SpareVpb, StreamFileObject, TargetDevice, VolumeDevice, VolumeEvent,
    debug_print, processor_count,
};
use crate::name;

/// Handles a mount request sent to the control device.
pub fn mount(control: DeviceRef, irp: Irp) -> NtStatus {
    let Some(request) = irp.mount_request() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    // Whatever the disk holds, it is being looked at now.
    request.target.clear_verify_required();
    if recognize::has_foreign_boot_sector(request.target.with_verify_override()) {
        return irp.complete(NtStatus::UNRECOGNIZED_VOLUME);
    }
    let statistics = match Statistics::try_new(processor_count()) {
        Ok(statistics) => statistics,
        Err(status) => return irp.complete(status),
    };
    let (volume, info) = match read_volume(request.target, statistics) {
        Ok(found) => found,
        Err(error) => return irp.complete(refusal_status(&error, request.target)),
    };
    let Some(mut driver) = control.driver_object() else {
        return irp.complete(NtStatus::UNSUCCESSFUL);
    };
    let Some(control) = driver.control_device() else {
        return irp.complete(NtStatus::UNSUCCESSFUL);
    };
    let globals = control.globals();
    // Volumes retired since (dismounted, an open was on its way at their last close) can go
    // now, as FastFAT's and CDFS's mounts scan for dismounted VCBs.
    lifetime::sweep_retired(globals);
    let spare_vpb = match globals
        .reserve_retired_slot()
        .and_then(|()| SpareVpb::try_new())
    {
        Ok(spare) => spare,
        Err(status) => return irp.complete(status),
    };
    let superblock = match recognize::raw_superblock(request.target.with_verify_override()) {
        Ok(bytes) => bytes,
        Err(status) => return irp.complete(status),
    };
    let limit = globals.delayed_close_limit();
    let vcb = match Vcb::try_new(
        volume,
        info.uuid,
        superblock,
        limit,
        spare_vpb,
        request.target,
        globals.attribute_options(),
    ) {
        Ok(vcb) => vcb,
        Err(status) => return irp.complete(status),
    };
    let device = match driver.create_volume_device(&request, vcb) {
        Ok(device) => device,
        Err(status) => return irp.complete(status),
    };
    let mut label = Vec::new();
    // A label that cannot be shown is left empty rather than failing the mount.
    if name::to_windows(&info.label, &mut label).is_err() {
        label.clear();
    }
    device.set_vpb_identity(serial_number(&info.uuid), &label);
    if let Err(status) = open_volume_stream(&device) {
        // Nothing refers to the device yet: it goes with its VCB.
        device.delete();
        return irp.complete(status);
    }
    // Our own VPB reference: the I/O manager never frees the VPB under the device.
    device.reference_vpb();
    device
        .device()
        .with_extension(|vcb: &Vcb| vcb.volume().device().finish_mount());
    crate::driver::volume_mounted(&mut driver, control.globals());
    announce_mount(&device);
    announce_replay(&device);
    irp.complete(NtStatus::SUCCESS)
}

/// A volume that needed recovery was mounted with its journal replayed in memory: what the
/// disk holds is not what is served, so the kernel debugger says so at the error level, which
/// it shows by default (the VPB has no field for it).
fn announce_replay(device: &VolumeDevice) {
    let found = device.device().with_extension(|vcb: &Vcb| {
        let replay = vcb.volume().replay().copied()?;
        Some((serial_number(&vcb.uuid()), replay))
    });
    let Some(Some((serial, replay))) = found else {
        return;
    };
    let line = DebugLine::format(format_args!(
        "rustfsd: volume {:04X}-{:04X} needs recovery: replayed {} transactions from sequence {} \
         ({} blocks) from its journal in memory; the disk was not written",
        serial >> 16,
        serial & 0xFFFF,
        replay.transactions,
        replay.first_sequence,
        replay.replayed_blocks,
    ));
    debug_print(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, &line);
}

/// The volume serial number Windows shows (`vol`, `dir`): the first four bytes of the ext4
/// UUID, read big-endian so that it matches the UUID's first group as Linux prints it.
pub fn serial_number(uuid: &[u8; 16]) -> u32 {
    u32::from_be_bytes([uuid[0], uuid[1], uuid[2], uuid[3]])
}

fn read_volume(
    target: TargetDevice,
    statistics: Statistics,
) -> ext4::Result<(ext4::Volume<DiskReader>, ext4::VolumeInfo)> {
    let volume = ext4::Volume::mount(DiskReader::for_mount(target, statistics))?;
    let info = volume.info()?;
    Ok((volume, info))
}

/// The volume stream: a stream file object of ours whose FsContext is the volume FCB, as
/// FastFAT keeps one for metadata. It holds the volume FCB from mount to dismount, beyond every
/// user open of the volume.
fn open_volume_stream(device: &VolumeDevice) -> Result<(), NtStatus> {
    let volume_fcb = Fcb::try_new_volume()?;
    // Room for the stream's CLOSE in the close queue, before the stream exists.
    device
        .device()
        .with_extension(|vcb: &Vcb| vcb.reserve_close())
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST))?;
    let stream = StreamFileObject::try_create(device)?;
    let vcb_device = device.device();
    let opened = vcb_device.with_extension(|vcb: &Vcb| -> Result<(), NtStatus> {
        // The stream's CLOSE, whenever it comes (even on a failure below), releases this.
        vcb.file_object_opened(false);
        let listed = vcb.list_fcb(volume_fcb)?;
        if stream.file_object().attach_fcb(listed).is_err() {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        vcb.inner()?.stream = Some(stream);
        Ok(())
    });
    match opened {
        Some(result) => result,
        None => Err(NtStatus::UNSUCCESSFUL),
    }
}

/// FSRTL_VOLUME_MOUNT through the volume stream, as FastFAT does through its volume file
/// (the notification is queued, so it is safe inside the mount).
fn announce_mount(device: &VolumeDevice) {
    let stream = device
        .device()
        .with_extension(|vcb: &Vcb| {
            let inner = vcb.inner().ok()?;
            inner.stream.as_ref().map(|stream| stream.file_object())
        })
        .flatten();
    if let Some(stream) = stream {
        stream.notify_volume_event(VolumeEvent::Mount);
    }
}

/// Why a disk is not mounted. A disk that holds no ext volume, or one of a kind we do not
/// serve, is "not ours" (STATUS_UNRECOGNIZED_VOLUME): the I/O manager asks the next file
/// system, and RAW takes it last. A valid ext superblock over damaged structures (the root,
/// the descriptors, a journal that needs replaying) is an ext volume we cannot read: that is
/// STATUS_DISK_CORRUPT_ERROR, which ends the I/O manager's search for a file open (so RAW does
/// not take the disk, and Windows does not offer to format it), as NTFS answers for a damaged
/// volume of its own. A device error or a lack of memory is reported as such, since it says
/// nothing about what the disk holds.
fn refusal_status(error: &ext4::Error, target: TargetDevice) -> NtStatus {
    match error {
        ext4::Error::Io { .. } | ext4::Error::NoMemory | ext4::Error::Cap { .. } => {
            status_of(error)
        }
        ext4::Error::NotExtFs | ext4::Error::Unsupported(_) => NtStatus::UNRECOGNIZED_VOLUME,
        _ if holds_valid_superblock(target) => NtStatus::DISK_CORRUPT_ERROR,
        _ => NtStatus::UNRECOGNIZED_VOLUME,
    }
}

/// The disk's superblock parses as one this reader serves (magic, checksum, geometry).
fn holds_valid_superblock(target: TargetDevice) -> bool {
    recognize::raw_superblock(target.with_verify_override())
        .is_ok_and(|raw| ext4::Superblock::parse(&raw).is_ok())
}

/// IRP_MN_VERIFY_VOLUME on our volume device: the I/O manager asks whether the media under a
/// mounted volume changed. The same superblock, byte for byte (not just the UUID: cloned disks
/// share it), and no other file system's boot sector: STATUS_SUCCESS. Otherwise the volume is
/// dismounted (its open handles fail from now on) and STATUS_WRONG_VOLUME tells the I/O
/// manager to mount anew. A medium that cannot be read counts as another one.
pub fn verify(device: DeviceRef, irp: Irp) -> NtStatus {
    let Some(request) = irp.verify_request() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let target = request.target.with_verify_override();
    let Some((dismounted, same_superblock)) = device.with_extension(|vcb: &Vcb| {
        let same = matches!(recognize::raw_superblock(target), Ok(now) if now == vcb.superblock());
        (vcb.is_dismounted(), same)
    }) else {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    };
    if dismounted {
        return irp.complete(NtStatus::WRONG_VOLUME);
    }
    let same = same_superblock && !recognize::has_foreign_boot_sector(target);
    // Checked either way: a changed medium is mounted afresh next.
    request.target.clear_verify_required();
    if same {
        return irp.complete(NtStatus::SUCCESS);
    }
    let status = irp.complete(NtStatus::WRONG_VOLUME);
    // The stream's CLOSE may come inside this call: the IRP is already completed. The I/O
    // manager gives the disk a new VPB itself.
    let _ = lifetime::dismount(device, lifetime::VpbAfterDismount::Replaced);
    // IoVerifyVolume's VPB reference goes once we return.
    lifetime::sweep_later(device);
    status
}
