//! The verdict sheet: what a reviewer must see change, one line per case —
//! the one the test harness snapshots.
//!
//! It holds each case's verdict, the clauses its failed checks defend and
//! its failure headline; no traces, timings or seeds (those are in the JSON
//! report). A change to one case changes one line, so a snapshot diff is as
//! long as what changed.

use std::fmt::Write as _;

use crate::verdict::{CaseResult, SuiteReport, Verdict};

use super::lines::headline;

/// The verdict sheet of `report`: a header (kit, suite, transports with
/// their capabilities and drivers, the verdict counts and checks), then
/// one line per case in canonical order:
///
/// ```text
/// pass         memory::late-join-after-changes
/// fail         memory::burst-during-fetch-coalesces [CO-2] CO-2: step 9 (expect): …
/// unsupported  memory::claims-ordered-delivery-in-emit-order missing capabilities: ordered-delivery
/// ```
pub fn to_verdict_sheet(report: &SuiteReport) -> String {
    let mut out = format!(
        "{} {} · suite {}\n",
        report.kit, report.kit_version, report.suite_version
    );
    for t in &report.transports {
        let _ = write!(out, "transport {}: {}", t.name, t.capabilities.join(", "));
        if let Some(driver) = &t.driver {
            let _ = write!(out, " · driver {driver}");
        }
        out.push('\n');
    }
    out.push_str(&crate::summary::headline(
        report,
        crate::summary::Style::Plain,
    ));
    out.push('\n');
    out.push_str(&crate::summary::checks_line(report));
    out.push_str("\n\n");
    for case in &report.cases {
        out.push_str(&case_line(case));
        out.push('\n');
    }
    out
}

/// `verdict  transport::spec [clauses] headline`.
fn case_line(case: &CaseResult) -> String {
    let mut line = format!("{:<15} {}", case.verdict.as_str(), case.name());
    if !case.broken_clauses.is_empty() {
        let _ = write!(line, " [{}]", case.broken_clauses.join(", "));
    }
    if case.verdict != Verdict::Pass {
        let _ = write!(line, " {}", headline(case));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::sample;
    use super::to_verdict_sheet;

    #[test]
    fn one_line_per_case_with_no_trace_or_timing() {
        let report = sample();
        let sheet = to_verdict_sheet(&report);
        let body: Vec<&str> = sheet.split("\n\n").nth(1).expect("cases").lines().collect();
        assert_eq!(body.len(), report.cases.len(), "{sheet}");
        assert!(body.iter().any(|l| l.starts_with("pass ")), "{sheet}");
        assert!(
            !sheet.contains("virtual ms") && !sheet.contains("rerun"),
            "{sheet}"
        );
        for case in &report.cases {
            assert!(sheet.contains(&case.name()), "{sheet}");
        }
    }
}
