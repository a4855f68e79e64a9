//! Mapping ext4 metadata onto what Windows asks: NT times, file attributes, file IDs, search
//! patterns, and the byte layouts of the information classes. Pure (no kernel types), so every
//! rule is unit-tested on the host; `dispatch` decides which class gets what.

pub mod ea;
pub mod facts;
pub mod layout;
pub mod pattern;
pub mod security;
pub mod time;

pub use facts::{AttributeOptions, FileFacts};
pub use layout::NoMemory;
