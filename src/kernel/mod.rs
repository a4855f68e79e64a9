//! The one boundary between the file system and the NT kernel.
//!
//! Everything above this module (driver, dispatch, fcb, cache, volume) is portable and safe. It
//! talks to the kernel only through the names re-exported here, which come from one of two
//! backends chosen at compile time, as Rust's `std::sys` does:
//! - `nt`: the real kernel through wdk-sys (the driver target, `x86_64-pc-windows-msvc`), the
//!   only place with FFI and `unsafe`;
//! - `model`: a user-mode model of the NT kernel with a verifier, for host tests (and for the
//!   `x86_64-pc-windows-gnu` build of the `filetest` tool, which reuses its script runner).
//!
//! `ntdll` (windows-gnu only) is not a backend: it is the user-mode client of the real NT API
//! that `filetest.exe` drives a real volume with. Its FFI lives under `nt/` with the rest.
//!
//! Both backends provide the same items with the same signatures; `status`, `irp_major`,
//! `access`, `request`, `fast_io`, `fcb_header` and `volume_event` are plain data and rules shared by both.

pub mod access;
mod boundary_check;
pub mod debug_output;
pub mod fast_io;
pub mod fcb_header;
pub mod irp_major;
pub mod request;
pub mod status;
pub mod volume_event;

pub use access::*;
pub use fast_io::{FastLock, FastQuery, IoStatus};
pub use fcb_header::{FastIoPossible, FileSizes, MmFlushType};
pub use irp_major::IrpMajor;
pub use request::*;
pub use status::NtStatus;
pub use volume_event::VolumeEvent;

#[cfg(all(target_os = "windows", target_env = "msvc"))]
mod nt;
#[cfg(all(target_os = "windows", target_env = "msvc"))]
pub use nt::*;

#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
pub mod model;
#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
pub use model::*;
#[cfg(not(all(target_os = "windows", target_env = "msvc")))]
#[path = "nt/faulting_allocator.rs"]
pub mod faulting_allocator;

#[cfg(all(target_os = "windows", target_env = "gnu"))]
#[path = "nt/ntdll/mod.rs"]
pub mod ntdll;
