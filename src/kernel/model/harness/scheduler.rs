//! A deterministic seeded scheduler. Each modelled user thread runs its script steps in order;
//! the system worker thread runs queued work items (lazy writer, Mm deferred dereferences),
//! each as a job of its own that is preempted and waits like a request.
//! A request step (open, close, read, queries, FSCTLs) runs inside the driver as a job
//! (`preempt`) that stops at every preemption point; at each such point, and between steps,
//! the seed decides which runnable thread goes on: another thread's step may start, a
//! suspended request may resume, the worker may run. Only one thread runs at a time, so the
//! seed fully determines the run: the same seed replays the identical trace.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::format;
use std::string::String;
use std::vec::Vec;

use std::boxed::Box;

use super::WORKER_THREAD;
use super::scenario::{Runner, RunningStep, Step, StepReport};
use crate::kernel::model::event;
use crate::kernel::model::preempt::{Job, JobState};

/// xorshift64*: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The result of a scheduled run.
pub struct ScheduledRun {
    pub seed: u64,
    pub reports: Vec<StepReport>,
    /// The schedule decisions and the model's own trace, in order.
    pub trace: Vec<String>,
    pub ok: bool,
}

/// Runs `steps` under `seed`. Steps without a thread prefix run on the main thread as
/// barriers: every `@tN` step written before one completes before it runs. Between barriers,
/// the `@tN` threads and the worker interleave as the seed decides.
pub fn run(runner: &mut Runner, steps: &[Step], seed: u64) -> ScheduledRun {
    let mut rng = Rng::new(seed);
    runner.session.set_choice_seed(seed);
    let mut model_thread: BTreeMap<u32, u32> = BTreeMap::new();
    let mut run = ScheduledRun {
        seed,
        reports: Vec::new(),
        trace: Vec::new(),
        ok: true,
    };
    let mut segment: Vec<Step> = Vec::new();
    for step in steps {
        if step.thread == 0 {
            interleave(runner, &segment, &mut rng, &mut model_thread, &mut run);
            segment.clear();
            run.trace.push(format!("sched: main line {}", step.line));
            let report = runner.run_step(step);
            run.ok &= report.ok;
            run.reports.push(report);
        } else {
            segment.push(step.clone());
        }
    }
    interleave(runner, &segment, &mut rng, &mut model_thread, &mut run);
    run.ok &= runner.session.findings().is_empty();
    run.trace.extend(runner.session.trace());
    run
}

fn interleave(
    runner: &mut Runner,
    steps: &[Step],
    rng: &mut Rng,
    model_thread: &mut BTreeMap<u32, u32>,
    run: &mut ScheduledRun,
) {
    let mut queues: BTreeMap<u32, VecDeque<Step>> = BTreeMap::new();
    for step in steps {
        queues
            .entry(step.thread)
            .or_default()
            .push_back(step.clone());
    }
    for &thread in queues.keys() {
        model_thread
            .entry(thread)
            .or_insert_with(|| runner.session.add_thread(&format!("user{thread}")));
    }
    let mut running: BTreeMap<u32, RunningStep> = BTreeMap::new();
    // The work item the system worker thread is running, if it has not returned.
    let mut worker: Option<Job<bool>> = None;
    let mut policy = Priorities::new(queues.keys().copied(), rng);
    loop {
        report_returned(runner, &mut running, run);
        if worker.as_ref().is_some_and(Job::is_finished) {
            // A thread waiting on the main OS thread ran it to its return.
            run.trace.push(String::from(
                "sched: worker's item returned while another thread waited",
            ));
            worker.take().and_then(Job::finish);
        }
        let mut runnable: Vec<Turn> = Vec::new();
        for (&thread, queue) in &queues {
            match running.get(&thread) {
                Some(step) if step.job().can_run() => runnable.push(Turn::Resume(thread)),
                Some(_) => {}
                None if !queue.is_empty() => runnable.push(Turn::Start(thread)),
                None => {}
            }
        }
        match &worker {
            Some(job) if job.can_run() => runnable.push(Turn::Worker),
            Some(_) => {}
            None if runner.session.pending_work() > 0 => runnable.push(Turn::Worker),
            None => {}
        }
        let Some(turn) = policy.pick(&runnable) else {
            if let Some(stuck) = running.values().next() {
                // Every request left waits for another: none can ever return.
                run.trace.push(format!(
                    "sched: deadlock, line {} never returns",
                    stuck.line()
                ));
                run.ok = false;
            } else if worker.is_some() {
                run.trace.push(String::from(
                    "sched: deadlock, the worker's item never returns",
                ));
                run.ok = false;
            }
            break;
        };
        match turn {
            Turn::Start(thread) => {
                let Some(mut step) = queues.get_mut(&thread).and_then(|q| q.pop_front()) else {
                    break;
                };
                step.thread = model_thread.get(&thread).copied().unwrap_or(0);
                run.trace
                    .push(format!("sched: t{thread} line {}", step.line));
                match runner.start_step(&step) {
                    Ok(started) => {
                        running.insert(thread, started);
                        resume(runner, &mut running, thread, run);
                    }
                    Err(report) => {
                        run.ok &= report.ok;
                        run.reports.push(report);
                    }
                }
            }
            Turn::Resume(thread) => {
                run.trace.push(format!("sched: t{thread} resumes"));
                resume(runner, &mut running, thread, run);
            }
            Turn::Worker => {
                let job = match worker.take() {
                    Some(job) => {
                        run.trace.push(String::from("sched: worker resumes"));
                        job
                    }
                    None => {
                        run.trace.push(String::from("sched: worker"));
                        let item = Box::new(event::run_one_work_item);
                        Job::spawn(runner.session.kernel(), WORKER_THREAD, item)
                    }
                };
                match job.resume() {
                    JobState::Finished => drop(job.finish()),
                    JobState::Blocked => {
                        run.trace
                            .push(String::from("sched: worker waits for a resource"));
                        worker = Some(job);
                    }
                    JobState::Ready | JobState::Running => worker = Some(job),
                }
            }
        }
    }
    runner.session.set_thread(0);
}

/// How the seed picks among runnable threads: PCT (Burckhardt et al., "A Randomized Scheduler
/// with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010). Each thread gets a random
/// priority and the highest runnable one goes on; at up to two random decisions the thread
/// that runs drops below all others. A uniform choice at every preemption point would almost
/// never let one request run through a long stretch of the driver while another waits, so
/// the orders that need exactly that (one thread wholly inside another's window) would come
/// up only after very many seeds; under PCT each ordering of depth d comes up with
/// probability at least 1/(threads × decisions^(d-1)).
struct Priorities {
    /// Lowest first; the worker is `WORKER`.
    order: Vec<u32>,
    change_points: Vec<usize>,
    decisions: usize,
}

/// The worker's key among the script threads.
const WORKER: u32 = u32::MAX;
/// Decisions over which change points are spread.
const CHANGE_HORIZON: usize = 96;

impl Priorities {
    fn new(threads: impl Iterator<Item = u32>, rng: &mut Rng) -> Priorities {
        let mut order: Vec<u32> = threads.chain([WORKER]).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let change_points = (0..rng.below(3))
            .map(|_| rng.below(CHANGE_HORIZON))
            .collect();
        Priorities {
            order,
            change_points,
            decisions: 0,
        }
    }

    fn key(turn: Turn) -> u32 {
        match turn {
            Turn::Start(thread) | Turn::Resume(thread) => thread,
            Turn::Worker => WORKER,
        }
    }

    fn rank(&self, turn: Turn) -> usize {
        let key = Self::key(turn);
        self.order.iter().position(|&k| k == key).unwrap_or(0)
    }

    fn pick(&mut self, runnable: &[Turn]) -> Option<Turn> {
        let turn = runnable
            .iter()
            .copied()
            .max_by_key(|&turn| self.rank(turn))?;
        if self.change_points.contains(&self.decisions) {
            let key = Self::key(turn);
            self.order.retain(|&k| k != key);
            self.order.insert(0, key);
        }
        self.decisions += 1;
        Some(turn)
    }
}

/// What the scheduler can do next.
#[derive(Clone, Copy)]
enum Turn {
    /// Start this thread's next step.
    Start(u32),
    /// Let this thread's request go on from where it stopped.
    Resume(u32),
    /// Start the oldest queued work item on the system worker thread, or let the one it runs
    /// go on from where it stopped.
    Worker,
}

/// Reports the requests that returned while another thread ran them: a thread that waits on
/// the main OS thread (the worker in a work item, a step run whole) runs jobs until what it
/// waits for is free (`preempt::run_jobs_until`), and a job it runs may return there. That
/// thread's system call is over, as on Windows when its request returns on its own processor
/// while another thread waits: it must be reported, and the thread may go on with its next step.
fn report_returned(
    runner: &mut Runner,
    running: &mut BTreeMap<u32, RunningStep>,
    run: &mut ScheduledRun,
) {
    let returned: Vec<u32> = running
        .iter()
        .filter(|(_, step)| step.job().is_finished())
        .map(|(&thread, _)| thread)
        .collect();
    for thread in returned {
        if let Some(step) = running.remove(&thread) {
            run.trace.push(format!(
                "sched: t{thread} returned while another thread waited"
            ));
            let report = runner.finish_step(step);
            run.ok &= report.ok;
            run.reports.push(report);
        }
    }
}

/// Runs `thread`'s request to its next preemption point; reports it once it has returned.
fn resume(
    runner: &mut Runner,
    running: &mut BTreeMap<u32, RunningStep>,
    thread: u32,
    run: &mut ScheduledRun,
) {
    let state = running.get(&thread).map(|step| step.job().resume());
    if state == Some(JobState::Blocked) {
        run.trace
            .push(format!("sched: t{thread} waits for a resource"));
    }
    if state == Some(JobState::Finished)
        && let Some(step) = running.remove(&thread)
    {
        let report = runner.finish_step(step);
        run.ok &= report.ok;
        run.reports.push(report);
    }
}
