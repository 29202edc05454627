//! Reports of a run: canonical JSON, Markdown and JUnit XML.
//!
//! Every report is deterministic: [`SuiteReport::new`] puts what it is given
//! in canonical order, whatever the order its cases were collected in, so
//! the same run gives byte-identical output on every run and machine.
//! Reports hold virtual-time stamps only, never wall-clock times.
//!
//! * [`to_json`] is the canonical report, with every trace.
//! * [`to_verdict_sheet`] is one line per case — verdict, clauses, failure
//!   headline — the one the test harness snapshots with `insta`.
//! * [`to_markdown`] is a summary for CI (a GitHub step summary): a verdict
//!   matrix, the unexpected results with their traces and rerun commands, and
//!   clause coverage.
//! * [`to_junit`] is JUnit XML for CI test dashboards.
//! * [`write_reports`] writes all three into a directory.
//!
//!
//! One renderer per file: [`json`](to_json), Markdown ([`to_markdown`]),
//! JUnit ([`to_junit`], with the mapping of verdicts to JUnit).

mod error;
mod json;
mod junit;
mod lines;
mod markdown;
mod sheet;

use std::path::{Path, PathBuf};

use crate::verdict::SuiteReport;

pub use self::error::ReportError;
pub use self::json::to_json;
pub use self::junit::to_junit;
pub use self::markdown::{to_markdown, verdict_badge};
pub use self::sheet::to_verdict_sheet;

/// The file name of the JSON report written by [`write_reports`].
pub const JSON_FILE: &str = "report.json";
/// The file name of the Markdown report written by [`write_reports`].
pub const MARKDOWN_FILE: &str = "report.md";
/// The file name of the JUnit report written by [`write_reports`].
pub const JUNIT_FILE: &str = "junit.xml";

/// The files [`write_reports`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `junit.xml`.
    pub junit: PathBuf,
}

/// Writes `report.json`, `report.md` and `junit.xml` into `dir`, creating it
/// if needed. All three are rendered before anything is written.
pub fn write_reports(report: &SuiteReport, dir: &Path) -> Result<Written, ReportError> {
    let written = Written {
        json: dir.join(JSON_FILE),
        markdown: dir.join(MARKDOWN_FILE),
        junit: dir.join(JUNIT_FILE),
    };
    let json = to_json(report);
    let markdown = to_markdown(report);
    let junit = to_junit(report).map_err(|e| match e {
        ReportError::Junit { source, .. } => ReportError::Junit {
            path: Some(written.junit.clone()),
            source,
        },
        other => other,
    })?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    for (path, text) in [
        (&written.json, json),
        (&written.markdown, markdown),
        (&written.junit, junit),
    ] {
        std::fs::write(path, text).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(written)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    use crate::verdict::{CaseResult, SuiteReport, Verdict};
    use crate::verdict::{TraceEntry, TransportInfo};

    pub(crate) fn case(transport: &str, spec: &str, verdict: Verdict) -> CaseResult {
        let mut c = CaseResult::stub(transport, spec, verdict);
        let failed = matches!(
            verdict,
            Verdict::Fail | Verdict::Error | Verdict::Timeout | Verdict::ExpectedFail
        );
        if failed {
            c.failures = vec![
                format!("{spec}: window b: expected local revision 3, got 2"),
                "second <problem> | here".to_owned(),
            ];
            c.trace = vec![
                TraceEntry {
                    at_ms: 0,
                    window: "b".to_owned(),
                    event: "start".to_owned(),
                },
                TraceEntry {
                    at_ms: 15,
                    window: "source".to_owned(),
                    event: "mutate -> 3".to_owned(),
                },
            ];
            c.rerun = Some(format!(
                "cargo test --test conformance -- --exact {transport}::{spec}"
            ));
        }
        if matches!(verdict, Verdict::ExpectedFail | Verdict::UnexpectedPass) {
            c.known_failure = Some("drops early events (https://example.com/12)".to_owned());
        }
        if verdict == Verdict::Unsupported {
            c.missing = vec!["subscription-count".to_owned(), "exact-json".to_owned()];
        }
        c
    }

    pub(crate) fn transports() -> Vec<TransportInfo> {
        vec![
            TransportInfo {
                name: "memory".to_owned(),
                capabilities: vec!["exact-json".to_owned(), "subscription-count".to_owned()],
                driver: None,
            },
            TransportInfo {
                name: "channel".to_owned(),
                capabilities: vec![],
                driver: None,
            },
        ]
    }

    pub(crate) fn coverage() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            (
                "LIFE-1".to_owned(),
                vec!["late-join".to_owned(), "coalescing".to_owned()],
            ),
            ("STOP-9".to_owned(), vec![]),
        ])
    }

    pub(crate) fn cases() -> Vec<CaseResult> {
        vec![
            case("memory", "late-join", Verdict::Pass),
            case("memory", "coalescing", Verdict::Fail),
            case("memory", "leaks", Verdict::ExpectedFail),
            case("memory", "big-ints", Verdict::UnexpectedPass),
            case("channel", "late-join", Verdict::Timeout),
            case("channel", "coalescing", Verdict::Error),
            case("channel", "leaks", Verdict::Unsupported),
        ]
    }

    pub(crate) fn sample() -> SuiteReport {
        SuiteReport::new("1.2.0", transports(), cases(), coverage())
    }

    pub(crate) fn all_pass() -> SuiteReport {
        SuiteReport::new(
            "1.2.0",
            transports(),
            vec![
                case("memory", "late-join", Verdict::Pass),
                case("channel", "late-join", Verdict::Pass),
                case("channel", "leaks", Verdict::Unsupported),
                case("memory", "leaks", Verdict::ExpectedFail),
            ],
            coverage(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{cases, coverage, sample, transports};
    use super::*;

    #[test]
    fn reports_are_deterministic_whatever_the_input_order() {
        let a = sample();
        let mut reversed = cases();
        reversed.reverse();
        let mut ts = transports();
        ts.reverse();
        ts[0].capabilities.reverse();
        let mut cov = coverage();
        cov.insert(
            "LIFE-1".to_owned(),
            vec![
                "late-join".to_owned(),
                "coalescing".to_owned(),
                "coalescing".to_owned(),
            ],
        );
        let b = SuiteReport::new("1.2.0", ts, reversed, cov);
        assert_eq!(to_json(&a), to_json(&b));
        assert_eq!(to_markdown(&a), to_markdown(&b));
        assert_eq!(to_junit(&a).expect("junit"), to_junit(&b).expect("junit"));
    }

    #[test]
    fn write_reports_writes_three_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dir = dir.path();
        let nested = dir.join("nested").join("reports");
        let report = sample();
        let written = write_reports(&report, &nested).expect("written");
        assert_eq!(written.json, nested.join("report.json"));
        assert_eq!(written.markdown, nested.join("report.md"));
        assert_eq!(written.junit, nested.join("junit.xml"));
        let read = |p: &Path| std::fs::read_to_string(p).expect("readable");
        assert_eq!(read(&written.json), to_json(&report));
        assert_eq!(read(&written.markdown), to_markdown(&report));
        assert_eq!(read(&written.junit), to_junit(&report).expect("junit"));

        // A file where the directory should be: the error names the path.
        let blocked = dir.join("blocked");
        std::fs::write(&blocked, "").expect("write");
        let err = write_reports(&report, &blocked.join("sub")).expect_err("cannot create");
        assert!(
            err.to_string()
                .contains(&blocked.join("sub").display().to_string()),
            "{err}"
        );
    }
}
