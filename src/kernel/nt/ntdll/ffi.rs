//! The ntdll.dll exports `filetest.exe` calls, declared by hand (linked through mingw-w64's
//! libntdll.a). Signatures from the Learn pages of each routine (wdm.h / ntifs.h / winternl.h);
//! a BOOLEAN is a u8, a HANDLE a pointer-sized value.

use core::ffi::c_void;

pub type Handle = *mut c_void;

/// UNICODE_STRING: lengths in bytes.
#[repr(C)]
pub struct UnicodeString {
    pub length: u16,
    pub maximum_length: u16,
    pub buffer: *const u16,
}

/// OBJECT_ATTRIBUTES (InitializeObjectAttributes).
#[repr(C)]
pub struct ObjectAttributes {
    pub length: u32,
    pub root_directory: Handle,
    pub object_name: *const UnicodeString,
    pub attributes: u32,
    pub security_descriptor: *mut c_void,
    pub security_quality_of_service: *mut c_void,
}

/// IO_STATUS_BLOCK: the Status/Pointer union, then Information.
#[repr(C)]
pub struct IoStatusBlock {
    pub status: usize,
    pub information: usize,
}

pub const OBJ_CASE_INSENSITIVE: u32 = 0x40;
pub const DUPLICATE_CLOSE_SOURCE: u32 = 1;
pub const DUPLICATE_SAME_ACCESS: u32 = 2;
pub const SE_LOAD_DRIVER_PRIVILEGE: u32 = 10;
/// SE_BACKUP_PRIVILEGE and SE_RESTORE_PRIVILEGE (wdm.h).
pub const SE_BACKUP_PRIVILEGE: u32 = 17;
pub const SE_RESTORE_PRIVILEGE: u32 = 18;
/// Section access (wdm.h): query and map for reading.
pub const SECTION_QUERY: u32 = 0x0001;
pub const SECTION_MAP_READ: u32 = 0x0004;
/// Page protection (winnt.h).
pub const PAGE_READONLY: u32 = 0x02;
/// Section allocation attributes (winnt.h).
pub const SEC_IMAGE: u32 = 0x0100_0000;
pub const SEC_COMMIT: u32 = 0x0800_0000;
/// EVENT_ALL_ACCESS (winnt.h) and EVENT_TYPE's NotificationEvent.
pub const EVENT_ALL_ACCESS: u32 = 0x001F_0003;
pub const NOTIFICATION_EVENT: u32 = 0;
/// SECTION_INHERIT: the view is not mapped into child processes.
pub const VIEW_UNMAP: u32 = 2;

#[link(name = "ntdll")]
unsafe extern "system" {
    pub fn NtCreateFile(
        file_handle: *mut Handle,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        io_status_block: *mut IoStatusBlock,
        allocation_size: *const i64,
        file_attributes: u32,
        share_access: u32,
        create_disposition: u32,
        create_options: u32,
        ea_buffer: *mut c_void,
        ea_length: u32,
    ) -> i32;
    pub fn NtClose(handle: Handle) -> i32;
    pub fn NtReadFile(
        file_handle: Handle,
        event: Handle,
        apc_routine: *mut c_void,
        apc_context: *mut c_void,
        io_status_block: *mut IoStatusBlock,
        buffer: *mut c_void,
        length: u32,
        byte_offset: *const i64,
        key: *const u32,
    ) -> i32;
    pub fn NtQueryInformationFile(
        file_handle: Handle,
        io_status_block: *mut IoStatusBlock,
        file_information: *mut c_void,
        length: u32,
        file_information_class: u32,
    ) -> i32;
    pub fn NtQueryDirectoryFile(
        file_handle: Handle,
        event: Handle,
        apc_routine: *mut c_void,
        apc_context: *mut c_void,
        io_status_block: *mut IoStatusBlock,
        file_information: *mut c_void,
        length: u32,
        file_information_class: u32,
        return_single_entry: u8,
        file_name: *const UnicodeString,
        restart_scan: u8,
    ) -> i32;
    pub fn NtQueryVolumeInformationFile(
        file_handle: Handle,
        io_status_block: *mut IoStatusBlock,
        fs_information: *mut c_void,
        length: u32,
        fs_information_class: u32,
    ) -> i32;
    pub fn NtFsControlFile(
        file_handle: Handle,
        event: Handle,
        apc_routine: *mut c_void,
        apc_context: *mut c_void,
        io_status_block: *mut IoStatusBlock,
        fs_control_code: u32,
        input_buffer: *mut c_void,
        input_buffer_length: u32,
        output_buffer: *mut c_void,
        output_buffer_length: u32,
    ) -> i32;
    pub fn NtWaitForSingleObject(handle: Handle, alertable: u8, timeout: *const i64) -> i32;
    pub fn NtDuplicateObject(
        source_process_handle: Handle,
        source_handle: Handle,
        target_process_handle: Handle,
        target_handle: *mut Handle,
        desired_access: u32,
        handle_attributes: u32,
        options: u32,
    ) -> i32;
    pub fn NtCreateSection(
        section_handle: *mut Handle,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        maximum_size: *const i64,
        section_page_protection: u32,
        allocation_attributes: u32,
        file_handle: Handle,
    ) -> i32;
    pub fn NtMapViewOfSection(
        section_handle: Handle,
        process_handle: Handle,
        base_address: *mut *mut c_void,
        zero_bits: usize,
        commit_size: usize,
        section_offset: *mut i64,
        view_size: *mut usize,
        inherit_disposition: u32,
        allocation_type: u32,
        win32_protect: u32,
    ) -> i32;
    pub fn NtUnmapViewOfSection(process_handle: Handle, base_address: *mut c_void) -> i32;
    pub fn NtReadVirtualMemory(
        process_handle: Handle,
        base_address: *const c_void,
        buffer: *mut c_void,
        number_of_bytes_to_read: usize,
        number_of_bytes_read: *mut usize,
    ) -> i32;
    pub fn NtCreateEvent(
        event_handle: *mut Handle,
        desired_access: u32,
        object_attributes: *const ObjectAttributes,
        event_type: u32,
        initial_state: u8,
    ) -> i32;
    pub fn NtNotifyChangeDirectoryFile(
        file_handle: Handle,
        event: Handle,
        apc_routine: *mut c_void,
        apc_context: *mut c_void,
        io_status_block: *mut IoStatusBlock,
        buffer: *mut c_void,
        length: u32,
        completion_filter: u32,
        watch_tree: u8,
    ) -> i32;
    pub fn NtCancelIoFileEx(
        file_handle: Handle,
        io_request_to_cancel: *mut IoStatusBlock,
        io_status_block: *mut IoStatusBlock,
    ) -> i32;
    pub fn NtTerminateProcess(process_handle: Handle, exit_status: i32) -> i32;
    pub fn NtLoadDriver(driver_service_name: *const UnicodeString) -> i32;
    pub fn NtUnloadDriver(driver_service_name: *const UnicodeString) -> i32;
    pub fn RtlAdjustPrivilege(
        privilege: u32,
        enable: u8,
        current_thread: u8,
        was_enabled: *mut u8,
    ) -> i32;
}

/// NtCurrentProcess(): the pseudo-handle -1.
pub fn current_process() -> Handle {
    usize::MAX as Handle
}
