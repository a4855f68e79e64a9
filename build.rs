//! Configures the driver link through wdk-build when, and only when, the target is Windows.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("windows") {
        return Ok(());
    }
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
