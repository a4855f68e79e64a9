//! The VCB: what a mounted volume's device carries in its extension.

use super::disk::DiskReader;
use crate::ext4;

/// Volume control block. Owned by the volume device's extension, so it lives exactly as long
/// as that device.
pub struct Vcb {
    volume: ext4::Volume<DiskReader>,
}

impl Vcb {
    pub fn new(volume: ext4::Volume<DiskReader>) -> Vcb {
        Vcb { volume }
    }

    pub fn volume(&self) -> &ext4::Volume<DiskReader> {
        &self.volume
    }
}
