//! IRP_MJ_QUERY_EA and IRP_MJ_SET_EA.
//!
//! A query answers the WSL metadata EAs of the inode (`info::ea`: `$LXUID`, `$LXGID`,
//! `$LXMOD`, and `$LXDEV` for devices) and its `user.*` xattrs as FILE_FULL_EA_INFORMATION, by name list, by index or
//! as a scan that resumes where the handle's last one stopped (the cursor is in the CCB), with
//! FastFAT's statuses (`fastfat/ea.c`, FatCommonQueryEa). The buffer follows the device's I/O
//! method (an MDL on our DO_DIRECT_IO volumes); a bare user buffer is locked into an MDL before
//! it is written. A volume open has no EAs to ask for: STATUS_INVALID_PARAMETER, as FastFAT
//! answers anything but a file or directory open. A set is STATUS_MEDIA_WRITE_PROTECTED.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::ext4::Inode;
use crate::ext4::xattr::name_index;
use crate::fcb::FcbKind;
use crate::info::FileFacts;
use crate::info::ea::{self, Ea, Query};
use crate::kernel::{
    DeviceRef, Irp, IrpParameters, NtStatus, SL_INDEX_SPECIFIED, SL_RESTART_SCAN,
    SL_RETURN_SINGLE_ENTRY,
};
use crate::volume::Vcb;
use crate::volume::disk::status_of;

pub fn query_ea(device: DeviceRef, mut irp: Irp) -> NtStatus {
    let IrpParameters::QueryEa {
        length,
        ea_list,
        index,
        flags,
    } = irp.parameters()
    else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let Some((_, fcb, ccb)) = super::reply::opened(&irp) else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let eas = device
        .with_extension(|vcb: &Vcb| {
            if vcb.is_dismounted() {
                return Err(NtStatus::VOLUME_DISMOUNTED);
            }
            match (fcb.kind(), fcb.inode()) {
                (FcbKind::Volume, _) | (_, None) => Err(NtStatus::INVALID_PARAMETER),
                (_, Some(inode)) => {
                    let stat = vcb.volume().stat(inode);
                    eas_of(
                        vcb,
                        inode,
                        &FileFacts::of(&stat, None, vcb.attribute_options()),
                    )
                }
            }
        })
        .unwrap_or(Err(NtStatus::INVALID_DEVICE_REQUEST));
    drop(fcb);
    let eas = match eas {
        Ok(eas) => eas,
        Err(status) => return irp.complete(status),
    };
    let request = Query {
        length,
        names: ea_list.as_deref(),
        index: (flags & SL_INDEX_SPECIFIED != 0).then_some(index),
        restart: flags & SL_RESTART_SCAN != 0,
        single: flags & SL_RETURN_SINGLE_ENTRY != 0,
    };
    let mut cursor = ccb.ea_cursor.load(Ordering::Acquire) as usize;
    let answer = match ea::query(&eas, &request, &mut cursor) {
        Ok(answer) => answer,
        Err(no_memory) => return irp.complete(no_memory.into()),
    };
    ccb.ea_cursor
        .store(u32::try_from(cursor).unwrap_or(u32::MAX), Ordering::Release);
    if !answer.data.is_empty() {
        let written = irp
            .lock_user_buffer(length)
            .and_then(|()| super::reply::write_output(&irp, &answer.data));
        if let Err(status) = written {
            return irp.complete(status);
        }
    }
    irp.set_information(answer.data.len());
    irp.complete(answer.status)
}

/// Every EA of `inode`, in scan order (`info::ea`): its WSL metadata, then its `user.*`
/// xattrs. A damaged xattr area or block fails with the status of the damage.
pub(crate) fn eas_of(vcb: &Vcb, inode: &Inode, facts: &FileFacts) -> Result<Vec<Ea>, NtStatus> {
    let xattrs = vcb
        .volume()
        .xattrs(inode, name_index::USER)
        .map_err(|error| status_of(&error))?;
    Ok(ea::eas(facts, xattrs)?)
}

/// FileEaInformation's EaSize of `inode`: what a query of all its EAs needs.
pub(crate) fn ea_size_of(vcb: &Vcb, inode: &Inode, facts: &FileFacts) -> Result<u32, NtStatus> {
    Ok(ea::ea_size(&eas_of(vcb, inode, facts)?))
}

/// Nothing on a read-only volume changes.
pub fn set_ea(irp: Irp) -> NtStatus {
    irp.complete(NtStatus::MEDIA_WRITE_PROTECTED)
}
