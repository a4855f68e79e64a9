//! The modelled machine's state, and the per-OS-thread "current kernel" that the boundary items
//! reach it through.
//!
//! One `Kernel` is one modelled Windows machine. All its state sits behind one mutex, held only
//! for short bookkeeping steps and never while driver code runs (driver code re-enters the model
//! freely: completing an IRP, sending a nested one, a CLOSE from inside a purge).

use std::boxed::Box;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::format;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard};
use std::vec::Vec;

use super::device::{DeviceEntry, DriverEntry, VpbEntry};
use super::file_object::FileObjectEntry;
use super::irp::{IrpEntry, MdlEntry};
use super::pool::PoolEntry;
use super::resource::ResourceState;
use super::slab::Slab;
use super::verifier::{Finding, FindingKind};

/// Kernel stack size on x64 (KERNEL_STACK_SIZE).
pub const KERNEL_STACK_SIZE: usize = 24 * 1024;
/// What the system call, I/O manager and filter manager use before the first dispatch routine.
pub const BASE_STACK_CHARGE: usize = 4 * 1024;
/// What one IoCallDriver hop charges: I/O manager frame, filter manager frame, dispatch frame.
pub const IRP_FRAME_CHARGE: usize = 1536;
/// What Mm's fault path puts on the stack before its paging read: the trap frame, MmAccessFault,
/// the fault resolution and IoPageRead (ReactOS `ntoskrnl/mm/ARM3/pagfault.c` MmAccessFault ->
/// MiDispatchFault, `ntoskrnl/mm/section.c` MiReadPage -> IoPageRead); CcCopyRead's misses
/// take the same path.
pub const FAULT_STACK_CHARGE: usize = 2048;

/// One modelled kernel thread.
pub struct ThreadState {
    pub name: String,
    pub irql: u8,
    /// KeEnterCriticalRegion / FsRtlEnterFileSystem nesting.
    pub apc_disable: u32,
    pub stack_used: usize,
    pub stack_limit: usize,
    /// Set once an overflow was reported on this stack, so one overflow is one finding.
    pub overflowed: bool,
    /// Paging reads this thread is dispatching (nested IRP_PAGING_IO reads).
    pub paging_io: u32,
    /// IoGetTopLevelIrp: what the file system stored with IoSetTopLevelIrp (an IRP id, or a
    /// FSRTL_*_TOP_LEVEL_IRP marker), 0 for none.
    pub top_level_irp: u64,
    /// A system worker thread inside a work item (`event::run_one_work_item`).
    pub running_item: bool,
}

/// A queued work item or deferred system action, run by the system worker thread.
pub type WorkRoutine = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub struct State {
    pub findings: Vec<Finding>,
    pub trace: Vec<String>,
    pub threads: Vec<ThreadState>,
    pub current_thread: u32,
    /// The system worker threads made so far (`idle_worker`).
    pub workers: Vec<u32>,
    /// What is being done, for findings ("CloseHandle h4 -> IRP_MJ_CLOSE").
    pub context: super::context::Context,
    pub pool: Slab<PoolEntry>,
    pub irps: Slab<IrpEntry>,
    pub mdls: Slab<MdlEntry>,
    pub file_objects: Slab<FileObjectEntry>,
    pub resources: Slab<ResourceState>,
    pub devices: Slab<DeviceEntry>,
    pub drivers: Slab<DriverEntry>,
    pub vpbs: Slab<VpbEntry>,
    /// Registered disk file systems' control devices, most recent first (the order the I/O
    /// manager asks them to mount).
    pub file_systems: Vec<super::slab::ObjId>,
    pub work_queue: VecDeque<(String, WorkRoutine)>,
    /// FsRtl notify lists (`notify.rs`).
    pub notify_lists: Slab<super::notify::NotifyListEntry>,
    /// FsRtl OPLOCKs (`oplock.rs`).
    pub oplocks: Slab<super::oplock::OplockEntry>,
    /// IRPs the I/O manager left outstanding (asynchronous handles) that have completed since:
    /// (FILE_OBJECT, major, status, information), for `Session::take_completion`.
    pub async_completions: Vec<(super::slab::ObjId, u8, crate::kernel::NtStatus, usize)>,
    /// The driver whose code is running (pool allocations are charged to it).
    pub current_driver: Option<super::slab::ObjId>,
    /// The last pool block freed in each slab slot, by slot index: (generation, tag, kind), so
    /// a stale pointer's finding names the allocation. One entry per slot, so it stays bounded.
    pub freed_pool:
        std::collections::BTreeMap<u32, (u32, super::pool::PoolTag, super::verifier::ObjectKind)>,
    /// The filter observer attaches a per-stream context to every FCB a CREATE returns.
    pub filter_attach_contexts: bool,
    /// FsRtlNotifyVolumeEvent calls, in order.
    pub volume_events: Vec<crate::kernel::VolumeEvent>,
    /// The drivers IopMountVolume asked to mount, in order (`Session::file_systems_asked`).
    pub mount_requests: Vec<String>,
    /// FILE_OBJECTs the filter observer holds a reference on, by the per-stream context that
    /// holds it (`Session::filter_hold_reference`); dereferenced when that context is torn
    /// down (`fsrtl::teardown_in`).
    pub filter_held_references:
        std::collections::BTreeMap<super::slab::ObjId, Vec<super::slab::ObjId>>,
    /// `Session::set_trace_enabled(false)`: lines are no longer kept (findings still are).
    pub trace_off: bool,
    /// Bytes and blocks in live pool allocations, and the peak of the bytes.
    pub pool_bytes: usize,
    pub pool_blocks: usize,
    pub pool_peak_bytes: usize,
    /// FsRtlCheckOplock / FsRtlFastUnlockAll calls (`Oplock::check`, `Oplock::cleanup` /
    /// `FcbArc::unlock_all`).
    pub oplock_checks: usize,
    pub unlock_alls: usize,
    /// Devices registered with IoRegisterShutdownNotification, most recent first.
    pub shutdown_devices: Vec<super::slab::ObjId>,
    /// Service-key parameters (`<RegistryPath>\Parameters`): (driver, value name, REG_DWORD).
    pub driver_parameters: Vec<(String, String, u32)>,
    /// DbgPrintEx calls: (component, level, text), whatever the filter (the debugger sees
    /// only those `debug_print::visible` admits).
    pub debug_output: Vec<(u32, u32, String)>,
    /// Kd_<component>_Mask values set by the harness (the "Debug Print Filter" registry key or
    /// `ed nt!Kd_IHVDRIVER_Mask`); 0 for a component not named.
    pub debug_filter_masks: Vec<(u32, u32)>,
    /// The cache manager's shared and private cache maps (`cache.rs`).
    pub cache: super::cache::CacheState,
    /// The memory manager's segments, section objects and views (`section.rs`).
    pub sections: super::section::SectionState,
    /// Where the model picks among orders Windows allows (seeded; see `choose`).
    pub choice_seed: u64,
    /// Stack the filters attached above the volume use on every IRP they pass down
    /// (`Session::set_filter_stack`): a deep filter stack.
    pub filter_stack: usize,
    /// How many of the next per-call work-item allocations fail (`queue_work_item`).
    pub work_item_allocation_failures: usize,
    /// `Session::fail_nth_allocation`: the allocation that many allocations from now fails.
    pub allocation_failure_countdown: Option<u64>,
    /// Fallible allocations made so far (pool blocks, ERESOURCEs, work items, VPBs, ...).
    pub allocations: u64,
    /// PsGetCurrentProcess while a fast I/O routine runs (the caller's process id; 0: the
    /// system process).
    pub current_process: u32,
    /// Fast I/O calls made to file systems, those that answered TRUE, and FsRtlCopyRead calls
    /// that answered FALSE because CcCopyRead raised (a failed paging read), so the I/O
    /// manager sent the IRP instead (`fast_io.rs`).
    pub fast_io_calls: u64,
    pub fast_io_taken: u64,
    pub fast_read_raised: u64,
    /// IoQueueWorkItemEx calls on preallocated work items (`work_item.rs`); rustfsd's only one
    /// is its volumes' close queue, so this counts the async close path being taken.
    pub preallocated_work_items_queued: u64,
    /// FsRtlCopyRead calls with Wait FALSE that answered FALSE because Header.Resource could
    /// not be had shared without waiting (another thread held it exclusive).
    pub fast_read_busy: u64,
    /// Processors of the machine (`processor.rs`), and the seeded sequence that picks the one
    /// a thread runs on (apart from `choice_seed`, so that asking changes no other choice).
    pub processors: u32,
    pub processor_seed: u64,
}

impl State {
    pub fn new() -> State {
        let mut state = State::default();
        state.threads.push(ThreadState {
            name: String::from("user0"),
            irql: 0,
            apc_disable: 0,
            stack_used: 0,
            stack_limit: KERNEL_STACK_SIZE,
            overflowed: false,
            paging_io: 0,
            top_level_irp: 0,
            running_item: false,
        });
        let worker = state.add_thread("worker");
        state.workers.push(worker);
        state.processors = super::processor::DEFAULT_PROCESSORS;
        state
    }

    /// The processor the current thread runs on at this moment (`processor::current_processor`).
    pub fn choose_processor(&mut self) -> u32 {
        self.processor_seed = xorshift(self.processor_seed);
        let picked = self.processor_seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
            % u64::from(self.processors.max(1));
        picked as u32
    }

    /// Picks one of `n` outcomes Windows allows, from the seeded sequence (xorshift64*), so a
    /// seed replays the same choices and many seeds cover every outcome.
    pub fn choose(&mut self, n: u64) -> u64 {
        let x = xorshift(self.choice_seed);
        self.choice_seed = x;
        if n == 0 {
            0
        } else {
            x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    pub fn report(&mut self, kind: FindingKind) {
        let finding = Finding {
            kind,
            thread: self.current_thread,
            context: format!("{}", self.context),
        };
        self.push_trace(format!("{finding}"));
        self.findings.push(finding);
    }

    /// Appends a line to the trace, unless tracing is off.
    pub fn push_trace(&mut self, line: String) {
        if !self.trace_off {
            self.trace.push(line);
        }
    }

    pub fn thread(&mut self) -> &mut ThreadState {
        let index = self.current_thread as usize;
        if index >= self.threads.len() {
            self.current_thread = 0;
            return &mut self.threads[0];
        }
        &mut self.threads[index]
    }

    /// Reports a use of a freed pool block, naming its tag and kind when the model knows them.
    pub fn report_stale_pool(
        &mut self,
        id: super::slab::ObjId,
        fallback: super::verifier::ObjectKind,
    ) {
        let (tag, kind) = match self.freed_pool.get(&id.index) {
            Some((generation, tag, kind)) if *generation == id.generation => {
                (tag.as_string(), *kind)
            }
            _ => (String::from("?"), fallback),
        };
        self.report(FindingKind::UseAfterFree { kind, id });
        if let Some(last) = self.findings.last_mut() {
            last.context = format!("{} [pool tag {tag}]", last.context);
        }
    }

    /// Adds a modelled thread, returning its id.
    pub fn add_thread(&mut self, name: &str) -> u32 {
        self.threads.push(ThreadState {
            name: String::from(name),
            irql: 0,
            apc_disable: 0,
            stack_used: 0,
            stack_limit: KERNEL_STACK_SIZE,
            overflowed: false,
            paging_io: 0,
            top_level_irp: 0,
            running_item: false,
        });
        (self.threads.len() - 1) as u32
    }

    /// A system worker thread to run a work item on: the first one not inside an item, or a
    /// new one when every worker is (Windows keeps a pool of worker threads per queue, so a
    /// work item that waits for a later one does not lend it its own thread: docs/nt-model.md,
    /// "Work items").
    pub fn idle_worker(&mut self) -> u32 {
        let idle = self.workers.iter().copied().find(|&id| {
            self.threads
                .get(id as usize)
                .is_some_and(|thread| !thread.running_item)
        });
        if let Some(id) = idle {
            return id;
        }
        let id = self.add_thread(&std::format!("worker{}", self.workers.len() + 1));
        self.workers.push(id);
        id
    }

    /// Charges `bytes` of kernel stack on the current thread; reports an overflow once.
    pub fn charge_stack(&mut self, bytes: usize) {
        let thread = self.thread();
        thread.stack_used = thread.stack_used.saturating_add(bytes);
        if thread.stack_used > thread.stack_limit && !thread.overflowed {
            thread.overflowed = true;
            let (used, limit) = (thread.stack_used, thread.stack_limit);
            self.report(FindingKind::StackOverflow { used, limit });
        }
    }

    pub fn release_stack(&mut self, bytes: usize) {
        let thread = self.thread();
        thread.stack_used = thread.stack_used.saturating_sub(bytes);
        if thread.stack_used == 0 {
            thread.overflowed = false;
        }
    }

    /// Checks the current IRQL against a routine's documented maximum.
    pub fn require_irql(&mut self, routine: &'static str, max: u8) -> bool {
        let irql = self.thread().irql;
        if irql > max {
            self.report(FindingKind::WrongIrql { routine, irql, max });
            return false;
        }
        true
    }
}

/// One modelled machine.
pub struct Kernel {
    state: Mutex<State>,
    /// Requests running on their own OS threads (`preempt`); locked after `state`, never before.
    jobs: Mutex<super::preempt::Jobs>,
}

impl Kernel {
    pub fn new() -> Arc<Kernel> {
        Arc::new(Kernel {
            state: Mutex::new(State::new()),
            jobs: Mutex::new(super::preempt::Jobs::default()),
        })
    }

    /// The machine's state; what is allocated while it is held is the model's
    /// (`heap_faults`), even when the driver called in.
    pub fn lock(&self) -> StateGuard<'_> {
        let model = super::heap_faults::Scope::model();
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        StateGuard {
            state,
            _model: model,
        }
    }

    pub fn jobs(&self) -> MutexGuard<'_, super::preempt::Jobs> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The locked state of one machine (`Kernel::lock`).
pub struct StateGuard<'a> {
    state: MutexGuard<'a, State>,
    _model: super::heap_faults::Scope,
}

impl core::ops::Deref for StateGuard<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl core::ops::DerefMut for StateGuard<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

std::thread_local! {
    static CURRENT: RefCell<Vec<Arc<Kernel>>> = const { RefCell::new(Vec::new()) };
}

/// While alive, boundary items on this OS thread talk to `kernel`.
pub struct Entered {
    _private: (),
}

pub fn enter(kernel: &Arc<Kernel>) -> Entered {
    CURRENT.with(|stack| stack.borrow_mut().push(kernel.clone()));
    Entered { _private: () }
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|stack| {
            stack.borrow_mut().pop();
        });
    }
}

/// The kernel boundary items on this thread belong to, if any.
pub fn current() -> Option<Arc<Kernel>> {
    CURRENT.with(|stack| stack.borrow().last().cloned())
}

/// Runs `f` on the current kernel's state. Outside any kernel (plain unit tests of portable
/// code) there is nothing to record and `None` comes back.
/// One step of the xorshift64 sequences behind `State::choose` and `State::choose_processor`.
fn xorshift(seed: u64) -> u64 {
    let mut x = seed ^ 0x2545_F491_4F6C_DD1D;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x
}

pub fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    let kernel = current()?;
    let mut state = kernel.lock();
    Some(f(&mut state))
}
