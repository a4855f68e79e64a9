//! NtQueryEaFile and NtSetEaFile (Learn, IRP_MJ_QUERY_EA / IRP_MJ_SET_EA; ReactOS
//! `ntoskrnl/io/iomgr/iofunc.c`): IRP_MJ_QUERY_EA with Parameters.QueryEa.{Length, EaList,
//! EaListLength, EaIndex}, the name list captured in kernel memory, SL_RESTART_SCAN,
//! SL_RETURN_SINGLE_ENTRY, and SL_INDEX_SPECIFIED when the caller passes an index; the output
//! buffer follows the device's I/O method, as for NtQueryDirectoryFile. A set is sent as
//! IRP_MJ_SET_EA (the model does not build the FILE_FULL_EA_INFORMATION list the I/O manager
//! would check with IoCheckEaBufferValidity first).

use std::format;
use std::vec::Vec;

use super::io::{IrpOutcome, IrpRequest};
use super::session::{Handle, Session};
use crate::kernel::request::{
    IrpParameters, SL_INDEX_SPECIFIED, SL_RESTART_SCAN, SL_RETURN_SINGLE_ENTRY,
};
use crate::kernel::{IrpMajor, NtStatus};

/// What NtQueryEaFile asks for, besides the buffer length.
#[derive(Clone, Debug, Default)]
pub struct EaQuery {
    /// EaList: the names, as FILE_GET_EA_INFORMATION entries (`get_ea_list`).
    pub list: Option<Vec<u8>>,
    /// EaIndex (1-based), which sets SL_INDEX_SPECIFIED.
    pub index: Option<u32>,
    pub restart: bool,
    pub single: bool,
}

/// FILE_GET_EA_INFORMATION entries for `names`, each on a 4-byte boundary.
pub fn get_ea_list(names: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let size = (5 + name.len() + 1 + 3) & !3;
        let next = if i + 1 == names.len() { 0 } else { size as u32 };
        list.extend_from_slice(&next.to_le_bytes());
        list.push(name.len() as u8);
        list.extend_from_slice(name.as_bytes());
        list.resize(list.len() + size - 5 - name.len(), 0);
    }
    list
}

impl Session {
    /// NtQueryEaFile into a buffer of `length` bytes.
    pub fn query_ea(&mut self, handle: Handle, length: u32, query: &EaQuery) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::QueryEa, None);
        let flags = u8::from(query.restart) * SL_RESTART_SCAN
            + u8::from(query.single) * SL_RETURN_SINGLE_ENTRY
            + u8::from(query.index.is_some()) * SL_INDEX_SPECIFIED;
        request.parameters = IrpParameters::QueryEa {
            length,
            ea_list: query.list.clone(),
            index: query.index.unwrap_or(0),
            flags,
        };
        request.buffer_len = length as usize;
        let label = format!(
            "NtQueryEaFile {:#x} len {length} index {:?} flags {flags:#x}",
            handle.value, query.index
        );
        self.send(handle, request, label)
    }

    /// NtSetEaFile.
    pub fn set_ea(&mut self, handle: Handle) -> NtStatus {
        let mut request = IrpRequest::new(IrpMajor::SetEa, None);
        request.parameters = IrpParameters::SetEa;
        let label = format!("NtSetEaFile {:#x}", handle.value);
        self.send(handle, request, label).status
    }
}
