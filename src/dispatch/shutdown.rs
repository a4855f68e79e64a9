//! IRP_MJ_SHUTDOWN, sent to the control device (registered with
//! IoRegisterShutdownNotification) while the system shuts down. A read-only volume has
//! nothing to flush, so it completes at once: it takes no lock and waits for no open handle,
//! pending close or system reference, so a shutdown can never hang on us.

use crate::kernel::{Irp, NtStatus};

pub fn shutdown(irp: Irp) -> NtStatus {
    irp.complete(NtStatus::SUCCESS)
}
