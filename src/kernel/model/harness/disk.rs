//! A disk device backed by an image, with injectable faults: read errors over byte ranges,
//! short reads, and latency (counted on a virtual clock, so runs stay deterministic).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::vec::Vec;

use crate::kernel::NtStatus;

/// Reads overlapping `offset..offset+length` fail with `status`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadFault {
    pub offset: u64,
    pub length: u64,
    pub status: NtStatus,
}

#[derive(Default)]
struct Faults {
    errors: Vec<ReadFault>,
    short_read: Option<usize>,
    latency: u64,
    /// Fail the read with this sequence number (`read_count` after it), with this status.
    nth: Option<(u64, NtStatus)>,
}

pub struct DiskModel {
    data: Mutex<Vec<u8>>,
    faults: Mutex<Faults>,
    clock: AtomicU64,
    reads: AtomicU64,
    /// Surprise-removed or removed: every read fails with STATUS_DEVICE_DOES_NOT_EXIST, as the
    /// disk class driver answers once its device is gone.
    removed: AtomicBool,
}

impl DiskModel {
    pub fn from_bytes(data: Vec<u8>) -> DiskModel {
        DiskModel {
            data: Mutex::new(data),
            faults: Mutex::new(Faults::default()),
            clock: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            removed: AtomicBool::new(false),
        }
    }

    pub fn open(path: &str) -> std::io::Result<DiskModel> {
        Ok(DiskModel::from_bytes(std::fs::read(path)?))
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> u64 {
        self.data().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.data().is_empty()
    }

    /// A media change: the disk now holds `data` (faults and counters are kept).
    pub fn replace_contents(&self, data: Vec<u8>) {
        *self.data() = data;
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn inject_read_error(&self, fault: ReadFault) {
        self.faults().errors.push(fault);
    }

    /// Every read returns at most `max` bytes (None: no limit).
    pub fn set_short_read(&self, max: Option<usize>) {
        self.faults().short_read = max;
    }

    /// Each read advances the virtual clock by `ticks`.
    pub fn set_latency(&self, ticks: u64) {
        self.faults().latency = ticks;
    }

    /// The `n`th read from now (1 = the next one) fails with `status`; the others are served.
    /// For fault-injection sweeps: a clean run counts its reads, then each is failed in turn.
    pub fn fail_nth_read(&self, n: u64, status: NtStatus) {
        let target = self.read_count().saturating_add(n);
        self.faults().nth = Some((target, status));
    }

    pub fn clear_faults(&self) {
        *self.faults() = Faults::default();
    }

    pub fn virtual_time(&self) -> u64 {
        self.clock.load(Ordering::Acquire)
    }

    pub fn read_count(&self) -> u64 {
        self.reads.load(Ordering::Acquire)
    }

    /// The device is gone (PnP removal): reads fail from now on.
    pub fn set_removed(&self) {
        self.removed.store(true, Ordering::Release);
    }

    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// The disk's IRP_MJ_READ: bytes read, or the injected error.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, NtStatus> {
        let number = self.reads.fetch_add(1, Ordering::AcqRel) + 1;
        if self.is_removed() {
            return Err(NtStatus::DEVICE_DOES_NOT_EXIST);
        }
        let faults = self.faults();
        if let Some((target, status)) = faults.nth
            && target == number
        {
            return Err(status);
        }
        self.clock.fetch_add(faults.latency, Ordering::AcqRel);
        let end = offset.saturating_add(buf.len() as u64);
        for fault in &faults.errors {
            if offset < fault.offset.saturating_add(fault.length) && fault.offset < end {
                return Err(fault.status);
            }
        }
        let data = self.data();
        let len = data.len() as u64;
        if offset >= len {
            return Err(NtStatus::END_OF_FILE);
        }
        let available = (len - offset) as usize;
        let mut count = buf.len().min(available);
        if let Some(max) = faults.short_read {
            count = count.min(max);
        }
        let start = offset as usize;
        buf[..count].copy_from_slice(&data[start..start + count]);
        Ok(count)
    }
}
