//! IRP_MJ_PNP on a mounted volume, as FastFAT's pnp.c answers it: a query-remove locks and
//! dismounts the volume (vetoed while handles are open), a cancel undoes the lock, a remove or
//! a surprise removal dismounts it; everything else goes down to the disk, which is also how
//! FsRtlNotifyVolumeEvent finds the volume's target device.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::VolumeEvent::{Dismount, Lock, Mount, Unlock};
use support::machine::{DISK_NAME, finish, machine, open, open_ok, open_relative};

const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
const FSCTL_UNLOCK_VOLUME: u32 = 0x0009_001C;
const FSCTL_IS_VOLUME_MOUNTED: u32 = 0x0009_0028;

#[test]
fn query_remove_without_handles_dismounts_and_the_remove_follows() {
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    let device = s.volume_device_of(DISK_NAME).unwrap();
    assert_eq!(s.query_remove_disk(DISK_NAME), NtStatus::SUCCESS);
    s.run_worker();
    assert!(!s.device_exists(device), "the volume went with the query");
    // VPB_REMOVE_PENDING: no new mount while the removal is under way.
    assert_eq!(
        open(&mut s, "\\hello.txt").status,
        NtStatus::DEVICE_DOES_NOT_EXIST
    );
    assert_eq!(s.remove_disk(DISK_NAME), NtStatus::SUCCESS);
    finish(s);
}

#[test]
fn query_remove_with_a_handle_open_is_vetoed_and_cancelled() {
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(s.query_remove_disk(DISK_NAME), NtStatus::ACCESS_DENIED);
    // The cancel that followed the veto left the volume as it was.
    assert_eq!(
        s.fs_control_file(file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::SUCCESS
    );
    let again = open_ok(&mut s, "\\dir");
    s.close_handle(again);
    s.close_handle(file);
    finish(s);
}

#[test]
fn cancel_remove_after_a_successful_query_unlocks_a_volume_still_mounted() {
    let mut s = machine(&support::image("lifecycle"));
    // Mounted, no handle: the query locks the volume and dismounts it.
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    assert_eq!(s.query_remove_disk(DISK_NAME), NtStatus::SUCCESS);
    // Another component vetoed after all: the disk may be mounted again.
    assert_eq!(s.cancel_remove_disk(DISK_NAME), NtStatus::SUCCESS);
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    finish(s);
}

#[test]
fn surprise_removal_with_open_files_and_a_system_reference() {
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    let dir = open_ok(&mut s, "\\dir");
    let section = s.system_reference(file).unwrap();
    let device = s.volume_device_of(DISK_NAME).unwrap();
    assert_eq!(s.surprise_remove_disk(DISK_NAME), NtStatus::SUCCESS);
    // Every later request fails cleanly; only CLEANUP and CLOSE still work.
    assert_eq!(
        s.fs_control_file(file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::VOLUME_DISMOUNTED
    );
    assert_eq!(
        open(&mut s, "\\hello.txt").status,
        NtStatus::DEVICE_DOES_NOT_EXIST
    );
    s.close_handle(file);
    s.close_handle(dir);
    assert!(s.device_exists(device), "Mm still holds a FILE_OBJECT");
    s.release_later(section);
    s.run_worker();
    assert!(!s.device_exists(device), "the VCB went at the last close");
    assert_eq!(s.remove_disk(DISK_NAME), NtStatus::SUCCESS);
    finish(s);
}

/// FsRtlNotifyVolumeEvent finds the volume's target device through the volume device
/// (IRP_MN_QUERY_DEVICE_RELATIONS): lock, unlock, dismount and mount reach a listener.
#[test]
fn volume_events_reach_the_listener() {
    let mut s = machine(&support::image("lifecycle"));
    let volume = open_ok(&mut s, "");
    assert_eq!(
        s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status,
        NtStatus::SUCCESS
    );
    assert_eq!(
        s.fs_control_file(volume, FSCTL_UNLOCK_VOLUME, &[], 0)
            .status,
        NtStatus::SUCCESS
    );
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    s.close_handle(volume);
    assert_eq!(s.volume_events(), [Mount, Lock, Unlock, Dismount]);
    finish(s);
}

/// The disk is removed for good (its driver deletes its device object) while files of the
/// dismounted volume are still open. The volume keeps a reference on its target
/// (ObReferenceObject at mount, as FastFAT's VCB does), so a later request on an old handle
/// never touches a freed device; the device object goes with the volume.
#[test]
fn a_removed_disk_stays_referenced_by_the_volume_until_its_last_close() {
    let mut s = machine(&support::image("lifecycle"));
    let dir = open_ok(&mut s, "\\dir");
    let disk = s.disk_device(DISK_NAME).unwrap();
    assert_eq!(s.surprise_remove_disk(DISK_NAME), NtStatus::SUCCESS);
    assert_eq!(s.remove_disk(DISK_NAME), NtStatus::SUCCESS);
    assert!(s.device_exists(disk), "the volume still references it");
    assert_eq!(
        open_relative(&mut s, dir, "sub").status,
        NtStatus::VOLUME_DISMOUNTED
    );
    assert_eq!(s.findings(), []);
    s.close_handle(dir);
    s.run_worker();
    assert!(!s.device_exists(disk), "freed with the volume's reference");
    finish(s);
}
