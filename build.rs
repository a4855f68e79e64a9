//! Configures the driver link through wdk-build when, and only when, the target is Windows.
//! On a Windows host it also bridges `cargo wdk build`, which packages `<crate>.inx` from the
//! crate root, to our INF in inf/.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return Ok(());
    }
    #[cfg(windows)]
    provide_inx_for_cargo_wdk()?;
    configure_driver_link()
}

#[cfg(any(windows, feature = "linux-cross-build"))]
fn configure_driver_link() -> Result<(), Box<dyn std::error::Error>> {
    wdk_build::configure_wdk_binary_build()?;
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
