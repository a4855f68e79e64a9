//! The Windows backend of the kernel boundary: wdk-sys calls, and the only `unsafe` in the crate.
//!
//! Each public item here has a twin with the same signature in `kernel::model` (see
//! docs/nt-model.md, "Boundary items"); `src/kernel/boundary_check.rs` compiles a use of each
//! against both backends. One file per job, as in the model.

mod cache;
mod debug_print;
mod device;
mod device_security;
mod entry;
mod event;
mod fast_io;
mod fcb;
mod ffi;
mod file_object;
mod forward;
mod fsrtl;
mod irp;
mod irql;
mod layout;
mod locked;
mod lower_io;
mod notify;
mod oplock;
mod pool;
mod processor;
mod registry;
mod resource;
mod section;
mod share_access;
mod spin_locked;
mod stream_file;
mod unicode;
mod vpb;
mod work_item;

pub use cache::{
    cc_copy_read, cc_initialize_cache_map, cc_mdl_read, cc_mdl_read_complete,
    cc_set_read_ahead_granularity, cc_uninitialize_cache_map,
    cc_wait_for_current_lazy_writer_activity, enter_cache_top_level, has_private_cache_map,
    leave_cache_top_level,
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
pub use locked::{Locked, LockedGuard};
pub use notify::{NotifyList, NotifyName};
pub use oplock::{Oplock, OplockCheck, OplockResume};
pub use pool::{PoolArc, PoolBox, PoolTag};
pub use processor::{current_processor, processor_count};
pub use resource::{FastMutex, FastMutexGuard, Resource, ResourceGuard};
pub use section::{cc_purge_cache_section, mm_flush_image_section};
pub use spin_locked::{SpinLocked, SpinLockedGuard};
pub use stream_file::StreamFileObject;
pub use vpb::SpareVpb;
pub use work_item::WorkItem;

#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

// wdk-panic provides the panic handler (a bugcheck). The driver's rules keep panics unreachable.
extern crate wdk_panic;
