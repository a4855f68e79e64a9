//! What a request carries, as plain data shared by both backends: minor codes, IRP_MJ_CREATE's
//! parameters, and the typed parameters of the current stack location.

use alloc::vec::Vec;

use crate::kernel::MountRequest;

/// IRP_MN_MOUNT_VOLUME.
pub const IRP_MN_MOUNT_VOLUME: u8 = 0x01;
/// IRP_MN_USER_FS_REQUEST.
pub const IRP_MN_USER_FS_REQUEST: u8 = 0x00;
/// IRP_MN_VERIFY_VOLUME.
pub const IRP_MN_VERIFY_VOLUME: u8 = 0x02;

/// IRP_MJ_DIRECTORY_CONTROL minor functions.
pub const IRP_MN_QUERY_DIRECTORY: u8 = 0x01;
/// IRP_MN_NOTIFY_CHANGE_DIRECTORY stack location flag: report changes in the whole subtree.
pub const SL_WATCH_TREE: u8 = 0x01;
pub const IRP_MN_NOTIFY_CHANGE_DIRECTORY: u8 = 0x02;

/// IRP_MN_QUERY_DIRECTORY stack location flags.
pub const SL_RESTART_SCAN: u8 = 0x01;
pub const SL_RETURN_SINGLE_ENTRY: u8 = 0x02;
pub const SL_INDEX_SPECIFIED: u8 = 0x04;

/// IRP_MJ_READ minor functions: IRP_MN_MDL asks for the cache's pages as an MDL chain in
/// Irp->MdlAddress (CcMdlRead); IRP_MN_COMPLETE_MDL gives that chain back (CcMdlReadComplete).
pub const IRP_MN_NORMAL: u8 = 0x00;
pub const IRP_MN_MDL: u8 = 0x02;
pub const IRP_MN_COMPLETE: u8 = 0x04;
pub const IRP_MN_COMPLETE_MDL: u8 = IRP_MN_COMPLETE | IRP_MN_MDL;

/// IRP_MJ_LOCK_CONTROL minor functions.
pub const IRP_MN_LOCK: u8 = 0x01;
pub const IRP_MN_UNLOCK_SINGLE: u8 = 0x02;
pub const IRP_MN_UNLOCK_ALL: u8 = 0x03;
pub const IRP_MN_UNLOCK_ALL_BY_KEY: u8 = 0x04;

/// IRP_MN_LOCK stack location flags.
pub const SL_FAIL_IMMEDIATELY: u8 = 0x01;
pub const SL_EXCLUSIVE_LOCK: u8 = 0x02;

/// IRP_MJ_PNP minor functions a file system meets on its volume device.
pub const IRP_MN_QUERY_REMOVE_DEVICE: u8 = 0x01;
pub const IRP_MN_REMOVE_DEVICE: u8 = 0x02;
pub const IRP_MN_CANCEL_REMOVE_DEVICE: u8 = 0x03;
pub const IRP_MN_QUERY_DEVICE_RELATIONS: u8 = 0x07;
pub const IRP_MN_SURPRISE_REMOVAL: u8 = 0x17;
/// The legacy oplock FSCTLs (CTL_CODE(FILE_DEVICE_FILE_SYSTEM, n, METHOD_BUFFERED,
/// FILE_ANY_ACCESS)), answered through FsRtlOplockFsctrl.
pub const FSCTL_REQUEST_OPLOCK_LEVEL_1: u32 = 0x0009_0000;
pub const FSCTL_REQUEST_OPLOCK_LEVEL_2: u32 = 0x0009_0004;
pub const FSCTL_REQUEST_BATCH_OPLOCK: u32 = 0x0009_0008;
pub const FSCTL_OPLOCK_BREAK_ACKNOWLEDGE: u32 = 0x0009_000C;
pub const FSCTL_OPBATCH_ACK_CLOSE_PENDING: u32 = 0x0009_0010;
pub const FSCTL_OPLOCK_BREAK_NOTIFY: u32 = 0x0009_0014;
pub const FSCTL_OPLOCK_BREAK_ACK_NO_2: u32 = 0x0009_0050;
pub const FSCTL_REQUEST_FILTER_OPLOCK: u32 = 0x0009_005C;
/// IoStatus.Information of a completed oplock request: the level it broke to.
pub const FILE_OPLOCK_BROKEN_TO_LEVEL_2: usize = 0x0000_0007;
pub const FILE_OPLOCK_BROKEN_TO_NONE: usize = 0x0000_0008;
/// IoStatus.Information of a CREATE refused while a batch oplock break it started is underway.
pub const FILE_OPBATCH_BREAK_UNDERWAY: usize = 0x0000_0009;
/// Create options the oplock package reads.
pub const FILE_COMPLETE_IF_OPLOCKED: u32 = 0x0000_0100;
pub const FILE_RESERVE_OPFILTER: u32 = 0x0010_0000;

/// Irp->Flags: IRP_NOCACHE (the data bypasses the cache).
pub const IRP_NOCACHE: u32 = 0x0000_0001;
/// Irp->Flags: IRP_PAGING_IO (Mm or Cc filling pages).
pub const IRP_PAGING_IO: u32 = 0x0000_0002;
/// Irp->Flags: IRP_SYNCHRONOUS_PAGING_IO.
pub const IRP_SYNCHRONOUS_PAGING_IO: u32 = 0x0000_0040;
/// FILE_NO_INTERMEDIATE_BUFFERING (create option).
pub const FILE_NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
/// FILE_OPEN_BY_FILE_ID (create option).
pub const FILE_OPEN_BY_FILE_ID: u32 = 0x0000_2000;

/// ACCESS_STATE.Flags (ntifs.h): the caller may pass through directories without
/// FILE_TRAVERSE (SeChangeNotifyPrivilege).
pub const TOKEN_HAS_TRAVERSE_PRIVILEGE: u32 = 0x0001;
/// ACCESS_STATE.Flags: the I/O manager granted read access through SeBackupPrivilege.
pub const TOKEN_HAS_BACKUP_PRIVILEGE: u32 = 0x0002;
/// ACCESS_STATE.Flags: the I/O manager granted write access through SeRestorePrivilege.
pub const TOKEN_HAS_RESTORE_PRIVILEGE: u32 = 0x0004;
/// ACCESS_STATE.Flags: IopCheckBackupRestorePrivilege has run.
pub const SE_BACKUP_PRIVILEGES_CHECKED: u32 = 0x0100;
/// FILE_OPEN_FOR_BACKUP_INTENT (create option).
pub const FILE_OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;
/// MAXIMUM_ALLOWED (an access mask bit).
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;

/// IRP_MJ_CREATE's parameters (IO_STACK_LOCATION.Parameters.Create plus the FILE_OBJECT's).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct CreateParameters {
    /// DesiredAccess (from the ACCESS_STATE).
    pub desired_access: u32,
    /// ShareAccess (FILE_SHARE_*).
    pub share_access: u16,
    /// The disposition, Options >> 24 (FILE_OPEN, FILE_CREATE, ...).
    pub disposition: u32,
    /// The create options, Options & 0x00FF_FFFF.
    pub options: u32,
    pub file_attributes: u16,
    pub allocation_size: u64,
    pub ea_length: u32,
    /// SL_* flags of the stack location (SL_CASE_SENSITIVE, SL_OPEN_TARGET_DIRECTORY, ...).
    pub stack_flags: u8,
    /// ACCESS_STATE.RemainingDesiredAccess: what no check has granted yet (generic rights
    /// already mapped by the I/O manager).
    pub remaining_desired_access: u32,
    /// ACCESS_STATE.PreviouslyGrantedAccess: what the I/O manager granted already (backup or
    /// restore privilege with FILE_OPEN_FOR_BACKUP_INTENT).
    pub previously_granted_access: u32,
    /// ACCESS_STATE.Flags (TOKEN_HAS_TRAVERSE_PRIVILEGE, TOKEN_HAS_BACKUP_PRIVILEGE, ...).
    pub access_flags: u32,
}

impl CreateParameters {
    pub fn open_by_file_id(&self) -> bool {
        self.options & FILE_OPEN_BY_FILE_ID != 0
    }
}

/// With FILE_OPEN_BY_FILE_ID, FileObject->FileName holds the 8-byte file ID (little-endian)
/// instead of a name, possibly after a leading backslash when no RelatedFileObject is given.
pub fn file_id_from_name(name: &[u16]) -> Option<u64> {
    let units = match name {
        [0x5C, rest @ ..] if rest.len() == 4 => rest,
        _ if name.len() == 4 => name,
        _ => return None,
    };
    let mut id = 0u64;
    for (index, unit) in units.iter().enumerate() {
        id |= u64::from(*unit) << (16 * index);
    }
    Some(id)
}

/// The current stack location's parameters, by major function.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum IrpParameters {
    Create(CreateParameters),
    Read {
        offset: u64,
        length: u32,
    },
    QueryInformation {
        class: u32,
        length: u32,
    },
    /// IRP_MJ_SET_INFORMATION: the class and the caller's structure (the system buffer).
    SetInformation {
        class: u32,
        input: Vec<u8>,
    },
    QueryDirectory {
        class: u32,
        length: u32,
        pattern: Option<Vec<u16>>,
        flags: u8,
        index: u32,
    },
    QueryVolumeInformation {
        class: u32,
        length: u32,
    },
    /// IRP_MN_NOTIFY_CHANGE_DIRECTORY: which changes (FILE_NOTIFY_CHANGE_*), and SL_WATCH_TREE.
    NotifyDirectory {
        filter: u32,
        watch_tree: bool,
    },
    FileSystemControl {
        code: u32,
        input: Vec<u8>,
        output_length: u32,
    },
    /// IRP_MJ_QUERY_SECURITY: the SECURITY_INFORMATION bits asked for and the length of the
    /// caller's buffer (Irp->UserBuffer, neither I/O: `Irp::lock_user_buffer` first).
    QuerySecurity {
        information: u32,
        length: u32,
    },
    /// IRP_MJ_LOCK_CONTROL: Parameters.LockControl's range and key, and the stack location's
    /// SL_FAIL_IMMEDIATELY / SL_EXCLUSIVE_LOCK flags (the range is 0, 0 for the unlock-all
    /// minors, which carry none).
    LockControl {
        offset: u64,
        length: u64,
        key: u32,
        flags: u8,
    },
    /// IRP_MJ_QUERY_EA: the output length, a copy of the caller's FILE_GET_EA_INFORMATION list
    /// (Parameters.QueryEa.EaList, captured by the I/O manager), EaIndex and the stack
    /// location's SL_RESTART_SCAN / SL_RETURN_SINGLE_ENTRY / SL_INDEX_SPECIFIED.
    QueryEa {
        length: u32,
        ea_list: Option<Vec<u8>>,
        index: u32,
        flags: u8,
    },
    /// IRP_MJ_SET_EA (the caller's FILE_FULL_EA_INFORMATION list is not decoded).
    SetEa,
    /// IRP_MJ_SET_SECURITY: the SECURITY_INFORMATION bits to change.
    SetSecurity {
        information: u32,
    },
    Mount(MountRequest),
    /// IRP_MN_VERIFY_VOLUME: the VPB and its real device (Vpb->RealDevice), as a read target.
    VerifyVolume(MountRequest),
    None,
}

impl IrpParameters {
    /// IRP_MJ_CREATE's parameters, if these are they.
    pub fn into_create(self) -> Option<CreateParameters> {
        match self {
            IrpParameters::Create(parameters) => Some(parameters),
            _ => None,
        }
    }

    /// IRP_MN_MOUNT_VOLUME's VPB and target device, if these are they.
    pub fn into_mount(self) -> Option<MountRequest> {
        match self {
            IrpParameters::Mount(mount) => Some(mount),
            _ => None,
        }
    }

    /// IRP_MN_VERIFY_VOLUME's VPB and real device, if these are they.
    pub fn into_verify(self) -> Option<MountRequest> {
        match self {
            IrpParameters::VerifyVolume(verify) => Some(verify),
            _ => None,
        }
    }
}
