//! IRP major function codes (wdm.h IRP_MJ_*).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum IrpMajor {
    Create = 0x00,
    CreateNamedPipe = 0x01,
    Close = 0x02,
    Read = 0x03,
    Write = 0x04,
    QueryInformation = 0x05,
    SetInformation = 0x06,
    QueryEa = 0x07,
    SetEa = 0x08,
    FlushBuffers = 0x09,
    QueryVolumeInformation = 0x0a,
    SetVolumeInformation = 0x0b,
    DirectoryControl = 0x0c,
    FileSystemControl = 0x0d,
    DeviceControl = 0x0e,
    InternalDeviceControl = 0x0f,
    Shutdown = 0x10,
    LockControl = 0x11,
    Cleanup = 0x12,
    CreateMailslot = 0x13,
    QuerySecurity = 0x14,
    SetSecurity = 0x15,
    Power = 0x16,
    SystemControl = 0x17,
    DeviceChange = 0x18,
    QueryQuota = 0x19,
    SetQuota = 0x1a,
    Pnp = 0x1b,
}

impl IrpMajor {
    /// Every major function, in code order (IRP_MJ_MAXIMUM_FUNCTION + 1 entries).
    pub const ALL: [IrpMajor; 28] = [
        IrpMajor::Create,
        IrpMajor::CreateNamedPipe,
        IrpMajor::Close,
        IrpMajor::Read,
        IrpMajor::Write,
        IrpMajor::QueryInformation,
        IrpMajor::SetInformation,
        IrpMajor::QueryEa,
        IrpMajor::SetEa,
        IrpMajor::FlushBuffers,
        IrpMajor::QueryVolumeInformation,
        IrpMajor::SetVolumeInformation,
        IrpMajor::DirectoryControl,
        IrpMajor::FileSystemControl,
        IrpMajor::DeviceControl,
        IrpMajor::InternalDeviceControl,
        IrpMajor::Shutdown,
        IrpMajor::LockControl,
        IrpMajor::Cleanup,
        IrpMajor::CreateMailslot,
        IrpMajor::QuerySecurity,
        IrpMajor::SetSecurity,
        IrpMajor::Power,
        IrpMajor::SystemControl,
        IrpMajor::DeviceChange,
        IrpMajor::QueryQuota,
        IrpMajor::SetQuota,
        IrpMajor::Pnp,
    ];

    pub fn from_code(code: u8) -> Option<IrpMajor> {
        IrpMajor::ALL.get(usize::from(code)).copied()
    }

    /// The name wdm.h gives the code.
    pub fn wdm_name(self) -> &'static str {
        match self {
            IrpMajor::Create => "IRP_MJ_CREATE",
            IrpMajor::CreateNamedPipe => "IRP_MJ_CREATE_NAMED_PIPE",
            IrpMajor::Close => "IRP_MJ_CLOSE",
            IrpMajor::Read => "IRP_MJ_READ",
            IrpMajor::Write => "IRP_MJ_WRITE",
            IrpMajor::QueryInformation => "IRP_MJ_QUERY_INFORMATION",
            IrpMajor::SetInformation => "IRP_MJ_SET_INFORMATION",
            IrpMajor::QueryEa => "IRP_MJ_QUERY_EA",
            IrpMajor::SetEa => "IRP_MJ_SET_EA",
            IrpMajor::FlushBuffers => "IRP_MJ_FLUSH_BUFFERS",
            IrpMajor::QueryVolumeInformation => "IRP_MJ_QUERY_VOLUME_INFORMATION",
            IrpMajor::SetVolumeInformation => "IRP_MJ_SET_VOLUME_INFORMATION",
            IrpMajor::DirectoryControl => "IRP_MJ_DIRECTORY_CONTROL",
            IrpMajor::FileSystemControl => "IRP_MJ_FILE_SYSTEM_CONTROL",
            IrpMajor::DeviceControl => "IRP_MJ_DEVICE_CONTROL",
            IrpMajor::InternalDeviceControl => "IRP_MJ_INTERNAL_DEVICE_CONTROL",
            IrpMajor::Shutdown => "IRP_MJ_SHUTDOWN",
            IrpMajor::LockControl => "IRP_MJ_LOCK_CONTROL",
            IrpMajor::Cleanup => "IRP_MJ_CLEANUP",
            IrpMajor::CreateMailslot => "IRP_MJ_CREATE_MAILSLOT",
            IrpMajor::QuerySecurity => "IRP_MJ_QUERY_SECURITY",
            IrpMajor::SetSecurity => "IRP_MJ_SET_SECURITY",
            IrpMajor::Power => "IRP_MJ_POWER",
            IrpMajor::SystemControl => "IRP_MJ_SYSTEM_CONTROL",
            IrpMajor::DeviceChange => "IRP_MJ_DEVICE_CHANGE",
            IrpMajor::QueryQuota => "IRP_MJ_QUERY_QUOTA",
            IrpMajor::SetQuota => "IRP_MJ_SET_QUOTA",
            IrpMajor::Pnp => "IRP_MJ_PNP",
        }
    }
}
