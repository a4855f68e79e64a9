//! The per-volume FCB table and its delayed-close queue.
//!
//! The table holds one counted reference on every FCB it lists, so reopening a file finds its
//! FCB instead of rebuilding it. When a FILE_OBJECT of an FCB closes, the FCB joins the idle
//! queue (oldest first). The queue is bounded: past its limit, the oldest idle FCB that nobody
//! else references (its table reference is the only one) leaves the table and is freed, and its
//! parent joins the queue in turn. FCBs still referenced by a FILE_OBJECT are never freed here.
//! Callers hold the VCB's table lock.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::file_control_block::FcbRef;
use crate::kernel::{FastIoPossible, NtStatus};

struct Entry {
    key: u64,
    fcb: FcbRef,
    /// In the idle queue.
    queued: bool,
}

/// FCBs by key (inode number), sorted.
pub struct FcbTable {
    entries: Vec<Entry>,
    idle: VecDeque<u64>,
    idle_limit: usize,
}

impl FcbTable {
    /// An empty table whose idle queue keeps at most `idle_limit` unused FCBs.
    pub fn new(idle_limit: usize) -> FcbTable {
        FcbTable {
            entries: Vec::new(),
            idle: VecDeque::new(),
            idle_limit,
        }
    }

    fn position(&self, key: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&key, |entry| entry.key)
    }

    /// A new counted reference to the FCB of `key`, if listed.
    pub fn get(&self, key: u64) -> Option<FcbRef> {
        let index = self.position(key).ok()?;
        self.entries.get(index).map(|entry| entry.fcb.clone())
    }

    /// Lists `fcb` under its key and returns a reference to the listed FCB: `fcb` itself, or
    /// the one another thread listed first (then `fcb` is dropped).
    pub fn insert(&mut self, fcb: FcbRef) -> Result<FcbRef, NtStatus> {
        let key = fcb.key();
        match self.position(key) {
            Ok(index) => self
                .entries
                .get(index)
                .map(|entry| entry.fcb.clone())
                .ok_or(NtStatus::UNSUCCESSFUL),
            Err(index) => {
                self.entries
                    .try_reserve(1)
                    .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
                let listed = fcb.clone();
                self.entries.insert(
                    index,
                    Entry {
                        key,
                        fcb,
                        queued: false,
                    },
                );
                Ok(listed)
            }
        }
    }

    /// A FILE_OBJECT of `key` closed: the FCB may be unused now. Queues it, then trims the
    /// queue to its limit.
    pub fn note_closed(&mut self, key: u64) {
        self.enqueue(key);
        self.trim();
    }

    fn enqueue(&mut self, key: u64) {
        let Ok(index) = self.position(key) else {
            return;
        };
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        // Without room in the queue the FCB simply stays listed until dismount.
        if entry.queued || self.idle.try_reserve(1).is_err() {
            return;
        }
        entry.queued = true;
        self.idle.push_back(key);
    }

    /// Frees the oldest idle FCBs beyond the limit. Each pass either removes an entry or
    /// unqueues one, so this ends.
    fn trim(&mut self) {
        while self.idle.len() > self.idle_limit {
            let Some(key) = self.idle.pop_front() else {
                break;
            };
            let Ok(index) = self.position(key) else {
                continue;
            };
            let Some(entry) = self.entries.get_mut(index) else {
                continue;
            };
            entry.queued = false;
            if !entry.fcb.is_unique() {
                // In use again: its next CLOSE queues it anew.
                continue;
            }
            let entry = self.entries.remove(index);
            let parent = entry.fcb.parent_key();
            // The FCB is freed here; its parent loses a reference and may now be idle too.
            drop(entry);
            if let Some(parent) = parent {
                self.enqueue(parent);
            }
        }
    }

    /// New references to the listed FCBs that have had a section.
    pub fn with_sections(&self) -> Result<Vec<FcbRef>, NtStatus> {
        let mut found = Vec::new();
        for entry in self.entries.iter().filter(|entry| entry.fcb.has_section()) {
            found
                .try_reserve(1)
                .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
            found.push(entry.fcb.clone());
        }
        Ok(found)
    }

    /// Header.IsFastIoPossible = FastIoIsNotPossible on every listed FCB (dismount): FsRtl's
    /// fast reads and the fast queries stop, and the IRPs they fall back to are refused.
    pub fn stop_fast_io(&self) {
        for entry in &self.entries {
            entry.fcb.set_fast_io_possible(FastIoPossible::NotPossible);
        }
    }

    /// Drops every reference the table holds (dismount). FCBs that FILE_OBJECTs still use
    /// live on until their CLOSE.
    pub fn clear(&mut self) {
        self.idle.clear();
        self.entries.clear();
    }

    /// FCBs listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// FCBs in the idle queue.
    pub fn idle_len(&self) -> usize {
        self.idle.len()
    }
}
