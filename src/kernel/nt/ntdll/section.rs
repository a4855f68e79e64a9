//! Sections and views for `filetest.exe`'s `create-section`/`map-view`/`touch`/`unmap-view`/
//! `close-section` steps. Learn: NtCreateSection
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-zwcreatesection>,
//! NtMapViewOfSection
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-zwmapviewofsection>,
//! NtUnmapViewOfSection
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ddi/wdm/nf-wdm-zwunmapviewofsection>.
//!
//! The view's address never leaves this file: a page is copied out with NtReadVirtualMemory on
//! this process, so a page the file system fails to read in (an in-page error) comes back as a
//! status instead of an exception that would end the process.

use core::ffi::c_void;
use core::ptr;
use std::vec::Vec;

use super::ffi::{self, Handle};
use super::{File, status};
use crate::kernel::NtStatus;

/// The size of a page (x64), the unit `MappedView::page` copies.
pub const PAGE_SIZE: usize = 4096;

/// A section object handle of this process (closed on drop, or by `close`).
pub struct Section {
    raw: Handle,
}

/// A read-only view of a section mapped into this process (unmapped on drop, or by `unmap`).
pub struct MappedView {
    base: usize,
    size: usize,
}

impl File {
    /// NtCreateSection on this file, of the file's size: SEC_COMMIT, or SEC_IMAGE with
    /// `image`; PAGE_READONLY either way (it needs only FILE_READ_DATA on the handle).
    pub fn create_section(&self, image: bool) -> Result<Section, NtStatus> {
        let mut raw: Handle = ptr::null_mut();
        let attributes = if image {
            ffi::SEC_IMAGE
        } else {
            ffi::SEC_COMMIT
        };
        // SAFETY: `raw` is a live local; no object attributes and no maximum size (NULL: the
        // file's size); `self.raw` is a file handle this process owns. The call is synchronous.
        let result = status(unsafe {
            ffi::NtCreateSection(
                &mut raw,
                ffi::SECTION_MAP_READ | ffi::SECTION_QUERY,
                ptr::null(),
                ptr::null(),
                ffi::PAGE_READONLY,
                attributes,
                self.raw,
            )
        });
        if result.is_error() || raw.is_null() {
            return Err(result);
        }
        Ok(Section { raw })
    }
}

impl Section {
    /// NtMapViewOfSection of the whole section into this process, read-only.
    pub fn map(&self) -> Result<MappedView, NtStatus> {
        let mut base: *mut c_void = ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: `base` and `size` are live locals (NULL and 0: Mm picks the address and maps
        // all of the section); `self.raw` is a section handle this process owns. The view is
        // unmapped only by `MappedView` (`unmap` or drop), which owns the address.
        let result = status(unsafe {
            ffi::NtMapViewOfSection(
                self.raw,
                ffi::current_process(),
                &mut base,
                0,
                0,
                ptr::null_mut(),
                &mut size,
                ffi::VIEW_UNMAP,
                0,
                ffi::PAGE_READONLY,
            )
        });
        if result.is_error() || base.is_null() {
            return Err(result);
        }
        Ok(MappedView {
            base: base as usize,
            size,
        })
    }

    /// NtClose, with its status.
    pub fn close(self) -> NtStatus {
        let raw = self.raw;
        core::mem::forget(self);
        // SAFETY: `raw` is a section handle this process owns; `self` is consumed, so it is
        // closed once.
        status(unsafe { ffi::NtClose(raw) })
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        // SAFETY: `self.raw` is a section handle this process owns, closed only here or by
        // `close` (which forgets `self`).
        unsafe { ffi::NtClose(self.raw) };
    }
}

impl MappedView {
    /// A copy of page `index` of the view. STATUS_ACCESS_VIOLATION if the page lies past the
    /// view (ViewSize from NtMapViewOfSection), as the thread touching it would get.
    pub fn page(&self, index: u64) -> Result<Vec<u8>, NtStatus> {
        let offset = usize::try_from(index)
            .ok()
            .and_then(|index| index.checked_mul(PAGE_SIZE))
            .filter(|offset| {
                offset
                    .checked_add(PAGE_SIZE)
                    .is_some_and(|end| end <= self.size)
            })
            .ok_or(NtStatus::ACCESS_VIOLATION)?;
        let mut page = Vec::new();
        page.try_reserve_exact(PAGE_SIZE)
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        page.resize(PAGE_SIZE, 0);
        let mut copied: usize = 0;
        // SAFETY: the source range lies inside the view (checked above), which stays mapped
        // while `self` lives; NtReadVirtualMemory probes it and returns a status on a fault
        // instead of raising. `page` holds PAGE_SIZE bytes and `copied` is a live local.
        let result = status(unsafe {
            ffi::NtReadVirtualMemory(
                ffi::current_process(),
                (self.base + offset) as *const c_void,
                page.as_mut_ptr().cast(),
                PAGE_SIZE,
                &mut copied,
            )
        });
        if result.is_error() {
            return Err(result);
        }
        page.truncate(copied);
        Ok(page)
    }

    /// NtUnmapViewOfSection, with its status.
    pub fn unmap(self) -> NtStatus {
        let base = self.base;
        core::mem::forget(self);
        // SAFETY: `base` is the address of a view this process mapped; `self` is consumed, so
        // it is unmapped once and never read again.
        status(unsafe { ffi::NtUnmapViewOfSection(ffi::current_process(), base as *mut c_void) })
    }
}

impl Drop for MappedView {
    fn drop(&mut self) {
        // SAFETY: as in `unmap`; drop runs once and `unmap` forgets `self`.
        unsafe { ffi::NtUnmapViewOfSection(ffi::current_process(), self.base as *mut c_void) };
    }
}
