//! Installs what the commands need on Debian 12, or says exactly what to run.

use std::process::Command;

use crate::util::{self, Result};

/// Debian packages of the Linux cross-build: mingw-w64 headers and import libraries (the kit),
/// clang/libclang (bindgen), LLVM tools (llvm-nm, llvm-ar, llvm-readobj), osslsigncode and
/// openssl (test signing), patch (the wdk-build host patch).
const CROSS_BUILD_PACKAGES: &[&str] = &[
    "mingw-w64-x86-64-dev",
    "clang",
    "libclang-dev",
    "llvm",
    "osslsigncode",
    "openssl",
    "patch",
];

/// Extra Debian packages of the tests: e2fsprogs makes and reads the ext4 test images;
/// qemu-utils (qemu-img) and fdisk (sfdisk) check the VHDs `rustfsd-inspect to-vhd` makes;
/// unicode-data is the source the ext4 casefold tables are checked against.
const TEST_PACKAGES: &[&str] = &["e2fsprogs", "qemu-utils", "fdisk", "unicode-data"];

/// Debian packages of filetest.exe: mingw-w64's gcc links the x86_64-pc-windows-gnu target
/// (with mingw-w64-x86-64-dev's import libraries, libntdll.a among them).
const FILETEST_EXE_PACKAGES: &[&str] = &["gcc-mingw-w64-x86-64", "mingw-w64-x86-64-dev"];

/// Debian package of the Wine test: the 64-bit loader, /usr/lib/wine/wine64 (it runs console
/// programs headless; a prefix needs no display).
const WINE_PACKAGES: &[&str] = &["wine64"];

const WINDOWS_TARGET: &str = "x86_64-pc-windows-msvc";

pub fn ensure_cross_build_tools() -> Result<()> {
    ensure_debian_packages(CROSS_BUILD_PACKAGES)?;
    ensure_rust_target(WINDOWS_TARGET)
}

pub fn ensure_filetest_exe_tools() -> Result<()> {
    ensure_debian_packages(FILETEST_EXE_PACKAGES)?;
    ensure_rust_target(crate::filetest_exe::TARGET)
}

/// Debian's package for `node`, which runs the WinDbg extension's tests; only installed when
/// no `node` is on PATH (a newer Node.js from elsewhere serves as well).
const NODE_PACKAGE: &str = "nodejs";

pub fn ensure_test_tools() -> Result<()> {
    let mut all: Vec<&str> = CROSS_BUILD_PACKAGES.to_vec();
    all.extend_from_slice(TEST_PACKAGES);
    all.extend_from_slice(FILETEST_EXE_PACKAGES);
    all.extend_from_slice(WINE_PACKAGES);
    if !util::have_program("node") {
        all.push(NODE_PACKAGE);
    }
    ensure_debian_packages(&all)?;
    ensure_rust_target(WINDOWS_TARGET)?;
    ensure_rust_target(crate::filetest_exe::TARGET)
}

fn ensure_debian_packages(packages: &[&str]) -> Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !debian_package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !util::have_program("apt-get") {
        return Err(format!(
            "missing packages {}; this needs Debian 12 (apt-get)",
            missing.join(" ")
        ));
    }
    if !running_as_root() {
        return Err(format!(
            "missing packages; run as root: apt-get update && {install}"
        ));
    }
    println!("xtask: installing {}", missing.join(" "));
    util::run(Command::new("apt-get").arg("update").arg("-qq"))?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn debian_package_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
}

fn running_as_root() -> bool {
    util::output(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}

/// rust-toolchain.toml lists the targets, but an already-installed toolchain may lack one.
fn ensure_rust_target(target: &str) -> Result<()> {
    let installed = util::output(util::cargo_rustup().args(["target", "list", "--installed"]))?;
    if installed.lines().any(|line| line.trim() == target) {
        return Ok(());
    }
    println!("xtask: adding the Rust target {target}");
    util::run(util::cargo_rustup().args(["target", "add", target]))
}
