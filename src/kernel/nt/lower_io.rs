//! I/O the driver sends to the device below it (the mount target), synchronously.
//!
//! Every IRP and MDL here is an owned value that frees itself on every path (DESIGN.md
//! invariant 5): `OwnedIrp` (IoAllocateIrp / IoFreeIrp), `OwnedMdl` (IoAllocateMdl over our own
//! nonpaged buffer + MmBuildMdlForNonPagedPool / IoFreeMdl), `LockedMdl` (IoAllocateMdl over
//! the caller's slice + MmProbeAndLockPages / MmUnlockPages + IoFreeMdl), `PoolBuffer` (the
//! bounce buffer). The IRP's completion routine signals a stack KEVENT and returns
//! STATUS_MORE_PROCESSING_REQUIRED, so the I/O manager never frees the IRP: we do, on drop.
//! Whole sectors at a sector-aligned offset land straight in the caller's slice (the lower
//! IRP's MDL describes its pages: the mapped pages of a read request's own MDL, or our pool);
//! only a partial sector at either end goes through the bounce buffer.

use core::ffi::c_void;
use core::ptr::{self, NonNull};

use wdk_sys::{
    _EVENT_TYPE, _KWAIT_REASON, _MODE, IRP, IRP_MJ_DEVICE_CONTROL, IRP_MJ_READ, IRP_NOCACHE,
    KEVENT, MDL, NTSTATUS, PDEVICE_OBJECT, PIO_STACK_LOCATION, PIRP, PVOID, SL_INVOKE_ON_CANCEL,
    SL_INVOKE_ON_ERROR, SL_INVOKE_ON_SUCCESS, SL_OVERRIDE_VERIFY_VOLUME,
    STATUS_MORE_PROCESSING_REQUIRED, STATUS_PENDING,
};

use super::pool::{self, PoolTag};
use crate::kernel::NtStatus;

const BOUNCE_TAG: PoolTag = PoolTag(*b"RfIo");
/// The most one read IRP asks for.
const MAX_TRANSFER: usize = 0x1_0000;
/// CTL_CODE(IOCTL_DISK_BASE, 0x0017, METHOD_BUFFERED, FILE_READ_ACCESS).
const IOCTL_DISK_GET_LENGTH_INFO: u32 = 0x0007_405c;
/// CTL_CODE(IOCTL_DISK_BASE, 0x0000, METHOD_BUFFERED, FILE_ANY_ACCESS).
const IOCTL_DISK_GET_DRIVE_GEOMETRY: u32 = 0x0007_0000;
/// sizeof(DISK_GEOMETRY) and the offset of BytesPerSector in it.
const DISK_GEOMETRY_BYTES: usize = 0x18;
const BYTES_PER_SECTOR_OFFSET: usize = 0x14;

/// A nonpaged pool buffer of ours.
struct PoolBuffer {
    block: NonNull<u8>,
    len: usize,
}

impl PoolBuffer {
    fn allocate(len: usize) -> Result<PoolBuffer, NtStatus> {
        let block = pool::allocate(BOUNCE_TAG, len)?;
        Ok(PoolBuffer { block, len })
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: the block holds `len` initialized (zeroed at allocation) bytes we own.
        unsafe { core::slice::from_raw_parts(self.block.as_ptr(), self.len) }
    }
}

impl Drop for PoolBuffer {
    fn drop(&mut self) {
        // SAFETY: the block came from pool::allocate with BOUNCE_TAG; nothing refers to it
        // any more (the MDL and IRP describing it are dropped first).
        unsafe { pool::free(self.block, BOUNCE_TAG) }
    }
}

/// An MDL describing the first `len` bytes of a `PoolBuffer`.
struct OwnedMdl {
    raw: NonNull<MDL>,
}

impl OwnedMdl {
    fn describe(buffer: &PoolBuffer, len: usize) -> Result<OwnedMdl, NtStatus> {
        let len = u32::try_from(len.min(buffer.len)).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        // SAFETY: the buffer is nonpaged pool we own, at least `len` bytes long; no IRP is
        // passed, so the MDL is not linked anywhere.
        let raw = unsafe {
            wdk_sys::ntddk::IoAllocateMdl(buffer.block.as_ptr().cast(), len, 0, 0, ptr::null_mut())
        };
        let raw = NonNull::new(raw).ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        // SAFETY: the MDL describes nonpaged pool, which is what MmBuildMdlForNonPagedPool
        // requires; it fills in the page numbers.
        unsafe { wdk_sys::ntddk::MmBuildMdlForNonPagedPool(raw.as_ptr()) };
        Ok(OwnedMdl { raw })
    }
}

impl Drop for OwnedMdl {
    fn drop(&mut self) {
        // SAFETY: the MDL is ours (IoAllocateMdl), built over nonpaged pool (nothing locked or
        // mapped to unlock), and the IRP that carried it has been freed or detached first.
        unsafe { wdk_sys::ntddk::IoFreeMdl(self.raw.as_ptr()) }
    }
}

/// An MDL describing a slice of the caller's (kernel-mode) memory, locked for writing: the
/// pages the disk fills. MmProbeAndLockPages(KernelMode, IoWriteAccess) under `__try`; a page
/// that several MDLs describe may be locked by each
/// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmprobeandlockpages>),
/// so the mapped pages of a request's locked MDL can be described again. (FastFAT's
/// FatMultipleAsync builds a partial MDL of Irp->MdlAddress with IoBuildPartialMdl instead;
/// the ext4 reader hands the device a byte slice, not the request's MDL.)
struct LockedMdl {
    raw: NonNull<MDL>,
}

impl LockedMdl {
    fn lock(buf: &mut [u8]) -> Result<LockedMdl, NtStatus> {
        let len = u32::try_from(buf.len()).map_err(|_| NtStatus::INVALID_PARAMETER)?;
        // SAFETY: IoAllocateMdl only records the kernel address and length; no IRP is passed.
        let raw = unsafe {
            wdk_sys::ntddk::IoAllocateMdl(buf.as_mut_ptr().cast(), len, 0, 0, ptr::null_mut())
        };
        let raw = NonNull::new(raw).ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        // SAFETY: the MDL describes `buf`, kernel memory the caller holds mutably for the
        // whole read; a failure raises inside the C helper's `__try` and leaves it unlocked.
        let status = unsafe {
            super::irp::probe_and_lock_pages(raw.as_ptr(), _MODE::KernelMode as i8, LOCK_FOR_WRITE)
        };
        if status < 0 {
            // SAFETY: ours, not locked, not attached to any IRP.
            unsafe { wdk_sys::ntddk::IoFreeMdl(raw.as_ptr()) };
            return Err(NtStatus(status));
        }
        Ok(LockedMdl { raw })
    }
}

impl Drop for LockedMdl {
    fn drop(&mut self) {
        // SAFETY: locked by `lock`, and the IRP that carried it is freed or detached first.
        unsafe {
            wdk_sys::ntddk::MmUnlockPages(self.raw.as_ptr());
            wdk_sys::ntddk::IoFreeMdl(self.raw.as_ptr());
        }
    }
}

/// LOCK_OPERATION IoWriteAccess: the disk writes the pages.
const LOCK_FOR_WRITE: i32 = wdk_sys::_LOCK_OPERATION::IoWriteAccess as i32;

/// An IRP we allocated for the device below; freed on drop, never completed to the I/O manager.
struct OwnedIrp {
    raw: NonNull<IRP>,
}

impl OwnedIrp {
    fn allocate(target: PDEVICE_OBJECT) -> Result<OwnedIrp, NtStatus> {
        // SAFETY: `target` is a live device object (the callers' invariant).
        let stack_size = unsafe { (*target).StackSize };
        if stack_size < 1 {
            return Err(NtStatus::INVALID_DEVICE_REQUEST);
        }
        // SAFETY: IoAllocateIrp at IRQL <= DISPATCH_LEVEL; a null result is handled.
        let raw = unsafe { wdk_sys::ntddk::IoAllocateIrp(stack_size, 0) };
        let raw = NonNull::new(raw).ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        Ok(OwnedIrp { raw })
    }

    /// The stack location the device below will see (IoGetNextIrpStackLocation).
    fn next_stack(&mut self) -> PIO_STACK_LOCATION {
        // SAFETY: a freshly allocated IRP's current location is one past its last stack
        // location, so the one before it is inside the IRP.
        unsafe {
            (*self.raw.as_ptr())
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation
                .sub(1)
        }
    }

    /// IoCallDriver and a wait for completion. Returns the final status and Information.
    fn call_and_wait(&mut self, target: PDEVICE_OBJECT) -> Result<usize, NtStatus> {
        // SAFETY: all-zero is valid storage for a KEVENT that KeInitializeEvent then sets up;
        // the event stays in this frame, unmoved, until the wait below has returned.
        let mut event: KEVENT = unsafe { core::mem::zeroed() };
        let event_ptr: *mut KEVENT = &mut event;
        let irp = self.raw.as_ptr();
        let stack = self.next_stack();
        // SAFETY: `irp` is ours and not yet sent; `stack` is its next location; `target` is
        // live. The completion routine stops completion (MORE_PROCESSING_REQUIRED), so the IRP
        // is still ours after the event is signalled, and `event` outlives the wait.
        unsafe {
            wdk_sys::ntddk::KeInitializeEvent(event_ptr, _EVENT_TYPE::NotificationEvent, 0);
            (*irp).Tail.Overlay.Thread = super::ffi::PsGetCurrentThread();
            (*irp).RequestorMode = _MODE::KernelMode as i8;
            (*stack).CompletionRoutine = Some(signal_completion);
            (*stack).Context = event_ptr.cast();
            (*stack).Control =
                (SL_INVOKE_ON_SUCCESS | SL_INVOKE_ON_ERROR | SL_INVOKE_ON_CANCEL) as u8;
            let status = wdk_sys::ntddk::IofCallDriver(target, irp);
            if status == STATUS_PENDING {
                // KernelMode, not alertable, no timeout: the only outcome is STATUS_SUCCESS.
                let _ = wdk_sys::ntddk::KeWaitForSingleObject(
                    event_ptr.cast(),
                    _KWAIT_REASON::Executive,
                    _MODE::KernelMode as i8,
                    0,
                    ptr::null_mut(),
                );
            }
            let status = (*irp).IoStatus.__bindgen_anon_1.Status;
            if status < 0 {
                return Err(NtStatus(status));
            }
            Ok((*irp).IoStatus.Information as usize)
        }
    }
}

impl Drop for OwnedIrp {
    fn drop(&mut self) {
        // SAFETY: the IRP is ours: never sent, or sent and stopped by our completion routine.
        // The MDL it may name is owned (and freed) separately, so detach it first.
        unsafe {
            (*self.raw.as_ptr()).MdlAddress = ptr::null_mut();
            wdk_sys::ntddk::IoFreeIrp(self.raw.as_ptr());
        }
    }
}

/// The completion routine of our IRPs: wake the waiter and keep the IRP.
pub(super) unsafe extern "C" fn signal_completion(
    _device: PDEVICE_OBJECT,
    _irp: PIRP,
    context: PVOID,
) -> NTSTATUS {
    // SAFETY: the context is the KEVENT of `call_and_wait`, alive until its wait returns,
    // which cannot happen before this signal.
    unsafe { wdk_sys::ntddk::KeSetEvent(context.cast(), 0, 0) };
    STATUS_MORE_PROCESSING_REQUIRED
}

/// Reads `len` bytes at the sector-aligned `offset` into `buffer` with one IRP_MJ_READ.
fn read_aligned(
    target: PDEVICE_OBJECT,
    offset: u64,
    buffer: &PoolBuffer,
    len: usize,
    override_verify: bool,
) -> Result<usize, NtStatus> {
    let mdl = OwnedMdl::describe(buffer, len)?;
    read_into_mdl(target, offset, mdl.raw, len, override_verify)
}

/// One IRP_MJ_READ of `len` bytes at the sector-aligned `offset` into the pages `mdl`
/// describes (at least `len` bytes). Inlined into its callers: a frame of its own would sit
/// below theirs on CREATE's path walk, which has no stack to spare (`cargo xtask stack-depth`).
#[inline(always)]
fn read_into_mdl(
    target: PDEVICE_OBJECT,
    offset: u64,
    mdl: NonNull<MDL>,
    len: usize,
    override_verify: bool,
) -> Result<usize, NtStatus> {
    let length = u32::try_from(len).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let byte_offset = i64::try_from(offset).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut irp = OwnedIrp::allocate(target)?;
    let stack = irp.next_stack();
    // SAFETY: `irp` is ours, not yet sent; `stack` is the location the target will read.
    // The MDL outlives the IRP (declared before it) and is detached when the IRP drops.
    unsafe {
        let raw = irp.raw.as_ptr();
        (*raw).MdlAddress = mdl.as_ptr();
        (*raw).Flags = IRP_NOCACHE;
        (*stack).MajorFunction = IRP_MJ_READ as u8;
        // Only a mount's or a verify's reads may reach a medium the disk wants verified.
        if override_verify {
            (*stack).Flags = SL_OVERRIDE_VERIFY_VOLUME as u8;
        }
        (*stack).Parameters.Read.Length = length;
        (*stack).Parameters.Read.ByteOffset.QuadPart = byte_offset;
    }
    let read = irp.call_and_wait(target)?;
    Ok(read.min(len))
}

/// How many IRPs `read` sends for `length` bytes at `offset`, assuming no short read and a
/// buffer that meets the device's AlignmentRequirement: from a sector-aligned offset one per
/// MAX_TRANSFER of whole sectors plus one for a partial last sector; otherwise one per
/// bounced MAX_TRANSFER window, the first shortened by the offset's place in its sector.
pub(super) fn transfers(sector_size: u32, offset: u64, length: usize) -> u32 {
    let sector = usize::try_from(sector_size).unwrap_or(1).max(1);
    if length == 0 || !sector.is_power_of_two() {
        return 0;
    }
    let count = if offset.is_multiple_of(sector as u64) && MAX_TRANSFER.is_multiple_of(sector) {
        let whole = length & !(sector - 1);
        whole.div_ceil(MAX_TRANSFER) + usize::from(length > whole)
    } else {
        let chunk = MAX_TRANSFER.max(sector);
        let skip = (offset % sector as u64) as usize;
        let first = length.min(chunk - skip.min(chunk - 1));
        1 + (length - first).div_ceil(chunk)
    };
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Reads any byte range. From a sector-aligned offset, the whole sectors go straight into
/// `buf` (MAX_TRANSFER bytes per IRP, when `buf` meets the device's AlignmentRequirement);
/// the rest goes through a bounce buffer and is copied out. Stops early at a short read (the
/// end of the device).
pub(super) fn read(
    target: PDEVICE_OBJECT,
    sector_size: u32,
    offset: u64,
    buf: &mut [u8],
    override_verify: bool,
) -> Result<usize, NtStatus> {
    if buf.is_empty() {
        return Ok(0);
    }
    let sector = usize::try_from(sector_size).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    if !sector.is_power_of_two() {
        return Err(NtStatus::INVALID_PARAMETER);
    }
    let direct = read_direct(target, sector, offset, buf, override_verify)?;
    let rest = buf.get_mut(direct.done..).unwrap_or_default();
    if direct.short || rest.is_empty() {
        return Ok(direct.done);
    }
    let offset = offset
        .checked_add(direct.done as u64)
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    Ok(direct.done + read_bounced(target, sector, offset, rest, override_verify)?)
}

/// What `read_direct` did: bytes read, and whether the device ended first.
struct Direct {
    done: usize,
    short: bool,
}

/// The whole sectors at the start of `buf`, read straight into it when `offset` is
/// sector-aligned and `buf` meets the target's AlignmentRequirement; nothing otherwise.
fn read_direct(
    target: PDEVICE_OBJECT,
    sector: usize,
    offset: u64,
    buf: &mut [u8],
    override_verify: bool,
) -> Result<Direct, NtStatus> {
    // SAFETY: `target` is a live device object (the callers' invariant).
    let alignment = unsafe { (*target).AlignmentRequirement } as usize;
    let whole = buf.len() & !(sector - 1);
    let aligned = offset.is_multiple_of(sector as u64)
        && (buf.as_ptr() as usize) & alignment == 0
        && MAX_TRANSFER.is_multiple_of(sector);
    let mut done = 0usize;
    while aligned && done < whole {
        let span = (whole - done).min(MAX_TRANSFER);
        let position = offset
            .checked_add(done as u64)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let chunk = buf
            .get_mut(done..done + span)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let mdl = LockedMdl::lock(chunk)?;
        let got = read_into_mdl(target, position, mdl.raw, span, override_verify)?;
        done += got.min(span);
        if got < span {
            return Ok(Direct { done, short: true });
        }
    }
    Ok(Direct { done, short: false })
}

/// Any byte range through a bounce buffer: whole sectors of at most MAX_TRANSFER bytes, the
/// wanted part copied out to `buf`.
fn read_bounced(
    target: PDEVICE_OBJECT,
    sector: usize,
    offset: u64,
    buf: &mut [u8],
    override_verify: bool,
) -> Result<usize, NtStatus> {
    let chunk = MAX_TRANSFER.max(sector);
    let bounce = PoolBuffer::allocate(chunk)?;
    let mut done = 0usize;
    while done < buf.len() {
        let position = offset
            .checked_add(done as u64)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let start = position & !(sector as u64 - 1);
        let skip = (position - start) as usize;
        let wanted = (buf.len() - done).min(chunk - skip);
        let span = (skip + wanted).next_multiple_of(sector).min(chunk);
        let got = read_aligned(target, start, &bounce, span, override_verify)?;
        let useful = got.saturating_sub(skip).min(wanted);
        let source = bounce
            .as_slice()
            .get(skip..skip + useful)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        let destination = buf
            .get_mut(done..done + useful)
            .ok_or(NtStatus::INVALID_PARAMETER)?;
        destination.copy_from_slice(source);
        done += useful;
        if useful < wanted {
            break;
        }
    }
    Ok(done)
}

/// A METHOD_BUFFERED IRP_MJ_DEVICE_CONTROL with no input; returns the output bytes.
fn device_control(
    target: PDEVICE_OBJECT,
    code: u32,
    output_len: usize,
) -> Result<PoolBuffer, NtStatus> {
    let output = PoolBuffer::allocate(output_len)?;
    let length = u32::try_from(output_len).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    let mut irp = OwnedIrp::allocate(target)?;
    let stack = irp.next_stack();
    // SAFETY: `irp` is ours, not yet sent; for METHOD_BUFFERED the device writes its output
    // to AssociatedIrp.SystemBuffer, our pool buffer of `length` bytes, which outlives the IRP.
    unsafe {
        let raw = irp.raw.as_ptr();
        (*raw).AssociatedIrp.SystemBuffer = output.block.as_ptr().cast::<c_void>();
        (*stack).MajorFunction = IRP_MJ_DEVICE_CONTROL as u8;
        (*stack).Flags = SL_OVERRIDE_VERIFY_VOLUME as u8;
        (*stack).Parameters.DeviceIoControl.IoControlCode = code;
        (*stack).Parameters.DeviceIoControl.OutputBufferLength = length;
        (*stack).Parameters.DeviceIoControl.InputBufferLength = 0;
    }
    let returned = irp.call_and_wait(target)?;
    // SAFETY: the IRP is done; clear our buffer out of it before it is freed.
    unsafe { (*irp.raw.as_ptr()).AssociatedIrp.SystemBuffer = ptr::null_mut() };
    if returned < output_len {
        return Err(NtStatus::INVALID_DEVICE_REQUEST);
    }
    Ok(output)
}

/// IOCTL_DISK_GET_LENGTH_INFO: GET_LENGTH_INFORMATION.Length.
pub(super) fn length(target: PDEVICE_OBJECT) -> Result<u64, NtStatus> {
    let output = device_control(target, IOCTL_DISK_GET_LENGTH_INFO, 8)?;
    let bytes: [u8; 8] = output
        .as_slice()
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
    u64::try_from(i64::from_le_bytes(bytes)).map_err(|_| NtStatus::INVALID_DEVICE_REQUEST)
}

/// IOCTL_DISK_GET_DRIVE_GEOMETRY: DISK_GEOMETRY.BytesPerSector.
pub(super) fn bytes_per_sector(target: PDEVICE_OBJECT) -> Result<u32, NtStatus> {
    let output = device_control(target, IOCTL_DISK_GET_DRIVE_GEOMETRY, DISK_GEOMETRY_BYTES)?;
    let bytes: [u8; 4] = output
        .as_slice()
        .get(BYTES_PER_SECTOR_OFFSET..BYTES_PER_SECTOR_OFFSET + 4)
        .and_then(|b| b.try_into().ok())
        .ok_or(NtStatus::INVALID_DEVICE_REQUEST)?;
    Ok(u32::from_le_bytes(bytes))
}
