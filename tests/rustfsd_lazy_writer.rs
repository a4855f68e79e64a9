//! The lazy writer's pending work at a lock: FSCTL_LOCK_VOLUME purges, waits for the lazy
//! writer (CcWaitForCurrentLazyWriterActivity: its lazy closes come), purges again and only
//! then counts what is open, as FastFAT's FatLockVolumeInternal does.

mod support;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use support::machine::{finish, machine, open_file, open_ok};

const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
const FSCTL_UNLOCK_VOLUME: u32 = 0x0009_001C;
const SEEDS: u64 = 64;

/// Unlocks the volume, closes its handle and ends the test (`finish`).
fn unlock_close_finish(mut s: Session, volume: Handle) {
    assert_eq!(
        s.fs_control_file(volume, FSCTL_UNLOCK_VOLUME, &[], 0)
            .status,
        NtStatus::SUCCESS
    );
    assert_eq!(s.close_handle(volume), NtStatus::SUCCESS);
    finish(s);
}

/// Cached read of `\hello.txt`, close, lock: granted in every seed, with no shared cache map
/// (and so no FILE_OBJECT of the file) left when the lock is granted, whether the shared map
/// was deleted inside CcUninitializeCacheMap or by the lazy writer (both occur; CLEANUP's wait
/// on the uninitialize event lets the lazy writer's deletion run before it returns).
#[test]
fn lock_after_a_cached_file_closes_is_granted_in_every_seed() {
    let image = support::image("lifecycle");
    let (mut inline, mut lazy) = (0, 0);
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let file = open_file(&mut s, "\\hello.txt", false);
        let read = s.read_file(file, Some(0), 4096);
        assert_eq!(read.status, NtStatus::SUCCESS, "seed {seed}: read");
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
        let (_, deleted_inline, deleted_lazily, _) = s.cache_counters();
        let volume = open_ok(&mut s, "");
        let status = s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status;
        let (_, _, _, alive) = s.cache_counters();
        assert_eq!(
            (status, alive),
            (NtStatus::SUCCESS, 0),
            "seed {seed}: lock status and shared maps alive after it"
        );
        if deleted_lazily == 0 && deleted_inline == 1 {
            inline += 1;
        } else {
            lazy += 1;
        }
        unlock_close_finish(s, volume);
    }
    assert!(
        inline > 0 && lazy > 0,
        "both deletions must occur: {inline} inline, {lazy} lazy"
    );
}

/// A FILE_OBJECT the cache manager still references after its handle closed, released by a
/// lazy close on the lazy writer: the lock waits for it (CcWaitForCurrentLazyWriterActivity),
/// so when the lock is granted the FILE_OBJECT's CLOSE has come and nothing of the file is
/// open on the volume, as FastFAT's open-file count requires. Another work item (not the
/// lazy writer's) stays queued.
#[test]
fn lock_waits_for_a_lazy_close() {
    let image = support::image("lifecycle");
    let mut s = machine(&image);
    let file = open_file(&mut s, "\\hello.txt", false);
    let file_object = s.file_object(file).unwrap();
    let cc = s.system_reference(file).unwrap();
    let mm = s.system_reference(file).unwrap();
    assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
    s.release_later(mm);
    s.release_by_lazy_writer(cc);
    let volume = open_ok(&mut s, "");
    let status = s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status;
    assert_eq!(status, NtStatus::SUCCESS);
    assert_eq!(
        s.pending_work(),
        1,
        "the lazy close ran inside the lock; Mm's release is not the lazy writer's"
    );
    s.run_worker();
    assert!(
        !s.live_file_objects().iter().any(|f| f.0 == file_object),
        "the file's FILE_OBJECT outlived its last reference"
    );
    unlock_close_finish(s, volume);
}
