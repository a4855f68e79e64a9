//! The FCB and volume lifetime scenarios of the lifecycle issue, through rustfsd's dispatch
//! against the NT model with the verifier on, on mke2fs images: seed 000 (an FCB outliving
//! every user close through a system reference dropped on another thread), seed 002
//! (DuplicateHandle, two processes, CLEANUP vs CLOSE), the volume stream outliving user opens,
//! dismount with open handles, verify, and shutdown.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::Session;
use support::machine::{
    DISK_NAME, dismount, dismount_disk, finish, live_fcbs, machine, machine_on,
    machine_with_delayed_close_limit, open, open_in, open_ok, open_relative, open_with,
};

fn trace_count(session: &Session, needle: &str) -> usize {
    session
        .trace()
        .iter()
        .filter(|line| line.contains(needle))
        .count()
}

/// Seed 000: two FILE_OBJECTs share one FCB; the memory manager's reference on the first
/// outlives every user close and is dropped last, on the worker thread, while the filter
/// observer reads FsContext at that CLOSE. The FCB must live until then and be freed exactly
/// at that close (delayed-close queue off, so nothing else keeps it).
#[test]
fn seed_000_fcb_lives_until_the_last_reference_dropped_on_another_thread() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    s.set_filter_attach_contexts(true);
    let first = open_ok(&mut s, "\\hello.txt");
    let second = open_ok(&mut s, "\\hello.txt");
    // The volume FCB (held by the volume stream), the root and hello.txt: one FCB for both.
    assert_eq!(live_fcbs(&s), 3);
    let section = s.system_reference(first).unwrap();
    s.close_handle(second);
    s.close_handle(first);
    assert_eq!(live_fcbs(&s), 3, "the section's reference keeps the FCB");
    s.release_later(section);
    let closes = trace_count(&s, "filter: CLOSE of FO");
    s.run_worker();
    assert_eq!(trace_count(&s, "filter: CLOSE of FO"), closes + 1);
    assert!(
        s.trace().iter().any(|l| l.starts_with("t1: IRP_MJ_Close")),
        "the last CLOSE ran on the worker thread"
    );
    assert_eq!(live_fcbs(&s), 1, "freed at that close, with its parent");
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    finish(s);
}

/// The same with the default delayed-close queue: the FCB stays listed after its last close
/// (a reopen finds it) and goes at dismount.
#[test]
fn the_delayed_close_queue_keeps_an_unused_fcb_until_dismount() {
    let mut s = machine(&support::image("lifecycle"));
    s.set_filter_attach_contexts(true);
    let file = open_ok(&mut s, "\\hello.txt");
    let section = s.system_reference(file).unwrap();
    s.close_handle(file);
    s.release_later(section);
    s.run_worker();
    assert_eq!(live_fcbs(&s), 3);
    dismount(&mut s);
    assert_eq!(live_fcbs(&s), 0);
    finish(s);
}

/// Seed 002: a duplicated handle in a second process keeps the FILE_OBJECT: CLEANUP only at
/// the last handle (the process's exit), CLOSE only when the last reference goes.
#[test]
fn seed_002_cleanup_at_the_last_handle_close_at_the_last_reference() {
    let mut s = machine_with_delayed_close_limit(&support::image("lifecycle"), 0);
    let p2 = s.create_process();
    let exclusive = open_with(&mut s, "\\hello.txt", |r| r.share_access = 0);
    let handle = exclusive.handle.unwrap();
    let duplicate = s.duplicate_handle(handle, p2).unwrap();
    let cleanups = trace_count(&s, "IRP_MJ_Cleanup ->");
    s.close_handle(handle);
    assert_eq!(
        trace_count(&s, "IRP_MJ_Cleanup ->"),
        cleanups,
        "no CLEANUP yet"
    );
    assert_eq!(
        open(&mut s, "\\hello.txt").status,
        NtStatus::SHARING_VIOLATION
    );
    let section = s.system_reference(duplicate).unwrap();
    // The second process exits with the handle open: CLEANUP now, CLOSE later.
    let closes = trace_count(&s, "IRP_MJ_Close ->");
    assert_eq!(s.terminate_process(p2), NtStatus::SUCCESS);
    assert_eq!(trace_count(&s, "IRP_MJ_Cleanup ->"), cleanups + 1);
    assert_eq!(trace_count(&s, "IRP_MJ_Close ->"), closes);
    let reopened = open_ok(&mut s, "\\hello.txt");
    s.close_handle(reopened);
    assert_eq!(live_fcbs(&s), 3);
    s.release_later(section);
    s.run_worker();
    assert_eq!(live_fcbs(&s), 1);
    // A process that exits with handles on several files.
    let p3 = s.create_process();
    for path in ["\\hello.txt", "\\dir\\sub\\file.txt", "\\dir", ""] {
        open_in(&mut s, p3, path);
    }
    assert!(live_fcbs(&s) > 3);
    s.terminate_process(p3);
    assert_eq!(live_fcbs(&s), 1);
    finish(s);
}

/// The volume stream (a stream file object of the driver's, on the volume FCB) outlives every
/// user open of that FCB, and a system reference on it outlives the dismount.
#[test]
fn the_volume_stream_outlives_every_user_open_of_its_fcb() {
    let mut s = machine(&support::image("lifecycle"));
    s.set_filter_attach_contexts(true);
    let volume = open_ok(&mut s, "");
    let streams = s.stream_file_objects();
    assert_eq!(streams.len(), 1, "one volume stream");
    // Not a LITE stream (whose CLOSE Windows may never send): its internal handle was closed
    // inside IoCreateStreamFileObjectEx2, so its CLEANUP came during the mount.
    let live = s.live_file_objects();
    let stream = live.iter().find(|(id, ..)| *id == streams[0]).unwrap();
    assert_eq!(
        (stream.1, stream.2),
        (1, 0),
        "our reference, no handle left"
    );
    let trace = s.trace();
    let created = trace
        .iter()
        .position(|l| l.contains("IoCreateStreamFileObjectEx2"))
        .unwrap();
    assert!(
        trace[created..]
            .iter()
            .any(|l| l.contains("IRP_MJ_Cleanup ->")),
        "CLEANUP of the stream's handle"
    );
    s.close_handle(volume);
    assert_eq!(live_fcbs(&s), 1, "the stream keeps the volume FCB");
    let cached = s.system_reference_object(streams[0]).unwrap();
    dismount(&mut s);
    // The driver let go of the stream, but Cc still holds it: the FCB and the volume live on.
    assert_eq!(live_fcbs(&s), 1);
    assert_eq!(s.unload_driver("rustfsd"), NtStatus::INVALID_DEVICE_REQUEST);
    s.release_later(cached);
    s.run_worker();
    assert_eq!(live_fcbs(&s), 0);
    assert!(!s.is_mounted(DISK_NAME));
    finish(s);
}

/// Dismount with open handles: the old handles fail with STATUS_VOLUME_DISMOUNTED (a relative
/// open through one too) but still CLEANUP and CLOSE, the old VCB goes at their last close, and
/// until then the driver cannot unload. Meanwhile the disk has a spare VPB, so an absolute open
/// mounts afresh (tests/rustfsd_volume_lifetime.rs goes on from there).
#[test]
fn dismount_with_open_handles() {
    const IS_MOUNTED: u32 = 0x0009_0028;
    let mut s = machine(&support::image("lifecycle"));
    let file = open_ok(&mut s, "\\hello.txt");
    let dir = open_ok(&mut s, "\\dir");
    let volume = open_ok(&mut s, "");
    let old_device = s.volume_device_of(DISK_NAME).unwrap();
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS);
    assert!(
        !s.is_mounted(DISK_NAME),
        "the disk has a fresh, unmounted VPB"
    );
    assert_eq!(
        open_relative(&mut s, dir, "sub").status,
        NtStatus::VOLUME_DISMOUNTED
    );
    assert_eq!(
        s.fs_control_file(file, IS_MOUNTED, &[], 0).status,
        NtStatus::VOLUME_DISMOUNTED
    );
    assert_eq!(s.dismount(volume), NtStatus::VOLUME_DISMOUNTED);
    assert_eq!(s.unload_driver("rustfsd"), NtStatus::INVALID_DEVICE_REQUEST);
    s.close_handle(file);
    s.close_handle(volume);
    assert!(s.device_exists(old_device));
    assert_eq!(s.unload_driver("rustfsd"), NtStatus::INVALID_DEVICE_REQUEST);
    s.close_handle(dir);
    assert!(
        !s.device_exists(old_device),
        "the last close deleted the volume device"
    );
    assert_eq!(live_fcbs(&s), 0);
    // A new open mounts the disk again.
    let again = open_ok(&mut s, "\\hello.txt");
    s.close_handle(again);
    use rustfsd::kernel::VolumeEvent::{Dismount, Mount};
    assert_eq!(s.volume_events(), [Mount, Dismount, Mount]);
    finish(s);
}

/// IRP_MN_VERIFY_VOLUME: the same volume stays; another medium dismounts it, and the next
/// open mounts whatever the disk now holds.
#[test]
fn verify_keeps_the_same_volume_and_drops_a_changed_one() {
    let image = support::image("lifecycle");
    let mut s = machine(&image);
    let file = open_ok(&mut s, "\\hello.txt");
    s.set_verify_required(DISK_NAME);
    assert_eq!(s.verify_volume(DISK_NAME), NtStatus::SUCCESS);
    assert!(
        !s.verify_required(DISK_NAME),
        "verify clears DO_VERIFY_VOLUME"
    );
    let again = open_ok(&mut s, "\\hello.txt");
    s.close_handle(again);
    let disk = s.disk(DISK_NAME).unwrap();
    // Another medium: a blank one.
    disk.replace_contents(vec![0; 1 << 20]);
    s.set_verify_required(DISK_NAME);
    assert_eq!(s.verify_volume(DISK_NAME), NtStatus::WRONG_VOLUME);
    assert!(!s.verify_required(DISK_NAME));
    assert_eq!(
        s.fs_control_file(file, 0x0009_0028, &[], 0).status,
        NtStatus::VOLUME_DISMOUNTED
    );
    s.close_handle(file);
    disk.replace_contents(std::fs::read(&image).unwrap());
    let remounted = open_ok(&mut s, "\\dir\\sub\\file.txt");
    s.close_handle(remounted);
    finish(s);
}

/// Shutdown with two mounted volumes, open handles and a pending system reference completes at
/// once, and nothing the verifier checks goes wrong afterwards.
#[test]
fn shutdown_completes_without_waiting_for_anything() {
    let mut s = machine(&support::image("lifecycle"));
    s.add_disk(
        "Disk1",
        support::machine::disk(&support::image("tiny-ext4")),
    );
    let file = open_ok(&mut s, "\\hello.txt");
    let pid = s.initial_process();
    let other = s
        .nt_create_file(
            pid,
            &rustfsd::kernel::model::harness::session::CreateRequest::open(
                "\\Device\\Disk1\\hello.txt",
            ),
        )
        .handle
        .unwrap();
    let section = s.system_reference(other).unwrap();
    s.close_handle(other);
    let statuses = s.shutdown();
    assert!(!statuses.is_empty(), "rustfsd registered for shutdown");
    assert!(
        statuses.iter().all(|status| *status == NtStatus::SUCCESS),
        "{statuses:?}"
    );
    assert_eq!(s.pending_work(), 0, "shutdown queued nothing");
    assert!(s.findings().is_empty(), "{:#?}", s.findings());
    // Life goes on (the machine is not really turned off in the model): clean up.
    s.close_handle(file);
    s.release_later(section);
    s.run_worker();
    dismount_disk(&mut s, "\\Device\\Disk1");
    finish(s);
}

/// The volume label and serial number reach the VPB; the mount clears DO_VERIFY_VOLUME.
#[test]
fn the_vpb_carries_the_label_and_serial_number() {
    let mut s = machine_on(support::machine::disk(&support::image("lifecycle")), None);
    s.set_verify_required(DISK_NAME);
    let volume = open_ok(&mut s, "");
    assert!(
        !s.verify_required(DISK_NAME),
        "the mount clears DO_VERIFY_VOLUME"
    );
    let (serial, label) = s.vpb_identity(DISK_NAME).unwrap();
    // The test images' UUID is 5c0ffee5-...; the label "rustfsd-test".
    assert_eq!(serial, 0x5c0f_fee5);
    assert_eq!(String::from_utf16(&label).unwrap(), "rustfsd-test");
    s.close_handle(volume);
    finish(s);
}
