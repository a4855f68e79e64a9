//! The FAST_IO_DISPATCH the driver registers (DriverObject->FastIoDispatch) and the routines
//! in it: raw pointers in, the portable `dispatch::fastio` routines called, the answer written
//! back. FastIoRead, MdlRead and MdlReadComplete are FsRtl's own (FsRtlCopyRead,
//! FsRtlMdlReadDev, FsRtlMdlReadCompleteDev), as in CDFS's table (`filesys/cdfs/cdinit.c`);
//! everything not listed is NULL, so the I/O manager sends an IRP for it.

use core::ffi::c_void;
use core::mem::size_of;

use wdk_sys::{
    BOOLEAN, FAST_IO_DISPATCH, PDEVICE_OBJECT, PEPROCESS, PFILE_BASIC_INFORMATION,
    PFILE_NETWORK_OPEN_INFORMATION, PFILE_OBJECT, PFILE_STANDARD_INFORMATION, PIO_STATUS_BLOCK,
    PLARGE_INTEGER, PVOID,
};

use super::DeviceRef;
use super::file_object::FileObject;
use crate::dispatch::fastio;
use crate::kernel::{FastLock, FastQuery, IoStatus};

unsafe extern "C" {
    /// `c/seh.c`: a copy to a buffer that may be a caller's user address, under `__try`.
    fn rustfsd_copy_to_caller(destination: *mut c_void, source: *const c_void, length: u64) -> i32;
}

/// A process as fast I/O routines receive it (PEPROCESS): a lock owner's process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Process {
    raw: PEPROCESS,
}

// SAFETY: an opaque identity the driver passes back to FsRtl and never dereferences; FsRtl
// compares it, so moving it between threads is harmless.
unsafe impl Send for Process {}
// SAFETY: as above.
unsafe impl Sync for Process {}

/// PsGetCurrentProcess (IoGetCurrentProcess).
pub fn current_process() -> Process {
    // SAFETY: returns the current thread's process; callable at any IRQL <= DISPATCH_LEVEL.
    Process {
        raw: unsafe { wdk_sys::ntddk::IoGetCurrentProcess() },
    }
}

/// The table. The kernel only reads it; it lives as long as the image.
pub(super) static FAST_IO: FAST_IO_DISPATCH = FAST_IO_DISPATCH {
    SizeOfFastIoDispatch: size_of::<FAST_IO_DISPATCH>() as u32,
    FastIoCheckIfPossible: Some(check_if_possible),
    FastIoRead: Some(wdk_sys::ntddk::FsRtlCopyRead),
    FastIoQueryBasicInfo: Some(query_basic_info),
    FastIoQueryStandardInfo: Some(query_standard_info),
    FastIoLock: Some(lock),
    FastIoUnlockSingle: Some(unlock_single),
    FastIoUnlockAll: Some(unlock_all),
    FastIoUnlockAllByKey: Some(unlock_all_by_key),
    FastIoQueryNetworkOpenInfo: Some(query_network_open_info),
    MdlRead: Some(wdk_sys::ntddk::FsRtlMdlReadDev),
    MdlReadComplete: Some(wdk_sys::ntddk::FsRtlMdlReadCompleteDev),
    // SAFETY: every other entry is an Option of a function pointer or a count: all-zero is
    // None / 0.
    ..unsafe { core::mem::zeroed() }
};

fn large(value: PLARGE_INTEGER) -> u64 {
    // SAFETY: the I/O manager passes a valid LARGE_INTEGER for the call's duration.
    u64::try_from(unsafe { (*value).QuadPart }).unwrap_or(0)
}

/// # Safety
/// `file_object` and `device` are what the I/O manager passed to one of our fast I/O routines.
unsafe fn arguments(file_object: PFILE_OBJECT, device: PDEVICE_OBJECT) -> (FileObject, DeviceRef) {
    // SAFETY: the I/O manager holds the FILE_OBJECT referenced and calls us on our own volume
    // device for the call's duration.
    unsafe {
        (
            FileObject::from_raw(file_object),
            DeviceRef::from_raw(device),
        )
    }
}

/// Writes a fast I/O routine's answer: TRUE with the IO_STATUS_BLOCK, or FALSE.
///
/// # Safety
/// `io_status` is the routine's IoStatus argument.
unsafe fn answer(answer: Option<IoStatus>, io_status: PIO_STATUS_BLOCK) -> BOOLEAN {
    let Some(answer) = answer else { return 0 };
    // SAFETY: the caller's IO_STATUS_BLOCK is a kernel structure, valid for the call.
    unsafe {
        (*io_status).__bindgen_anon_1.Status = answer.status.0;
        (*io_status).Information = answer.information as u64;
    }
    1
}

unsafe extern "C" fn check_if_possible(
    file_object: PFILE_OBJECT,
    offset: PLARGE_INTEGER,
    length: u32,
    wait: BOOLEAN,
    key: u32,
    check_for_read: BOOLEAN,
    _io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our fast I/O routine's arguments.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let possible = fastio::check_if_possible(
        device,
        &file_object,
        large(offset),
        length,
        wait != 0,
        key,
        check_for_read != 0,
    );
    BOOLEAN::from(possible)
}

/// One of the three queries: the structure copied to the caller's buffer (which may be a
/// user address: the copy is guarded), FALSE if it cannot be written.
///
/// # Safety
/// Our fast I/O query routine's arguments; `buffer` holds `which.size()` bytes.
unsafe fn query(
    which: FastQuery,
    file_object: PFILE_OBJECT,
    wait: BOOLEAN,
    buffer: PVOID,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: as the caller promises.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let Some((status, data)) = fastio::query(device, &file_object, wait != 0, which) else {
        return 0;
    };
    let length = data.len().min(which.size());
    // SAFETY: `buffer` holds the class's structure; the copy survives a faulting address.
    let copied = unsafe { rustfsd_copy_to_caller(buffer, data.as_ptr().cast(), length as u64) };
    if copied < 0 {
        return 0;
    }
    // SAFETY: as the caller promises.
    unsafe { answer(Some(status), io_status) }
}

unsafe extern "C" fn query_basic_info(
    file_object: PFILE_OBJECT,
    wait: BOOLEAN,
    buffer: PFILE_BASIC_INFORMATION,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our routine's arguments; the buffer is a FILE_BASIC_INFORMATION.
    unsafe {
        query(
            FastQuery::Basic,
            file_object,
            wait,
            buffer.cast(),
            io_status,
            device,
        )
    }
}

unsafe extern "C" fn query_standard_info(
    file_object: PFILE_OBJECT,
    wait: BOOLEAN,
    buffer: PFILE_STANDARD_INFORMATION,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our routine's arguments; the buffer is a FILE_STANDARD_INFORMATION.
    unsafe {
        query(
            FastQuery::Standard,
            file_object,
            wait,
            buffer.cast(),
            io_status,
            device,
        )
    }
}

unsafe extern "C" fn query_network_open_info(
    file_object: PFILE_OBJECT,
    wait: BOOLEAN,
    buffer: PFILE_NETWORK_OPEN_INFORMATION,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our routine's arguments; the buffer is a FILE_NETWORK_OPEN_INFORMATION.
    unsafe {
        query(
            FastQuery::NetworkOpen,
            file_object,
            wait,
            buffer.cast(),
            io_status,
            device,
        )
    }
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn lock(
    file_object: PFILE_OBJECT,
    offset: PLARGE_INTEGER,
    length: PLARGE_INTEGER,
    process: PEPROCESS,
    key: u32,
    fail_immediately: BOOLEAN,
    exclusive: BOOLEAN,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our fast I/O routine's arguments.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let request = FastLock {
        offset: large(offset),
        length: large(length),
        key,
        fail_immediately: fail_immediately != 0,
        exclusive: exclusive != 0,
    };
    let status = fastio::lock(device, &file_object, request, Process { raw: process });
    // SAFETY: our routine's IoStatus.
    unsafe { answer(status, io_status) }
}

unsafe extern "C" fn unlock_single(
    file_object: PFILE_OBJECT,
    offset: PLARGE_INTEGER,
    length: PLARGE_INTEGER,
    process: PEPROCESS,
    key: u32,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our fast I/O routine's arguments.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let status = fastio::unlock_single(
        device,
        &file_object,
        large(offset),
        large(length),
        Process { raw: process },
        key,
    );
    // SAFETY: our routine's IoStatus.
    unsafe { answer(status, io_status) }
}

unsafe extern "C" fn unlock_all(
    file_object: PFILE_OBJECT,
    process: PEPROCESS,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our fast I/O routine's arguments.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let status = fastio::unlock_all(device, &file_object, Process { raw: process }, None);
    // SAFETY: our routine's IoStatus.
    unsafe { answer(status, io_status) }
}

unsafe extern "C" fn unlock_all_by_key(
    file_object: PFILE_OBJECT,
    process: PVOID,
    key: u32,
    io_status: PIO_STATUS_BLOCK,
    device: PDEVICE_OBJECT,
) -> BOOLEAN {
    // SAFETY: our fast I/O routine's arguments.
    let (file_object, device) = unsafe { arguments(file_object, device) };
    let process = Process {
        raw: process.cast(),
    };
    let status = fastio::unlock_all(device, &file_object, process, Some(key));
    // SAFETY: our routine's IoStatus.
    unsafe { answer(status, io_status) }
}

impl Process {
    pub(super) fn raw(&self) -> PEPROCESS {
        self.raw
    }
}
