//! `filetest.exe`: the scenario runner built for Windows (x86_64-pc-windows-gnu, linked by
//! Debian's mingw-w64 gcc), which runs the same scripts through the real NT API.

use std::path::PathBuf;

use crate::prereq;
use crate::util::{self, Result};

pub const TARGET: &str = "x86_64-pc-windows-gnu";

/// Builds filetest.exe and returns its path.
pub fn build() -> Result<PathBuf> {
    prereq::ensure_filetest_exe_tools()?;
    util::run(util::cargo().args([
        "build",
        "--release",
        "--target",
        TARGET,
        "--bin",
        "filetest",
    ]))?;
    let exe = util::workspace_root()
        .join("target")
        .join(TARGET)
        .join("release")
        .join("filetest.exe");
    if !exe.is_file() {
        return Err(format!("the build left no {}", exe.display()));
    }
    Ok(exe)
}
