//! Compile-time agreement of the two backends (`nt` and `model`) on every boundary item.
//!
//! Compiled for both backends and never called. Each non-generic method is coerced to a fn
//! pointer of its exact signature, each generic one is called with explicit types, enums are
//! matched exhaustively and structs built field by field, so a signature that differs between
//! the backends is a compile error in one of the two builds (the linker may strip unused items
//! from the .sys, but it cannot strip a type error).
//! Deliberately absent: `UserBuffer::write` (model only; the driver never touches user memory).
//! `FcbArc` and `PoolArc` have no raw-pointer conversions at the boundary: FsContext and
//! FsContext2 are reached only through `FileObject::{attach,detach}_{fcb,ccb}` and `fcb`/`ccb`.

#![allow(dead_code)]

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Debug;

use crate::driver::DriverGlobals;
use crate::kernel::TopLevelIrp;
use crate::kernel::debug_output::DebugLine;
use crate::kernel::{
    APC_LEVEL, ControlDevice, CreateParameters, DELETE, DISPATCH_LEVEL, DO_BUFFERED_IO,
    DO_DIRECT_IO, DeviceRef, DriverObject, Event, FILE_APPEND_DATA, FILE_EXECUTE,
    FILE_OPEN_BY_FILE_ID, FILE_OPEN_FOR_BACKUP_INTENT, FILE_READ_DATA, FILE_SHARE_DELETE,
    FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_WRITE_DATA, FO_CLEANUP_COMPLETE,
    FO_NO_INTERMEDIATE_BUFFERING, FO_STREAM_FILE, FO_SYNCHRONOUS_IO, FastIoPossible, FastLock,
    FastMutex, FastMutexGuard, FcbArc, FileAccess, FileObject, FileSizes, FileSystemRegion,
    IRP_MN_MOUNT_VOLUME, IRP_MN_USER_FS_REQUEST, IRP_MN_VERIFY_VOLUME, IoStatus, Irp, IrpMajor,
    IrpParameters, IrqlGuard, Locked, LockedGuard, MAXIMUM_ALLOWED, MAXIMUM_EXPANSION_SIZE,
    MappedBuffer, Mdl, MmFlushType, MountRequest, NotifyList, NotifyName, NtStatus, Oplock,
    OplockCheck, OplockResume, OutputBuffer, PASSIVE_LEVEL, PoolArc, PoolBox, PoolTag, Process,
    Resource, ResourceGuard, SE_BACKUP_PRIVILEGES_CHECKED, ShareAccess, SpareVpb, StackFrame,
    StreamFileObject, SystemBuffer, TOKEN_HAS_BACKUP_PRIVILEGE, TOKEN_HAS_RESTORE_PRIVILEGE,
    TOKEN_HAS_TRAVERSE_PRIVILEGE, TargetDevice, TargetReference, UserBuffer, VolumeDevice,
    VolumeEvent, WorkItem, cc_copy_read, cc_initialize_cache_map, cc_mdl_read,
    cc_mdl_read_complete, cc_purge_cache_section, cc_uninitialize_cache_map,
    cc_wait_for_current_lazy_writer_activity, charge_stack_frame, current_irql, current_process,
    current_processor, debug_print, enter_cache_top_level, enter_file_system,
    expand_stack_and_callout, file_id_from_name, has_private_cache_map, leave_cache_top_level,
    mm_flush_image_section, processor_count, queue_work_item, raise_irql, remaining_stack,
};

/// A value for the generic items.
struct Probe(u32);

fn handle<T: Copy + Eq + Debug + Send + Sync>() {}
fn sendable<T: Send>() {}
fn shared<T: Clone + Send + Sync>() {}
fn lock<T: Default + Send + Sync>() {}
fn primitive<T: Send + Sync>() {}
fn plain<T: Clone + PartialEq + Debug>() {}
fn debug<T: Debug>() {}

fn traits() {
    handle::<DeviceRef>();
    handle::<FileObject>();
    handle::<TargetDevice>();
    handle::<MountRequest>();
    handle::<Mdl>();
    handle::<SystemBuffer>();
    handle::<UserBuffer>();
    handle::<OutputBuffer>();
    handle::<PoolTag>();
    handle::<ShareAccess>();
    handle::<FileAccess>();
    sendable::<Irp>();
    sendable::<PoolBox<Probe>>();
    shared::<Event>();
    shared::<PoolArc<Probe>>();
    shared::<FcbArc<Probe>>();
    primitive::<Resource>();
    primitive::<FastMutex>();
    primitive::<Locked<Probe>>();
    primitive::<StreamFileObject>();
    primitive::<SpareVpb>();
    lock::<ShareAccess>();
    lock::<CreateParameters>();
    plain::<CreateParameters>();
    plain::<IrpParameters>();
    debug::<VolumeDevice>();
}

fn driver_and_devices() {
    let _: fn(&mut DriverObject, &str, DriverGlobals) -> Result<ControlDevice, NtStatus> =
        DriverObject::create_control_device;
    let _: fn(&DriverObject) -> Option<ControlDevice> = DriverObject::control_device;
    let _: fn(&mut DriverObject) = DriverObject::install_dispatch;
    let _: fn(&mut DriverObject) = DriverObject::install_fast_io;
    let _: fn(&mut DriverObject) -> Result<(), NtStatus> =
        DriverObject::register_section_sync_callbacks;
    let _: fn(&mut DriverObject, bool) = DriverObject::set_unload_allowed;
    let _: fn(&mut DriverObject, &MountRequest, Probe) -> Result<VolumeDevice, NtStatus> =
        DriverObject::create_volume_device::<Probe>;
    let _: fn(&ControlDevice) = ControlDevice::register_file_system;
    let _: fn(&ControlDevice) = ControlDevice::unregister_file_system;
    let _: fn(&ControlDevice) -> Result<(), NtStatus> =
        ControlDevice::register_shutdown_notification;
    let _: fn(&ControlDevice) = ControlDevice::unregister_shutdown_notification;
    let _: fn(&DriverObject, &str) -> Option<u32> = DriverObject::parameter_u32;
    let _: fn(&ControlDevice) -> &DriverGlobals = ControlDevice::globals;
    let _: fn(ControlDevice) = ControlDevice::delete;
    let _: fn(&DeviceRef) -> bool = DeviceRef::is_control_device;
    let _: fn(&DeviceRef) -> Option<DriverObject> = DeviceRef::driver_object;
    let _: fn(DeviceRef) -> Option<VolumeDevice> = VolumeDevice::from_device;
    let _: fn(&VolumeDevice) -> DeviceRef = VolumeDevice::device;
    let _: fn(VolumeDevice) = VolumeDevice::delete;
    let _: fn(&VolumeDevice, u32, &[u16]) = VolumeDevice::set_vpb_identity;
    let _: fn(&VolumeDevice, bool) = VolumeDevice::set_vpb_locked;
    let _: fn(&TargetDevice, u64, &mut [u8]) -> Result<usize, NtStatus> = TargetDevice::read;
    let _: fn(&TargetDevice, u64, usize) -> u32 = TargetDevice::transfers;
    let _: fn(&TargetDevice) -> u64 = TargetDevice::length;
    let _: fn(&TargetDevice) -> u32 = TargetDevice::sector_size;
    let _: fn(&TargetDevice) = TargetDevice::clear_verify_required;
    let _: [u32; 2] = [DO_BUFFERED_IO, DO_DIRECT_IO];
}

fn device_extension(device: DeviceRef) -> Option<u32> {
    device.with_extension::<Probe, u32>(|probe: &Probe| probe.0)
}

fn mount_target(mount: &MountRequest) -> TargetDevice {
    mount.target
}

fn irp() {
    let _: fn(&Irp) -> Option<IrpMajor> = Irp::major;
    let _: fn(&Irp) -> u8 = Irp::minor;
    let _: fn(&Irp) -> u32 = Irp::flags;
    let _: fn(&Irp) -> Option<DeviceRef> = Irp::device;
    let _: fn(&Irp) -> TopLevelIrp = TopLevelIrp::enter;
    let _: fn(&TopLevelIrp) -> bool = TopLevelIrp::is_top_level;
    let _: fn(&Irp) -> IrpParameters = Irp::parameters;
    let _: fn(&Irp) -> Option<CreateParameters> = Irp::create_parameters;
    let _: fn(&Irp) -> Option<MountRequest> = Irp::mount_request;
    let _: fn(&Irp) -> Option<FileObject> = Irp::file_object;
    let _: fn(&mut Irp, usize) = Irp::set_information;
    let _: fn(&Irp) -> u64 = Irp::trace_id;
    let _: fn(&FileObject) -> u64 = FileObject::trace_id;
    let _: fn(u32, u32, &DebugLine) = debug_print;
    type WorkRoutine = fn(DeviceRef);
    let _: fn(WorkRoutine) -> Result<WorkItem, NtStatus> = WorkItem::try_new;
    let _: fn(&WorkItem, DeviceRef) = WorkItem::queue;
    sendable::<WorkItem>();
    let _: fn(&Irp) -> OutputBuffer = Irp::output_buffer;
    let _: fn(&mut Irp) = Irp::mark_pending;
    let _: fn(&mut Irp, u32) -> Result<(), NtStatus> = Irp::lock_user_buffer;
    let _: fn(&mut Irp) -> Result<MappedBuffer<'_>, NtStatus> = Irp::map_output;
    let _: fn(Irp, NtStatus) -> NtStatus = Irp::complete;
    let _: fn(Irp, u32, &[u8]) -> NtStatus = Irp::complete_reparse;
    let _: fn(&Irp) -> Option<MountRequest> = Irp::verify_request;
    let _: fn(IrpParameters) -> Option<MountRequest> = IrpParameters::into_verify;
    let _: fn(&CreateParameters) -> bool = CreateParameters::open_by_file_id;
    let _: fn(&Irp, &[u8], u32, u32) -> Result<u32, NtStatus> = Irp::check_access;
    let _: fn(&mut Irp, u32) = Irp::grant_access;
    let _: [u32; 6] = [
        TOKEN_HAS_TRAVERSE_PRIVILEGE,
        TOKEN_HAS_BACKUP_PRIVILEGE,
        TOKEN_HAS_RESTORE_PRIVILEGE,
        SE_BACKUP_PRIVILEGES_CHECKED,
        FILE_OPEN_FOR_BACKUP_INTENT,
        MAXIMUM_ALLOWED,
    ];
    let _: fn(&[u16]) -> Option<u64> = file_id_from_name;
    let _: fn(&Mdl, usize, &[u8]) -> Result<(), NtStatus> = Mdl::write;
    let _: fn(&Mdl) -> usize = Mdl::len;
    let _: fn(&Mdl) -> bool = Mdl::is_empty;
    let _: fn(&SystemBuffer, usize, &[u8]) -> Result<(), NtStatus> = SystemBuffer::write;
    let _: fn(&SystemBuffer) -> usize = SystemBuffer::len;
    let _: fn(&SystemBuffer) -> bool = SystemBuffer::is_empty;
    let _: [u8; 3] = [
        IRP_MN_MOUNT_VOLUME,
        IRP_MN_USER_FS_REQUEST,
        IRP_MN_VERIFY_VOLUME,
    ];
    let _: u32 = FILE_OPEN_BY_FILE_ID;
}

fn create_parameters() -> CreateParameters {
    CreateParameters {
        desired_access: 0u32,
        share_access: 0u16,
        disposition: 0u32,
        options: 0u32,
        file_attributes: 0u16,
        allocation_size: 0u64,
        ea_length: 0u32,
        stack_flags: 0u8,
        remaining_desired_access: 0u32,
        previously_granted_access: 0u32,
        access_flags: 0u32,
    }
}

fn irp_parameters(parameters: IrpParameters) {
    match parameters {
        IrpParameters::Create(create) => {
            let _: CreateParameters = create;
        }
        IrpParameters::Read { offset, length } => {
            let _: (u64, u32) = (offset, length);
        }
        IrpParameters::QueryInformation { class, length } => {
            let _: (u32, u32) = (class, length);
        }
        IrpParameters::SetInformation { class, input } => {
            let _: (u32, Vec<u8>) = (class, input);
        }
        IrpParameters::QueryDirectory {
            class,
            length,
            pattern,
            flags,
            index,
        } => {
            let _: (u32, u32, Option<Vec<u16>>, u8, u32) = (class, length, pattern, flags, index);
        }
        IrpParameters::QueryVolumeInformation { class, length } => {
            let _: (u32, u32) = (class, length);
        }
        IrpParameters::NotifyDirectory { filter, watch_tree } => {
            let _: (u32, bool) = (filter, watch_tree);
        }
        IrpParameters::FileSystemControl {
            code,
            input,
            output_length,
        } => {
            let _: (u32, Vec<u8>, u32) = (code, input, output_length);
        }
        IrpParameters::QuerySecurity {
            information,
            length,
        } => {
            let _: (u32, u32) = (information, length);
        }
        IrpParameters::LockControl {
            offset,
            length,
            key,
            flags,
        } => {
            let _: (u64, u64, u32, u8) = (offset, length, key, flags);
        }
        IrpParameters::QueryEa {
            length,
            ea_list,
            index,
            flags,
        } => {
            let _: (u32, Option<Vec<u8>>, u32, u8) = (length, ea_list, index, flags);
        }
        IrpParameters::SetEa => {}
        IrpParameters::SetSecurity { information } => {
            let _: u32 = information;
        }
        IrpParameters::Mount(mount) => {
            let _: MountRequest = mount;
        }
        IrpParameters::VerifyVolume(verify) => {
            let _: MountRequest = verify;
        }
        IrpParameters::None => {}
    }
}

fn output_buffer(buffer: OutputBuffer) {
    match buffer {
        OutputBuffer::None => {}
        OutputBuffer::System(system) => {
            let _: SystemBuffer = system;
        }
        OutputBuffer::Mdl(mdl) => {
            let _: Mdl = mdl;
        }
        OutputBuffer::User(user) => {
            let _: UserBuffer = user;
        }
    }
}

fn file_object() {
    let _: fn(&FileObject, FcbArc<Probe>) -> Result<(), FcbArc<Probe>> =
        FileObject::attach_fcb::<Probe>;
    let _: fn(&FileObject) -> Option<FcbArc<Probe>> = FileObject::detach_fcb::<Probe>;
    let _: fn(&FileObject) -> Option<FcbArc<Probe>> = FileObject::fcb::<Probe>;
    let _: fn(&FileObject, PoolArc<Probe>) -> Result<(), PoolArc<Probe>> =
        FileObject::attach_ccb::<Probe>;
    let _: fn(&FileObject) -> Option<PoolArc<Probe>> = FileObject::detach_ccb::<Probe>;
    let _: fn(&FileObject) -> Option<PoolArc<Probe>> = FileObject::ccb::<Probe>;
    let _: fn(&FileObject) -> u32 = FileObject::flags;
    let _: u32 = FO_NO_INTERMEDIATE_BUFFERING;
    let _: fn(&FileObject) -> bool = has_private_cache_map;
    let _: fn(&FileObject, FileSizes) -> Result<(), NtStatus> = cc_initialize_cache_map;
    let _: fn(&FileObject, u64, usize, &OutputBuffer, usize) -> Result<usize, NtStatus> =
        cc_copy_read;
    let _: fn(&FileObject, u64, usize, &Irp) -> Result<usize, NtStatus> = cc_mdl_read;
    let _: fn(&FileObject, &Irp) = cc_mdl_read_complete;
    let _: fn(&FileObject) -> bool = cc_uninitialize_cache_map;
    let _: fn() -> NtStatus = cc_wait_for_current_lazy_writer_activity;
    let _: fn() -> bool = enter_cache_top_level;
    let _: fn() = leave_cache_top_level;
    let _: fn(&FcbArc<Probe>) -> bool = cc_purge_cache_section::<Probe>;
    let _: fn(&FcbArc<Probe>, MmFlushType) -> bool = mm_flush_image_section::<Probe>;
    match MmFlushType::ForDelete {
        MmFlushType::ForDelete | MmFlushType::ForWrite => {}
    }
    let _: fn(&FileObject, u32) = FileObject::set_flags;
    let _: fn(&FileObject, VolumeEvent) = FileObject::notify_volume_event;
    let _: fn(&FileObject) -> Vec<u16> = FileObject::file_name;
    let _: fn(&FileObject) -> Option<FileObject> = FileObject::related_file_object;
    let _: fn(&FileObject) -> u64 = FileObject::current_byte_offset;
    let _: fn(&FileObject, u64) = FileObject::set_current_byte_offset;
    let _: [u32; 3] = [FO_SYNCHRONOUS_IO, FO_CLEANUP_COMPLETE, FO_STREAM_FILE];
}

fn share_access() {
    let _: fn(&mut ShareAccess, u32, u16, &FileObject, bool) -> Result<(), NtStatus> =
        ShareAccess::check;
    let _: fn(&mut ShareAccess, u32, u16, &FileObject) = ShareAccess::set;
    let _: fn(&mut ShareAccess, &FileObject) = ShareAccess::update;
    let _: fn(&mut ShareAccess, &FileObject) = ShareAccess::remove_file_object;
    let _: fn(&ShareAccess, &FileAccess) -> bool = ShareAccess::conflicts;
    let _: fn(&mut ShareAccess, &FileAccess) = ShareAccess::add;
    let _: fn(&mut ShareAccess, &FileAccess) = ShareAccess::remove;
    let _: fn(u32, u16) -> FileAccess = FileAccess::from_request;
    let _ = ShareAccess {
        open_count: 0u32,
        readers: 0u32,
        writers: 0u32,
        deleters: 0u32,
        shared_read: 0u32,
        shared_write: 0u32,
        shared_delete: 0u32,
    };
    let _ = FileAccess {
        read: false,
        write: false,
        delete: false,
        shared_read: false,
        shared_write: false,
        shared_delete: false,
    };
    let _: [u32; 5] = [
        FILE_READ_DATA,
        FILE_WRITE_DATA,
        FILE_APPEND_DATA,
        FILE_EXECUTE,
        DELETE,
    ];
    let _: [u16; 3] = [FILE_SHARE_READ, FILE_SHARE_WRITE, FILE_SHARE_DELETE];
}

fn pool() {
    let tag = PoolTag(*b"RfTs");
    let _: fn(&PoolTag) -> String = PoolTag::as_string;
    let _: fn(PoolTag, Probe) -> Result<PoolBox<Probe>, NtStatus> = PoolBox::<Probe>::try_new;
    let _: fn(PoolTag, Probe) -> Result<PoolArc<Probe>, NtStatus> = PoolArc::<Probe>::try_new;
    let _ = tag;
}

fn pool_access(boxed: &mut PoolBox<Probe>, counted: &PoolArc<Probe>) -> u32 {
    boxed.0 = counted.0;
    boxed.0
}

fn fcb() {
    let _: fn(PoolTag, Probe) -> Result<FcbArc<Probe>, NtStatus> = FcbArc::<Probe>::try_new;
    let _: fn(&FcbArc<Probe>) -> FileSizes = FcbArc::<Probe>::file_sizes;
    let _: fn(&FcbArc<Probe>, FileSizes) = FcbArc::<Probe>::set_file_sizes;
    let _: fn(&FcbArc<Probe>) -> FastIoPossible = FcbArc::<Probe>::fast_io_possible;
    let _: fn(&FcbArc<Probe>, FastIoPossible) = FcbArc::<Probe>::set_fast_io_possible;
    let _: fn(&FcbArc<Probe>) -> &Resource = FcbArc::<Probe>::resource;
    let _: fn(&FcbArc<Probe>) -> bool = FcbArc::<Probe>::is_unique;
    let _: fn(&FcbArc<Probe>) -> &Oplock = FcbArc::<Probe>::oplock;
    let _: fn(&FcbArc<Probe>) -> bool = FcbArc::<Probe>::has_byte_range_locks;
    let _: fn(&FcbArc<Probe>, &Irp) = FcbArc::<Probe>::unlock_all;
    let _: fn(&FcbArc<Probe>, Irp) -> NtStatus = FcbArc::<Probe>::process_file_lock;
    let _: fn(&FcbArc<Probe>, &Irp) -> bool = FcbArc::<Probe>::check_lock_for_read;
    let _: fn(&FcbArc<Probe>) -> bool = FcbArc::<Probe>::has_file_locks;
    let _: fn(&FcbArc<Probe>, &FileObject, u64, u32, u32, Process) -> bool =
        FcbArc::<Probe>::fast_check_lock_for_read;
    let _: fn(&FcbArc<Probe>, &FileObject, FastLock, Process) -> Option<IoStatus> =
        FcbArc::<Probe>::fast_lock;
    let _: fn(&FcbArc<Probe>, &FileObject, u64, u64, Process, u32) -> NtStatus =
        FcbArc::<Probe>::fast_unlock_single;
    let _: fn(&FcbArc<Probe>, &FileObject, Process, Option<u32>) -> NtStatus =
        FcbArc::<Probe>::fast_unlock_all;
    let _: fn() -> Process = current_process;
    handle::<Process>();
    let _: fn(FastIoPossible) -> u8 = FastIoPossible::as_raw;
    let _: fn(u8) -> FastIoPossible = FastIoPossible::from_raw;
    let _ = FileSizes {
        allocation_size: 0u64,
        file_size: 0u64,
        valid_data_length: 0u64,
    };
}

fn oplock() {
    let _: fn(&Oplock, Irp, u32) -> NtStatus = Oplock::fsctrl;
    let _: fn(&Oplock, Irp, OplockResume) -> OplockCheck = Oplock::check;
    let _: fn(&Oplock, &Irp) = Oplock::cleanup;
    let _: fn(&Oplock) -> bool = Oplock::is_fast_io_possible;
    let _: fn(&Oplock) -> bool = Oplock::current_batch_oplock;
    let _: fn(Irp, NtStatus) = resume_probe;
    let _: OplockResume = resume_probe;
}

fn resume_probe(_: Irp, _: NtStatus) {}

fn oplock_check(check: OplockCheck) -> Option<(Irp, NtStatus)> {
    match check {
        OplockCheck::Proceed(irp, status) => Some((irp, status)),
        OplockCheck::Pending => None,
    }
}

fn fcb_access(fcb: &FcbArc<Probe>) -> u32 {
    fcb.0
}

fn fast_io(value: FastIoPossible) {
    match value {
        FastIoPossible::NotPossible | FastIoPossible::Possible | FastIoPossible::Questionable => {}
    }
}

fn ex_ke() {
    let _: fn() -> Result<Resource, NtStatus> = Resource::try_new;
    let _: fn(&Resource, bool) -> Option<ResourceGuard<'_>> = Resource::acquire_exclusive;
    let _: fn(&Resource, bool) -> Option<ResourceGuard<'_>> = Resource::acquire_shared;
    let _: fn(&Resource, bool) -> Option<ResourceGuard<'_>> =
        Resource::acquire_shared_starve_exclusive;
    let _: fn(&Resource, bool) -> Option<ResourceGuard<'_>> =
        Resource::acquire_shared_wait_for_exclusive;
    let _: fn(&Resource) -> bool = Resource::is_acquired_exclusive;
    let _: fn(Option<ResourceGuard<'_>>) = |guard| {
        if let Some(guard) = guard {
            guard.hand_to_fsrtl();
        }
    };
    let _: fn(Option<ResourceGuard<'_>>) = |guard| {
        if let Some(guard) = guard {
            guard.hand_to_cache_manager();
        }
    };
    let _: fn(&Resource) = Resource::release_for_cache_manager;
    let _: fn() -> Result<FastMutex, NtStatus> = FastMutex::try_new;
    let _: fn(&FastMutex) -> Option<FastMutexGuard<'_>> = FastMutex::acquire;
    let _: fn(bool) -> Result<Event, NtStatus> = Event::try_notification;
    let _: fn(bool) -> Result<Event, NtStatus> = Event::try_synchronization;
    let _: fn(&Event) = Event::set;
    let _: fn(&Event) = Event::clear;
    let _: fn(&Event) -> bool = Event::is_signaled;
    let _: fn(&Event) -> bool = Event::wait;
}

fn change_notification() {
    let _: fn() -> Result<NotifyList, NtStatus> = NotifyList::try_new;
    /// A watch answers STATUS_PENDING, or hands the IRP back with the status FsRtl raised.
    type Watched = Result<NtStatus, (Irp, NtStatus)>;
    let _: fn(&NotifyList, &FileObject, &NotifyName, bool, u32, Irp) -> Watched = NotifyList::watch;
    let _: fn(&NotifyList, &FileObject) = NotifyList::cleanup;
    let _: fn(&[u16]) -> Result<NotifyName, NtStatus> = NotifyName::try_new;
}

fn locked() {
    let _: fn(Probe) -> Result<Locked<Probe>, NtStatus> = Locked::<Probe>::try_new;
    let _: fn(&Locked<Probe>) -> Option<LockedGuard<'_, Probe>> = Locked::<Probe>::lock;
    let _: fn(&Locked<Probe>) -> Option<LockedGuard<'_, Probe>> = Locked::<Probe>::try_lock;
    let _: fn(&mut Locked<Probe>) -> &mut Probe = Locked::<Probe>::get_mut;
}

fn locked_access(guard: &mut LockedGuard<'_, Probe>) -> u32 {
    guard.0 += 1;
    guard.0
}

fn stream_file_object() {
    let _: fn(&VolumeDevice) -> Result<StreamFileObject, NtStatus> = StreamFileObject::try_create;
    let _: fn(&StreamFileObject) -> FileObject = StreamFileObject::file_object;
}

fn volume_parameter_block() {
    let _: fn() -> Result<SpareVpb, NtStatus> = SpareVpb::try_new;
    let _: fn(&VolumeDevice) = VolumeDevice::reference_vpb;
    let _: fn(&VolumeDevice, Option<SpareVpb>) -> Option<SpareVpb> = VolumeDevice::retire_vpb;
    let _: fn(&VolumeDevice) -> bool = VolumeDevice::release_vpb;
    let _: fn(&ControlDevice) -> DeviceRef = ControlDevice::device;
    let _: fn(&ControlDevice) = ControlDevice::set_low_priority;
}

fn target_reference(target: TargetDevice) {
    let reference: TargetReference = target.reference();
    sendable::<TargetReference>();
    drop(reference);
}

fn media_change(irp: Irp, target: TargetDevice) -> NtStatus {
    let _: TargetDevice = target.with_verify_override();
    let _: bool = target.verify_required();
    let _: NtStatus = target.verify_volume();
    irp.complete_remount()
}

fn forwarding(mut irp: Irp, target: TargetDevice) -> NtStatus {
    let _: NtStatus = irp.forward_and_wait(target);
    irp.forward(target)
}

fn spare_vpb_drop(spare: SpareVpb) {
    drop(spare);
}

fn stream_file_object_drop(stream: StreamFileObject) {
    drop(stream);
}

fn work_item<F: FnOnce() + Send + 'static>(routine: F) -> Result<(), (NtStatus, F)> {
    queue_work_item::<F>(routine)
}

fn work_item_closure(event: Event) {
    if let Err((status, routine)) = queue_work_item(move || event.set()) {
        let _: NtStatus = status;
        routine();
    }
}

fn fsrtl() {
    let _: fn() -> FileSystemRegion = enter_file_system;
}

fn irql_and_stack() -> Result<u32, NtStatus> {
    let _: fn() -> u8 = current_irql;
    let _: fn() -> u32 = processor_count;
    let _: fn() -> u32 = current_processor;
    let _: fn(u8) -> IrqlGuard = raise_irql;
    let _: fn() -> usize = remaining_stack;
    let _: fn(usize) -> StackFrame = charge_stack_frame;
    let _: usize = MAXIMUM_EXPANSION_SIZE;
    let _: [u8; 3] = [PASSIVE_LEVEL, APC_LEVEL, DISPATCH_LEVEL];
    expand_stack_and_callout(0x1000usize, || 7u32)
}

/// A mapped output buffer is the IRP's bytes, writable in place.
fn mapped_bytes<'a>(mapped: &'a mut MappedBuffer<'_>) -> &'a mut [u8] {
    mapped
}
