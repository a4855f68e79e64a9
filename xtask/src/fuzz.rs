//! The bounded fuzz run of the test command: cargo-fuzz (nightly, libFuzzer) on the ext4 reader,
//! seeded with the corpus the host tests write from generated images.

use std::process::Command;

use crate::util::{self, Result};

const TARGET: &str = "mount_walk";
const CORPUS: &str = "fuzz/corpus/mount_walk";

/// Runs the fuzz target for `seconds`; any crash, timeout or out-of-memory fails the stage.
pub fn run(seconds: u32) -> Result<()> {
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let corpus = util::workspace_root().join(CORPUS);
    if !corpus.is_dir() {
        return Err(format!(
            "no seed corpus at {} (the host tests write it)",
            corpus.display()
        ));
    }
    let mut fuzz = nightly_cargo();
    fuzz.args(["fuzz", "run", TARGET])
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args([
            "-rss_limit_mb=2048",
            "-timeout=10",
            "-max_len=600000",
            "-print_final_stats=1",
        ]);
    let output = fuzz
        .output()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    for line in log
        .lines()
        .filter(|l| l.starts_with("Done ") || l.starts_with("stat::"))
    {
        println!("  {line}");
    }
    if output.status.success() {
        Ok(())
    } else {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Err(format!(
            "the fuzzer failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ))
    }
}

/// `cargo +nightly` from the workspace root, not pinned by rust-toolchain.toml.
fn nightly_cargo() -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .current_dir(util::workspace_root())
        .env_remove("RUSTUP_TOOLCHAIN");
    command
}

fn ensure_nightly() -> Result<()> {
    let list = util::output(Command::new("rustup").args(["toolchain", "list"]))?;
    if list.lines().any(|l| l.starts_with("nightly")) {
        return Ok(());
    }
    util::run(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
    ]))
}

fn ensure_cargo_fuzz() -> Result<()> {
    if nightly_cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(());
    }
    println!("xtask: installing cargo-fuzz");
    util::run(
        Command::new("cargo")
            .args(["install", "--locked", "cargo-fuzz"])
            .env_remove("RUSTUP_TOOLCHAIN"),
    )
}
