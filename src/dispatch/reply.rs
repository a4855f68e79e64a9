//! Completing a query: copying an encoded answer into the caller's buffer, with the
//! BUFFER_TOO_SMALL / BUFFER_OVERFLOW rules the Windows file systems follow.

use crate::fcb::{Ccb, Fcb, FcbRef};
use crate::info::NoMemory;
use crate::kernel::{FileObject, Irp, NtStatus, OutputBuffer, PoolArc};

/// The FILE_OBJECT of a request on an open file, with its FCB and CCB; `None` for the
/// request of anything else (a volume stream, a FILE_OBJECT not ours).
pub fn opened(irp: &Irp) -> Option<(FileObject, FcbRef, PoolArc<Ccb>)> {
    let file_object = irp.file_object()?;
    let fcb = file_object.fcb::<Fcb>()?;
    let ccb = file_object.ccb::<Ccb>()?;
    Some((file_object, fcb, ccb))
}

impl From<NoMemory> for NtStatus {
    fn from(_: NoMemory) -> NtStatus {
        NtStatus::INSUFFICIENT_RESOURCES
    }
}

/// Writes `data` at the start of the request's output buffer. A buffer the I/O manager passed
/// as a bare user address (neither buffered nor direct I/O) is never touched: no SEH in Rust.
pub fn write_output(irp: &Irp, data: &[u8]) -> Result<(), NtStatus> {
    if data.is_empty() {
        return Ok(());
    }
    match irp.output_buffer() {
        OutputBuffer::System(buffer) => buffer.write(0, data),
        OutputBuffer::Mdl(mdl) => mdl.write(0, data),
        OutputBuffer::User(_) | OutputBuffer::None => Err(NtStatus::INVALID_USER_BUFFER),
    }
}

/// Completes a query whose whole answer is `data`, in a buffer of `length` bytes: all of it if
/// it fits (SUCCESS); else, if the first `fixed` bytes fit, as much as fits with
/// STATUS_BUFFER_OVERFLOW and Information = the bytes written (FastFAT's FatQueryNameInfo and
/// FatQueryFsVolumeInfo); else STATUS_BUFFER_TOO_SMALL and nothing written. The I/O manager
/// has already refused buffers below the class's structure size (INFO_LENGTH_MISMATCH), so the
/// last case is reached only by kernel callers that build the IRP themselves.
pub fn complete_query(mut irp: Irp, length: u32, data: &[u8], fixed: usize) -> NtStatus {
    let length = length as usize;
    let (status, written) = if data.len() <= length {
        (NtStatus::SUCCESS, data.len())
    } else if fixed <= length {
        (NtStatus::BUFFER_OVERFLOW, length)
    } else {
        return irp.complete(NtStatus::BUFFER_TOO_SMALL);
    };
    if let Err(status) = write_output(&irp, data.get(..written).unwrap_or(data)) {
        return irp.complete(status);
    }
    irp.set_information(written);
    irp.complete(status)
}

/// The LARGE_INTEGER a METHOD_NEITHER FSCTL's input starts with (STARTING_VCN_INPUT_BUFFER,
/// STARTING_LCN_INPUT_BUFFER); `None` for a shorter input.
pub fn leading_i64(input: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = input.get(..8)?.try_into().ok()?;
    Some(i64::from_le_bytes(bytes))
}

/// Completes a METHOD_NEITHER FSCTL with `answer` in the caller's buffer (Irp->UserBuffer,
/// locked first): SUCCESS when `complete`, else BUFFER_OVERFLOW (the answer holds what fit),
/// Information = the answer's length.
pub fn complete_user_buffer(
    mut irp: Irp,
    output_length: u32,
    answer: &[u8],
    complete: bool,
) -> NtStatus {
    if let Err(status) = irp.lock_user_buffer(output_length) {
        return irp.complete(status);
    }
    if let Err(status) = write_output(&irp, answer) {
        return irp.complete(status);
    }
    irp.set_information(answer.len());
    irp.complete(if complete {
        NtStatus::SUCCESS
    } else {
        NtStatus::BUFFER_OVERFLOW
    })
}
