//! Pool allocations (ExAllocatePool2 / ExFreePoolWithTag): `PoolBox<T>` (one owner), `PoolArc<T>`
//! (counted; a CCB, an event) and `PoolRef`, the raw pointer FsContext2 keeps (backend-private:
//! only `FileObject::attach_ccb`/`detach_ccb`/`ccb` convert). FCBs are `FcbArc` (fcb.rs).
//!
//! Every block is nonpaged, zeroed, 16-byte aligned (x64 pool granularity) and tagged. A
//! `PoolArc<T>` block is an `ArcHeader` (type, count, tag) followed by `T`; `PoolRef` points at
//! `T` itself, so FsContext reads as the FCB header that `T` starts with.

use alloc::string::String;
use core::any::TypeId;
use core::ffi::c_void;
use core::marker::PhantomData;
use core::mem::{align_of, offset_of, size_of};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use wdk_sys::POOL_FLAG_NON_PAGED;

use crate::kernel::NtStatus;

/// Alignment of every pool block on x64.
const POOL_ALIGNMENT: usize = 16;

/// A four-character pool tag, as written in source ('RfFc').
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PoolTag(pub [u8; 4]);

impl PoolTag {
    pub fn as_string(&self) -> String {
        let mut text = String::new();
        if text.try_reserve_exact(self.0.len()).is_err() {
            return text;
        }
        for &byte in &self.0 {
            text.push(if byte.is_ascii_graphic() {
                byte as char
            } else {
                '?'
            });
        }
        text
    }

    /// The ULONG the kernel stores: the characters in memory order, as poolmon shows them.
    fn value(self) -> u32 {
        u32::from_le_bytes(self.0)
    }
}

/// A zeroed nonpaged block of `bytes` bytes (at least one), 16-byte aligned.
pub(super) fn allocate(tag: PoolTag, bytes: usize) -> Result<NonNull<u8>, NtStatus> {
    // SAFETY: ExAllocatePool2 may be called at IRQL <= DISPATCH_LEVEL with any size; a null
    // result is handled below.
    let block = unsafe {
        wdk_sys::ntddk::ExAllocatePool2(POOL_FLAG_NON_PAGED, bytes.max(1) as _, tag.value())
    };
    NonNull::new(block.cast::<u8>()).ok_or(NtStatus::INSUFFICIENT_RESOURCES)
}

/// # Safety
/// `block` came from `allocate` with the same `tag` and is not used afterwards.
pub(super) unsafe fn free(block: NonNull<u8>, tag: PoolTag) {
    // SAFETY: the caller passes a live block of ours with its own tag.
    unsafe { wdk_sys::ntddk::ExFreePoolWithTag(block.as_ptr().cast(), tag.value()) }
}

/// A pool allocation with one owner; freed (ExFreePoolWithTag) on drop.
pub struct PoolBox<T> {
    value: NonNull<T>,
    tag: PoolTag,
    _owns: PhantomData<T>,
}

// SAFETY: a PoolBox owns its T exactly as a Box does.
unsafe impl<T: Send> Send for PoolBox<T> {}
// SAFETY: as above; shared access only hands out &T.
unsafe impl<T: Sync> Sync for PoolBox<T> {}

impl<T> PoolBox<T> {
    pub fn try_new(tag: PoolTag, value: T) -> Result<PoolBox<T>, NtStatus> {
        PoolBox::try_new_or_return(tag, value).map_err(|(status, _)| status)
    }

    /// `try_new` that gives the value back if the block cannot be allocated.
    pub(super) fn try_new_or_return(tag: PoolTag, value: T) -> Result<PoolBox<T>, (NtStatus, T)> {
        const {
            assert!(
                align_of::<T>() <= POOL_ALIGNMENT,
                "pool blocks are 16-byte aligned"
            )
        };
        let block = match allocate(tag, size_of::<T>()) {
            Ok(block) => block.cast::<T>(),
            Err(status) => return Err((status, value)),
        };
        // SAFETY: the block is fresh, large enough for T and aligned for it (checked above).
        unsafe { block.as_ptr().write(value) };
        Ok(PoolBox {
            value: block,
            tag,
            _owns: PhantomData,
        })
    }

    /// Gives up ownership as a raw pointer; `from_raw_ptr` takes it back.
    pub(super) fn into_raw_ptr(self) -> NonNull<T> {
        let value = self.value;
        core::mem::forget(self);
        value
    }

    /// # Safety
    /// `value` came from `into_raw_ptr` of a `PoolBox<T>` with this `tag`, and is taken back once.
    pub(super) unsafe fn from_raw_ptr(value: NonNull<T>, tag: PoolTag) -> PoolBox<T> {
        PoolBox {
            value,
            tag,
            _owns: PhantomData,
        }
    }
}

impl<T> PoolBox<T> {
    /// Moves the value out and frees the block.
    pub(super) fn into_inner(self) -> T {
        let value = self.value;
        let tag = self.tag;
        core::mem::forget(self);
        // SAFETY: the box owned an initialized T, read exactly once here; the block is then
        // freed with its tag and never used again (self was forgotten).
        unsafe {
            let inner = value.as_ptr().read();
            free(value.cast(), tag);
            inner
        }
    }
}

impl<T> Deref for PoolBox<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds an initialized T for as long as the box lives.
        unsafe { self.value.as_ref() }
    }
}

impl<T> DerefMut for PoolBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; `&mut self` makes the access unique.
        unsafe { self.value.as_mut() }
    }
}

impl<T> Drop for PoolBox<T> {
    fn drop(&mut self) {
        // SAFETY: the box owns an initialized T in a block from `allocate` with `tag`; neither
        // is used again.
        unsafe {
            core::ptr::drop_in_place(self.value.as_ptr());
            free(self.value.cast(), self.tag);
        }
    }
}

/// What precedes the value of a counted block. 32 bytes, so the value is at the same offset for
/// every `T` aligned to at most 16.
#[repr(C, align(16))]
struct ArcHeader {
    type_id: TypeId,
    count: AtomicUsize,
    tag: PoolTag,
}

#[repr(C)]
struct ArcBlock<T> {
    header: ArcHeader,
    value: T,
}

const HEADER_BYTES: usize = size_of::<ArcHeader>();

/// A counted pool allocation: freed when the last count is dropped.
pub struct PoolArc<T: Send + Sync + 'static> {
    block: NonNull<ArcBlock<T>>,
}

// SAFETY: like Arc<T>: the value is shared between threads, so T must be Send and Sync.
unsafe impl<T: Send + Sync + 'static> Send for PoolArc<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync + 'static> Sync for PoolArc<T> {}

/// The raw pointer to a counted allocation's value, as stored in FsContext2. Copying it takes
/// no count. Only `PoolArc::into_raw`/`as_raw` make one.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PoolRef {
    value: NonNull<c_void>,
}

// SAFETY: a PoolRef is an address; using it goes through `from_raw`/`clone_arc`, which check the
// type and require a live block (the FsContext reference discipline).
unsafe impl Send for PoolRef {}
// SAFETY: as above.
unsafe impl Sync for PoolRef {}

impl PoolRef {
    /// # Safety
    /// `value` is null or was produced by `PoolRef::as_ptr`.
    pub(super) unsafe fn from_ptr(value: *mut c_void) -> Option<PoolRef> {
        NonNull::new(value).map(|value| PoolRef { value })
    }

    pub(super) fn as_ptr(&self) -> *mut c_void {
        self.value.as_ptr()
    }

    /// A new counted reference from a raw pointer (the pointer keeps its own count).
    pub(super) fn clone_arc<T: Send + Sync + 'static>(&self) -> Option<PoolArc<T>> {
        let arc = block_of::<T>(*self)?;
        // SAFETY: block_of found a live block of T (the PoolRef's invariant: it is counted by
        // whoever stored it, so the block cannot be freed under us).
        unsafe { arc.block.as_ref() }
            .header
            .count
            .fetch_add(1, Ordering::Relaxed);
        Some(arc)
    }
}

/// The block behind `raw`, if it holds a `T`. Takes no count.
fn block_of<T: Send + Sync + 'static>(raw: PoolRef) -> Option<PoolArc<T>> {
    const { assert!(offset_of!(ArcBlock<T>, value) == HEADER_BYTES) };
    // SAFETY: every PoolRef points HEADER_BYTES into a live ArcBlock (only PoolArc makes them,
    // and the value offset is the same for every T, asserted above), so the header is readable.
    let header = unsafe { raw.value.as_ptr().cast::<u8>().sub(HEADER_BYTES) }.cast::<ArcHeader>();
    // SAFETY: as above; type_id is written once at allocation.
    if unsafe { (*header).type_id } != TypeId::of::<T>() {
        return None;
    }
    NonNull::new(header.cast::<ArcBlock<T>>()).map(|block| PoolArc { block })
}

impl<T: Send + Sync + 'static> PoolArc<T> {
    pub fn try_new(tag: PoolTag, value: T) -> Result<PoolArc<T>, NtStatus> {
        const {
            assert!(
                align_of::<T>() <= POOL_ALIGNMENT,
                "pool blocks are 16-byte aligned"
            )
        };
        const { assert!(offset_of!(ArcBlock<T>, value) == HEADER_BYTES) };
        let block = allocate(tag, size_of::<ArcBlock<T>>())?.cast::<ArcBlock<T>>();
        let header = ArcHeader {
            type_id: TypeId::of::<T>(),
            count: AtomicUsize::new(1),
            tag,
        };
        // SAFETY: the block is fresh, large enough and aligned for an ArcBlock<T>.
        unsafe { block.as_ptr().write(ArcBlock { header, value }) };
        Ok(PoolArc { block })
    }

    /// Gives up this count as a raw pointer (for FsContext); `from_raw` takes it back.
    pub(super) fn into_raw(self) -> PoolRef {
        let raw = self.as_raw();
        core::mem::forget(self);
        raw
    }

    /// Takes back the count `into_raw` gave up. `None` if the block does not hold a `T`.
    pub(super) fn from_raw(raw: PoolRef) -> Option<PoolArc<T>> {
        block_of::<T>(raw)
    }

    /// A raw pointer without giving up a count (what a borrowed `&Fcb` is in C).
    pub(super) fn as_raw(&self) -> PoolRef {
        PoolRef {
            value: self.value_ptr().cast(),
        }
    }

    /// The value's address, stable for the block's life (kernel structures live inside it).
    pub(super) fn value_ptr(&self) -> NonNull<T> {
        // SAFETY: `block` is live while self exists; the field projection stays in bounds.
        let value = unsafe { &raw mut (*self.block.as_ptr()).value };
        // SAFETY: a field of a non-null block is non-null.
        unsafe { NonNull::new_unchecked(value) }
    }
}

impl<T: Send + Sync + 'static> Clone for PoolArc<T> {
    fn clone(&self) -> Self {
        // SAFETY: the block is live while self holds a count.
        unsafe { self.block.as_ref() }
            .header
            .count
            .fetch_add(1, Ordering::Relaxed);
        PoolArc { block: self.block }
    }
}

impl<T: Send + Sync + 'static> Deref for PoolArc<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the block holds an initialized T while any count exists.
        unsafe { &self.block.as_ref().value }
    }
}

impl<T: Send + Sync + 'static> Drop for PoolArc<T> {
    fn drop(&mut self) {
        // SAFETY: the block is live while self holds a count.
        let header = unsafe { &self.block.as_ref().header };
        if header.count.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let tag = header.tag;
        // SAFETY: that was the last count: nobody else can reach the block; the value is dropped
        // once and the block freed with the tag it was allocated with.
        unsafe {
            core::ptr::drop_in_place(self.block.as_ptr());
            free(self.block.cast(), tag);
        }
    }
}
