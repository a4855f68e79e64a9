//! A deterministic seeded scheduler. Each modelled user thread runs its script steps in order;
//! the system worker thread runs queued work items (lazy writer, Mm deferred dereferences).
//! At each point the seed decides which runnable thread takes the next step. A step runs to
//! completion (the model does not preempt inside the driver), so the seed fully determines
//! the run: the same seed replays the identical trace.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::format;
use std::string::String;
use std::vec::Vec;

use super::WORKER_THREAD;
use super::scenario::{Runner, Step, StepReport};

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
    loop {
        let mut runnable: Vec<Option<u32>> = queues
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(t, _)| Some(*t))
            .collect();
        if runner.session.pending_work() > 0 {
            runnable.push(None);
        }
        if runnable.is_empty() {
            break;
        }
        match runnable[rng.below(runnable.len())] {
            Some(thread) => {
                let Some(mut step) = queues.get_mut(&thread).and_then(|q| q.pop_front()) else {
                    break;
                };
                step.thread = model_thread.get(&thread).copied().unwrap_or(0);
                run.trace
                    .push(format!("sched: t{thread} line {}", step.line));
                let report = runner.run_step(&step);
                run.ok &= report.ok;
                run.reports.push(report);
            }
            None => {
                run.trace.push(String::from("sched: worker"));
                runner.session.set_thread(WORKER_THREAD);
                runner.session.run_one_work_item();
            }
        }
    }
    runner.session.set_thread(0);
}
