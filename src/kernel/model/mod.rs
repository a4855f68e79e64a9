//! The host backend of the kernel boundary: a user-mode model of the NT kernel, with a verifier.
//!
//! Two layers, kept apart:
//! - the **boundary** items re-exported here (and through `crate::kernel`), which the driver
//!   uses and which `kernel::nt` implements over wdk-sys with the same signatures;
//! - the **harness** (`kernel::model::harness`): the machine around the driver (object manager,
//!   I/O manager, disks, mount, processes, scheduler, filter observer, scenario runner), which
//!   only tests and the `filetest` tool use.
//!
//! The model never touches freed memory: every kernel object is named by a generation-checked id
//! (`slab`), and every misuse becomes a `verifier::Finding`. See docs/nt-model.md.

pub mod access_check;
pub mod cache;
mod context;
mod debug_print;
mod device;
mod event;
pub mod fast_io;
mod fcb;
mod file_lock;
mod file_object;
mod forward;
mod fsrtl;
pub mod heap_faults;
mod irp;
mod irql;
mod lazy_writer;
mod locked;
mod notify;
mod oplock;
mod pool;
pub mod preempt;
mod processor;
pub mod read_ahead;
mod resource;
pub mod section;
mod share_access;
mod slab;
mod spin_locked;
mod state;
mod stream_file;
pub mod token;
mod vpb;
mod work_item;

pub mod harness;
pub mod verifier;

pub use cache::{
    copy_read as cc_copy_read, enter_cache_top_level, has_private_cache_map,
    initialize_cache_map as cc_initialize_cache_map, leave_cache_top_level,
    mdl_read as cc_mdl_read, mdl_read_complete as cc_mdl_read_complete,
    uninitialize_cache_map as cc_uninitialize_cache_map,
};
pub use debug_print::debug_print;
pub use device::{
    ControlDevice, DO_BUFFERED_IO, DO_DIRECT_IO, DeviceRef, DriverObject, MountRequest,
    TargetDevice, TargetReference, VolumeDevice,
};
pub use event::{Event, queue_work_item};
pub use fast_io::{Process, current_process};
pub use fcb::FcbArc;
pub use file_object::{
    FO_CLEANUP_COMPLETE, FO_NO_INTERMEDIATE_BUFFERING, FO_STREAM_FILE, FO_SYNCHRONOUS_IO,
    FileObject,
};
pub use fsrtl::{FileSystemRegion, enter_file_system};
pub use irp::{Irp, MappedBuffer, Mdl, OutputBuffer, SystemBuffer, TopLevelIrp, UserBuffer};
pub use irql::{
    APC_LEVEL, DISPATCH_LEVEL, IrqlGuard, MAXIMUM_EXPANSION_SIZE, PASSIVE_LEVEL, StackFrame,
    charge_stack_frame, current_irql, expand_stack_and_callout, raise_irql, remaining_stack,
};
pub use lazy_writer::wait_for_current_lazy_writer_activity as cc_wait_for_current_lazy_writer_activity;
pub use locked::{Locked, LockedGuard};
pub use notify::{NotifyList, NotifyName};
pub use oplock::{Oplock, OplockCheck, OplockResume};
pub use pool::{PoolArc, PoolBox, PoolTag};
pub use processor::{current_processor, processor_count};
pub use read_ahead::set_read_ahead_granularity as cc_set_read_ahead_granularity;
pub use resource::{FastMutex, FastMutexGuard, Resource, ResourceGuard};
pub use section::{cc_purge_cache_section, mm_flush_image_section};
pub use slab::ObjId;
pub use spin_locked::{SpinLocked, SpinLockedGuard};
pub use stream_file::StreamFileObject;
pub use vpb::SpareVpb;
pub use work_item::WorkItem;
