//! The model's machine around the driver: everything tests and `filetest` use that the driver
//! never sees. Nothing here has an `nt` twin.
//!
//! - `session`: the FileTest-style API (`Session`): processes, NtCreateFile, reads, queries,
//!   handles, system references; `system`: disks, driver load/unload and the leak check;
//! - `io`: the I/O manager (IoCallDriver with the completion rules, mount, CLEANUP/CLOSE);
//! - `ea`: NtQueryEaFile / NtSetEaFile; `fast_io`: the fast I/O calls made instead of IRPs;
//! - `locks`: NtLockFile / NtUnlockFile and IopCloseFile's unlock-all; `mdl`: MDL reads;
//! - `security`: NtQuerySecurityObject / NtSetSecurityObject on file handles;
//! - `objects`: per-process handle tables; `disk`: image-backed disks with faults;
//! - `filter`: the filter-manager observer; `scheduler`: the seeded scheduler;
//! - `scenario`: the script format and runner used by `filetest`; `script_line`: its words;
//!   `report`: how a step's result is printed (shared with `filetest.exe` on the real NT API);
//! - `driver`: `DriverDescriptor` (rustfsd's, or a test driver's); `testfs`: a small correct
//!   file system for exercising the model; `testing`: escape hatches for verifier self-tests;
//! - `walk`: `filetest --walk`, the whole tree of an image through dispatch.

pub mod access_state;
pub mod disk;
pub mod driver;
pub mod ea;
pub mod fast_io;
pub mod filter;
pub mod io;
pub mod locks;
pub mod mdl;
pub mod objects;
pub mod pnp;
pub mod query_lengths;
pub mod report;
pub mod scenario;
pub mod scheduler;
pub mod script_line;
pub mod sections;
pub mod security;
pub mod session;
pub mod system;
pub mod testfs;
pub mod testing;
pub mod walk;

pub use super::resource::{AcquireMode, Grant, ResourceState};
pub use super::state::{Kernel, State};
pub use super::verifier::{Finding, FindingKind, ObjectKind};
pub use disk::{DiskModel, ReadFault};
pub use driver::DriverDescriptor;
pub use session::{Handle, Pid, Session};

/// The modelled thread ids that always exist.
pub const USER_THREAD: u32 = 0;
/// The system worker thread: work items, lazy writer, memory manager deferred dereferences.
pub const WORKER_THREAD: u32 = 1;
