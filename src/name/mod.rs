//! Names: ext4 byte names ↔ Windows UTF-16 names, case-insensitive comparison, validation of
//! the FileName an IRP_MJ_CREATE carries, and symlinks as reparse points.
//!
//! Pure and safe like `ext4`: no_std + alloc, no kernel types beyond the plain `NtStatus`
//! value, no panics, fallible allocation only. See `docs/names.md` for the rules.
//!
//! ```text
//! disk bytes ── escape::to_windows ──▶ UTF-16 (U+F0xx = "raw byte xx")
//!            ◀── escape::to_disk ─────
//! FILE_OBJECT.FileName ── path::parse ──▶ ParsedPath { components (slices), trailing '\' }
//! symlink target bytes ── symlink::symlink_reparse_buffer ──▶ REPARSE_DATA_BUFFER (SYMLINK)
//! ```
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::arithmetic_side_effects
)]
// The unit tests index and unwrap freely.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod compare;
mod error;
pub mod escape;
pub mod path;
pub mod symlink;

pub use compare::{eq_exact, eq_ignore_case, upcase};
pub use error::NameError;
pub use escape::{ESCAPE_BASE, MAX_NAME_BYTES, is_forbidden, to_disk, to_windows};
pub use path::{Component, Components, MAX_COMPONENT_UNITS, ParsedPath, check_component, parse};
pub use symlink::{
    IO_REPARSE_TAG_SYMLINK, MAXIMUM_REPARSE_DATA_BUFFER_SIZE, SYMLINK_FLAG_RELATIVE,
    empty_reparse_buffer, lx_symlink_reparse_buffer, symlink_reparse_buffer,
};

use alloc::vec::Vec;

/// Reserves room for `extra` more elements, mapping failure to [`NameError::NoMemory`].
fn reserve<T>(v: &mut Vec<T>, extra: usize) -> Result<(), NameError> {
    v.try_reserve(extra).map_err(|_| NameError::NoMemory)
}

/// Pushes after reserving fallibly: the only way this module grows a vector.
fn push<T>(v: &mut Vec<T>, x: T) -> Result<(), NameError> {
    reserve(v, 1)?;
    v.push(x);
    Ok(())
}
