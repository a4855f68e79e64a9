//! The Linux cross-build of the real driver with the wdk crates: our wdk-build host patch, the
//! generated kit, bindgen flags, and rust-lld.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::kit::Kit;
use crate::util::{self, Result};

pub const TARGET: &str = "x86_64-pc-windows-msvc";
const WDK_BUILD: &str = "wdk-build-0.6.0";
const HOST_PATCH: &str = "xtask/patches/wdk-build-0.6.0-linux-host.patch";

pub struct BuiltDriver {
    pub image: PathBuf,
    pub pdb: PathBuf,
}

pub fn build_driver(kit: &Kit) -> Result<BuiltDriver> {
    let patched = patched_wdk_build()?;
    let resource_dir = util::output(Command::new("clang").arg("-print-resource-dir"))?;
    let mut build = util::cargo();
    build
        .args([
            "build",
            "--release",
            "--lib",
            "--target",
            TARGET,
            "--features",
            "linux-cross-build",
        ])
        .arg("--config")
        .arg(format!(
            "patch.crates-io.wdk-build.path={:?}",
            patched.display().to_string()
        ))
        .arg("--config")
        .arg(format!("target.{TARGET}.linker=\"rust-lld\""))
        .arg("--config")
        .arg(format!(
            "target.{TARGET}.rustflags=[\"-C\", \"link-arg=/RELEASE\"]"
        ))
        .env("WDKContentRoot", &kit.root)
        .env(
            "BINDGEN_EXTRA_CLANG_ARGS_x86_64_pc_windows_msvc",
            format!("-fgnuc-version=4.2.1 -resource-dir={}", resource_dir.trim()),
        );
    // Patching a dependency rewrites Cargo.lock; the committed lock file stays as it was.
    let lock_path = util::workspace_root().join("Cargo.lock");
    let lock = util::read(&lock_path).ok();
    let result = util::run(&mut build);
    if let Some(lock) = lock {
        util::write(&lock_path, lock)?;
    }
    result?;

    let out = util::workspace_root()
        .join("target")
        .join(TARGET)
        .join("release");
    let built = BuiltDriver {
        image: out.join("rustfsd.dll"),
        pdb: out.join("rustfsd.pdb"),
    };
    for path in [&built.image, &built.pdb] {
        if !path.is_file() {
            return Err(format!("the build produced no {}", path.display()));
        }
    }
    Ok(built)
}

/// Copies the crates.io wdk-build source into target/ and applies our Linux host patch.
fn patched_wdk_build() -> Result<PathBuf> {
    let dir = util::workspace_root()
        .join("target")
        .join("wdk-build-patched");
    let crate_dir = dir.join(WDK_BUILD);
    let patch = util::workspace_root().join(HOST_PATCH);
    let stamp = dir.join("stamp");
    let wanted = util::read(&patch)?;
    if crate_dir.is_dir() && util::read(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(crate_dir);
    }
    let source = registry_source()?;
    util::recreate_dir(&dir)?;
    copy_dir(&source, &crate_dir)?;
    let patch_file =
        std::fs::File::open(&patch).map_err(|e| format!("cannot open {}: {e}", patch.display()))?;
    util::run(
        Command::new("patch")
            .args(["-p1", "--quiet", "-d"])
            .arg(&crate_dir)
            .stdin(patch_file),
    )?;
    util::write(&stamp, wanted)?;
    Ok(crate_dir)
}

/// The unpacked crates.io source of wdk-build, fetched by cargo if needed.
fn registry_source() -> Result<PathBuf> {
    let metadata = util::output(util::cargo().args([
        "metadata",
        "--format-version",
        "1",
        "--filter-platform",
        TARGET,
    ]))?;
    let suffix = format!("/{WDK_BUILD}/Cargo.toml");
    let manifest = metadata
        .split("\"manifest_path\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|path| path.ends_with(&suffix))
        .map(str::to_owned)
        .ok_or_else(|| format!("cargo metadata does not list {WDK_BUILD}"))?;
    Path::new(&manifest)
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("odd manifest path {manifest}"))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    util::run(Command::new("cp").arg("-r").arg(from).arg(to))
}

/// The RVA of a symbol in the last driver build, from the linker map (wdk-build passes /MAP).
pub fn symbol_rva(name: &str) -> Result<u32> {
    let map_path = util::workspace_root()
        .join("target")
        .join(TARGET)
        .join("release/deps/rustfsd.map");
    let map = util::read_text(&map_path)?;
    let hex = |text: &str| u64::from_str_radix(text, 16).ok();
    let base = map
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("Preferred load address is ")
                .and_then(hex)
        })
        .ok_or_else(|| format!("{} has no load address", map_path.display()))?;
    let address = map
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find_map(|fields| match fields.as_slice() {
            [_, symbol, address, ..] if *symbol == name => hex(address),
            _ => None,
        })
        .ok_or_else(|| format!("{name} is not in {}", map_path.display()))?;
    address
        .checked_sub(base)
        .and_then(|rva| u32::try_from(rva).ok())
        .ok_or_else(|| format!("{name} at {address:#x} is below the load address {base:#x}"))
}
