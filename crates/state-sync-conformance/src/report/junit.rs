//! The JUnit XML report.
//!
//! One `<testsuite>` per transport, one `<testcase>` per spec (`name` = spec
//! id, `classname` = transport). Times and timestamps are left out.
//!
//! | Verdict           | JUnit                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | `pass`            | success                                                      |
//! | `fail`            | `<failure type="fail">`                                      |
//! | `non-strict`      | success with the SHOULD differences as `system-out`; `<failure type="non-strict">` in a strict run |
//! | `unexpected-pass` | `<failure type="unexpected-pass">` (the known-failures entry is stale) |
//! | `timeout`         | `<failure type="timeout">`                                   |
//! | `error`           | `<error type="error">` (a panic)                             |
//! | `unsupported`     | `<skipped type="unsupported">`, message lists the missing capabilities |
//! | `expected-fail`   | `<skipped type="expected-fail">`, message is the known-failures reason |
//!
//! A timeout is a failure, not an error: the budget is virtual time, so a
//! timeout means the engine or transport stopped making progress (a hung
//! start, a refresh that never ends) — a conformance finding like any other,
//! not a harness breakdown. An expected failure is skipped rather than a
//! success so dashboards do not count it as conforming, yet keep the run
//! green. Every non-success element carries a one-line `message` and, as its
//! text, the case's full explanation ([`CaseResult::explain`]): failures,
//! trace and rerun command. Every test case has the properties `checked`
//! and `not-checked` (checks carried out and skipped), and `clauses` (the
//! clauses its failed checks defend) when one failed.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::verdict::{CaseResult, SuiteReport, Verdict};

use super::error::ReportError;
use super::lines::{headline, transport_names};

/// map to JUnit. No times or timestamps, so it is deterministic.
pub fn to_junit(report: &SuiteReport) -> Result<String, ReportError> {
    let mut junit = Report::new(report.kit.as_str());
    for transport in transport_names(report) {
        let mut suite = TestSuite::new(transport.as_str());
        let info = report.transports.iter().find(|t| t.name == transport);
        let caps = info.map(|t| t.capabilities.join(",")).unwrap_or_default();
        suite.add_properties([
            Property::new("kit", report.kit.as_str()),
            Property::new("kit-version", report.kit_version.as_str()),
            Property::new("suite-version", report.suite_version.as_str()),
            Property::new("capabilities", caps),
        ]);
        if let Some(driver) = info.and_then(|t| t.driver.as_deref()) {
            suite.add_property(Property::new("driver", driver));
        }
        for case in report.cases.iter().filter(|c| c.transport == transport) {
            suite.add_test_case(junit_case(case, report.summary.strict));
        }
        junit.add_test_suite(suite);
    }
    junit
        .to_string()
        .map_err(|source| ReportError::Junit { path: None, source })
}

fn junit_case(case: &CaseResult, strict: bool) -> TestCase {
    let listed = case.verdict == Verdict::NonStrict && !strict;
    let mut status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::NonStrict if listed => TestCaseStatus::success(),
        Verdict::Fail | Verdict::NonStrict | Verdict::UnexpectedPass | Verdict::Timeout => {
            TestCaseStatus::non_success(NonSuccessKind::Failure)
        }
        Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        Verdict::Unsupported | Verdict::ExpectedFail => TestCaseStatus::skipped(),
    };
    if case.verdict != Verdict::Pass && !listed {
        status
            .set_type(case.verdict.as_str())
            .set_message(headline(case))
            .set_description(case.explain());
    }
    let mut test_case = TestCase::new(case.spec.as_str(), status);
    test_case.set_classname(case.transport.as_str());
    let not_checked: usize = case.not_checked.iter().map(|n| n.count).sum();
    test_case.add_properties([
        Property::new("checked", case.checked.to_string()),
        Property::new("not-checked", not_checked.to_string()),
    ]);
    if !case.broken_clauses.is_empty() {
        test_case.add_property(Property::new("clauses", case.broken_clauses.join(",")));
    }
    if listed {
        test_case.set_system_out(format!(
            "non-strict (a SHOULD difference, listed, not failed):\n{}",
            case.explain()
        ));
    }
    test_case
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{case, sample};
    use super::*;

    #[test]
    fn junit_has_a_suite_per_transport_and_maps_verdicts() {
        let xml = to_junit(&sample()).expect("junit");
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(
            !xml.contains("time=") && !xml.contains("timestamp="),
            "{xml}"
        );
        assert!(xml.contains("<testsuite name=\"channel\""), "{xml}");
        assert!(xml.contains("<testsuite name=\"memory\""), "{xml}");
        assert!(
            xml.contains("<testcase name=\"late-join\" classname=\"memory\">"),
            "{xml}"
        );
        assert!(
            xml.contains("<property name=\"checked\" value=\"1\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<failure message=\"coalescing: window b: expected local revision 3, got 2 (and 1 more)\" type=\"fail\">"), "{xml}");
        assert!(xml.contains("type=\"timeout\""), "{xml}");
        assert!(xml.contains("<error message="), "{xml}");
        assert!(xml.contains("<skipped message=\"missing capabilities: subscription-count, exact-json\" type=\"unsupported\""), "{xml}");
        assert!(xml.contains("type=\"expected-fail\""), "{xml}");
        assert!(xml.contains("type=\"unexpected-pass\""), "{xml}");
        assert!(xml.contains("second &lt;problem&gt; | here"), "{xml}");

        let parsed = Report::deserialize_from_str(&xml).expect("valid JUnit XML");
        assert_eq!(
            parsed.name.as_ref().map(|n| n.as_str()),
            Some("state-sync-conformance")
        );
        let suites: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(suites, ["channel", "memory"]);
        assert_eq!(parsed.tests, 7);
        assert_eq!(parsed.failures, 3, "fail, timeout, unexpected-pass");
        assert_eq!(parsed.errors, 1);
        assert_eq!(parsed.skipped, 2, "unsupported, expected-fail");
        let memory = &parsed.test_suites[1];
        let kinds: Vec<(&str, &str)> = memory
            .test_cases
            .iter()
            .map(|c| {
                let kind = match &c.status {
                    TestCaseStatus::Success { .. } => "success",
                    TestCaseStatus::NonSuccess {
                        kind: NonSuccessKind::Failure,
                        ..
                    } => "failure",
                    TestCaseStatus::NonSuccess {
                        kind: NonSuccessKind::Error,
                        ..
                    } => "error",
                    TestCaseStatus::Skipped { .. } => "skipped",
                };
                (c.name.as_str(), kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("big-ints", "failure"),
                ("coalescing", "failure"),
                ("late-join", "success"),
                ("leaks", "skipped")
            ]
        );
        let Some(TestCaseStatus::NonSuccess { description, .. }) =
            memory.test_cases.get(1).map(|c| &c.status)
        else {
            panic!("coalescing is a failure");
        };
        let text = description.as_ref().map(|d| d.as_str()).unwrap_or_default();
        // The parser drops the text's trailing newline.
        assert_eq!(
            text,
            case("memory", "coalescing", Verdict::Fail)
                .explain()
                .trim_end()
        );
    }
}
