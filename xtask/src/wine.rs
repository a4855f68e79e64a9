//! Runs `filetest.exe` under Wine (Debian's wine64), headless, in its own prefix under
//! target/wine: the test `tests/filetest_wine.rs` compares it, on a plain directory, with the
//! model's run of the same script on an ext4 image made from that directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::filetest_exe;
use crate::util::{self, Result};

/// Where Debian 12's wine64 package puts the 64-bit loader (not on PATH).
const DEBIAN_WINE64: &str = "/usr/lib/wine/wine64";
/// The stand-in for the bcryptprimitives.dll Wine 8 lacks (see the source).
const PRNG_SHIM: &str = "xtask/src/wine/bcryptprimitives.c";

fn wine64() -> Result<PathBuf> {
    if Path::new(DEBIAN_WINE64).is_file() {
        return Ok(PathBuf::from(DEBIAN_WINE64));
    }
    for name in ["wine64", "wine"] {
        if util::have_program(name) {
            return Ok(PathBuf::from(name));
        }
    }
    Err(format!(
        "no Wine: {DEBIAN_WINE64} is missing (apt-get install wine64)"
    ))
}

/// Gives `command` (Wine, or the test that starts it) the Wine environment: its own prefix,
/// no display, no debug channels, no Mono/Gecko installers.
fn wine_environment<'a>(command: &'a mut Command, prefix: &Path) -> &'a mut Command {
    command
        .env("WINEPREFIX", prefix)
        .env("WINEARCH", "win64")
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::null())
}

/// Builds filetest.exe and the PRNG stand-in into target/wine/bin, creates the Wine prefix
/// (first-run initialisation), and runs the Wine test against them.
pub fn test() -> Result<()> {
    let exe = filetest_exe::build()?;
    let root = util::workspace_root();
    let wine_dir = root.join("target").join("wine");
    let bin = wine_dir.join("bin");
    util::create_dir(&bin)?;
    util::copy(&exe, &bin.join("filetest.exe"))?;
    util::run(
        Command::new("x86_64-w64-mingw32-gcc")
            .args(["-shared", "-O2", "-s", "-o"])
            .arg(bin.join("bcryptprimitives.dll"))
            .arg(root.join(PRNG_SHIM))
            .arg("-lbcrypt"),
    )?;
    let wine = wine64()?;
    let prefix = wine_dir.join("prefix");
    if !prefix.join("system.reg").is_file() {
        println!("xtask: creating the Wine prefix {}", prefix.display());
        util::run(
            wine_environment(&mut Command::new(&wine), &prefix).args(["wineboot", "--init"]),
        )?;
    }
    util::run(
        wine_environment(&mut util::cargo(), &prefix)
            .args([
                "test",
                "--release",
                "--test",
                "filetest_wine",
                "--",
                "--ignored",
            ])
            .env("RUSTFSD_WINE", &wine)
            .env("RUSTFSD_FILETEST_EXE", bin.join("filetest.exe")),
    )
}
