//! The only I/O the ext4 layer does: reads of byte ranges from a device the caller implements.

use super::error::{Error, Result};

/// A read-only block device, implemented by the caller (the FSD reads the target device object
/// with IRPs; host tools read a file; tests and the fuzzer read memory).
///
/// Implementations must be safe to call from several threads at once (`Sync`): the volume
/// issues reads from whichever thread asks it for data.
pub trait BlockDevice {
    /// Fills all of `buf` with the bytes at byte `offset` of the device. A read that cannot be
    /// satisfied in full (past the end, media error) returns [`Error::Io`].
    ///
    /// The ext4 layer issues reads at arbitrary byte offsets and lengths; a device with
    /// sector alignment requirements aligns them itself.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// The same read, of a user's file contents (`Inode::holds_user_data`) rather than of the
    /// file system's own structures. A device that tells the two apart (the FSD's statistics)
    /// overrides it.
    fn read_data_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.read_at(offset, buf)
    }

    /// The size of the device in bytes, when known. Used to refuse truncated volumes at mount.
    fn size(&self) -> Option<u64> {
        None
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for &T {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_at(offset, buf)
    }
    fn read_data_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_data_at(offset, buf)
    }
    fn size(&self) -> Option<u64> {
        (**self).size()
    }
}

/// A device over bytes in memory (tests, fuzzing, small images).
#[derive(Debug, Clone)]
pub struct MemDevice<B: AsRef<[u8]>>(pub B);

/// Error code used by [`MemDevice`] for reads past the end of the buffer.
pub const MEM_DEVICE_SHORT_READ: i64 = -1;

impl<B: AsRef<[u8]>> BlockDevice for MemDevice<B> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let data = self.0.as_ref();
        let short = Error::Io {
            offset,
            code: MEM_DEVICE_SHORT_READ,
        };
        let start = usize::try_from(offset).map_err(|_| short)?;
        let end = start.checked_add(buf.len()).ok_or(short)?;
        let src = data.get(start..end).ok_or(short)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> Option<u64> {
        Some(self.0.as_ref().len() as u64)
    }
}

/// A device whose every read is a data read (`BlockDevice::read_data_at`), for the journal
/// overlay's reads of file contents.
pub(crate) struct DataReads<'a, D: BlockDevice>(pub &'a D);

impl<D: BlockDevice> BlockDevice for DataReads<'_, D> {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.0.read_data_at(offset, buf)
    }
    fn size(&self) -> Option<u64> {
        self.0.size()
    }
}
