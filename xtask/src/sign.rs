//! Test signing on Linux: a self-signed code-signing certificate that the build generates once
//! (kept in target/test-cert so a VM imports it once), applied with osslsigncode.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Result};

const SUBJECT: &str = "/CN=rustfsd Test Signing";

pub struct TestCertificate {
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
    /// DER form, for `certutil`/`Import-Certificate` on the test VM.
    pub cert_der: PathBuf,
}

pub fn test_certificate() -> Result<TestCertificate> {
    let dir = util::workspace_root().join("target").join("test-cert");
    let cert = TestCertificate {
        cert_pem: dir.join("rustfsd-test.pem"),
        key_pem: dir.join("rustfsd-test.key"),
        cert_der: dir.join("rustfsd-test.cer"),
    };
    if cert.cert_pem.is_file() && cert.key_pem.is_file() && cert.cert_der.is_file() {
        return Ok(cert);
    }
    util::create_dir(&dir)?;
    util::run(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-nodes", "-days", "3650",
            ])
            .args(["-subj", SUBJECT, "-addext", "extendedKeyUsage=codeSigning"])
            .arg("-keyout")
            .arg(&cert.key_pem)
            .arg("-out")
            .arg(&cert.cert_pem),
    )?;
    util::run(
        Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert.cert_pem)
            .arg("-out")
            .arg(&cert.cert_der),
    )?;
    Ok(cert)
}

/// Signs the image in place (SHA-256 Authenticode) and copies the certificate beside it.
pub fn test_sign(image: &Path) -> Result<()> {
    let cert = test_certificate()?;
    let signed = image.with_extension("signed");
    util::run(
        Command::new("osslsigncode")
            .args(["sign", "-h", "sha256", "-n", "rustfsd"])
            .arg("-certs")
            .arg(&cert.cert_pem)
            .arg("-key")
            .arg(&cert.key_pem)
            .arg("-in")
            .arg(image)
            .arg("-out")
            .arg(&signed),
    )?;
    std::fs::rename(&signed, image)
        .map_err(|e| format!("cannot replace {}: {e}", image.display()))?;
    if let Some(dir) = image.parent() {
        util::copy(&cert.cert_der, &dir.join("rustfsd-test.cer"))?;
    }
    Ok(())
}

/// Verifies the Authenticode signature against our test certificate.
pub fn verify(image: &Path) -> Result<()> {
    let cert = test_certificate()?;
    util::output(
        Command::new("osslsigncode")
            .arg("verify")
            .arg("-CAfile")
            .arg(&cert.cert_pem)
            .arg("-in")
            .arg(image),
    )
    .map(|_| ())
}
