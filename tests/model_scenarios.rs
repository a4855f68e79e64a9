//! The scenario runner end to end: the `filetest` binary on the example scripts, with images
//! made here (a blank disk and a TestFs disk; a mke2fs image when mke2fs is installed).

use std::path::{Path, PathBuf};
use std::process::Command;

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
fn rustfsd_load_unload_runs_green_on_a_mke2fs_image() {
    let dir = scratch("ext4");
    let image = dir.join("ext4.img");
    let made = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4"])
        .arg(&image)
        .arg("4M")
        .status();
    assert!(
        made.is_ok_and(|s| s.success()),
        "mke2fs failed or is missing (install e2fsprogs; `cargo xtask test` does)"
    );
    let (ok, text) = filetest(&image, &["rustfsd_load_unload.fts"], &[]);
    assert!(ok, "{text}");
}

#[test]
fn testfs_handles_scenario_runs_green() {
    let dir = scratch("testfs");
    let (ok, text) = filetest(&testfs_image(&dir), &["testfs_handles.fts"], &[]);
    assert!(ok, "{text}");
    assert!(text.contains("INVALID_DEVICE_REQUEST"), "{text}");
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
        "load rustfsd => SUCCESS\nopen c \\RustFsd => SUCCESS\nunload rustfsd\n",
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
    assert!(text.contains("(expected SUCCESS)"), "{text}");
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
