//! Preemption inside driver code.
//!
//! On a multiprocessor two requests run through the file system at once, so a CREATE can be
//! anywhere in its dispatch routine when a LOCK_VOLUME or a CLOSE runs on another processor.
//! The model reproduces that with *jobs*: a modelled thread's request runs on an OS thread of
//! its own, but only one OS thread runs at a time (a baton). At each preemption point (pool
//! allocation, resource and FAST_MUTEX acquire and release, IoCallDriver, disk reads, VPB
//! references, and the entry of every call the driver makes into Cc, Mm, FsRtl, the I/O
//! manager and Ke: `kernel_call`) a job hands the baton back to the scheduler, which lets the
//! seed decide who runs next. A thread at DISPATCH_LEVEL (a spin lock held) is never
//! preempted. A job that must wait for a resource another thread holds blocks there until the
//! owner releases it, as KeWaitForSingleObject inside ExAcquireResourceExclusiveLite does.
//!
//! The scheduler and everything it runs directly is the "main" OS thread. When main itself
//! must wait (a step it runs needs a resource a suspended job holds), it runs jobs, chosen by
//! the seed, until the resource is free; if no job can run, the wait never ends: a deadlock.

use std::boxed::Box;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::resource::AcquireMode;
use super::slab::ObjId;
use super::state::{Kernel, State, current, enter};

/// Where a job stands, as the scheduler sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum JobState {
    /// Created, or suspended at a preemption point: can run.
    Ready,
    /// Has the baton.
    Running,
    /// Waiting for a resource; can run once it is grantable.
    Blocked,
    /// Its request returned.
    Finished,
}

/// What a blocked job waits for.
#[derive(Clone, Debug)]
pub enum Wait {
    /// An ERESOURCE (or FAST_MUTEX) grant.
    Resource { resource: ObjId, mode: AcquireMode },
    /// A pended IRP's completion (a synchronous caller).
    Irp(ObjId),
    /// The last stage of an outstanding IRP's completion on this FILE_OBJECT (a caller
    /// waiting on its event: `harness::io::await_completion`).
    Completion(ObjId),
    /// A KEVENT another thread (the worker's work item) sets.
    Event(Arc<AtomicBool>),
}

struct Baton {
    job_turn: bool,
    state: JobState,
    wait: Option<Wait>,
}

/// One job's baton and its modelled thread.
pub struct JobCore {
    thread: u32,
    /// The modelled thread current when the job last yielded: its own, or the worker's while
    /// it runs a work item inside a wait (`event::run_one_work_item`). It resumes as that.
    running_as: AtomicU32,
    baton: Mutex<Baton>,
    turn_changed: Condvar,
}

impl JobCore {
    fn baton(&self) -> MutexGuard<'_, Baton> {
        self.baton
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait_for(&self, job_turn: bool) -> MutexGuard<'_, Baton> {
        let mut baton = self.baton();
        while baton.job_turn != job_turn {
            baton = self
                .turn_changed
                .wait(baton)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        baton
    }

    /// On the job's OS thread: give the baton back and wait for it again.
    fn yield_to_scheduler(&self, state: JobState, wait: Option<Wait>) {
        if let Some(thread) = super::state::with_state(|state| state.current_thread) {
            self.running_as.store(thread, Ordering::Relaxed);
        }
        {
            let mut baton = self.baton();
            baton.state = state;
            baton.wait = wait;
            baton.job_turn = false;
        }
        self.turn_changed.notify_all();
        drop(self.wait_for(true));
    }

    /// True if the scheduler may give this job the baton now.
    fn can_run(&self, state: &State) -> bool {
        let baton = self.baton();
        match baton.state {
            JobState::Ready => true,
            JobState::Blocked => match &baton.wait {
                None => true,
                Some(Wait::Resource { resource, mode }) => state
                    .resources
                    .get(*resource)
                    .is_none_or(|r| r.would_grant(self.thread, *mode)),
                Some(Wait::Irp(irp)) => state
                    .irps
                    .get(*irp)
                    .is_none_or(|entry| entry.completed.is_some()),
                Some(Wait::Completion(file_object)) => state
                    .async_completions
                    .iter()
                    .any(|completion| completion.0 == *file_object),
                Some(Wait::Event(signaled)) => signaled.load(Ordering::Acquire),
            },
            JobState::Running | JobState::Finished => false,
        }
    }
}

/// The jobs of one modelled machine that have not finished.
#[derive(Default)]
pub struct Jobs {
    live: Vec<Arc<JobCore>>,
}

std::thread_local! {
    static THIS_JOB: RefCell<Option<Arc<JobCore>>> = const { RefCell::new(None) };
}

fn this_job() -> Option<Arc<JobCore>> {
    THIS_JOB.with(|job| job.borrow().clone())
}

/// True on a job's OS thread.
pub fn on_job() -> bool {
    THIS_JOB.with(|job| job.borrow().is_some())
}

/// A preemption point: on a job, the scheduler may run someone else here, unless the thread
/// runs at DISPATCH_LEVEL or above (a spin lock held): there the thread is not preempted.
pub fn point() {
    if let Some(job) = this_job()
        && super::irql::current_irql() < super::irql::DISPATCH_LEVEL
    {
        job.yield_to_scheduler(JobState::Ready, None);
    }
}

/// A call the driver makes into the kernel (Cc, Mm, FsRtl, Io, Ke, Se): a preemption point
/// at its entry. A thread below DISPATCH_LEVEL can be preempted anywhere, so whatever the
/// driver holds across the call (its resources, exclusive or shared) may meet any other
/// request there. Only calls from driver code count: the model's own uses of the same
/// routines (a completion inside an oplock break) keep their points where they are.
pub fn kernel_call() {
    if on_job() && super::heap_faults::driver_is_running() {
        point();
    }
}

/// On a job: blocks until the scheduler finds `wait` grantable and resumes this job.
pub fn block(wait: Wait) {
    if let Some(job) = this_job() {
        job.yield_to_scheduler(JobState::Blocked, Some(wait));
    }
}

/// True while another job than this one has not returned: a request suspended inside the
/// driver, or a work item the worker runs as a job. It may still set an event this thread
/// waits for (a CLEANUP on another thread deleting the shared cache map whose uninitialize
/// event a first CLEANUP waits on), so only the scheduler, once nothing can run, may call
/// the wait a deadlock.
pub fn other_job_live() -> bool {
    let me = this_job();
    current().is_some_and(|kernel| {
        kernel
            .jobs()
            .live
            .iter()
            .any(|job| !me.as_ref().is_some_and(|me| Arc::ptr_eq(me, job)))
    })
}

type JobResult<R> = Arc<Mutex<Option<std::thread::Result<R>>>>;

/// A request running on its own OS thread under the baton.
pub struct Job<R> {
    core: Arc<JobCore>,
    kernel: Arc<Kernel>,
    result: JobResult<R>,
    os_thread: Option<JoinHandle<()>>,
}

impl<R: Send + 'static> Job<R> {
    /// Starts `request` for modelled thread `thread`; it runs only when resumed.
    pub fn spawn(
        kernel: &Arc<Kernel>,
        thread: u32,
        request: Box<dyn FnOnce() -> R + Send>,
    ) -> Job<R> {
        let core = Arc::new(JobCore {
            thread,
            running_as: AtomicU32::new(thread),
            baton: Mutex::new(Baton {
                job_turn: false,
                state: JobState::Ready,
                wait: None,
            }),
            turn_changed: Condvar::new(),
        });
        let result: JobResult<R> = Arc::new(Mutex::new(None));
        let os_thread = {
            let (core, kernel, result) = (core.clone(), kernel.clone(), result.clone());
            std::thread::spawn(move || {
                THIS_JOB.with(|job| *job.borrow_mut() = Some(core.clone()));
                drop(core.wait_for(true));
                let entered = enter(&kernel);
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(request));
                drop(entered);
                *result
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(outcome);
                {
                    let mut baton = core.baton();
                    baton.state = JobState::Finished;
                    baton.job_turn = false;
                }
                core.turn_changed.notify_all();
            })
        };
        kernel.jobs().live.push(core.clone());
        Job {
            core,
            kernel: kernel.clone(),
            result,
            os_thread: Some(os_thread),
        }
    }

    pub fn thread(&self) -> u32 {
        self.core.thread
    }

    /// True if the scheduler may resume it now.
    pub fn can_run(&self) -> bool {
        let state = self.kernel.lock();
        self.core.can_run(&state)
    }

    pub fn is_finished(&self) -> bool {
        self.core.baton().state == JobState::Finished
    }

    /// Runs the job until its next preemption point, block or return.
    pub fn resume(&self) -> JobState {
        resume(&self.kernel, &self.core)
    }

    /// The request's result, once finished (a panic in it is re-raised here).
    pub fn finish(mut self) -> Option<R> {
        if !self.is_finished() {
            return None;
        }
        if let Some(os_thread) = self.os_thread.take() {
            let _ = os_thread.join();
        }
        let outcome = self
            .result
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()?;
        match outcome {
            Ok(value) => Some(value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Gives `core` the baton with its modelled thread current, and takes it back.
fn resume(kernel: &Arc<Kernel>, core: &Arc<JobCore>) -> JobState {
    let previous = {
        let mut state = kernel.lock();
        core::mem::replace(
            &mut state.current_thread,
            core.running_as.load(Ordering::Relaxed),
        )
    };
    {
        let mut baton = core.baton();
        baton.state = JobState::Running;
        baton.job_turn = true;
    }
    core.turn_changed.notify_all();
    let state = core.wait_for(false).state;
    kernel.lock().current_thread = previous;
    if state == JobState::Finished {
        kernel.jobs().live.retain(|live| !Arc::ptr_eq(live, core));
    }
    state
}

/// On the main OS thread, which cannot block: runs runnable jobs (the seed picks which)
/// until `done` holds. False if no job can run and `done` still does not hold.
pub fn run_jobs_until(done: impl Fn(&State) -> bool) -> bool {
    let Some(kernel) = current() else {
        return false;
    };
    loop {
        let next = {
            let mut state = kernel.lock();
            if done(&state) {
                return true;
            }
            let runnable: Vec<Arc<JobCore>> = kernel
                .jobs()
                .live
                .iter()
                .filter(|job| job.can_run(&state))
                .cloned()
                .collect();
            if runnable.is_empty() {
                return false;
            }
            let pick = state.choose(runnable.len() as u64) as usize;
            runnable.get(pick).cloned()
        };
        if let Some(job) = next {
            resume(&kernel, &job);
        }
    }
}
