//! The IRP being dispatched: an owned token completed exactly once, its typed parameters and
//! its buffers (MDL, system buffer; a user buffer is named but can never be written).

use alloc::vec::Vec;
use core::ptr::{self, NonNull};

use wdk_sys::{
    _MEMORY_CACHING_TYPE, _MM_PAGE_PRIORITY, _MODE, ACCESS_STATE, IO_NO_INCREMENT,
    IO_SECURITY_CONTEXT, IO_STACK_LOCATION, IRP_BUFFERED_IO, IRP_MN_KERNEL_CALL,
    IRP_MN_QUERY_DIRECTORY, MDL, MDL_MAPPED_TO_SYSTEM_VA, MDL_SOURCE_IS_NONPAGED_POOL, PIRP,
    PPRIVILEGE_SET, SL_FORCE_ACCESS_CHECK, SL_PENDING_RETURNED, UNICODE_STRING,
};

use super::device::{DeviceRef, MountRequest};
use super::file_object::FileObject;
use super::pool::{self, PoolTag};
use crate::kernel::request::{
    CreateParameters, IRP_MN_LOCK, IRP_MN_MOUNT_VOLUME, IRP_MN_NOTIFY_CHANGE_DIRECTORY,
    IRP_MN_UNLOCK_SINGLE, IRP_MN_USER_FS_REQUEST, IRP_MN_VERIFY_VOLUME, IrpParameters,
    SL_WATCH_TREE,
};
use crate::kernel::{IrpMajor, MAXIMUM_ALLOWED, NtStatus};

/// Parameters.Create.SecurityContext of a CREATE's stack location.
fn unsafe_create_context(stack: &IO_STACK_LOCATION) -> *mut IO_SECURITY_CONTEXT {
    // SAFETY: only called for IRP_MJ_CREATE, whose stack location's Parameters union holds
    // Create; reading a pointer field copies it.
    unsafe { stack.Parameters.Create.SecurityContext }
}

/// The tag of a reparse buffer handed to the I/O manager (which frees it).
const REPARSE_TAG: PoolTag = PoolTag(*b"RfRp");

/// MdlMappingNoExecute: system mappings of data are never executable.
const MDL_MAPPING_NO_EXECUTE: u32 = 0x4000_0000;

/// An IRP the I/O manager handed to our dispatch routine. Completing it consumes the token.
pub struct Irp {
    raw: PIRP,
}

// SAFETY: an IRP may be completed from any thread (a pended IRP moves to a work item); the
// token is unique, so only one thread uses it at a time.
unsafe impl Send for Irp {}

/// The MDL describing the caller's buffer (Irp->MdlAddress, locked by the I/O manager).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Mdl {
    raw: NonNull<MDL>,
}

/// The system buffer of a buffered request, with the length the stack location gives.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SystemBuffer {
    start: NonNull<u8>,
    len: usize,
}

/// A user-mode address (neither I/O). Deliberately without methods in this backend: the
/// driver never dereferences a user address (no SEH in Rust).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct UserBuffer {
    _address: usize,
}

// SAFETY: these name buffers of an IRP that the token's owner controls; like the IRP they may
// be used from the thread that completes it. Their validity ends at completion, as in C.
unsafe impl Send for Mdl {}
// SAFETY: as above.
unsafe impl Sync for Mdl {}
// SAFETY: as above.
unsafe impl Send for SystemBuffer {}
// SAFETY: as above.
unsafe impl Sync for SystemBuffer {}

/// The request's output buffer, in the form the device's I/O method gives it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutputBuffer {
    None,
    System(SystemBuffer),
    Mdl(Mdl),
    User(UserBuffer),
}

/// Copies a counted UTF-16 string the I/O manager captured in kernel memory.
///
/// # Safety
/// `name` is null or a valid UNICODE_STRING whose buffer holds `Length` bytes.
unsafe fn copy_unicode(name: *const UNICODE_STRING) -> Result<Vec<u16>, NtStatus> {
    let mut units = Vec::new();
    if name.is_null() {
        return Ok(units);
    }
    // SAFETY: as the caller promises.
    let (buffer, count) = unsafe { ((*name).Buffer, usize::from((*name).Length) / 2) };
    if buffer.is_null() || count == 0 {
        return Ok(units);
    }
    units
        .try_reserve_exact(count)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    // SAFETY: the buffer holds `count` units (Length bytes), per the caller's promise.
    units.extend_from_slice(unsafe { core::slice::from_raw_parts(buffer, count) });
    Ok(units)
}

/// Copies `len` bytes of kernel memory at `start`.
///
/// # Safety
/// `start` is null or valid for `len` bytes of reads.
unsafe fn copy_bytes(start: *const u8, len: usize) -> Result<Vec<u8>, NtStatus> {
    let mut bytes = Vec::new();
    if start.is_null() || len == 0 {
        return Ok(bytes);
    }
    bytes
        .try_reserve_exact(len)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    // SAFETY: as the caller promises.
    bytes.extend_from_slice(unsafe { core::slice::from_raw_parts(start, len) });
    Ok(bytes)
}

/// A user-mode caller's `len` bytes at `start`, probed and copied under `__try` (`c/seh.c`);
/// the status the probe or the read raised, as FastFAT maps it.
fn capture_user_input(start: *const u8, len: usize) -> Result<Vec<u8>, NtStatus> {
    let mut bytes = Vec::new();
    if start.is_null() || len == 0 {
        return Ok(bytes);
    }
    let length = u32::try_from(len).map_err(|_| NtStatus::INVALID_PARAMETER)?;
    bytes
        .try_reserve_exact(len)
        .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
    bytes.resize(len, 0);
    // SAFETY: `bytes` holds `len` writable bytes; the C helper probes `start` for a user-mode
    // read of `len` bytes and catches the exception a bad address raises.
    let status = unsafe { rustfsd_capture_user_input(bytes.as_mut_ptr(), start, length) };
    if status < 0 {
        return Err(NtStatus(status));
    }
    Ok(bytes)
}

/// LOCK_OPERATION IoWriteAccess: the pages will be written (a query's output).
const LOCK_FOR_WRITE: i32 = wdk_sys::_LOCK_OPERATION::IoWriteAccess as i32;

unsafe extern "C" {
    /// `c/seh.c`: MmProbeAndLockPages under `__try`; STATUS_SUCCESS, the raised status if
    /// FsRtlIsNtstatusExpected accepts it, else STATUS_INVALID_USER_BUFFER.
    fn rustfsd_probe_and_lock_pages(mdl: *mut MDL, mode: i8, operation: i32) -> i32;
    /// `c/seh.c`: ProbeForRead of a user-mode address and a copy of it, under `__try`.
    fn rustfsd_capture_user_input(dest: *mut u8, source: *const u8, length: u32) -> i32;
}

/// MmProbeAndLockPages under `__try` (`c/seh.c`), for the lower-device reads of `lower_io`.
///
/// # Safety
/// `mdl` is an unlocked MDL of ours describing memory valid for `operation` in `mode`.
pub(super) unsafe fn probe_and_lock_pages(mdl: *mut MDL, mode: i8, operation: i32) -> i32 {
    // SAFETY: the caller's promise.
    unsafe { rustfsd_probe_and_lock_pages(mdl, mode, operation) }
}

/// METHOD_NEITHER, the low two bits of an FSCTL code.
const METHOD_NEITHER: u32 = 3;

impl Irp {
    /// # Safety
    /// `raw` is the IRP passed to a dispatch routine, not yet completed, owned by the caller.
    pub(super) unsafe fn from_raw(raw: PIRP) -> Irp {
        Irp { raw }
    }

    /// Irp->Flags.
    pub fn flags(&self) -> u32 {
        // SAFETY: `raw` is live and ours until completion.
        unsafe { (*self.raw).Flags }
    }

    /// The IRP, for FsRtl calls made while the token is held.
    pub(super) fn raw(&self) -> PIRP {
        self.raw
    }

    /// Gives the token up to a kernel routine that completes the IRP itself
    /// (FsRtlProcessFileLock).
    pub(super) fn into_raw(self) -> PIRP {
        self.raw
    }

    /// The current stack location (IoGetCurrentIrpStackLocation, an inline in the WDK).
    fn stack(&self) -> &IO_STACK_LOCATION {
        // SAFETY: `raw` is a live IRP in dispatch (type invariant); its current stack location
        // is valid and not changed while we hold the token.
        unsafe {
            &*(*self.raw)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation
        }
    }

    /// The major function of the current stack location.
    pub fn major(&self) -> Option<IrpMajor> {
        IrpMajor::from_code(self.stack().MajorFunction)
    }

    pub fn minor(&self) -> u8 {
        self.stack().MinorFunction
    }

    pub fn parameters(&self) -> IrpParameters {
        self.decode_parameters().unwrap_or(IrpParameters::None)
    }

    fn decode_parameters(&self) -> Result<IrpParameters, NtStatus> {
        let stack = self.stack();
        let parameters = &stack.Parameters;
        // SAFETY: each arm reads the Parameters union member that the I/O manager fills for
        // that major (and minor) function; pointers in it (security context, captured search
        // pattern, system buffer) are kernel memory valid until completion.
        let decoded = unsafe {
            match self.major() {
                Some(IrpMajor::Create) => {
                    let create = &parameters.Create;
                    let context = create.SecurityContext;
                    let desired_access = if context.is_null() {
                        0
                    } else {
                        (*context).DesiredAccess
                    };
                    let state = self.access_state();
                    let (remaining, previously_granted, access_flags) = match state {
                        Some(state) => {
                            let state = state.as_ptr();
                            (
                                (*state).RemainingDesiredAccess,
                                (*state).PreviouslyGrantedAccess,
                                (*state).Flags,
                            )
                        }
                        None => (desired_access, 0, 0),
                    };
                    IrpParameters::Create(CreateParameters {
                        desired_access,
                        share_access: create.ShareAccess,
                        disposition: create.Options >> 24,
                        options: create.Options & 0x00FF_FFFF,
                        file_attributes: create.FileAttributes,
                        allocation_size: (*self.raw).Overlay.AllocationSize.QuadPart as u64,
                        ea_length: create.EaLength,
                        stack_flags: stack.Flags,
                        remaining_desired_access: remaining,
                        previously_granted_access: previously_granted,
                        access_flags,
                    })
                }
                Some(IrpMajor::Read) => IrpParameters::Read {
                    offset: parameters.Read.ByteOffset.QuadPart as u64,
                    length: parameters.Read.Length,
                },
                Some(IrpMajor::QueryInformation) => IrpParameters::QueryInformation {
                    class: parameters.QueryFile.FileInformationClass as u32,
                    length: parameters.QueryFile.Length,
                },
                // NtSetInformationFile always buffers the caller's structure in SystemBuffer
                // (Length bytes).
                Some(IrpMajor::SetInformation) => {
                    let set = &parameters.SetFile;
                    IrpParameters::SetInformation {
                        class: set.FileInformationClass as u32,
                        input: copy_bytes(
                            (*self.raw).AssociatedIrp.SystemBuffer.cast(),
                            set.Length as usize,
                        )?,
                    }
                }
                Some(IrpMajor::DirectoryControl)
                    if u32::from(stack.MinorFunction) == IRP_MN_QUERY_DIRECTORY =>
                {
                    let query = &parameters.QueryDirectory;
                    let pattern = if query.FileName.is_null() {
                        None
                    } else {
                        Some(copy_unicode(query.FileName)?)
                    };
                    IrpParameters::QueryDirectory {
                        class: query.FileInformationClass as u32,
                        length: query.Length,
                        pattern,
                        flags: stack.Flags,
                        index: query.FileIndex,
                    }
                }
                Some(IrpMajor::DirectoryControl)
                    if stack.MinorFunction == IRP_MN_NOTIFY_CHANGE_DIRECTORY =>
                {
                    IrpParameters::NotifyDirectory {
                        filter: parameters.NotifyDirectory.CompletionFilter,
                        watch_tree: stack.Flags & SL_WATCH_TREE != 0,
                    }
                }
                Some(IrpMajor::QuerySecurity) => IrpParameters::QuerySecurity {
                    information: parameters.QuerySecurity.SecurityInformation,
                    length: parameters.QuerySecurity.Length,
                },
                // NtLockFile/NtUnlockFile capture Length into pool; the unlock-all minors
                // carry no range.
                Some(IrpMajor::LockControl) => {
                    let lock = &parameters.LockControl;
                    let ranged = matches!(stack.MinorFunction, IRP_MN_LOCK | IRP_MN_UNLOCK_SINGLE);
                    let length = if ranged && !lock.Length.is_null() {
                        (*lock.Length).QuadPart as u64
                    } else {
                        0
                    };
                    IrpParameters::LockControl {
                        offset: if ranged {
                            lock.ByteOffset.QuadPart as u64
                        } else {
                            0
                        },
                        length,
                        key: lock.Key,
                        flags: stack.Flags,
                    }
                }
                // NtQueryEaFile captures the EA name list into pool.
                Some(IrpMajor::QueryEa) => {
                    let query = &parameters.QueryEa;
                    let ea_list = if query.EaList.is_null() {
                        None
                    } else {
                        Some(copy_bytes(
                            query.EaList.cast(),
                            query.EaListLength as usize,
                        )?)
                    };
                    IrpParameters::QueryEa {
                        length: query.Length,
                        ea_list,
                        index: query.EaIndex,
                        flags: stack.Flags,
                    }
                }
                Some(IrpMajor::SetEa) => IrpParameters::SetEa,
                Some(IrpMajor::SetSecurity) => IrpParameters::SetSecurity {
                    information: parameters.SetSecurity.SecurityInformation,
                },
                Some(IrpMajor::QueryVolumeInformation) => IrpParameters::QueryVolumeInformation {
                    class: parameters.QueryVolume.FsInformationClass as u32,
                    length: parameters.QueryVolume.Length,
                },
                // Decoding a mount or verify request asks the target device for its sector
                // size (one IOCTL, at PASSIVE_LEVEL like every FSCTL mount/verify).
                Some(IrpMajor::FileSystemControl) => match stack.MinorFunction {
                    IRP_MN_MOUNT_VOLUME => IrpParameters::Mount(MountRequest::from_raw(
                        parameters.MountVolume.Vpb,
                        parameters.MountVolume.DeviceObject,
                    )),
                    // Parameters.VerifyVolume.DeviceObject is our volume device; the read
                    // target is the VPB's real device.
                    IRP_MN_VERIFY_VOLUME if !parameters.VerifyVolume.Vpb.is_null() => {
                        let vpb = parameters.VerifyVolume.Vpb;
                        IrpParameters::VerifyVolume(MountRequest::from_raw(vpb, (*vpb).RealDevice))
                    }
                    minor
                        if minor == IRP_MN_USER_FS_REQUEST
                            || u32::from(minor) == IRP_MN_KERNEL_CALL =>
                    {
                        let control = &parameters.FileSystemControl;
                        let code = control.FsControlCode;
                        let length = control.InputBufferLength as usize;
                        // METHOD_NEITHER input is the caller's address: a kernel caller's is
                        // read as it is, a user caller's is probed and captured under __try.
                        // The other methods capture it in SystemBuffer.
                        let input = if code & 3 == METHOD_NEITHER {
                            if (*self.raw).RequestorMode == _MODE::KernelMode as i8 {
                                copy_bytes(control.Type3InputBuffer.cast(), length)?
                            } else {
                                capture_user_input(control.Type3InputBuffer.cast(), length)?
                            }
                        } else {
                            copy_bytes((*self.raw).AssociatedIrp.SystemBuffer.cast(), length)?
                        };
                        IrpParameters::FileSystemControl {
                            code,
                            input,
                            output_length: control.OutputBufferLength,
                        }
                    }
                    _ => IrpParameters::None,
                },
                _ => IrpParameters::None,
            }
        };
        Ok(decoded)
    }

    pub fn create_parameters(&self) -> Option<CreateParameters> {
        self.parameters().into_create()
    }

    /// A CREATE's ACCESS_STATE (Parameters.Create.SecurityContext->AccessState).
    fn access_state(&self) -> Option<NonNull<ACCESS_STATE>> {
        if self.major() != Some(IrpMajor::Create) {
            return None;
        }
        let context = unsafe_create_context(self.stack());
        // SAFETY: the I/O manager's IO_SECURITY_CONTEXT of a CREATE in dispatch is valid
        // until completion (IopParseDevice keeps it on its stack).
        NonNull::new(context)
            .and_then(|context| NonNull::new(unsafe { (*context.as_ptr()).AccessState }))
    }

    /// SeAccessCheck of the self-relative `descriptor` for `desired` access against this
    /// CREATE's subject context (locked around the check), with IoFileObjectType's generic
    /// mapping, in the requestor's mode (UserMode also when SL_FORCE_ACCESS_CHECK is set):
    /// the access granted (with `previously_granted`), or the status of the refusal.
    /// Privileges the check used are appended to the ACCESS_STATE.
    pub fn check_access(
        &self,
        descriptor: &[u8],
        desired: u32,
        previously_granted: u32,
    ) -> Result<u32, NtStatus> {
        let state = self.access_state().ok_or(NtStatus::INVALID_PARAMETER)?;
        let forced = u32::from(self.stack().Flags) & SL_FORCE_ACCESS_CHECK != 0;
        // SAFETY: `raw` is a live IRP in dispatch (type invariant).
        let requestor = unsafe { (*self.raw).RequestorMode };
        let mode = if forced || requestor != _MODE::KernelMode as i8 {
            _MODE::UserMode as i8
        } else {
            _MODE::KernelMode as i8
        };
        let mut granted: u32 = 0;
        let mut status: i32 = 0;
        let mut privileges: PPRIVILEGE_SET = ptr::null_mut();
        let state = state.as_ptr();
        // SAFETY: `state` is the CREATE's ACCESS_STATE, valid until completion; the subject
        // context is locked around SeAccessCheck as it requires (SubjectContextLocked TRUE);
        // `descriptor` is a self-relative descriptor in pool memory (16-byte aligned), which
        // SeAccessCheck only reads; the out-pointers are locals; `privileges`, when set, is
        // appended and then freed with SeFreePrivileges, as its contract asks.
        let allowed = unsafe {
            let subject = ptr::addr_of_mut!((*state).SubjectSecurityContext);
            wdk_sys::ntddk::SeLockSubjectContext(subject);
            let allowed = wdk_sys::ntddk::SeAccessCheck(
                descriptor.as_ptr().cast_mut().cast(),
                subject,
                1,
                desired,
                previously_granted,
                &mut privileges,
                wdk_sys::ntddk::IoGetFileObjectGenericMapping(),
                mode,
                &mut granted,
                &mut status,
            );
            if !privileges.is_null() {
                let _ = wdk_sys::ntddk::SeAppendPrivileges(state, privileges);
                wdk_sys::ntddk::SeFreePrivileges(privileges);
            }
            wdk_sys::ntddk::SeUnlockSubjectContext(subject);
            allowed
        };
        if allowed != 0 {
            Ok(granted)
        } else {
            Err(NtStatus(status))
        }
    }

    /// What a file system does with the ACCESS_STATE of a CREATE it granted `granted` to:
    /// PreviouslyGrantedAccess gains it, RemainingDesiredAccess loses it and MAXIMUM_ALLOWED.
    pub fn grant_access(&mut self, granted: u32) {
        if let Some(state) = self.access_state() {
            let state = state.as_ptr();
            // SAFETY: the CREATE's ACCESS_STATE, valid until completion; the file system
            // owns these fields while it processes the CREATE.
            unsafe {
                (*state).PreviouslyGrantedAccess |= granted;
                (*state).RemainingDesiredAccess &= !(granted | MAXIMUM_ALLOWED);
            }
        }
    }

    /// IRP_MN_MOUNT_VOLUME's VPB and target device.
    pub fn mount_request(&self) -> Option<MountRequest> {
        self.parameters().into_mount()
    }

    /// IRP_MN_VERIFY_VOLUME's VPB and real device.
    pub fn verify_request(&self) -> Option<MountRequest> {
        self.parameters().into_verify()
    }

    /// The current stack location's FileObject.
    pub fn file_object(&self) -> Option<FileObject> {
        let file_object = self.stack().FileObject;
        // SAFETY: the stack location's FileObject is null or live until completion.
        (!file_object.is_null()).then(|| unsafe { FileObject::from_raw(file_object) })
    }

    /// The current stack location's DeviceObject: the device the IRP was sent to.
    pub fn device(&self) -> Option<DeviceRef> {
        let device = self.stack().DeviceObject;
        // SAFETY: the stack location's DeviceObject is the live device the IRP is dispatched
        // to (IoCallDriver sets it), one of ours.
        (!device.is_null()).then(|| unsafe { DeviceRef::from_raw(device) })
    }

    /// The IRP's address, naming it in debug output.
    pub fn trace_id(&self) -> u64 {
        self.raw as usize as u64
    }

    /// Irp->IoStatus.Information.
    pub fn set_information(&mut self, information: usize) {
        // SAFETY: `raw` is live and ours until completion.
        unsafe { (*self.raw).IoStatus.Information = information as _ };
    }

    /// The output length the current stack location names, for a system buffer.
    fn output_length(&self) -> usize {
        let parameters = &self.stack().Parameters;
        // SAFETY: each arm reads the union member of its major function.
        let length = unsafe {
            match self.major() {
                Some(IrpMajor::Read) => parameters.Read.Length,
                Some(IrpMajor::QueryInformation) => parameters.QueryFile.Length,
                Some(IrpMajor::QueryVolumeInformation) => parameters.QueryVolume.Length,
                Some(IrpMajor::DirectoryControl) => parameters.QueryDirectory.Length,
                Some(IrpMajor::FileSystemControl) => {
                    parameters.FileSystemControl.OutputBufferLength
                }
                Some(IrpMajor::QuerySecurity) => parameters.QuerySecurity.Length,
                Some(IrpMajor::QueryEa) => parameters.QueryEa.Length,
                _ => 0,
            }
        };
        length as usize
    }

    /// The output buffer in the form the I/O method gives it: an MDL if the I/O manager built
    /// one (direct I/O), else the system buffer (buffered I/O, and always for the query
    /// classes), else the user address (neither I/O), which this backend never writes.
    pub fn output_buffer(&self) -> OutputBuffer {
        // SAFETY: `raw` is live; the fields read are set by the I/O manager before dispatch.
        let (mdl, system, user) = unsafe {
            (
                (*self.raw).MdlAddress,
                (*self.raw).AssociatedIrp.SystemBuffer,
                (*self.raw).UserBuffer,
            )
        };
        let buffered_output = match self.major() {
            Some(IrpMajor::QueryInformation | IrpMajor::QueryVolumeInformation) => true,
            Some(IrpMajor::FileSystemControl) => {
                // SAFETY: the FileSystemControl member is the one filled for this major.
                let code = unsafe { self.stack().Parameters.FileSystemControl.FsControlCode };
                code & 3 == 0
            }
            // NtQueryEaFile follows the device's I/O method, as NtQueryDirectoryFile does.
            Some(IrpMajor::Read | IrpMajor::DirectoryControl | IrpMajor::QueryEa) => mdl.is_null(),
            // IopGetSetSecurityObject passes the caller's address in UserBuffer (neither I/O);
            // `lock_user_buffer` may have described it by an MDL since.
            Some(IrpMajor::QuerySecurity) => false,
            _ => return OutputBuffer::None,
        };
        if let Some(raw) = NonNull::new(mdl).filter(|_| !buffered_output) {
            return OutputBuffer::Mdl(Mdl { raw });
        }
        if let Some(start) = NonNull::new(system.cast::<u8>()).filter(|_| buffered_output) {
            return OutputBuffer::System(SystemBuffer {
                start,
                len: self.output_length(),
            });
        }
        if !user.is_null() {
            return OutputBuffer::User(UserBuffer {
                _address: user as usize,
            });
        }
        OutputBuffer::None
    }

    /// The output buffer as bytes the driver writes in place: MmGetSystemAddressForMdlSafe
    /// (NormalPagePriority | MdlMappingNoExecute) over Irp->MdlAddress, or the system buffer
    /// of a buffered request
    /// (<https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-mmgetsystemaddressformdlsafe>).
    /// A null mapping is STATUS_INSUFFICIENT_RESOURCES; a user address is never mapped
    /// (STATUS_INVALID_USER_BUFFER). The IRP stays borrowed while mapped, so it cannot be
    /// completed (and its MDL unlocked, which tears the mapping down) under the slice.
    /// IRQL <= DISPATCH_LEVEL.
    pub fn map_output(&mut self) -> Result<MappedBuffer<'_>, NtStatus> {
        let (start, len) = match self.output_buffer() {
            OutputBuffer::Mdl(mdl) => (mdl.system_address()?, mdl.len()),
            OutputBuffer::System(system) => (system.start(), system.len()),
            OutputBuffer::User(_) | OutputBuffer::None => {
                return Err(NtStatus::INVALID_USER_BUFFER);
            }
        };
        // SAFETY: `start` maps `len` bytes of the IRP's locked (MDL) or I/O-manager-allocated
        // (system) buffer, valid until completion; the slice borrows the IRP token mutably,
        // so completion cannot happen while it lives, and no other `&mut` to these bytes is
        // made (the driver does not write through `Mdl`/`SystemBuffer` while mapped; the model
        // reports it if it does).
        let bytes = unsafe { core::slice::from_raw_parts_mut(start.as_ptr(), len) };
        Ok(MappedBuffer { bytes })
    }

    /// Locks a neither-I/O request's user buffer (Irp->UserBuffer, `length` bytes) for writing,
    /// as FastFAT's FatLockUserBuffer (deviosup.c): IoAllocateMdl charged to the IRP (so
    /// Irp->MdlAddress, which the I/O manager unlocks and frees at completion), then
    /// MmProbeAndLockPages(RequestorMode, IoWriteAccess) under `__try` in `c/seh.c`. A probe
    /// that raises frees the MDL again and fails with the raised status if
    /// FsRtlIsNtstatusExpected accepts it, else STATUS_INVALID_USER_BUFFER. Afterwards
    /// `output_buffer` gives the MDL. Nothing happens for a buffered request, if the IRP has
    /// an MDL already or no user buffer, or if `length` is 0. Call in the requestor's context, at IRQL <= APC_LEVEL.
    pub fn lock_user_buffer(&mut self, length: u32) -> Result<(), NtStatus> {
        // SAFETY: `raw` is live and ours until completion; MdlAddress and UserBuffer are set
        // by the I/O manager before dispatch.
        let (mdl, user, mode) = unsafe {
            (
                (*self.raw).MdlAddress,
                (*self.raw).UserBuffer,
                (*self.raw).RequestorMode,
            )
        };
        // A buffered request (IRP_BUFFERED_IO) is answered in its system buffer, which the I/O
        // manager copies out at completion.
        let buffered = self.flags() & IRP_BUFFERED_IO != 0;
        if buffered || !mdl.is_null() || user.is_null() || length == 0 {
            return Ok(());
        }
        // SAFETY: IoAllocateMdl only records the address (nothing is touched until the probe);
        // with the IRP given it becomes Irp->MdlAddress, which is null (checked above).
        let mdl = unsafe { wdk_sys::ntddk::IoAllocateMdl(user, length, 0, 0, self.raw) };
        if mdl.is_null() {
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        // SAFETY: the MDL is fresh and describes `length` bytes at the caller's address; the
        // C helper catches the exception MmProbeAndLockPages raises on a bad address.
        let status = unsafe { rustfsd_probe_and_lock_pages(mdl, mode, LOCK_FOR_WRITE) };
        if status < 0 {
            // SAFETY: the probe failed, so nothing is locked; the MDL is ours (attached to
            // this IRP) and is detached before it is freed, so completion does not see it.
            unsafe {
                (*self.raw).MdlAddress = ptr::null_mut();
                wdk_sys::ntddk::IoFreeMdl(mdl);
            }
            return Err(NtStatus(status));
        }
        Ok(())
    }

    /// IoMarkIrpPending (an inline in the WDK): SL_PENDING_RETURNED on the current location.
    pub fn mark_pending(&mut self) {
        // SAFETY: `raw` is live and ours; Control of the current location is ours to set.
        unsafe {
            let stack = (*self.raw)
                .Tail
                .Overlay
                .__bindgen_anon_2
                .__bindgen_anon_1
                .CurrentStackLocation;
            (*stack).Control |= SL_PENDING_RETURNED as u8;
        }
    }

    /// Sets the final status and completes the IRP. Returns the status for the dispatch routine.
    pub fn complete(self, status: NtStatus) -> NtStatus {
        // SAFETY: `raw` is live and not yet completed (type invariant); `self` is consumed, so
        // it cannot be completed twice.
        unsafe {
            (*self.raw).IoStatus.__bindgen_anon_1.Status = status.0;
            wdk_sys::ntddk::IofCompleteRequest(self.raw, IO_NO_INCREMENT as i8);
        }
        status
    }
}

impl Irp {
    /// Completes IRP_MJ_CREATE with STATUS_REPARSE and IoStatus.Information = IO_REMOUNT: the
    /// I/O manager parses the name again, which mounts whatever the disk holds now. On any
    /// other major function, STATUS_INVALID_PARAMETER.
    pub fn complete_remount(self) -> NtStatus {
        if self.major() != Some(IrpMajor::Create) {
            return self.complete(NtStatus::INVALID_PARAMETER);
        }
        // SAFETY: `raw` is live and ours until the completion below.
        unsafe { (*self.raw).IoStatus.Information = wdk_sys::IO_REMOUNT as _ };
        self.complete(NtStatus::REPARSE)
    }

    /// Completes IRP_MJ_CREATE with STATUS_REPARSE: IoStatus.Information = `tag`,
    /// Tail.Overlay.AuxiliaryBuffer = a nonpaged pool copy of `buffer`, which the I/O manager
    /// frees. STATUS_INSUFFICIENT_RESOURCES if the copy cannot be allocated; on any other major
    /// function, STATUS_INVALID_PARAMETER (AuxiliaryBuffer means something else there).
    pub fn complete_reparse(self, tag: u32, buffer: &[u8]) -> NtStatus {
        if self.major() != Some(IrpMajor::Create) {
            return self.complete(NtStatus::INVALID_PARAMETER);
        }
        let copy = match pool::allocate(REPARSE_TAG, buffer.len()) {
            Ok(copy) => copy,
            Err(status) => return self.complete(status),
        };
        // SAFETY: `copy` is a fresh block of at least buffer.len() bytes, distinct from
        // `buffer`; the IRP is live and ours until completion, and for IRP_MJ_CREATE the I/O
        // manager takes AuxiliaryBuffer over (and frees it) with a STATUS_REPARSE completion.
        unsafe {
            ptr::copy_nonoverlapping(buffer.as_ptr(), copy.as_ptr(), buffer.len());
            (*self.raw).Tail.Overlay.AuxiliaryBuffer = copy.as_ptr().cast();
            (*self.raw).IoStatus.Information = tag as _;
        }
        self.complete(NtStatus::REPARSE)
    }
}

/// Copies `data` into `len` bytes at `start`, at `offset`, bounds-checked.
///
/// # Safety
/// `start` is valid for `len` bytes of writes.
unsafe fn write_checked(
    start: *mut u8,
    len: usize,
    offset: usize,
    data: &[u8],
) -> Result<(), NtStatus> {
    let end = offset
        .checked_add(data.len())
        .ok_or(NtStatus::INVALID_PARAMETER)?;
    if end > len {
        return Err(NtStatus::BUFFER_TOO_SMALL);
    }
    // SAFETY: [offset, end) is inside the `len` bytes at `start` (checked above), which the
    // caller promises are writable and which cannot overlap `data` (a buffer of ours).
    unsafe { ptr::copy_nonoverlapping(data.as_ptr(), start.add(offset), data.len()) };
    Ok(())
}

/// An IRP's output buffer mapped for the driver (`Irp::map_output`): its bytes, written in
/// place.
pub struct MappedBuffer<'a> {
    bytes: &'a mut [u8],
}

impl core::ops::Deref for MappedBuffer<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl core::ops::DerefMut for MappedBuffer<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

impl Mdl {
    /// MmGetSystemAddressForMdlSafe (an inline in the WDK): the buffer's system mapping.
    pub(super) fn system_address(&self) -> Result<NonNull<u8>, NtStatus> {
        let mdl = self.raw.as_ptr();
        // SAFETY: the MDL is the IRP's, locked by the I/O manager until completion; mapping
        // it (cached, no-execute) is what MmGetSystemAddressForMdlSafe does, and the mapping
        // stays with the MDL until the I/O manager unlocks it.
        let system = unsafe {
            let flags = (*mdl).MdlFlags as u32;
            if flags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
                (*mdl).MappedSystemVa
            } else {
                wdk_sys::ntddk::MmMapLockedPagesSpecifyCache(
                    mdl,
                    _MODE::KernelMode as i8,
                    _MEMORY_CACHING_TYPE::MmCached,
                    ptr::null_mut(),
                    0,
                    (_MM_PAGE_PRIORITY::NormalPagePriority as u32 | MDL_MAPPING_NO_EXECUTE) as i32,
                )
            }
        };
        NonNull::new(system.cast()).ok_or(NtStatus::INSUFFICIENT_RESOURCES)
    }

    /// MmGetSystemAddressForMdlSafe + a copy at `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
        let system = self.system_address()?;
        // SAFETY: the mapping covers ByteCount bytes of the locked buffer.
        unsafe { write_checked(system.as_ptr(), self.len(), offset, data) }
    }

    /// MmGetMdlByteCount.
    pub fn len(&self) -> usize {
        // SAFETY: the MDL is live until the IRP completes (type invariant).
        unsafe { (*self.raw.as_ptr()).ByteCount as usize }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SystemBuffer {
    /// The buffer's start (kernel memory the I/O manager allocated).
    pub(super) fn start(&self) -> NonNull<u8> {
        self.start
    }

    pub fn write(&self, offset: usize, data: &[u8]) -> Result<(), NtStatus> {
        // SAFETY: the system buffer holds at least the output length the stack location
        // names (the I/O manager sized it), until completion.
        unsafe { write_checked(self.start.as_ptr(), self.len, offset, data) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// IoGetTopLevelIrp / IoSetTopLevelIrp around a request: `enter` makes the IRP the thread's
/// top-level IRP if none is set (nor the cache manager's marker), and the drop clears it. A
/// request that finds one set is recursive (`is_top_level` is false). The stored pointer is
/// never dereferenced by us; it is cleared before the thread leaves our dispatch routine.
pub struct TopLevelIrp {
    owned: bool,
}

impl TopLevelIrp {
    pub fn enter(irp: &Irp) -> TopLevelIrp {
        // SAFETY: the top-level IRP is the current thread's own slot; reading and setting it
        // is what every file system's FSD entry does.
        let owned = unsafe {
            if wdk_sys::ntddk::IoGetTopLevelIrp().is_null() {
                wdk_sys::ntddk::IoSetTopLevelIrp(irp.raw());
                true
            } else {
                false
            }
        };
        TopLevelIrp { owned }
    }

    pub fn is_top_level(&self) -> bool {
        self.owned
    }
}

impl Drop for TopLevelIrp {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: as in enter; only the value this guard set is taken back.
            unsafe { wdk_sys::ntddk::IoSetTopLevelIrp(ptr::null_mut()) };
        }
    }
}
