//! Layout assertions: the kernel structures this backend touches, checked at compile time
//! against the real Windows 10/11 x64 layouts (docs/kernel-layouts.md gives the sources).
//!
//! The Linux build's bindings come from mingw-w64 headers, which lag the WDK: a structure whose
//! size matters to us (we allocate it, embed it, or pass its size) must match exactly; for one
//! that only the kernel allocates, every field offset we use must match. Known mingw-w64 gaps
//! are asserted as such, so a fixed header shows up as a failed assertion to revisit.

use core::mem::{align_of, offset_of, size_of};

use wdk_sys::{
    CACHE_MANAGER_CALLBACKS, DEVICE_OBJECT, DRIVER_OBJECT, ERESOURCE, FAST_MUTEX, FILE_OBJECT,
    FS_FILTER_CALLBACK_DATA, FS_FILTER_CALLBACKS, FSRTL_ADVANCED_FCB_HEADER,
    IO_CREATE_STREAM_FILE_LITE, IO_CREATE_STREAM_FILE_OPTIONS,
    IO_CREATE_STREAM_FILE_RAISE_ON_ERROR, IO_SECURITY_CONTEXT, IO_STACK_LOCATION, IRP, KEVENT, MDL,
    SECTION_OBJECT_POINTERS, SHARE_ACCESS, VPB,
};

use super::fcb::{CONTROL_OFFSET, FcbBlock, FcbControl};
use super::fsrtl::{AdvancedFcbHeader, FcbHeader};
use crate::kernel::access::ShareAccess;

macro_rules! assert_size {
    ($ty:ty, $size:expr) => {
        const _: () = assert!(
            size_of::<$ty>() == $size,
            concat!("size of ", stringify!($ty))
        );
    };
}

macro_rules! assert_offsets {
    ($ty:ty { $($($field:ident).+ = $offset:expr),+ $(,)? }) => {
        $(
            const _: () = assert!(
                offset_of!($ty, $($field).+) == $offset,
                concat!("offset of ", stringify!($ty), ".", stringify!($($field).+))
            );
        )+
    };
}

// IRP (0xd0): the I/O manager allocates it; we read the stack location and set the status.
assert_size!(IRP, 0xd0);
assert_offsets!(IRP {
    MdlAddress = 0x08,
    Flags = 0x10,
    AssociatedIrp = 0x18,
    IoStatus = 0x30,
    RequestorMode = 0x40,
    PendingReturned = 0x41,
    UserBuffer = 0x70,
    Tail.Overlay.__bindgen_anon_2.__bindgen_anon_1.CurrentStackLocation = 0xb8,
    Tail.Overlay.OriginalFileObject = 0xc0,
    StackCount = 0x42,
    CurrentLocation = 0x43,
    UserIosb = 0x48,
    Overlay.AllocationSize = 0x58,
    Tail.Overlay.Thread = 0x98,
    Tail.Overlay.AuxiliaryBuffer = 0xa0,
});

// IO_STACK_LOCATION (0x48): its size is the stride of IoGetCurrent/NextIrpStackLocation.
assert_size!(IO_STACK_LOCATION, 0x48);
assert_offsets!(IO_STACK_LOCATION {
    MajorFunction = 0x00,
    MinorFunction = 0x01,
    Flags = 0x02,
    Control = 0x03,
    Parameters = 0x08,
    DeviceObject = 0x28,
    FileObject = 0x30,
    CompletionRoutine = 0x38,
    Context = 0x40,
});

// IO_STACK_LOCATION.Parameters members we read or fill (Parameters starts at 0x08).
assert_offsets!(IO_STACK_LOCATION {
    Parameters.Create.SecurityContext = 0x08,
    Parameters.Create.Options = 0x10,
    Parameters.Create.FileAttributes = 0x18,
    Parameters.Create.ShareAccess = 0x1a,
    Parameters.Create.EaLength = 0x20,
    Parameters.Read.Length = 0x08,
    Parameters.Read.ByteOffset = 0x18,
    Parameters.QueryFile.Length = 0x08,
    Parameters.QueryFile.FileInformationClass = 0x10,
    Parameters.QueryDirectory.Length = 0x08,
    Parameters.QueryDirectory.FileName = 0x10,
    Parameters.QueryDirectory.FileInformationClass = 0x18,
    Parameters.QueryDirectory.FileIndex = 0x20,
    Parameters.QueryVolume.Length = 0x08,
    Parameters.QueryVolume.FsInformationClass = 0x10,
    Parameters.FileSystemControl.OutputBufferLength = 0x08,
    Parameters.FileSystemControl.InputBufferLength = 0x10,
    Parameters.FileSystemControl.FsControlCode = 0x18,
    Parameters.FileSystemControl.Type3InputBuffer = 0x20,
    Parameters.DeviceIoControl.OutputBufferLength = 0x08,
    Parameters.DeviceIoControl.InputBufferLength = 0x10,
    Parameters.DeviceIoControl.IoControlCode = 0x18,
    Parameters.MountVolume.Vpb = 0x08,
    Parameters.MountVolume.DeviceObject = 0x10,
});

// IO_SECURITY_CONTEXT (0x18): Parameters.Create.SecurityContext, for DesiredAccess.
assert_size!(IO_SECURITY_CONTEXT, 0x18);
assert_offsets!(IO_SECURITY_CONTEXT {
    AccessState = 0x08,
    DesiredAccess = 0x10,
});

// MDL (0x30): Irp->MdlAddress (MmGetSystemAddressForMdlSafe reads MdlFlags and
// MappedSystemVa, MmGetMdlByteCount reads ByteCount) and the MDLs lower_io allocates.
assert_size!(MDL, 0x30);
assert_offsets!(MDL {
    MdlFlags = 0x0a,
    MappedSystemVa = 0x18,
    StartVa = 0x20,
    ByteCount = 0x28,
    ByteOffset = 0x2c,
});

// KEVENT (0x18): on lower_io's stack, in Event's pool block and inside FAST_MUTEX.
assert_size!(KEVENT, 0x18);

// SHARE_ACCESS (0x1c): `ShareAccess` is passed to IoCheckShareAccess and friends as one.
assert_size!(SHARE_ACCESS, 0x1c);
assert_size!(ShareAccess, 0x1c);
const _: () = assert!(align_of::<ShareAccess>() == align_of::<SHARE_ACCESS>());
assert_offsets!(SHARE_ACCESS {
    OpenCount = 0x00,
    Readers = 0x04,
    Writers = 0x08,
    Deleters = 0x0c,
    SharedRead = 0x10,
    SharedWrite = 0x14,
    SharedDelete = 0x18,
});
assert_offsets!(ShareAccess {
    open_count = 0x00,
    readers = 0x04,
    writers = 0x08,
    deleters = 0x0c,
    shared_read = 0x10,
    shared_write = 0x14,
    shared_delete = 0x18,
});

// FILE_OBJECT (0xd8).
assert_size!(FILE_OBJECT, 0xd8);
assert_offsets!(FILE_OBJECT {
    DeviceObject = 0x08,
    Vpb = 0x10,
    FsContext = 0x18,
    FsContext2 = 0x20,
    SectionObjectPointer = 0x28,
    PrivateCacheMap = 0x30,
    RelatedFileObject = 0x40,
    Flags = 0x50,
    FileName = 0x58,
    CurrentByteOffset = 0x68,
});

// DEVICE_OBJECT: the real structure is DECLSPEC_ALIGN(16), 0x148 bytes of fields padded to
// 0x150; mingw-w64 drops the alignment. We never use its size (DeviceExtension instead).
const _: () = assert!(size_of::<DEVICE_OBJECT>().next_multiple_of(16) == 0x150);
assert_offsets!(DEVICE_OBJECT {
    ReferenceCount = 0x04,
    DriverObject = 0x08,
    NextDevice = 0x10,
    Flags = 0x30,
    Characteristics = 0x34,
    Vpb = 0x38,
    DeviceExtension = 0x40,
    DeviceType = 0x48,
    StackSize = 0x4c,
    AlignmentRequirement = 0x98,
    SectorSize = 0x130,
});

// DRIVER_OBJECT (0x150).
assert_size!(DRIVER_OBJECT, 0x150);
assert_offsets!(DRIVER_OBJECT {
    DeviceObject = 0x08,
    FastIoDispatch = 0x50,
    DriverUnload = 0x68,
    MajorFunction = 0x70,
});

// VPB (0x60).
assert_size!(VPB, 0x60);
assert_offsets!(VPB {
    Flags = 0x04,
    VolumeLabelLength = 0x06,
    DeviceObject = 0x08,
    RealDevice = 0x10,
    SerialNumber = 0x18,
    ReferenceCount = 0x1c,
    VolumeLabel = 0x20,
});

// SECTION_OBJECT_POINTERS (0x18): embedded in our FCB.
assert_size!(SECTION_OBJECT_POINTERS, 0x18);
assert_offsets!(SECTION_OBJECT_POINTERS {
    DataSectionObject = 0x00,
    SharedCacheMap = 0x08,
    ImageSectionObject = 0x10,
});

// ERESOURCE (0x68) and FAST_MUTEX (0x38): in pool blocks of ours and in the FCB header.
// FAST_MUTEX's fields are written by our ExInitializeFastMutex (an inline in the WDK).
assert_size!(ERESOURCE, 0x68);
assert_size!(FAST_MUTEX, 0x38);
assert_offsets!(FAST_MUTEX {
    Count = 0x00,
    Owner = 0x08,
    Contention = 0x10,
    Event = 0x18,
    OldIrql = 0x30,
});

// FSRTL_ADVANCED_FCB_HEADER: the real Windows 10 header (FSRTL_FCB_HEADER_V3) is 0x68 bytes,
// with the Oplock union at 0x58 and ReservedContext at 0x60. mingw-w64 stops at the Vista
// fields (0x58), so the FCB header must be declared by this backend with the real layout, not
// taken from wdk-sys. The shared prefix is checked here.
assert_size!(FSRTL_ADVANCED_FCB_HEADER, 0x58);
assert_offsets!(FSRTL_ADVANCED_FCB_HEADER {
    Resource = 0x08,
    PagingIoResource = 0x10,
    AllocationSize = 0x18,
    FileSize = 0x20,
    ValidDataLength = 0x28,
    FastMutex = 0x30,
    FilterContexts = 0x38,
    PushLock = 0x48,
    FileContextSupportPointer = 0x50,
});

// Our FSRTL_ADVANCED_FCB_HEADER, with the Windows 10 (V3-sized) layout: 0x68 bytes. Its
// shared prefix must agree with mingw-w64's structure (checked above) and its tail with the
// WDK's: Oplock union at 0x58, ReservedContext/AePushLock at 0x60.
assert_size!(AdvancedFcbHeader, 0x68);
const _: () = assert!(align_of::<AdvancedFcbHeader>() == 8);
assert_offsets!(AdvancedFcbHeader {
    node_type_code = 0x00,
    node_byte_size = 0x02,
    flags = 0x04,
    is_fast_io_possible = 0x05,
    flags2 = 0x06,
    reserved_and_version = 0x07,
    resource = 0x08,
    paging_io_resource = 0x10,
    allocation_size = 0x18,
    file_size = 0x20,
    valid_data_length = 0x28,
    fast_mutex = 0x30,
    filter_contexts = 0x38,
    push_lock = 0x48,
    file_context_support_pointer = 0x50,
    oplock = 0x58,
    reserved_context = 0x60,
});
const _: () = assert!(
    offset_of!(AdvancedFcbHeader, file_context_support_pointer)
        == offset_of!(FSRTL_ADVANCED_FCB_HEADER, FileContextSupportPointer)
);
// FcbHeader: the header, then the FAST_MUTEX it points to (0x68 + 0x38).
assert_size!(FcbHeader, 0xa0);
const _: () = assert!(align_of::<FcbHeader>() == 8);

// Our FCB block (FcbArc, kernel/nt/fcb.rs): the header at 0, which FsContext points at (FltMgr
// and FsRtl read it as FSRTL_ADVANCED_FCB_HEADER), the SECTION_OBJECT_POINTERS that
// FileObject->SectionObjectPointer points at, then our control block (type, count, tag, main
// ERESOURCE) at the same offset for every FCB type, then the file system's data.
assert_offsets!(FcbBlock<()> {
    header = 0x00,
    section_object_pointers = 0xa0,
    control = 0xc0,
});
const _: () = assert!(CONTROL_OFFSET == 0xc0);
const _: () = assert!(align_of::<FcbControl>() == 16);
const _: () = assert!(offset_of!(FcbBlock<u128>, data) == 0xc0 + size_of::<FcbControl>());

// FS_FILTER_CALLBACKS: the real structure adds PreQueryOpen/PostQueryOpen (0x78 bytes). FsRtl
// reads SizeOfFsFilterCallbacks to see which callbacks exist, so passing mingw-w64's 0x68 is
// correct: the query-open callbacks are simply absent.
assert_size!(FS_FILTER_CALLBACKS, 0x68);
assert_offsets!(FS_FILTER_CALLBACKS {
    SizeOfFsFilterCallbacks = 0x00,
    PreAcquireForSectionSynchronization = 0x08,
    PostAcquireForSectionSynchronization = 0x10,
    PreReleaseForSectionSynchronization = 0x18,
    PostReleaseForSectionSynchronization = 0x20,
});

// FS_FILTER_CALLBACK_DATA: FsRtl allocates it; we read the section-sync parameters.
assert_offsets!(FS_FILTER_CALLBACK_DATA {
    SizeOfFsFilterCallbackData = 0x00,
    Operation = 0x04,
    DeviceObject = 0x08,
    FileObject = 0x10,
    Parameters.AcquireForSectionSynchronization.SyncType = 0x18,
});

// CACHE_MANAGER_CALLBACKS (0x20): four routines, passed to CcInitializeCacheMap.
assert_size!(CACHE_MANAGER_CALLBACKS, 0x20);
assert_offsets!(CACHE_MANAGER_CALLBACKS {
    AcquireForLazyWrite = 0x00,
    ReleaseFromLazyWrite = 0x08,
    AcquireForReadAhead = 0x10,
    ReleaseFromReadAhead = 0x18,
});

// IO_CREATE_STREAM_FILE_OPTIONS (0x10): ours, passed to IoCreateStreamFileObjectEx2, which
// reads Size. Declared by the kit's ntifs.h shim on Linux, by the WDK's ntifs.h on Windows.
assert_size!(IO_CREATE_STREAM_FILE_OPTIONS, 0x10);
assert_offsets!(IO_CREATE_STREAM_FILE_OPTIONS {
    Size = 0x00,
    Flags = 0x02,
    TargetDeviceObject = 0x08,
});
const _: () = assert!(IO_CREATE_STREAM_FILE_RAISE_ON_ERROR == 0x1);
const _: () = assert!(IO_CREATE_STREAM_FILE_LITE == 0x2);
