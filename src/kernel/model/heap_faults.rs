//! Failing the driver's heap allocations, for seed 004's sweep.
//!
//! In `nt`, the driver's `Vec`s and `Box`es come from pool through wdk-alloc's global
//! allocator, so each can fail as ExAllocatePool2 does; in the model they come from the host
//! allocator. A test binary that installs `FaultingAllocator` as its `#[global_allocator]`
//! can fail the Nth allocation the driver makes on this OS thread. Only the driver's own
//! allocations count: the model marks where driver code runs (`in_driver`, at every call from
//! the model into the driver) and where model code runs again (`in_model`, and every lock of
//! the model's state). An infallible allocation in the driver then aborts the test process
//! ("memory allocation of N bytes failed"), as it would bugcheck the machine.

use std::cell::Cell;
use std::string::ToString;
use std::vec::Vec;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Owner {
    Model,
    Driver,
}

/// Which heap allocations of this thread to fail.
#[derive(Clone, Copy)]
struct Arming {
    counted: u64,
    fail_at: Option<u64>,
}

std::thread_local! {
    static OWNER: Cell<Owner> = const { Cell::new(Owner::Model) };
    static ARMING: Cell<Option<Arming>> = const { Cell::new(None) };
}

/// While alive, allocations on this thread belong to `owner`; the previous owner comes back
/// at drop.
pub struct Scope {
    previous: Owner,
}

impl Scope {
    fn enter(owner: Owner) -> Scope {
        let previous = OWNER.try_with(|o| o.replace(owner)).unwrap_or(Owner::Model);
        Scope { previous }
    }

    /// Model code runs from here until the scope drops.
    pub fn model() -> Scope {
        Scope::enter(Owner::Model)
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let _ = OWNER.try_with(|o| o.set(self.previous));
    }
}

/// Runs `f`, a call from the model into the driver.
pub fn in_driver<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::enter(Owner::Driver);
    f()
}

/// Runs `f`, model code called by the driver.
pub fn in_model<R>(f: impl FnOnce() -> R) -> R {
    let _scope = Scope::model();
    f()
}

/// Starts counting the driver's heap allocations on this thread, failing the `fail_at`th
/// (1-based) if given.
pub fn arm(fail_at: Option<u64>) {
    ARMING.with(|a| {
        a.set(Some(Arming {
            counted: 0,
            fail_at,
        }))
    });
}

/// Stops counting; returns how many driver allocations were counted since `arm`.
pub fn disarm() -> u64 {
    ARMING.with(|a| a.take()).map_or(0, |arming| arming.counted)
}

/// True while driver code runs on this thread (not model code it called).
pub fn driver_is_running() -> bool {
    OWNER.try_with(Cell::get) == Ok(Owner::Driver)
}

/// Whether this allocation is the one to fail (and counts it if it is the driver's).
pub fn fails_now() -> bool {
    if OWNER.try_with(Cell::get) != Ok(Owner::Driver) {
        return false;
    }
    ARMING
        .try_with(|a| {
            let Some(mut arming) = a.get() else {
                return false;
            };
            arming.counted += 1;
            a.set(Some(arming));
            arming.fail_at == Some(arming.counted)
        })
        .unwrap_or(false)
        && !audited()
}

/// HEAP_FAULTS_AUDIT=1: instead of failing, prints each place in model code that allocates
/// while counted as the driver (it needs `in_model`), once.
fn audited() -> bool {
    static AUDIT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let _model = Scope::model();
    if !*AUDIT.get_or_init(|| std::env::var_os("HEAP_FAULTS_AUDIT").is_some()) {
        return false;
    }
    let trace = std::backtrace::Backtrace::force_capture().to_string();
    let frames: Vec<&str> = trace
        .lines()
        .filter(|l| {
            l.contains("rustfsd::")
                && !l.contains("heap_faults")
                && !l.contains("faulting_allocator")
        })
        .collect();
    if let Some(first) = frames.first()
        && first.contains("rustfsd::kernel::model")
    {
        std::eprintln!(
            "heap_faults: model code counted as the driver's:\n{}",
            frames
                .iter()
                .take(4)
                .copied()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    true
}
