//! Cc's own section on a cached file, through rustfsd, against the NT model with the verifier on,
//! on a real mke2fs image. CcInitializeCacheMap creates the stream's data segment with the
//! FILE_OBJECT it names when none exists, so that FILE_OBJECT keeps a reference (Mm's) after
//! its shared cache map is gone, until the segment is purged or trimmed (ReactOS `cc/view.c`
//! CcRosInitializeFileCache / CcRosDeleteFileCache). The driver must purge such a file at lock
//! and dismount, and at a CLEANUP on a dismounted volume, or the volume never goes and the
//! driver cannot unload.

mod support;

use std::path::Path;

use rustfsd::kernel::NtStatus;
use rustfsd::kernel::model::harness::{Handle, Session};
use rustfsd::kernel::model::section::SectionKind;
use support::machine::{finish, machine, open_ok};

/// FSCTL_LOCK_VOLUME.
const FSCTL_LOCK_VOLUME: u32 = 0x0009_0018;
/// Seeds per test: enough for every order of the shared map's and the segment's deletions.
const SEEDS: u64 = 32;

fn volume_handle(s: &mut Session) -> Handle {
    open_ok(s, "")
}

/// A cached read of the start of `path` through a handle left open.
fn cached_read(s: &mut Session, path: &str) -> Handle {
    let file = open_ok(s, path);
    let io = s.read_file(file, Some(0), 4096);
    assert_eq!(io.status, NtStatus::SUCCESS, "read {path}");
    file
}

/// The seeds in which the shared map's deletion left the segment kept (its FILE_OBJECT with
/// Mm's reference and no CLOSE yet) right after the file's last handle went.
fn kept_after_close(image: &Path) -> Vec<u64> {
    (0..SEEDS)
        .filter(|&seed| {
            let mut s = machine(image);
            s.set_choice_seed(seed);
            let file = cached_read(&mut s, "\\notepad.txt");
            assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
            s.run_worker();
            let kept = s.section_counters().2 == 1;
            let before = s.file_object_count();
            s.trim();
            assert_eq!(s.section_counters().2, 0, "seed {seed}");
            // Cc's FILE_OBJECT is closed by the trim if the segment was kept.
            assert_eq!(before - s.file_object_count(), kept as usize, "seed {seed}");
            finish(s);
            kept
        })
        .collect()
}

/// Closing a cached file's last handle deletes its shared cache map, but the data segment Cc
/// created keeps its FILE_OBJECT until memory pressure (some seeds) or deletes it at once
/// (the others): both happen.
#[test]
fn cc_created_segment_outlives_the_shared_map_until_trimmed() {
    let image = support::sections_image();
    let kept = kept_after_close(&image);
    assert!(
        !kept.is_empty() && kept.len() < SEEDS as usize,
        "kept in {kept:?} of {SEEDS} seeds"
    );
}

/// FSCTL_LOCK_VOLUME purges every file the cache manager has had a section on, not only those
/// a user mapped: the segment Cc created for a closed file is deleted (its CLOSE comes) before
/// the lock is granted.
#[test]
fn lock_purges_the_segment_cc_created() {
    let image = support::sections_image();
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let file = cached_read(&mut s, "\\notepad.txt");
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
        let volume = volume_handle(&mut s);
        let lock = s.fs_control_file(volume, FSCTL_LOCK_VOLUME, &[], 0).status;
        assert_eq!(lock, NtStatus::SUCCESS, "seed {seed}");
        s.run_worker();
        assert_eq!(s.section_counters().2, 0, "seed {seed}: segment left");
        s.close_handle(volume);
        finish(s);
    }
}

/// A cached read of a file whose handle is closed before the dismount or after it, then the
/// volume's: once the worker has run, no segment is left and the driver unloads clean.
fn dismount_then_unload(image: &Path, seed: u64, close_file_before_dismount: bool) {
    let mut s = machine(image);
    s.set_choice_seed(seed);
    let file = cached_read(&mut s, "\\notepad.txt");
    if close_file_before_dismount {
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
    }
    let volume = volume_handle(&mut s);
    assert_eq!(s.dismount(volume), NtStatus::SUCCESS, "seed {seed}");
    s.close_handle(volume);
    if !close_file_before_dismount {
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
    }
    s.run_worker();
    assert_eq!(s.section_counters().2, 0, "seed {seed}: segment left");
    let stopped = s.stop_file_system("rustfsd");
    assert_eq!(stopped, NtStatus::SUCCESS, "seed {seed}");
    assert!(s.findings().is_empty(), "seed {seed}: {:#?}", s.findings());
}

/// A file closed before the dismount: the dismount's purge deletes Cc's segment, so once the
/// volume handle goes the driver unloads.
#[test]
fn dismount_purges_the_segment_cc_created() {
    let image = support::sections_image();
    for seed in 0..SEEDS {
        dismount_then_unload(&image, seed, true);
    }
}

/// A file still open at the dismount: its CLEANUP comes on the dismounted volume, where no
/// later lock or dismount purges it, so the CLEANUP purges it (CDFS `cleanup.c` purges a
/// volume that is no longer mounted at a cleanup, to spark its teardown).
#[test]
fn cleanup_on_a_dismounted_volume_purges_the_segment_cc_created() {
    let image = support::sections_image();
    for seed in 0..SEEDS {
        dismount_then_unload(&image, seed, false);
    }
}

/// A user section made while the shared cache map lives shares Cc's segment: a purge cannot
/// delete it while the shared map lives (Cc's section counts on it), and the user's section
/// closing does not release Cc's FILE_OBJECT.
#[test]
fn user_section_on_a_cached_file_shares_cc_segment() {
    let image = support::sections_image();
    for seed in 0..SEEDS {
        let mut s = machine(&image);
        s.set_choice_seed(seed);
        let file = cached_read(&mut s, "\\notepad.txt");
        assert_eq!(
            s.create_section("s", file, SectionKind::Data),
            NtStatus::SUCCESS
        );
        assert_eq!(s.section_counters().2, 1, "one data segment");
        assert_eq!(s.close_section("s"), NtStatus::SUCCESS);
        assert_eq!(s.purge(file), Ok(true));
        s.run_worker();
        assert_eq!(
            s.section_counters().2,
            1,
            "seed {seed}: Cc's section keeps the segment"
        );
        let before = s.file_object_count();
        assert_eq!(s.close_handle(file), NtStatus::SUCCESS);
        s.trim();
        assert_eq!(s.section_counters().2, 0, "seed {seed}");
        assert_eq!(before - s.file_object_count(), 1, "seed {seed}: closed");
        finish(s);
    }
}
