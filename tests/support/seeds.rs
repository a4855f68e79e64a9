//! Seeded random tests: run many seeds, stop after a few failures, and check that what the
//! runs were meant to exercise happened often enough to prove something.

use std::fmt::Debug;

/// Runs `run` for every seed (stopping after `max_failures` failures) and fails the test
/// with the failures' reports.
pub fn run_all<T>(
    seeds: impl Iterator<Item = u64>,
    tally: &mut T,
    max_failures: usize,
    mut run: impl FnMut(u64, &mut T) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    for seed in seeds {
        if let Err(failure) = run(seed, tally) {
            failures.push(failure);
            if failures.len() >= max_failures {
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Fails unless every count reaches `at_least`.
pub fn require_often(counts: &[(&str, usize)], at_least: usize, tally: &dyn Debug) {
    for (what, n) in counts {
        assert!(*n >= at_least, "only {n} {what}: {tally:?}");
    }
}

/// How many seeds to run: the environment variable `name`, else `default`.
pub fn count(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}
