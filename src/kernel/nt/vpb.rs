//! The volume's side of its VPB: a spare allocated at mount, the volume's own reference, the
//! swap at dismount and the release after the last close, each under the VPB spin lock as the
//! I/O manager requires (FastFAT FatSwapVpb / FatCheckForDismount, CDFS CdDismountVcb /
//! CdCheckForDismount / CdDeleteVcb).

use core::mem::size_of;
use core::ptr::{self, NonNull};

use wdk_sys::{IO_TYPE_VPB, KIRQL, PVPB, VPB, VPB_LOCKED, VPB_MOUNTED, VPB_REMOVE_PENDING};

use super::device::VolumeDevice;
use super::pool::{self, PoolTag};
use crate::kernel::NtStatus;

/// The pool tag of spare VPBs (the I/O manager frees one it was given with ExFreePool).
pub const SPARE_VPB_TAG: PoolTag = PoolTag(*b"RfVp");

/// A zeroed VPB the volume keeps from mount, to give the disk at dismount. Freed on drop if it
/// was never given away.
pub struct SpareVpb {
    block: NonNull<VPB>,
}

// SAFETY: the spare is plain pool memory owned by this value until it is given away.
unsafe impl Send for SpareVpb {}
// SAFETY: as above; `&SpareVpb` gives no access to the block.
unsafe impl Sync for SpareVpb {}

impl SpareVpb {
    /// ExAllocatePool2(NonPaged, sizeof(VPB)), zeroed.
    pub fn try_new() -> Result<SpareVpb, NtStatus> {
        let block = pool::allocate(SPARE_VPB_TAG, size_of::<VPB>())?;
        Ok(SpareVpb {
            block: block.cast::<VPB>(),
        })
    }

    /// Gives the block up: from now on it is a disk's VPB, the I/O manager's to free.
    fn into_raw(self) -> PVPB {
        let block = self.block.as_ptr();
        core::mem::forget(self);
        block
    }
}

impl Drop for SpareVpb {
    fn drop(&mut self) {
        // SAFETY: the block came from `pool::allocate` with this tag and was never given away
        // (`into_raw` forgets the value).
        unsafe { pool::free(self.block.cast(), SPARE_VPB_TAG) }
    }
}

/// Holds the VPB spin lock (IoAcquireVpbSpinLock) until dropped.
struct VpbSpinLock {
    irql: KIRQL,
}

impl VpbSpinLock {
    fn acquire() -> VpbSpinLock {
        let mut irql: KIRQL = 0;
        // SAFETY: called at IRQL <= DISPATCH_LEVEL (every caller runs at PASSIVE or APC level);
        // the guard releases it on every path.
        unsafe { wdk_sys::ntddk::IoAcquireVpbSpinLock(&mut irql) };
        VpbSpinLock { irql }
    }
}

impl Drop for VpbSpinLock {
    fn drop(&mut self) {
        // SAFETY: acquired in `acquire` with this IRQL, released once.
        unsafe { wdk_sys::ntddk::IoReleaseVpbSpinLock(self.irql) }
    }
}

impl VolumeDevice {
    /// The volume's own reference on its VPB, taken at the end of a successful mount, so the
    /// I/O manager never brings the count to zero (and frees the VPB) while this device exists.
    pub fn reference_vpb(&self) {
        let vpb = self.vpb();
        if vpb.is_null() {
            return;
        }
        let _lock = VpbSpinLock::acquire();
        // SAFETY: the VPB outlives the volume (its real device's, or ours once retired, freed
        // only by `release_vpb`); ReferenceCount changes only under the VPB spin lock.
        unsafe { (*vpb).ReferenceCount += 1 };
    }

    /// At dismount: clears VPB_MOUNTED and VPB_LOCKED and, if the VPB is still its disk's, puts
    /// `spare` in its place (keeping VPB_REMOVE_PENDING), so the next open of the disk mounts
    /// afresh. Vpb->DeviceObject keeps naming this device for the old FILE_OBJECTs' CLOSEs.
    /// From now on the old VPB is ours to free (`release_vpb`). Returns the unused spare.
    pub fn retire_vpb(&self, spare: Option<SpareVpb>) -> Option<SpareVpb> {
        let vpb = self.vpb();
        if vpb.is_null() {
            return spare;
        }
        let mut spare = spare;
        let _lock = VpbSpinLock::acquire();
        // SAFETY: as in `reference_vpb`; the real device (and its Vpb field) outlives every
        // VPB naming it, and its Vpb field changes only under the VPB spin lock.
        unsafe {
            (*vpb).Flags &= !((VPB_MOUNTED | VPB_LOCKED) as u16);
            let real = (*vpb).RealDevice;
            if !real.is_null()
                && (*real).Vpb == vpb
                && let Some(spare) = spare.take()
            {
                let fresh = spare.into_raw();
                (*fresh).Type = IO_TYPE_VPB as i16;
                (*fresh).Size = size_of::<VPB>() as i16;
                (*fresh).RealDevice = real;
                (*fresh).Flags = (*vpb).Flags & VPB_REMOVE_PENDING as u16;
                (*real).Vpb = fresh;
            }
        }
        spare
    }

    /// After the volume's last FILE_OBJECT closed: if the volume's own reference is the only
    /// one left on the VPB, drops it and detaches the VPB from this device, freeing it unless
    /// it is still its disk's; true, and the caller deletes the device. False while an open is
    /// on its way here (it took a reference before sending its CREATE).
    pub fn release_vpb(&self) -> bool {
        let vpb = self.vpb();
        if vpb.is_null() {
            return true;
        }
        let free = {
            let _lock = VpbSpinLock::acquire();
            // SAFETY: as in `retire_vpb`.
            unsafe {
                if (*vpb).ReferenceCount > 1 {
                    return false;
                }
                (*vpb).ReferenceCount = 0;
                (*vpb).DeviceObject = ptr::null_mut();
                (*vpb).Flags &= !((VPB_MOUNTED | VPB_LOCKED) as u16);
                let real = (*vpb).RealDevice;
                real.is_null() || (*real).Vpb != vpb
            }
        };
        self.forget_vpb();
        if free {
            // SAFETY: the VPB is no longer its disk's and counts no reference: nothing else can
            // reach it. It may have come from the I/O manager (tag 'Vpb ') or be our spare, so
            // it is freed without a tag check.
            unsafe { wdk_sys::ntddk::ExFreePoolWithTag(vpb.cast(), 0) };
        }
        true
    }
}
