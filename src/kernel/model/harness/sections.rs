//! The session's memory-mapping calls: NtCreateSection, NtMapViewOfSection, page faults,
//! NtUnmapViewOfSection, memory pressure, and a purge by another component. Section objects and
//! views are named by the caller (the script's names). See `model::section`.

use std::format;
use std::vec::Vec;

use super::session::{Handle, Session};
use crate::kernel::NtStatus;
use crate::kernel::model::section::{self, SectionKind};
use crate::kernel::model::slab::ObjId;
use crate::kernel::model::state::enter;

impl Session {
    fn mapped_file_object(&self, handle: Handle) -> Result<ObjId, NtStatus> {
        self.processes
            .get(&handle.pid)
            .and_then(|p| p.get(handle.value))
            .ok_or(NtStatus::INVALID_HANDLE)
    }

    /// NtCreateSection on the file behind `handle` (SEC_IMAGE for `SectionKind::Image`); the
    /// section object is called `name`.
    pub fn create_section(&mut self, name: &str, handle: Handle, kind: SectionKind) -> NtStatus {
        let file_object = match self.mapped_file_object(handle) {
            Ok(file_object) => file_object,
            Err(status) => return status,
        };
        self.note(format!("NtCreateSection {name} on {:#x}", handle.value));
        match section::create(&self.kernel, name, file_object, kind) {
            Ok(()) => NtStatus::SUCCESS,
            Err(status) => status,
        }
    }

    /// NtClose of section object `name`.
    pub fn close_section(&mut self, name: &str) -> NtStatus {
        self.note(format!("NtClose section {name}"));
        section::close(&self.kernel, name)
    }

    /// NtMapViewOfSection of the whole of section `section`, as view `view`.
    pub fn map_view(&mut self, view: &str, section: &str) -> NtStatus {
        self.note(format!("NtMapViewOfSection {section} as {view}"));
        section::map_view(&self.kernel, view, section)
    }

    /// NtUnmapViewOfSection.
    pub fn unmap_view(&mut self, view: &str) -> NtStatus {
        self.note(format!("NtUnmapViewOfSection {view}"));
        section::unmap_view(&self.kernel, view)
    }

    /// Reads page `page` of view `view` (a page fault if it is not resident): the whole page.
    pub fn touch(&mut self, view: &str, page: u64) -> Result<Vec<u8>, NtStatus> {
        self.note(format!("touch {view} page {page}"));
        section::touch(&self.kernel, view, page)
    }

    /// Memory pressure: every unused segment is deleted on the worker thread. Returns how many.
    pub fn trim(&mut self) -> usize {
        self.note(std::string::String::from("memory pressure"));
        section::trim(&self.kernel)
    }

    /// CcPurgeCacheSection on the file behind `handle`, as another kernel component calls it.
    pub fn purge(&mut self, handle: Handle) -> Result<bool, NtStatus> {
        let file_object = self.mapped_file_object(handle)?;
        self.note(format!("CcPurgeCacheSection of {:#x}", handle.value));
        let sop = {
            let state = self.kernel.lock();
            state
                .file_objects
                .get(file_object)
                .and_then(|f| f.section_object_pointers)
                .map(|sop| sop.id)
        };
        let sop = sop.ok_or(NtStatus::INVALID_PARAMETER)?;
        let _entered = enter(&self.kernel);
        Ok(section::purge(&self.kernel, sop))
    }

    /// (page faults sent as paging reads, segments deleted, segments alive).
    pub fn section_counters(&self) -> (u64, u64, usize) {
        let state = self.kernel.lock();
        (
            state.sections.paging_reads,
            state.sections.segments_deleted,
            section::live_segments(&state),
        )
    }
}
