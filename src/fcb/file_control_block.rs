//! The FCB: what every open of one inode shares.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::ext4;
use crate::kernel::{FcbArc, FileSizes, Locked, NtStatus, PoolTag, ShareAccess, SpinLocked};

/// Pool tag of FCB blocks.
pub const FCB_TAG: PoolTag = PoolTag(*b"RfFc");

/// The table key of the volume's own FCB (volume opens and the volume stream). ext4 inode
/// numbers start at 1, so 0 never names an inode.
pub const VOLUME_KEY: u64 = 0;

/// What an FCB stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FcbKind {
    Volume,
    Directory,
    /// Regular files, and device, FIFO and socket inodes (which hold no data).
    File,
    /// Reachable only with FILE_OPEN_REPARSE_POINT; otherwise a CREATE reparses.
    Symlink,
}

/// A counted reference to an FCB.
pub type FcbRef = FcbArc<Fcb>;

/// The FCB's data, behind the advanced header in its `FcbArc` block.
pub struct Fcb {
    key: u64,
    kind: FcbKind,
    parent_key: Option<u64>,
    /// The inode as read when the FCB was made (the volume is read-only, so it stays true).
    inode: Option<ext4::Inode>,
    state: Locked<FcbState>,
    /// The memory manager created a section for this file (PreAcquireForSectionSynchronization
    /// said so): lock, dismount and removal purge it. Never cleared: a purge that succeeded
    /// costs nothing the next time.
    has_section: AtomicBool,
    /// The stream's block map as its last read left it (last run, last extent leaf): taken out
    /// for a read and given back after it, never held across a disk read (`dispatch/read.rs`).
    /// A spin lock: paging reads reach it, and they may take no resource exclusively.
    map_cache: SpinLocked<ext4::MapCache>,
}

/// The FCB's mutable part.
pub struct FcbState {
    /// Share access over every open of this FCB.
    pub share_access: ShareAccess,
    /// FILE_OBJECTs of this FCB whose CLEANUP has not come yet.
    pub open_handles: u32,
    /// The parent directory's FCB: a child keeps its parent alive.
    parent: Option<FcbRef>,
}

impl Fcb {
    /// The volume's own FCB.
    pub fn try_new_volume() -> Result<FcbRef, NtStatus> {
        Fcb::try_new(
            VOLUME_KEY,
            FcbKind::Volume,
            None,
            None,
            FileSizes::default(),
        )
    }

    /// A new FCB (one counted reference) for `inode`, reached through `parent`.
    pub fn try_new_inode(inode: ext4::Inode, parent: Option<FcbRef>) -> Result<FcbRef, NtStatus> {
        let kind = match inode.file_type() {
            Some(ext4::FileType::Directory) => FcbKind::Directory,
            Some(ext4::FileType::Symlink) => FcbKind::Symlink,
            _ => FcbKind::File,
        };
        let size = inode.size();
        let sizes = FileSizes {
            allocation_size: size,
            file_size: size,
            valid_data_length: size,
        };
        Fcb::try_new(u64::from(inode.ino()), kind, parent, Some(inode), sizes)
    }

    fn try_new(
        key: u64,
        kind: FcbKind,
        parent: Option<FcbRef>,
        inode: Option<ext4::Inode>,
        sizes: FileSizes,
    ) -> Result<FcbRef, NtStatus> {
        let parent_key = parent.as_ref().map(|parent| parent.key);
        let state = Locked::try_new(FcbState {
            share_access: ShareAccess::default(),
            open_handles: 0,
            parent,
        })?;
        let fcb = FcbArc::try_new(
            FCB_TAG,
            Fcb {
                key,
                kind,
                parent_key,
                inode,
                state,
                has_section: AtomicBool::new(false),
                map_cache: SpinLocked::new(ext4::MapCache::default()),
            },
        )?;
        fcb.set_file_sizes(sizes);
        Ok(fcb)
    }

    /// The inode number, or [`VOLUME_KEY`].
    pub fn key(&self) -> u64 {
        self.key
    }

    pub fn kind(&self) -> FcbKind {
        self.kind
    }

    /// The inode (`None` for the volume FCB).
    pub fn inode(&self) -> Option<&ext4::Inode> {
        self.inode.as_ref()
    }

    /// The parent directory's key, if this FCB was reached through one.
    pub fn parent_key(&self) -> Option<u64> {
        self.parent_key
    }

    /// Records that the memory manager is creating a section for this file.
    pub fn note_section_created(&self) {
        self.has_section.store(true, Ordering::Release);
    }

    /// True once a section was created for this file.
    pub fn has_section(&self) -> bool {
        self.has_section.load(Ordering::Acquire)
    }

    /// The stream's block map cache, taken out for one read (a concurrent read of the same
    /// stream finds it empty and maps from scratch). Held only for the move, at DISPATCH_LEVEL.
    pub fn take_map_cache(&self) -> ext4::MapCache {
        self.map_cache
            .lock()
            .map(|mut cache| core::mem::take(&mut *cache))
            .unwrap_or_default()
    }

    /// Gives back what [`Fcb::take_map_cache`] took, for the next read; what a concurrent read
    /// gave back meanwhile is freed after the lock is released.
    pub fn give_back_map_cache(&self, cache: ext4::MapCache) {
        let previous = self
            .map_cache
            .lock()
            .map(|mut slot| core::mem::replace(&mut *slot, cache));
        drop(previous);
    }

    /// The FCB's mutable state. Lock order: the VCB's table lock, then this one.
    pub fn state(&self) -> &Locked<FcbState> {
        &self.state
    }
}

impl Drop for Fcb {
    /// Lets go of the parent chain one FCB at a time: dropping a deep directory's last child
    /// must not recurse once per ancestor on the kernel stack.
    fn drop(&mut self) {
        let mut next = self.state.get_mut().parent.take();
        while let Some(fcb) = next {
            // A unique reference cannot gain another meanwhile: nothing else can reach it.
            next = if fcb.is_unique() {
                fcb.state.lock().and_then(|mut state| state.parent.take())
            } else {
                None
            };
            drop(fcb);
        }
    }
}
