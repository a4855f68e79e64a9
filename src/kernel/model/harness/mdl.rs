//! MDL reads as a kernel caller sends them (the SMB server, AFD's TransmitFile): IRP_MJ_READ
//! with IRP_MN_MDL on a cached file returns the cache's pages as an MDL chain in
//! Irp->MdlAddress, and the caller gives the chain back later with IRP_MN_COMPLETE_MDL on the
//! same FILE_OBJECT (Learn, IRP_MJ_READ:
//! <https://learn.microsoft.com/en-us/windows-hardware/drivers/ifs/irp-mj-read>; FastFAT
//! `read.c` FatCommonRead and `cachesup.c` FatCompleteMdl; CcMdlRead / CcMdlReadComplete).
//! The verifier checks that every chain handed out is given back exactly once
//! (`MdlChainLeak`, `MdlChainNotOutstanding`).

use std::format;

use super::io::{IrpOutcome, IrpRequest};
use super::session::{Handle, Session};
use crate::kernel::model::irp::BufferKind;
use crate::kernel::request::{IRP_MN_COMPLETE_MDL, IRP_MN_MDL, IrpParameters};
use crate::kernel::{IrpMajor, NtStatus};

impl Session {
    /// IRP_MJ_READ / IRP_MN_MDL of `length` bytes at `offset`: the outcome's data is what the
    /// chain describes, `mdl_chain` the chain to give back with `mdl_read_complete`.
    pub fn mdl_read(&mut self, handle: Handle, offset: u64, length: u32) -> IrpOutcome {
        let mut request = IrpRequest::new(IrpMajor::Read, None);
        request.minor = IRP_MN_MDL;
        request.parameters = IrpParameters::Read { offset, length };
        // No buffer: Irp->MdlAddress starts NULL and the file system fills it.
        request.buffer_kind = BufferKind::System;
        let mut outcome = self.send(
            handle,
            request,
            format!("MDL read {:#x} at {offset} len {length}", handle.value),
        );
        if let Some(chain) = outcome.mdl_chain {
            let state = self.kernel.lock();
            outcome.data = state
                .cache
                .mdl_chains
                .get(&chain)
                .map(|c| c.bytes.clone())
                .unwrap_or_default();
        }
        outcome
    }

    /// IRP_MJ_READ / IRP_MN_COMPLETE_MDL: gives `chain` back on `handle`'s FILE_OBJECT.
    pub fn mdl_read_complete(&mut self, handle: Handle, chain: u64) -> NtStatus {
        let mut request = IrpRequest::new(IrpMajor::Read, None);
        request.minor = IRP_MN_COMPLETE_MDL;
        request.parameters = IrpParameters::Read {
            offset: 0,
            length: 0,
        };
        request.mdl_chain = Some(chain);
        request.buffer_kind = BufferKind::System;
        self.send(
            handle,
            request,
            format!("MDL read complete {:#x} chain {chain}", handle.value),
        )
        .status
    }

    /// MDL chains handed out and not given back yet.
    pub fn mdl_chains_outstanding(&self) -> usize {
        self.kernel.lock().cache.mdl_chains.len()
    }
}
