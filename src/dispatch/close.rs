//! IRP_MJ_CLOSE: the last reference to a FILE_OBJECT is gone. It may come on any thread, long
//! after CLEANUP, or nested inside a Cc/Mm call. It takes back the FILE_OBJECT's CCB and FCB
//! references, which cannot fail, and always succeeds; dropping the FCB reference, the table
//! bookkeeping and the volume's end follow in `fcb::close`, which never waits for a lock here.

use crate::fcb::{Ccb, Fcb, close};
use crate::kernel::{DeviceRef, Irp, NtStatus};

// Not inlined into `dispatch`, whose frame every request (a nested paging read too) pays
// for (docs/performance.md, "Stack depth").
#[inline(never)]
pub fn close(device: DeviceRef, irp: Irp) -> NtStatus {
    let fcb = irp.file_object().and_then(|file_object| {
        drop(file_object.detach_ccb::<Ccb>());
        file_object.detach_fcb::<Fcb>()
    });
    let status = irp.complete(NtStatus::SUCCESS);
    // The volume (and its device) outlive this: the FILE_OBJECT's hold is released last.
    close::finish_close(device, fcb);
    status
}
