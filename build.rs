//! Configures the driver link through wdk-build when, and only when, the target is the driver's
//! (windows-msvc). The windows-gnu build of `filetest.exe` is an ordinary user-mode program.
//! On a Windows host it also bridges `cargo wdk build`, which packages `<crate>.inx` from the
//! crate root, to our INF in inf/.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let driver_target = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("msvc");
    if !driver_target {
        return Ok(());
    }
    #[cfg(windows)]
    provide_inx_for_cargo_wdk()?;
    configure_driver_link()
}

#[cfg(any(windows, feature = "linux-cross-build"))]
fn configure_driver_link() -> Result<(), Box<dyn std::error::Error>> {
    wdk_build::configure_wdk_binary_build()?;
    build_seh_guards()?;
    Ok(())
}

/// Builds `src/kernel/nt/c/seh.c` (the `__try` guards around the cache manager calls that
/// raise) with clang for the MSVC target into a static library linked into the driver.
/// `CC_x86_64_pc_windows_msvc` and `AR_x86_64_pc_windows_msvc` name other tools.
#[cfg(any(windows, feature = "linux-cross-build"))]
fn build_seh_guards() -> Result<(), Box<dyn std::error::Error>> {
    use std::process::Command;
    let source = "src/kernel/nt/c/seh.c";
    println!("cargo:rerun-if-changed={source}");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let object = out.join("rustfsd_seh.obj");
    let library = out.join("rustfsd_seh.lib");
    let cc = std::env::var("CC_x86_64_pc_windows_msvc").unwrap_or_else(|_| "clang".into());
    let status = Command::new(cc)
        .args([
            "--target=x86_64-pc-windows-msvc",
            "-fms-extensions",
            "-O2",
            "-fno-stack-protector",
            "-c",
            source,
            "-o",
        ])
        .arg(&object)
        .status()?;
    if !status.success() {
        return Err(format!("compiling {source} failed").into());
    }
    let ar = std::env::var("AR_x86_64_pc_windows_msvc").unwrap_or_else(|_| "llvm-lib".into());
    let status = Command::new(ar)
        .arg(format!("/out:{}", library.display()))
        .arg(&object)
        .status()?;
    if !status.success() {
        return Err("archiving the SEH guards failed".into());
    }
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=rustfsd_seh");
    Ok(())
}

#[cfg(not(any(windows, feature = "linux-cross-build")))]
fn configure_driver_link() -> Result<(), Box<dyn std::error::Error>> {
    Err("on a non-Windows host, build the driver with `cargo xtask package`".into())
}

/// cargo-wdk's package step copies `rustfsd.inx` from the crate root, then stamps it. Ours is
/// `inf/rustfsd.inf` (the layout is fixed), so a build on a Windows host writes the copy that
/// step expects (ignored by git) whenever the INF changes or the copy is missing.
#[cfg(windows)]
fn provide_inx_for_cargo_wdk() -> std::io::Result<()> {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let inf = root.join("inf").join("rustfsd.inf");
    let inx = root.join("rustfsd.inx");
    println!("cargo::rerun-if-changed={}", inf.display());
    println!("cargo::rerun-if-changed={}", inx.display());
    let text = std::fs::read(&inf)?;
    if std::fs::read(&inx).ok().as_deref() != Some(text.as_slice()) {
        std::fs::write(&inx, text)?;
    }
    Ok(())
}
