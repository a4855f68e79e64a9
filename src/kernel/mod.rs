//! The one boundary between the file system and the NT kernel.
//!
//! Everything above this module (driver, dispatch, fcb, cache, volume) is portable and safe. It
//! talks to the kernel only through the names re-exported here, which come from one of two
//! backends chosen at compile time, as Rust's `std::sys` does:
//! - `nt`: the real kernel through wdk-sys (`target_os = "windows"`), the only place with FFI
//!   and `unsafe`;
//! - `model`: a user-mode model of the NT kernel with a verifier, for host tests.
//!
//! Both backends provide the same items with the same signatures; `status`, `irp_major`,
//! `access`, `request`, `fcb_header` and `volume_event` are plain data and rules shared by both.

pub mod access;
mod boundary_check;
pub mod debug_output;
pub mod fcb_header;
pub mod irp_major;
pub mod request;
pub mod status;
pub mod volume_event;

pub use access::*;
pub use fcb_header::{FastIoPossible, FileSizes, MmFlushType};
pub use irp_major::IrpMajor;
pub use request::*;
pub use status::NtStatus;
pub use volume_event::VolumeEvent;

#[cfg(target_os = "windows")]
mod nt;
#[cfg(target_os = "windows")]
pub use nt::*;

#[cfg(not(target_os = "windows"))]
pub mod model;
#[cfg(not(target_os = "windows"))]
pub use model::*;
