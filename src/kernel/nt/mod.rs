//! The Windows backend of the kernel boundary: wdk-sys calls, and the only `unsafe` in the crate.
//!
//! Each public item here has a twin with the same signature in `kernel::model`.

mod driver_object;
mod entry;
mod irp;
mod layout;
mod unicode;

pub use driver_object::{ControlDevice, DeviceRef, DriverObject};
pub use irp::Irp;

#[global_allocator]
static GLOBAL_ALLOCATOR: wdk_alloc::WdkAllocator = wdk_alloc::WdkAllocator;

// wdk-panic provides the panic handler (a bugcheck). The driver's rules keep panics unreachable.
extern crate wdk_panic;
