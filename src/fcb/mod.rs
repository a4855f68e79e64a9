//! FCBs, CCBs and their lifetime (DESIGN.md invariants 1–3).
//!
//! - `file_control_block`: the FCB, one per inode per volume (plus one for the volume itself),
//!   living in an `FcbArc` block whose advanced header filters and the kernel see. A child FCB
//!   holds a counted reference on its parent.
//! - `context_control_block`: the CCB, per-open state in FsContext2.
//! - `table`: the per-volume FCB table and the bounded delayed-close queue of FCBs no
//!   FILE_OBJECT uses any more.
//! - `close`: what CLOSE does after dropping the FILE_OBJECT's references, inline or through the
//!   async close path when the table lock cannot be taken safely.
//!
//! Every FILE_OBJECT whose FsContext names an FCB holds exactly one counted reference:
//! `FileObject::attach_fcb` consumes one and only CLOSE (`detach_fcb`) gives it back.

pub mod close;
pub mod context_control_block;
pub mod file_control_block;
pub mod table;

pub use context_control_block::{CCB_TAG, Ccb, Search};
pub use file_control_block::{FCB_TAG, Fcb, FcbKind, FcbRef, VOLUME_KEY};
pub use table::FcbTable;
