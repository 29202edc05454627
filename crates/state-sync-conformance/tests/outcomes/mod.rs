//! Checks of case and suite results that several test files make.
//!
//! Each test file that declares `mod outcomes;` uses some of these.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use state_sync_conformance::corpus::clause_level;
use state_sync_conformance::{CaseResult, SuiteReport, Verdict};

/// The failure lines of the failed cases of `report` that do not begin
/// with a registered clause (`CO-2: …`), each as `case: line`: every
/// failed check must name the clause it defends.
pub fn failure_lines_naming_no_clause(report: &SuiteReport) -> Vec<String> {
    report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::Fail)
        .flat_map(|c| c.failures.iter().map(move |line| (c, line)))
        .filter(|(_, line)| {
            line.split_once(": ")
                .is_none_or(|(id, _)| clause_level(id).is_none())
        })
        .map(|(c, line)| format!("{}: {line}", c.name()))
        .collect()
}

/// The explanation of every case that neither passed nor was unsupported.
pub fn neither_passed_nor_unsupported(report: &SuiteReport) -> Vec<String> {
    report
        .cases
        .iter()
        .filter(|c| !matches!(c.verdict, Verdict::Pass | Verdict::Unsupported))
        .map(CaseResult::explain)
        .collect()
}

/// Asserts that `r` was ended by the watchdog for a hang: `timeout` with one
/// failure naming `work` as never finished, the clock held still (nothing
/// checked after it), at the hang limit `limit` of real time since
/// `started` and well before ten seconds.
pub fn assert_hung(r: &CaseResult, work: &str, limit: Duration, started: Instant) {
    let took = started.elapsed();
    assert_eq!(r.verdict, Verdict::Timeout, "{}", r.explain());
    assert_eq!(
        r.failures.len(),
        1,
        "no expectation was checked: {:?}",
        r.failures
    );
    assert!(
        r.failures[0].starts_with(&format!(
            "no progress for {} s of real time (the hang limit)",
            limit.as_secs_f64()
        )),
        "{:?}",
        r.failures
    );
    assert!(
        r.failures[0].contains(&format!("the transport never finished {work}")),
        "{:?}",
        r.failures
    );
    assert_eq!(
        r.virtual_ms, 0,
        "the clock was held while {work} was in flight"
    );
    assert!(
        took >= limit,
        "ended at the hang limit, not before: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
}

/// How many cases of `report` are `unsupported` because they need virtual
/// time (their timing is exact to the millisecond).
pub fn left_out_for_exact_timing(report: &SuiteReport) -> usize {
    report
        .cases
        .iter()
        .filter(|c| {
            c.verdict == Verdict::Unsupported
                && c.missing
                    .iter()
                    .any(|m| m == state_sync_conformance::VIRTUAL_TIME)
        })
        .count()
}
