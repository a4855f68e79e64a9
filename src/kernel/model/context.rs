//! What the modelled machine is doing, for the context of a finding: the request in a driver's
//! dispatch or fast I/O routine is kept as its parts and put into words only when a finding
//! is reported, not on every request.

use std::string::String;

use super::irp::major_name;
use super::slab::ObjId;

pub enum Context {
    /// Said in words already (what the caller did, a work item's name).
    Text(String),
    /// A dispatch routine runs for IRP `irp` of major code `major` sent to `device`.
    Irp {
        major: u8,
        irp: ObjId,
        device: ObjId,
    },
    /// The fast I/O routine `name` runs for `device`.
    FastIo { name: &'static str, device: ObjId },
}

impl Default for Context {
    fn default() -> Context {
        Context::Text(String::new())
    }
}

impl From<String> for Context {
    fn from(text: String) -> Context {
        Context::Text(text)
    }
}

impl core::fmt::Display for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Context::Text(text) => f.write_str(text),
            Context::Irp { major, irp, device } => {
                write!(f, "{} {irp} on device {device}", major_name(*major))
            }
            Context::FastIo { name, device } => write!(f, "{name} on device {device}"),
        }
    }
}
