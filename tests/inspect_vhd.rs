//! `rustfsd-inspect to-vhd` end to end: QEMU's VHD driver opens the result with the right
//! size, sfdisk finds the one Linux partition at 1 MiB, the partition read back through QEMU
//! is the image byte for byte, and bad input is refused with a clear message.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rustfsd-vhd-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn to_vhd(image: &Path, vhd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .arg("to-vhd")
        .arg(image)
        .arg(vhd)
        .output()
        .unwrap()
}

/// A tool the test cannot do without (`cargo xtask test` installs them).
fn tool(name: &str, package: &str) -> Command {
    let found = ["", "/usr/sbin/", "/sbin/"]
        .iter()
        .map(|dir| format!("{dir}{name}"))
        .find(|path| Command::new(path).arg("--version").output().is_ok());
    Command::new(found.unwrap_or_else(|| panic!("{name} is needed: apt-get install {package}")))
}

fn stdout_of(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The number in "virtual size: 2.03 MiB (2123776 bytes)".
fn qemu_virtual_size(info: &str) -> u64 {
    let line = info
        .lines()
        .find(|l| l.starts_with("virtual size:"))
        .unwrap();
    let bytes = line.rsplit('(').next().unwrap().trim_end_matches(" bytes)");
    bytes.parse().unwrap()
}

fn check_vhd_of(image: &Path, name: &str) {
    let dir = scratch(name);
    let vhd = dir.join(format!("{name}.vhd"));
    let output = to_vhd(image, &vhd);
    assert!(output.status.success(), "{output:?}");
    let image_bytes = std::fs::read(image).unwrap();
    let vhd_len = std::fs::metadata(&vhd).unwrap().len();

    let info = stdout_of(
        tool("qemu-img", "qemu-utils")
            .args(["info", "-f", "vpc"])
            .arg(&vhd),
    );
    assert!(info.contains("file format: vpc"), "{info}");
    let disk_bytes = qemu_virtual_size(&info);
    assert_eq!(disk_bytes, vhd_len - 512, "{info}");
    assert!(disk_bytes >= (1 << 20) + image_bytes.len() as u64);

    let sectors = image_bytes.len() / 512;
    let json = stdout_of(tool("sfdisk", "fdisk").arg("--json").arg(&vhd));
    assert!(json.contains("\"label\": \"dos\""), "{json}");
    assert_eq!(json.matches("\"node\":").count(), 1, "{json}");
    assert!(json.contains("\"start\": 2048,"), "{json}");
    assert!(json.contains(&format!("\"size\": {sectors},")), "{json}");
    assert!(json.contains("\"type\": \"83\""), "{json}");
    // sfdisk reads the file as a raw disk: the footer is its last sector.
    let listing = stdout_of(tool("sfdisk", "fdisk").arg("-l").arg(&vhd));
    assert!(listing.contains(&format!("{vhd_len} bytes")), "{listing}");
    assert!(listing.contains("83 Linux"), "{listing}");

    // The disk as QEMU's VHD driver reads it.
    let raw = dir.join("disk.raw");
    stdout_of(
        tool("qemu-img", "qemu-utils")
            .args(["convert", "-f", "vpc", "-O", "raw"])
            .arg(&vhd)
            .arg(&raw),
    );
    let disk = std::fs::read(&raw).unwrap();
    assert_eq!(disk.len() as u64, disk_bytes);
    let partition = &disk[1 << 20..(1 << 20) + image_bytes.len()];
    assert!(
        partition == image_bytes.as_slice(),
        "the partition is not the image"
    );
    assert_eq!(&disk[510..512], &[0x55, 0xAA]);
    assert!(disk[512..1 << 20].iter().all(|&b| b == 0));
    assert!(
        disk[(1 << 20) + image_bytes.len()..]
            .iter()
            .all(|&b| b == 0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_small_image_becomes_an_attachable_vhd() {
    check_vhd_of(&support::image("tiny-ext4"), "tiny");
}

#[test]
fn a_larger_image_becomes_an_attachable_vhd() {
    check_vhd_of(&support::image("lifecycle"), "lifecycle");
}

fn refused(image: &Path, vhd: &Path, message: &str) {
    let output = to_vhd(image, vhd);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(stderr.contains(message), "expected {message:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let dir = scratch("bad");
    let vhd = dir.join("out.vhd");
    refused(&dir.join("missing.img"), &vhd, "cannot open");

    let mut odd = std::fs::read(support::image("tiny-ext4")).unwrap();
    odd.extend_from_slice(&[0; 100]);
    let odd_image = dir.join("odd.img");
    std::fs::write(&odd_image, odd).unwrap();
    refused(&odd_image, &vhd, "not a non-zero multiple of 512 bytes");

    let blank = dir.join("blank.img");
    std::fs::write(&blank, vec![0u8; 1 << 20]).unwrap();
    refused(&blank, &vhd, "not an ext2/ext3/ext4 file system");

    let image = dir.join("tiny.img");
    std::fs::copy(support::image("tiny-ext4"), &image).unwrap();
    let before = std::fs::read(&image).unwrap();
    refused(&image, &image, "is the image itself");
    assert_eq!(std::fs::read(&image).unwrap(), before);

    refused(&image, &dir.join("no-such-dir/out.vhd"), "cannot write");
    assert!(!vhd.exists());

    // An output that cannot be created is left as it was (here a dangling symbolic link).
    let link = dir.join("link.vhd");
    std::os::unix::fs::symlink(dir.join("no-such-dir/target.vhd"), &link).unwrap();
    refused(&image, &link, "cannot write");
    assert!(
        std::fs::symlink_metadata(&link).is_ok(),
        "the link was removed"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_rustfsd-inspect"))
        .arg("to-vhd")
        .arg(&image)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("to-vhd IMG OUT.vhd"));
}
