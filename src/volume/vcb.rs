//! The VCB: what a mounted volume's device carries in its extension, and the volume's
//! lifetime: it lives until it is dismounted and the last FILE_OBJECT on it has closed.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::disk::DiskReader;
use super::statistics::Statistics;
use crate::ext4;
use crate::fcb::close::CloseQueue;
use crate::fcb::{FcbRef, FcbTable};
use crate::info::AttributeOptions;
use crate::kernel::{
    FileObject, Locked, NotifyList, NtStatus, Resource, ResourceGuard, SpareVpb, StreamFileObject,
    TargetDevice, TargetReference,
};

/// Volume control block. Owned by the volume device's extension, so it lives exactly as long
/// as that device.
pub struct Vcb {
    volume: ext4::Volume<DiskReader>,
    uuid: [u8; 16],
    /// The superblock's raw bytes at mount: a verify must find exactly these.
    superblock: Vec<u8>,
    /// Our reference on the mount target (FastFAT's VCB keeps one): the disk's device object
    /// outlives the volume even if PnP removes the disk first.
    _target: TargetReference,
    /// Serializes opens (shared; exclusive for a volume open) against what changes whether an
    /// open may succeed: lock, unlock, dismount (exclusive), as CDFS's Vcb->VcbResource.
    resource: Resource,
    inner: Locked<VcbInner>,
    dismounted: AtomicBool,
    /// FILE_OBJECTs on the volume whose CLOSE has not finished: user opens, volume opens and
    /// the volume stream. The device goes when this reaches zero after a dismount.
    open_file_objects: AtomicU32,
    /// FILE_OBJECTs whose CLEANUP has not come yet (open handles).
    open_handles: AtomicU32,
    /// How inode metadata maps to file attributes (the driver's parameters at mount).
    attribute_options: AttributeOptions,
    /// CLOSEs finished on the worker thread (fcb::close).
    closes: CloseQueue,
    /// Pended IRP_MN_NOTIFY_CHANGE_DIRECTORY requests (FsRtl's notify list and NOTIFY_SYNC).
    notify: NotifyList,
}

/// The VCB's state behind its lock (the "table lock"; see `fcb::table`).
pub struct VcbInner {
    pub fcbs: FcbTable,
    /// The volume open holding FSCTL_LOCK_VOLUME.
    pub locked_by: Option<FileObject>,
    /// Locked by an IRP_MN_QUERY_REMOVE_DEVICE that succeeded, until the remove or cancel.
    pub locked_for_removal: bool,
    /// The volume stream file object (FsContext: the volume FCB), from mount to dismount.
    pub stream: Option<StreamFileObject>,
    /// The VPB the disk gets at dismount (allocated at mount, so a dismount cannot fail).
    pub spare_vpb: Option<SpareVpb>,
}

/// What a dismount takes from the VCB, to be let go of with no lock held.
pub struct Dismounted {
    pub stream: Option<StreamFileObject>,
    pub spare_vpb: Option<SpareVpb>,
}

impl Vcb {
    pub fn try_new(
        volume: ext4::Volume<DiskReader>,
        uuid: [u8; 16],
        superblock: Vec<u8>,
        delayed_close_limit: usize,
        spare_vpb: SpareVpb,
        target: TargetDevice,
        attribute_options: AttributeOptions,
    ) -> Result<Vcb, NtStatus> {
        Ok(Vcb {
            volume,
            uuid,
            superblock,
            _target: target.reference(),
            resource: Resource::try_new()?,
            inner: Locked::try_new(VcbInner {
                fcbs: FcbTable::new(delayed_close_limit),
                locked_by: None,
                locked_for_removal: false,
                stream: None,
                spare_vpb: Some(spare_vpb),
            })?,
            dismounted: AtomicBool::new(false),
            open_file_objects: AtomicU32::new(0),
            open_handles: AtomicU32::new(0),
            attribute_options,
            closes: CloseQueue::try_new()?,
            notify: NotifyList::try_new()?,
        })
    }

    /// The volume's change notifications.
    pub fn notify(&self) -> &NotifyList {
        &self.notify
    }

    /// The volume's queue of CLOSEs to finish on the worker thread.
    pub fn closes(&self) -> &CloseQueue {
        &self.closes
    }

    /// Keeps room in the close queue for the FILE_OBJECT about to be opened (before
    /// `file_object_opened`), so that its CLOSE can always be posted.
    pub fn reserve_close(&self) -> Result<(), NtStatus> {
        self.closes
            .reserve(self.open_file_objects.load(Ordering::Acquire))
    }

    /// How inode metadata maps to file attributes on this volume.
    pub fn attribute_options(&self) -> AttributeOptions {
        self.attribute_options
    }

    pub fn volume(&self) -> &ext4::Volume<DiskReader> {
        &self.volume
    }

    /// The volume's performance counters (kept by its disk reader, which sees every read).
    pub fn statistics(&self) -> &Statistics {
        self.volume.device().statistics()
    }

    /// The device the volume is mounted on (Vpb->RealDevice's stack), where requests that are
    /// not ours (PnP) go down.
    pub fn target(&self) -> TargetDevice {
        self.volume.device().target()
    }

    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    /// The superblock's raw bytes at mount.
    pub fn superblock(&self) -> &[u8] {
        &self.superblock
    }

    /// The VCB resource, shared: what an open of a file holds from its checks to its end.
    pub fn acquire_shared(&self) -> Result<ResourceGuard<'_>, NtStatus> {
        self.resource
            .acquire_shared(true)
            .ok_or(NtStatus::POSSIBLE_DEADLOCK)
    }

    /// The VCB resource, exclusive: a volume open, lock, unlock, dismount.
    pub fn acquire_exclusive(&self) -> Result<ResourceGuard<'_>, NtStatus> {
        self.resource
            .acquire_exclusive(true)
            .ok_or(NtStatus::POSSIBLE_DEADLOCK)
    }

    /// The table lock. `None` only if this thread already holds it.
    pub fn inner(&self) -> Result<crate::kernel::LockedGuard<'_, VcbInner>, NtStatus> {
        self.inner.lock().ok_or(NtStatus::POSSIBLE_DEADLOCK)
    }

    /// The table lock if it is free right now.
    pub fn try_inner(&self) -> Option<crate::kernel::LockedGuard<'_, VcbInner>> {
        self.inner.try_lock()
    }

    pub fn is_dismounted(&self) -> bool {
        self.dismounted.load(Ordering::Acquire)
    }

    /// Marks the volume dismounted (new opens fail from now on) and lets go of what the VCB
    /// holds: the table's FCB references, the volume stream and the spare VPB, returned to be
    /// dropped (or given away) by the caller once no lock is held (the stream's CLOSE may come
    /// inside its drop). `None` if the volume was already dismounted.
    pub fn dismount(&self) -> Result<Option<Dismounted>, NtStatus> {
        if self.dismounted.swap(true, Ordering::AcqRel) {
            return Ok(None);
        }
        let mut inner = self.inner()?;
        inner.fcbs.stop_fast_io();
        inner.fcbs.clear();
        Ok(Some(Dismounted {
            stream: inner.stream.take(),
            spare_vpb: inner.spare_vpb.take(),
        }))
    }

    /// New references to every listed FCB the memory manager created a section for, to be
    /// purged once the table lock is let go (`cache::teardown::purge_volume_sections`).
    pub fn fcbs_with_sections(&self) -> Result<Vec<FcbRef>, NtStatus> {
        self.inner()?.fcbs.with_sections()
    }

    /// The FCB of `key` if the table lists it.
    pub fn listed_fcb(&self, key: u64) -> Result<Option<FcbRef>, NtStatus> {
        Ok(self.inner()?.fcbs.get(key))
    }

    /// Lists a new FCB, or returns the one listed first under its key.
    pub fn list_fcb(&self, fcb: FcbRef) -> Result<FcbRef, NtStatus> {
        self.inner()?.fcbs.insert(fcb)
    }

    /// A FILE_OBJECT now refers to the volume (a successful CREATE, the volume stream).
    pub fn file_object_opened(&self, with_handle: bool) {
        self.open_file_objects.fetch_add(1, Ordering::AcqRel);
        if with_handle {
            self.open_handles.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A handle's CLEANUP came.
    pub fn handle_closed(&self) {
        let _ = self
            .open_handles
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub fn open_handles(&self) -> u32 {
        self.open_handles.load(Ordering::Acquire)
    }

    /// A FILE_OBJECT's CLOSE finished. True if that was the last one of a dismounted volume:
    /// the caller then deletes the volume device.
    pub fn file_object_closed(&self) -> bool {
        let previous =
            self.open_file_objects
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        previous == Ok(1) && self.is_dismounted()
    }

    pub fn open_file_objects(&self) -> u32 {
        self.open_file_objects.load(Ordering::Acquire)
    }
}
