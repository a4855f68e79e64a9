//! Cache and section support: CcInitializeCacheMap/CcUninitializeCacheMap, section teardown,
//! and the section-synchronization callbacks registered at DriverEntry.

pub mod section_sync;
pub mod teardown;
