//! The volume's lifetime as the I/O manager runs it: opens hold a VPB reference from
//! IopCheckVpbMounted until their CREATE fails or their FILE_OBJECT goes, so the volume device
//! may be deleted only when the VPB counts nothing but the volume's own reference; a dismount
//! with handles open gives the disk a spare VPB, so the next open mounts afresh while the old
//! handles fail with STATUS_VOLUME_DISMOUNTED; and the old VPB is the file system's to free.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::session::CreateRequest;
use support::machine::{DISK, DISK_NAME, finish, machine, open, open_ok, open_relative};

const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
const FSCTL_UNLOCK_VOLUME: u32 = 0x0009_001C;
const FSCTL_IS_VOLUME_MOUNTED: u32 = 0x0009_0028;

/// An open of `\hello.txt` past IopCheckVpbMounted (its VPB reference taken, its device
/// chosen) while the volume's last FILE_OBJECT closes after a dismount: the device must stay
/// until that CREATE has come and gone, and then go.
#[test]
fn a_create_past_the_vpb_check_survives_the_volume_last_close() {
    let mut s = machine(&support::image("lifecycle"));
    let volume = open_ok(&mut s, "");
    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    let pid = s.initial_process();
    let on_its_way = s
        .begin_create(pid, &CreateRequest::open(&format!("{DISK}\\hello.txt")))
        .unwrap();
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    s.close_handle(volume);
    assert_eq!(s.findings(), [], "the device went with a create on its way");
    let late = s.finish_create(on_its_way);
    assert_eq!(late.status, NtStatus::VOLUME_DISMOUNTED);
    s.run_worker();
    assert!(
        !s.device_exists(old_device),
        "the dismounted volume's device outlived its last reference"
    );
    finish(s);
}

/// FSCTL_DISMOUNT_VOLUME with a file still open: the next open of the disk mounts a new volume
/// (a new device), the old handle fails with STATUS_VOLUME_DISMOUNTED, and both volumes go at
/// their last close, with no VPB left behind.
#[test]
fn dismount_with_handles_open_lets_the_next_open_mount_afresh() {
    let mut s = machine(&support::image("lifecycle"));
    let old_file = open_ok(&mut s, "\\hello.txt");
    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    let volume = open_ok(&mut s, "");
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    s.close_handle(volume);

    let new_file = open_ok(&mut s, "\\dir\\sub\\file.txt");
    let new_device = s.volume_device_of(DISK_NAME).unwrap();
    assert_ne!(old_device, new_device, "a fresh mount, a new volume device");
    assert_eq!(
        s.fs_control_file(old_file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::VOLUME_DISMOUNTED
    );
    assert_eq!(
        s.fs_control_file(new_file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::SUCCESS
    );
    // A relative open through the old handle goes to the old volume, which refuses it.
    assert_eq!(
        open_relative(&mut s, old_file, "").status,
        NtStatus::VOLUME_DISMOUNTED
    );

    s.close_handle(old_file);
    assert!(
        !s.device_exists(old_device),
        "the old volume went at its last close"
    );
    assert!(s.device_exists(new_device));
    s.close_handle(new_file);
    finish(s);
}

/// What format tools do: lock, dismount, unlock, close; then an open mounts afresh.
#[test]
fn lock_dismount_unlock_close_then_open_mounts_afresh() {
    let mut s = machine(&support::image("lifecycle"));
    let volume = open_ok(&mut s, "");
    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    assert_eq!(
        s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status,
        NtStatus::SUCCESS
    );
    // While locked, the I/O manager refuses new opens of the disk.
    assert_eq!(open(&mut s, "\\hello.txt").status, NtStatus::ACCESS_DENIED);
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    // Dismounted: the disk has a new, unlocked VPB, so an open mounts afresh even before the
    // old handle goes; the unlock on the old handle is refused as for any dismounted volume.
    let file = open_ok(&mut s, "\\hello.txt");
    assert_ne!(s.volume_device_of(DISK_NAME).unwrap(), old_device);
    assert_eq!(
        s.fs_control_file(volume, FSCTL_UNLOCK_VOLUME, &[], 0)
            .status,
        NtStatus::VOLUME_DISMOUNTED
    );
    s.close_handle(volume);
    assert!(!s.device_exists(old_device));
    s.close_handle(file);
    finish(s);
}

/// A disk whose boot sector names another file system (NTFS, exFAT, FAT) is not ours even if
/// an old ext superblock survives at 1 KiB: Windows' own file system must get it.
#[test]
fn a_boot_sector_of_another_file_system_is_not_mounted() {
    use rustfsd::kernel::model::harness::{DiskModel, Session};
    let image = std::fs::read(support::image("lifecycle")).unwrap();
    let foreign: [(&str, usize, &[u8]); 4] = [
        ("NTFS", 3, b"NTFS    "),
        ("exFAT", 3, b"EXFAT   "),
        ("FAT16", 54, b"FAT16   "),
        ("FAT32", 82, b"FAT32   "),
    ];
    for (name, offset, signature) in foreign {
        let mut bytes = image.clone();
        bytes[offset..offset + signature.len()].copy_from_slice(signature);
        bytes[510..512].copy_from_slice(&[0x55, 0xAA]);
        let mut s = support::machine::machine_on(DiskModel::from_bytes(bytes), None);
        assert_eq!(
            open(&mut s, "\\hello.txt").status,
            NtStatus::UNRECOGNIZED_VOLUME,
            "{name} boot sector"
        );
        finish(s);
    }
    // Boot code with the 0x55AA signature but no file system name is no reason to refuse.
    let mut bytes = image;
    bytes[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    bytes[510..512].copy_from_slice(&[0x55, 0xAA]);
    let mut s: Session = support::machine::machine_on(DiskModel::from_bytes(bytes), None);
    let file = open_ok(&mut s, "\\hello.txt");
    s.close_handle(file);
    finish(s);
}

/// A medium reformatted by Windows over the same ext volume (FAT32 leaves the old superblock
/// at 1 KiB in place): verify must see another volume, never serve the old metadata.
#[test]
fn verify_of_a_medium_reformatted_over_the_old_superblock_is_wrong_volume() {
    let image = std::fs::read(support::image("lifecycle")).unwrap();
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    let mut reformatted = image;
    reformatted[82..90].copy_from_slice(b"FAT32   ");
    reformatted[510..512].copy_from_slice(&[0x55, 0xAA]);
    s.disk(DISK_NAME).unwrap().replace_contents(reformatted);
    s.set_verify_required(DISK_NAME);
    assert_eq!(s.verify_volume(DISK_NAME), NtStatus::WRONG_VOLUME);
    assert!(!s.is_mounted(DISK_NAME), "nobody here mounts FAT");
    assert_eq!(
        s.fs_control_file(file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::VOLUME_DISMOUNTED
    );
    s.close_handle(file);
    finish(s);
}

/// rustfsd registers with DO_LOW_PRIORITY_FILESYSTEM: a file system registered before it is
/// still asked to mount first.
#[test]
fn windows_file_systems_are_asked_to_mount_before_rustfsd() {
    use rustfsd::kernel::model::harness::{Session, testfs};
    let mut s = Session::new();
    s.add_disk(
        DISK_NAME,
        support::machine::disk(&support::image("lifecycle")),
    );
    s.load_driver(testfs::descriptor()).unwrap();
    s.load_driver(rustfsd::kernel::model::harness::DriverDescriptor::rustfsd())
        .unwrap();
    let file = open_ok(&mut s, "\\hello.txt");
    assert_eq!(s.file_systems_asked(), ["testfs", "rustfsd"]);
    s.close_handle(file);
    assert_eq!(s.stop_file_system("testfs"), NtStatus::SUCCESS);
    finish(s);
}

/// Another disk in the drive while a file of the old one is open (Ext2Fsd's worst report: the
/// new drive showed the old drive's tree). The disk driver sets DO_VERIFY_VOLUME; the next open
/// makes the FSD verify the volume, which finds another superblock (the test images even share
/// their UUID, as cloned disks do), and the open is parsed again (IO_REMOUNT) onto a fresh
/// mount of the new medium. Nothing of the old tree is served.
#[test]
fn a_media_change_is_verified_and_the_new_medium_mounted() {
    let mut s = machine(&support::image("lifecycle"));
    let old_file = open_ok(&mut s, "\\hello.txt");
    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    let other = std::fs::read(support::image("tiny-ext4")).unwrap();
    s.change_media(DISK_NAME, other);
    assert!(s.verify_required(DISK_NAME));

    // Only on the new medium.
    let new_file = open_ok(&mut s, "\\data");
    let new_device = s.volume_device_of(DISK_NAME).unwrap();
    assert_ne!(
        new_device, old_device,
        "the new medium has a volume of its own"
    );
    assert!(!s.verify_required(DISK_NAME));
    // Only on the old medium: not served any more.
    assert_eq!(
        open(&mut s, "\\dir\\sub\\file.txt").status,
        NtStatus::OBJECT_PATH_NOT_FOUND
    );
    assert_eq!(
        s.fs_control_file(old_file, FSCTL_IS_VOLUME_MOUNTED, &[], 0)
            .status,
        NtStatus::VOLUME_DISMOUNTED
    );
    s.close_handle(old_file);
    assert!(
        !s.device_exists(old_device),
        "the old volume went at its last close"
    );
    s.close_handle(new_file);
    finish(s);
}

/// The same medium put back: the verify finds the same volume and the open goes on.
#[test]
fn a_media_change_to_the_same_medium_keeps_the_volume() {
    let image = support::image("lifecycle");
    let mut s = machine(&image);
    let file = open_ok(&mut s, "\\hello.txt");
    let device = s.volume_device_of(DISK_NAME).unwrap();
    s.change_media(DISK_NAME, std::fs::read(&image).unwrap());
    let again = open_ok(&mut s, "\\dir\\sub\\file.txt");
    assert_eq!(s.volume_device_of(DISK_NAME), Some(device));
    assert!(!s.verify_required(DISK_NAME));
    s.close_handle(again);
    s.close_handle(file);
    finish(s);
}
