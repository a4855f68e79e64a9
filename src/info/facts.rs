//! What Windows is told about one inode: times, sizes, attributes, reparse tag, file IDs and
//! the Linux metadata WSL asks for. Pure: built from an ext4 `Stat`.

use super::time::NtTimes;
use crate::ext4::{FileType, Stat};

pub const FILE_ATTRIBUTE_READONLY: u32 = 0x0000_0001;
pub const FILE_ATTRIBUTE_HIDDEN: u32 = 0x0000_0002;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x0000_0010;
pub const FILE_ATTRIBUTE_ARCHIVE: u32 = 0x0000_0020;
pub const FILE_ATTRIBUTE_NORMAL: u32 = 0x0000_0080;
pub const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x0000_0400;

/// The reparse tag of ext4 symlinks (see docs/names.md for why not IO_REPARSE_TAG_LX_SYMLINK
/// by default).
pub const IO_REPARSE_TAG_SYMLINK: u32 = 0xA000_000C;
/// The tags WSL gives Linux special files on NTFS (ntifs.h; Learn, "Reparse point tags").
pub const IO_REPARSE_TAG_LX_SYMLINK: u32 = 0xA000_001D;
pub const IO_REPARSE_TAG_AF_UNIX: u32 = 0x8000_0023;
pub const IO_REPARSE_TAG_LX_FIFO: u32 = 0x8000_0024;
pub const IO_REPARSE_TAG_LX_CHR: u32 = 0x8000_0025;
pub const IO_REPARSE_TAG_LX_BLK: u32 = 0x8000_0026;

/// Choices the mapping leaves to the administrator.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct AttributeOptions {
    /// Mark names starting with `.` FILE_ATTRIBUTE_HIDDEN, as Unix tools hide them. Off by
    /// default: NTFS has no such rule, and `dir` would then skip them.
    pub hide_dot_files: bool,
    /// Give symlinks WSL's IO_REPARSE_TAG_LX_SYMLINK (a UTF-8 target only WSL follows)
    /// instead of IO_REPARSE_TAG_SYMLINK (which Windows follows). Off by default.
    pub lx_symlinks: bool,
    /// Grant every open what it asks instead of checking the descriptor derived from the mode
    /// (dispatch/access.rs). Off by default: access is checked.
    pub ignore_access: bool,
}

/// Everything the information classes report about one inode.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FileFacts {
    pub times: NtTimes,
    /// EndOfFile: the file's size; 0 for directories and symlinks (as NTFS lists them: a
    /// directory's index and a link's reparse data are not its data stream).
    pub end_of_file: u64,
    /// AllocationSize: the space the inode uses (i_blocks). A sparse file may use less than
    /// its size, as on NTFS.
    pub allocation_size: u64,
    pub attributes: u32,
    /// The reparse tag of a symlink or special file ([`reparse_tag`]), else 0.
    pub reparse_tag: u32,
    /// The 64-bit file ID: the inode number (FILE_OPEN_BY_FILE_ID opens it).
    pub file_id: u64,
    pub links: u32,
    pub directory: bool,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub device_major: u32,
    pub device_minor: u32,
    pub has_device: bool,
}

impl FileFacts {
    /// The facts of `stat`, reached by the name `name` (disk bytes; `None` when unknown).
    pub fn of(stat: &Stat, name: Option<&[u8]>, options: AttributeOptions) -> FileFacts {
        let directory = stat.file_type == FileType::Directory;
        let has_data = !matches!(stat.file_type, FileType::Directory | FileType::Symlink);
        let has_device = matches!(stat.file_type, FileType::CharDevice | FileType::BlockDevice);
        FileFacts {
            times: NtTimes::of(stat),
            end_of_file: if has_data { stat.size } else { 0 },
            allocation_size: if has_data {
                stat.blocks_512.saturating_mul(512)
            } else {
                0
            },
            attributes: attributes(stat.file_type, name, options),
            reparse_tag: reparse_tag(stat.file_type, options),
            file_id: u64::from(stat.ino),
            links: stat.nlink,
            directory,
            uid: stat.uid,
            gid: stat.gid,
            mode: u32::from(stat.mode),
            // `Stat::rdev` is the kernel's MKDEV form (major << 20 | minor), whichever of the
            // two on-disk encodings the inode used.
            device_major: stat.rdev >> 20,
            device_minor: stat.rdev & 0xF_FFFF,
            has_device,
        }
    }
}

/// The reparse tag of an inode: symlinks as the option says, FIFOs, character and block
/// devices and sockets as WSL stores them on NTFS; 0 for regular files and directories.
pub fn reparse_tag(file_type: FileType, options: AttributeOptions) -> u32 {
    match file_type {
        FileType::Symlink if options.lx_symlinks => IO_REPARSE_TAG_LX_SYMLINK,
        FileType::Symlink => IO_REPARSE_TAG_SYMLINK,
        FileType::Fifo => IO_REPARSE_TAG_LX_FIFO,
        FileType::CharDevice => IO_REPARSE_TAG_LX_CHR,
        FileType::BlockDevice => IO_REPARSE_TAG_LX_BLK,
        FileType::Socket => IO_REPARSE_TAG_AF_UNIX,
        FileType::Regular | FileType::Directory => 0,
    }
}

/// The FILE_ATTRIBUTE_* of an inode on our (always read-only) volumes: directories are
/// DIRECTORY, everything else READONLY (nothing on the volume can be written), reparse points
/// (symlinks and special files) also REPARSE_POINT, and dot-files HIDDEN only when the option
/// asks for it.
pub fn attributes(file_type: FileType, name: Option<&[u8]>, options: AttributeOptions) -> u32 {
    let mut attributes = match file_type {
        FileType::Directory => FILE_ATTRIBUTE_DIRECTORY,
        FileType::Regular => FILE_ATTRIBUTE_READONLY,
        _ => FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_REPARSE_POINT,
    };
    let dot_file = matches!(name, Some([b'.', rest @ ..]) if rest != b"" && rest != b".");
    if options.hide_dot_files && dot_file {
        attributes |= FILE_ATTRIBUTE_HIDDEN;
    }
    attributes
}

/// The 128-bit file ID of FileIdInformation and the Id*Extd* directory classes: the inode
/// number, little-endian, in the low eight bytes (as NTFS widens its 64-bit references).
pub fn file_id_128(ino: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&ino.to_le_bytes());
    id
}

/// The 64-bit volume serial number of FileIdInformation: the first eight bytes of the ext4
/// UUID, big-endian, so that its high 32 bits are the 32-bit serial of FileFsVolumeInformation.
pub fn volume_serial_64(uuid: &[u8; 16]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&uuid[..8]);
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::Timestamp;

    fn stat(file_type: FileType) -> Stat {
        Stat {
            ino: 77,
            file_type,
            mode: 0o644,
            uid: 1000,
            gid: 100,
            nlink: 2,
            size: 5000,
            atime: Timestamp::default(),
            mtime: Timestamp::default(),
            ctime: Timestamp::default(),
            crtime: None,
            generation: 0,
            flags: 0,
            blocks_512: 16,
            rdev: (259 << 20) | 0x3_4512,
        }
    }

    #[test]
    fn attributes_follow_the_type_and_the_option() {
        let none = AttributeOptions::default();
        let hide = AttributeOptions {
            hide_dot_files: true,
            ..AttributeOptions::default()
        };
        assert_eq!(
            attributes(FileType::Directory, Some(b"d"), none),
            FILE_ATTRIBUTE_DIRECTORY
        );
        assert_eq!(
            attributes(FileType::Regular, Some(b".profile"), none),
            FILE_ATTRIBUTE_READONLY
        );
        assert_eq!(
            attributes(FileType::Regular, Some(b".profile"), hide),
            FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_HIDDEN
        );
        for not_dot_file in [&b"."[..], b"..", b"a.b", b"profile"] {
            assert_eq!(
                attributes(FileType::Directory, Some(not_dot_file), hide),
                FILE_ATTRIBUTE_DIRECTORY
            );
        }
        assert_eq!(
            attributes(FileType::Symlink, None, hide),
            FILE_ATTRIBUTE_READONLY | FILE_ATTRIBUTE_REPARSE_POINT
        );
    }

    #[test]
    fn sizes_ids_and_devices() {
        let file = FileFacts::of(&stat(FileType::Regular), None, AttributeOptions::default());
        assert_eq!((file.end_of_file, file.allocation_size), (5000, 8192));
        assert_eq!((file.file_id, file.links, file.reparse_tag), (77, 2, 0));
        let dir = FileFacts::of(
            &stat(FileType::Directory),
            None,
            AttributeOptions::default(),
        );
        assert_eq!(
            (dir.end_of_file, dir.allocation_size, dir.directory),
            (0, 0, true)
        );
        let link = FileFacts::of(&stat(FileType::Symlink), None, AttributeOptions::default());
        assert_eq!(
            (link.end_of_file, link.reparse_tag),
            (0, IO_REPARSE_TAG_SYMLINK)
        );
        let device = FileFacts::of(
            &stat(FileType::CharDevice),
            None,
            AttributeOptions::default(),
        );
        assert!(device.has_device);
        assert_eq!(device.reparse_tag, IO_REPARSE_TAG_LX_CHR);
        assert_ne!(device.attributes & FILE_ATTRIBUTE_REPARSE_POINT, 0);
        let lx = AttributeOptions {
            lx_symlinks: true,
            ..AttributeOptions::default()
        };
        let tags = [
            (FileType::Symlink, IO_REPARSE_TAG_LX_SYMLINK),
            (FileType::Fifo, IO_REPARSE_TAG_LX_FIFO),
            (FileType::BlockDevice, IO_REPARSE_TAG_LX_BLK),
            (FileType::Socket, IO_REPARSE_TAG_AF_UNIX),
            (FileType::Regular, 0),
            (FileType::Directory, 0),
        ];
        for (file_type, tag) in tags {
            assert_eq!(reparse_tag(file_type, lx), tag, "{file_type:?}");
        }
        assert_eq!((device.device_major, device.device_minor), (259, 0x34512));
        assert_eq!(file_id_128(0x0102)[..3], [2, 1, 0]);
        let uuid = [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 9];
        assert_eq!(volume_serial_64(&uuid), 0x0102_0304_0506_0708);
    }
}
