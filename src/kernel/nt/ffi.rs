//! ntoskrnl exports that the mingw-w64 headers make inline or omit, declared by hand. Each is
//! a real export of ntoskrnl.exe (listed in the kit's ntoskrnl.exports).

use wdk_sys::{PETHREAD, PKTHREAD};

unsafe extern "system" {
    /// The current thread (KeGetCurrentThread is also inline in the WDK; the export exists).
    pub fn KeGetCurrentThread() -> PKTHREAD;
    /// The current thread as an ETHREAD (for Irp->Tail.Overlay.Thread).
    pub fn PsGetCurrentThread() -> PETHREAD;
}
