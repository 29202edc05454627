//! A full run under `cargo test`: every case, each in a worker process
//! (see [`workers`](super::workers)), with one character of progress per
//! case instead of libtest's line — the failures are told once, grouped,
//! in the summary that ends the run.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::workers::Pool;
use crate::case::RunOptions;
use crate::suite::{Plan, cases_at_once, finished_verdict};
use crate::verdict::{CaseResult, Verdict};

/// Progress characters per line.
const PER_LINE: usize = 88;

/// How many cases run at once: `--test-threads`, else as many as a
/// suite's own run takes ([`cases_at_once`]).
pub(super) fn parallelism(plan: &Plan, test_threads: Option<usize>) -> usize {
    test_threads.map_or_else(|| cases_at_once(&plan.cases), |n| n.max(1))
}

/// Runs every case of `plan` in `pool`, `parallel` at a time, printing
/// progress; the raw results (known failures not applied) in plan order.
pub(super) fn run(
    plan: &Plan,
    options: &RunOptions,
    pool: &Pool,
    parallel: usize,
    strict: bool,
) -> Vec<CaseResult> {
    let total = plan.cases.len();
    let transports: Vec<&str> = {
        let mut names: Vec<&str> = plan.cases.iter().map(|(t, _)| t.name()).collect();
        names.dedup();
        names
    };
    println!(
        "\nrunning {total} cases ({}) in {} worker processes",
        transports.join(", "),
        parallel.min(total)
    );
    let next = AtomicUsize::new(0);
    // Progress is printed in plan order (a case's mark waits for those
    // before it), so that identical runs print identical lines.
    let progress = Mutex::new(Progress {
        marks: vec![None; total],
        printed: 0,
    });
    let results = Mutex::new(vec![None; total]);
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(total) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((transport, spec)) = plan.cases.get(i) else {
                        break;
                    };
                    let result = pool.run(transport, spec, options);
                    let verdict = finished_verdict(&result, plan.known.as_deref());
                    results.lock()[i] = Some(result);
                    progress.lock().done(i, mark(verdict, strict));
                }
            });
        }
    });
    results.into_inner().into_iter().flatten().collect()
}

/// The progress line: marks of finished cases, printed in plan order.
struct Progress {
    marks: Vec<Option<char>>,
    printed: usize,
}

impl Progress {
    /// Case `i` finished with `mark`: prints every mark now in order.
    fn done(&mut self, i: usize, mark: char) {
        self.marks[i] = Some(mark);
        let total = self.marks.len();
        let mut out = std::io::stdout().lock();
        while let Some(Some(mark)) = self.marks.get(self.printed) {
            let _ = write!(out, "{mark}");
            self.printed += 1;
            if self.printed.is_multiple_of(PER_LINE) || self.printed == total {
                let _ = writeln!(out, " {}/{total}", self.printed);
            }
        }
        let _ = out.flush();
    }
}

/// A case's progress character: `.` passed, `F` failed the run, `i` did
/// not pass but does not fail the run (unsupported, an expected failure, a
/// SHOULD difference).
fn mark(verdict: Verdict, strict: bool) -> char {
    if verdict.is_unexpected_in(strict) {
        'F'
    } else if verdict == Verdict::Pass {
        '.'
    } else {
        'i'
    }
}
