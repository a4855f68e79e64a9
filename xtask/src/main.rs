//! `cargo xtask`: the project's build, package and test automation.
//!
//! `cargo xtask package` builds `target/package/{rustfsd.sys,rustfsd.pdb,rustfsd.inf}` and
//! `filetest.exe`; `cargo xtask test` runs every test. Each installs its own prerequisites.

mod casefold_tables;
mod cross;
mod filetest_exe;
mod fuzz;
mod inf_check;
mod kit;
mod pdb_layouts;
mod pe_check;
mod prereq;
mod sign;
mod stack_depth;
mod util;
mod wine;

use std::process::ExitCode;

use util::Result;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  package         build the signed driver package (with filetest.exe and the WinDbg
                  extension rustfsd.js) into target/package
  filetest-exe    build filetest.exe (the scenario runner on the real NT API); print its path
  test-wine       only the Wine stage of `test`: filetest.exe under Wine against the model
  test            run every test: host tests, cross-build, PE/INF/layout checks, fuzzing
  check-package   build the package and run only its checks (layout, PE, INF, self-tests,
                  the WinDbg extension)
  check-pe FILE   run the PE checks on a built .sys
  check-inf FILE  run the INF consistency check
  stack-depth     the deepest stack-frame chains in target/package/rustfsd.sys (fails
                  above the budget; docs/performance.md, \"Stack depth\")
  windbg-layouts  rewrite the WinDbg extension's test layouts from target/package/rustfsd.pdb
  casefold-tables rewrite src/ext4/casefold_tables.rs from the Unicode data (unicode-data)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["package"] => package().map(|_| ()),
        ["filetest-exe"] => filetest_exe::build().map(|exe| println!("{}", exe.display())),
        ["test-wine"] => wine::test(),
        ["test"] => test(),
        ["check-package"] => {
            let mut summary = util::Summary::default();
            package_checks(&mut summary).map(|()| summary.finish())
        }
        ["check-pe", file] => pe_check::check(std::path::Path::new(file), &kit::Kit::locate()),
        ["check-inf", file] => inf_check::check(std::path::Path::new(file)),
        ["stack-depth"] => stack_depth::run(),
        ["windbg-layouts"] => write_windbg_layouts(),
        ["casefold-tables"] => casefold_tables::write(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Builds, signs and stages the driver package. Returns the package directory.
fn package() -> Result<std::path::PathBuf> {
    prereq::ensure_cross_build_tools()?;
    let kit = kit::Kit::prepare()?;
    let built = cross::build_driver(&kit)?;
    let package_dir = util::workspace_root().join("target").join("package");
    util::recreate_dir(&package_dir)?;
    let sys = package_dir.join("rustfsd.sys");
    util::copy(&built.image, &sys)?;
    util::copy(&built.pdb, &package_dir.join("rustfsd.pdb"))?;
    util::copy(
        &util::workspace_root().join("inf").join("rustfsd.inf"),
        &package_dir.join("rustfsd.inf"),
    )?;
    sign::test_sign(&sys)?;
    util::copy(&filetest_exe::build()?, &package_dir.join("filetest.exe"))?;
    // The WinDbg extension (`.scriptload rustfsd.js` beside the PDB; docs/windbg.md).
    util::copy(
        &util::workspace_root().join("tools/windbg/rustfsd.js"),
        &package_dir.join("rustfsd.js"),
    )?;
    println!("package: {}", package_dir.display());
    for name in [
        "rustfsd.sys",
        "rustfsd.pdb",
        "rustfsd.inf",
        "filetest.exe",
        "rustfsd.js",
    ] {
        let size = std::fs::metadata(package_dir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("  {name:<12} {size:>9} bytes");
    }
    Ok(package_dir)
}

/// Runs every test. Each stage prints its own verdict; the first failure stops the run.
fn test() -> Result<()> {
    prereq::ensure_test_tools()?;
    let mut summary = util::Summary::default();

    summary.stage(
        "ext4 casefold tables (they match the Unicode data)",
        casefold_tables::check,
    )?;

    summary.stage("host tests (cargo test --workspace)", || {
        util::run(util::cargo().args([
            "test",
            "--workspace",
            "--release",
            "--lib",
            "--bins",
            "--tests",
        ]))?;
        // The benchmark is a command of its own (docs/performance.md); here it must only build.
        util::run(util::cargo().args(["build", "--release", "--benches"]))
    })?;

    let fuzz_seconds = std::env::var("RUSTFSD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    summary.stage(
        &format!("fuzz the ext4 reader ({fuzz_seconds} s, cargo-fuzz)"),
        || fuzz::run(fuzz_seconds),
    )?;

    package_checks(&mut summary)?;

    summary.stage(
        "filetest.exe under Wine, against the model on the same tree",
        wine::test,
    )?;

    summary.finish();
    Ok(())
}

/// The cross-build (with its compile-time layout assertions) and the checks on its output.
fn package_checks(summary: &mut util::Summary) -> Result<()> {
    let package_dir = summary.stage("cross-build, layout assertions, signing", package)?;
    let kit = kit::Kit::locate();
    let sys = package_dir.join("rustfsd.sys");
    let inf = package_dir.join("rustfsd.inf");
    summary.stage("PE checks on rustfsd.sys", || pe_check::check(&sys, &kit))?;
    summary.stage("INF consistency", || inf_check::check(&inf))?;
    summary.stage(
        "stack depth of rustfsd.sys (deepest frame chains within the budget)",
        stack_depth::run,
    )?;
    summary.stage(
        "checker self-tests (each check must fail on a broken input)",
        || {
            pe_check::self_test(&sys, &kit)?;
            inf_check::self_test(&inf)
        },
    )?;
    summary.stage(
        "WinDbg extension (its layouts match rustfsd.pdb; node --test)",
        || {
            pdb_layouts::check_fixture(&package_dir.join("rustfsd.pdb"))?;
            util::run(
                std::process::Command::new("node")
                    .arg("--test")
                    .arg(util::workspace_root().join("tools/windbg/test/rustfsd.test.js")),
            )
        },
    )?;
    Ok(())
}

/// Rewrites the WinDbg extension's test layouts from the packaged PDB.
fn write_windbg_layouts() -> Result<()> {
    let pdb = util::workspace_root().join("target/package/rustfsd.pdb");
    let json = pdb_layouts::layouts_json(&pdb)?;
    util::write(&pdb_layouts::fixture_path(), json)?;
    println!("wrote {}", pdb_layouts::fixture_path().display());
    Ok(())
}
