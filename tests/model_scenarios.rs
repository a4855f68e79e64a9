//! The scenario runner end to end: the `filetest` binary on the example scripts, with images
//! made here (a blank disk and a TestFs disk; a mke2fs image when mke2fs is installed).

use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rustfsd-model-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn testfs_image(dir: &Path) -> PathBuf {
    let mut data = vec![0u8; 64 * 1024];
    data[..8].copy_from_slice(b"TESTFSV1");
    let path = dir.join("testfs.img");
    std::fs::write(&path, data).unwrap();
    path
}

fn filetest(image: &Path, scripts: &[&str], extra: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_filetest"))
        .arg("--image")
        .arg(image)
        .args(extra)
        .args(scripts.iter().map(|s| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/scenarios")
                .join(s)
        }))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), text)
}

#[test]
fn rustfsd_load_unload_runs_green_on_a_blank_disk() {
    let dir = scratch("blank");
    let image = dir.join("blank.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let (ok, text) = filetest(&image, &["rustfsd_load_unload.fts"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("verifier: no findings"), "{text}");
}

#[test]
fn rustfsd_mounts_every_generated_ext_image() {
    for name in support::STANDARD_IMAGES {
        let (ok, text) = filetest(&support::image(name), &["rustfsd_mount.fts"], &["--trace"]);
        assert!(ok, "{name}: {text}");
        assert!(
            text.contains("mounted as device"),
            "{name} was not mounted: {text}"
        );
    }
}

#[test]
fn rustfsd_lifecycle_and_seed_scripts_run_clean_on_every_generated_ext_image() {
    for name in support::STANDARD_IMAGES {
        let scripts = [
            "rustfsd_lifecycle.fts",
            "rustfsd_seeds.fts",
            "rustfsd_volume_lifetime.fts",
            "rustfsd_read.fts",
            "rustfsd_explorer.fts",
            "rustfsd_security_locks_eas.fts",
            "rustfsd_access.fts",
        ];
        let (ok, text) = filetest(&support::image(name), &scripts, &[]);
        assert!(ok, "{name}: {text}");
        assert!(text.contains("verifier: no findings"), "{name}: {text}");
    }
}

#[test]
fn rustfsd_refuses_an_image_with_a_damaged_superblock() {
    let dir = scratch("bad-magic");
    let mut bytes = std::fs::read(support::image("tiny-ext4")).unwrap();
    // s_magic (0xEF53) is at byte 56 of the superblock, which starts at byte 1024.
    bytes[1024 + 56] ^= 0xff;
    let image = dir.join("bad-magic.img");
    std::fs::write(&image, bytes).unwrap();
    let (ok, text) = filetest(&image, &["rustfsd_load_unload.fts"], &["--trace"]);
    assert!(ok, "{text}");
    assert!(!text.contains("mounted as device"), "{text}");
}

#[test]
fn rustfsd_reports_a_disk_error_at_mount() {
    let dir = scratch("disk-error");
    let script = dir.join("disk-error.fts");
    std::fs::write(
        &script,
        "load rustfsd => SUCCESS\n\
         fault Disk0 read-error offset=1024 len=1024 status=0xC0000185\n\
         open root \\Device\\Disk0\\\n\
         fault Disk0 clear\n\
         unload rustfsd => SUCCESS\n\
         expect-findings 0\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_filetest"))
        .arg("--trace")
        .arg("--image")
        .arg(support::image("tiny-ext4"))
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{text}");
    // The mount request fails with the disk's status, not "unrecognized": a read error says
    // nothing about what the disk holds. Nothing is mounted, so the driver can unload.
    assert!(
        text.contains("IRP_MJ_FileSystemControl <- NtStatus(0xc0000185)"),
        "{text}"
    );
    assert!(!text.contains("mounted as device"), "{text}");
}

/// A small ext4 image whose names need quoting or escapes (see rustfsd_names.fts).
fn names_image(dir: &Path) -> PathBuf {
    let source = dir.join("names-src");
    std::fs::create_dir_all(source.join("a dir")).unwrap();
    for name in [
        "hash #1.txt",
        "key=value",
        "tab\tname",
        "with space.bin",
        "a dir/in #ner",
    ] {
        std::fs::write(source.join(name), name).unwrap();
    }
    let image = dir.join("names.img");
    let output = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-O", "^has_journal", "-d"])
        .arg(&source)
        .arg(&image)
        .arg("1M")
        .output()
        .expect("mke2fs (e2fsprogs) is needed");
    assert!(output.status.success(), "{output:?}");
    image
}

#[test]
fn rustfsd_opens_names_with_spaces_hashes_equals_and_escapes() {
    let dir = scratch("names");
    let (ok, text) = filetest(&names_image(&dir), &["rustfsd_names.fts"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("verifier: no findings"), "{text}");
}

/// The statuses of the steps on lines `first` and `second` of `script`, under each seed.
fn race_outcomes(
    script: &str,
    seeds: std::ops::RangeInclusive<u64>,
    (first, second): (usize, usize),
) -> std::collections::BTreeSet<(String, String)> {
    let image = support::image("tiny-ext4");
    let status_on_line = |text: &str, line: usize| {
        let label = format!("line {line:>3} ");
        let report = text.lines().find(|l| l.contains(&label)).unwrap();
        report.split_whitespace().nth(4).unwrap().to_string()
    };
    let mut outcomes = std::collections::BTreeSet::new();
    for seed in seeds {
        let seed = seed.to_string();
        let (ok, text) = filetest(&image, &[script], &["--seed", &seed]);
        assert!(ok, "seed {seed}: {text}");
        outcomes.insert((status_on_line(&text, first), status_on_line(&text, second)));
    }
    outcomes
}

fn pairs(pairs: &[(&str, &str)]) -> std::collections::BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn an_open_racing_a_dismount_either_succeeds_and_closes_or_fails_and_closes_nothing() {
    let outcomes = race_outcomes("rustfsd_dismount_race.fts", 1..=8, (9, 10));
    let expected = pairs(&[
        ("SUCCESS", "SUCCESS"),
        ("VOLUME_DISMOUNTED", "INVALID_HANDLE"),
    ]);
    assert_eq!(outcomes, expected);
}

#[test]
fn an_open_racing_a_volume_lock_never_both_succeed() {
    // The CREATE is preempted inside the driver (model `preempt`), so without the VCB resource
    // the lock can run between its "is the volume locked?" check and the open it then
    // completes: both succeed.
    let outcomes = race_outcomes("rustfsd_lock_race.fts", 1..=24, (10, 11));
    let expected = pairs(&[("SUCCESS", "ACCESS_DENIED"), ("ACCESS_DENIED", "SUCCESS")]);
    assert_eq!(outcomes, expected);
}

#[test]
fn a_handle_closed_during_its_query_is_closed_after_the_query() {
    // Before the model referenced the FILE_OBJECT for the IRP's life, seed 98 freed it (CLOSE)
    // while the query was inside the driver: a FileObjectFreedUnderIrp finding.
    let outcomes = race_outcomes("rustfsd_close_during_read.fts", 1..=200, (9, 11));
    let expected = pairs(&[("SUCCESS", "SUCCESS"), ("INVALID_HANDLE", "SUCCESS")]);
    assert_eq!(outcomes, expected);
}

#[test]
fn change_notifications_pend_until_cleanup_or_cancel() {
    // The synchronous notify (line 24) waits on its thread: its handle's CLOSE on another thread
    // ends it with NOTIFY_CLEANUP, or the close came first and the handle is gone.
    let outcomes = race_outcomes("rustfsd_notify.fts", 1..=16, (24, 25));
    let expected = pairs(&[("NOTIFY_CLEANUP", "SUCCESS"), ("INVALID_HANDLE", "SUCCESS")]);
    assert_eq!(outcomes, expected);
}

#[test]
fn a_read_after_its_handles_cleanup_is_file_closed() {
    // Before the read held the FCB's resource across a FO_CLEANUP_COMPLETE check, seeds 1170
    // and 1171 started a cache map after the CLEANUP: it was never torn down, the volume never
    // went, and the unload failed with DEVICE_BUSY.
    let outcomes = race_outcomes("rustfsd_read_after_cleanup.fts", 1100..=1300, (10, 11));
    let expected = pairs(&[
        ("SUCCESS", "SUCCESS"),
        ("INVALID_HANDLE", "SUCCESS"),
        ("FILE_CLOSED", "SUCCESS"),
    ]);
    assert_eq!(outcomes, expected);
}

#[test]
fn testfs_handles_scenario_runs_green() {
    let dir = scratch("testfs");
    let (ok, text) = filetest(&testfs_image(&dir), &["testfs_handles.fts"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("DEVICE_BUSY"), "{text}");
}

#[test]
fn threads_scenario_runs_green_under_several_seeds() {
    let dir = scratch("threads");
    let image = testfs_image(&dir);
    for seed in ["1", "2", "3", "42"] {
        let (ok, text) = filetest(&image, &["threads.fts"], &["--seed", seed]);
        assert!(ok, "seed {seed}: {text}");
    }
}

#[test]
fn a_wrong_expectation_fails_the_run() {
    let dir = scratch("wrong");
    let script = dir.join("wrong.fts");
    std::fs::write(
        &script,
        "load rustfsd => SUCCESS\nopen c \\RustFsd => ACCESS_DENIED\nclose c\nunload rustfsd\n",
    )
    .unwrap();
    let image = testfs_image(&dir);
    let output = Command::new(env!("CARGO_BIN_EXE_filetest"))
        .arg("--image")
        .arg(&image)
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("(expected ACCESS_DENIED)"), "{text}");
}

#[test]
fn a_verifier_finding_fails_the_run() {
    // Unloading while TestFs holds a volume is refused; leaving it loaded is fine, but a
    // script that expects the wrong number of findings fails.
    let dir = scratch("findings");
    let script = dir.join("findings.fts");
    std::fs::write(&script, "load testfs => SUCCESS\nexpect-findings 1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_filetest"))
        .arg("--image")
        .arg(testfs_image(&dir))
        .arg(&script)
        .output()
        .unwrap();
    assert!(!output.status.success());
}
