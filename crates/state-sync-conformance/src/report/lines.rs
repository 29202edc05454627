//! Text the renderers share: the transports of a report and the one-line
//! account of a case.

use std::collections::BTreeSet;

use crate::verdict::{CaseResult, SuiteReport, Verdict};

/// The transports of a report: those listed plus any only seen in cases.
pub(super) fn transport_names(report: &SuiteReport) -> Vec<String> {
    let names: BTreeSet<&str> = report
        .transports
        .iter()
        .map(|t| t.name.as_str())
        .chain(report.cases.iter().map(|c| c.transport.as_str()))
        .collect();
    names.into_iter().map(str::to_owned).collect()
}

/// The first line of `s`.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// A one-line account of a case that did not simply pass.
pub(super) fn headline(case: &CaseResult) -> String {
    let first_failure = || {
        case.failures.first().map(|f| {
            let more = case.failures.len() - 1;
            let line = first_line(f);
            if more == 0 {
                line.to_owned()
            } else {
                format!("{line} (and {more} more)")
            }
        })
    };
    let known = case.known_failure.as_deref().unwrap_or("listed");
    match case.verdict {
        Verdict::Pass => "passed".to_owned(),
        Verdict::Fail => first_failure().unwrap_or_else(|| "failed".to_owned()),
        Verdict::NonStrict => first_failure().unwrap_or_else(|| "broke a SHOULD clause".to_owned()),
        Verdict::Error => first_failure().unwrap_or_else(|| "panicked".to_owned()),
        Verdict::Timeout => first_failure()
            .unwrap_or_else(|| "did not finish within its virtual-time budget".to_owned()),
        Verdict::Unsupported => format!("missing capabilities: {}", case.missing.join(", ")),
        Verdict::ExpectedFail => format!("expected failure: {known}"),
        Verdict::UnexpectedPass => {
            format!("passed, but the known-failures file says it fails ({known}): remove the entry")
        }
    }
}
