//! The IRP trace: with the trace on, every IRP our devices receive is printed to the kernel
//! debugger on the way in and again with the status the dispatch routine returns, at
//! DPFLTR_INFO_LEVEL under DPFLTR_IHVDRIVER_ID (docs/installing-on-a-test-vm.md shows how to
//! see it). The service parameter TraceIrps turns it on at load; FSCTL_SET_IRP_TRACE on the
//! control device switches it at run time.

use crate::driver::DriverGlobals;
use crate::kernel::debug_output::{DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, DebugLine};
use crate::kernel::{DeviceRef, Irp, IrpMajor, IrpParameters, NtStatus, OutputBuffer, debug_print};

/// What the line printed at the way out repeats of the one printed on the way in (the IRP
/// itself may be gone by then).
pub struct TracedIrp {
    major: u8,
    irp: u64,
}

fn globals_of(device: DeviceRef, with: impl FnOnce(&DriverGlobals) -> bool) -> bool {
    device
        .driver_object()
        .and_then(|driver| driver.control_device())
        .is_some_and(|control| with(control.globals()))
}

/// Prints the IRP on its way in, if the trace is on.
pub fn irp_in(device: DeviceRef, irp: &Irp) -> Option<TracedIrp> {
    if !globals_of(device, DriverGlobals::trace_irps) {
        return None;
    }
    let major = irp.major().map_or(0xff, |major| major as u8);
    let traced = TracedIrp {
        major,
        irp: irp.trace_id(),
    };
    let file_object = irp.file_object().map_or(0, |f| f.trace_id());
    print(format_args!(
        "rustfsd: > {} minor {:#04x} irp {:#x} fo {:#x}{}",
        name_of(major),
        irp.minor(),
        traced.irp,
        file_object,
        if device.is_control_device() {
            " (control device)"
        } else {
            ""
        },
    ));
    Some(traced)
}

/// Prints the status the dispatch routine returned.
pub fn irp_out(traced: TracedIrp, status: NtStatus) {
    print(format_args!(
        "rustfsd: < {} irp {:#x} status {:#010x}",
        name_of(traced.major),
        traced.irp,
        status.0 as u32,
    ));
}

// The line's buffer lives in this frame only, never in `dispatch`'s, which every request pays
// for (docs/performance.md, "Stack depth").
#[inline(never)]
fn print(arguments: core::fmt::Arguments<'_>) {
    debug_print(
        DPFLTR_IHVDRIVER_ID,
        DPFLTR_INFO_LEVEL,
        &DebugLine::format(arguments),
    );
}

/// FSCTL_SET_IRP_TRACE on the control device.
pub fn set_irp_trace(control_device: DeviceRef, irp: Irp) -> NtStatus {
    let IrpParameters::FileSystemControl { input, .. } = irp.parameters() else {
        return irp.complete(NtStatus::INVALID_PARAMETER);
    };
    let on = match <[u8; 4]>::try_from(input.as_slice()).map(u32::from_le_bytes) {
        Ok(0) => false,
        Ok(1) => true,
        _ => return irp.complete(NtStatus::INVALID_PARAMETER),
    };
    let mut previous = None;
    let found = globals_of(control_device, |globals| {
        previous = Some(globals.set_trace_irps(on));
        true
    });
    if !found {
        return irp.complete(NtStatus::INVALID_DEVICE_REQUEST);
    }
    let mut irp = irp;
    if let (Some(previous), OutputBuffer::System(output)) = (previous, irp.output_buffer())
        && output.len() >= 4
        && output.write(0, &u32::from(previous).to_le_bytes()).is_ok()
    {
        irp.set_information(4);
    }
    irp.complete(NtStatus::SUCCESS)
}

fn name_of(major: u8) -> &'static str {
    IrpMajor::from_code(major).map_or("IRP_MJ_?", IrpMajor::wdm_name)
}
