//! The host build's test allocator: the system allocator, except for the one driver heap
//! allocation that `kernel::model::heap_faults` says to fail. It lives here because it is
//! `unsafe` (GlobalAlloc); it is compiled for the host only (see `kernel/mod.rs`).

use std::alloc::{GlobalAlloc, Layout, System};

use crate::kernel::model::heap_faults::fails_now;

/// The host allocator, except for the driver allocation `heap_faults::arm` chose.
pub struct FaultingAllocator;

// SAFETY: every call is forwarded to `System` unchanged, or answered with null, which the
// GlobalAlloc contract allows for alloc, alloc_zeroed and realloc (realloc then leaves the old
// block untouched and still owned by the caller).
unsafe impl GlobalAlloc for FaultingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if fails_now() {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `layout` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if fails_now() {
            return core::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if fails_now() {
            return core::ptr::null_mut();
        }
        // SAFETY: as for `dealloc`, with the caller's contract for `new_size`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
