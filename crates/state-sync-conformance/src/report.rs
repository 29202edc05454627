//! Reports of a run: canonical JSON, Markdown and JUnit XML.
//!
//! Every report is deterministic: the same [`SuiteReport`] — whatever the
//! order its cases were collected in — gives byte-identical output on every
//! run and machine. Reports hold virtual-time stamps only, never wall-clock
//! times.
//!
//! * [`to_json`] is the canonical report, the one to snapshot with `insta`.
//! * [`to_markdown`] is a summary for CI (a GitHub step summary): a verdict
//!   matrix, the unexpected results with their traces and rerun commands, and
//!   clause coverage.
//! * [`to_junit`] is JUnit XML for CI test dashboards.
//! * [`write_reports`] writes all three into a directory.
//!
//! # JUnit mapping
//!
//! One `<testsuite>` per transport, one `<testcase>` per spec (`name` = spec
//! id, `classname` = transport). Times and timestamps are left out.
//!
//! | Verdict           | JUnit                                                        |
//! |-------------------|--------------------------------------------------------------|
//! | `pass`            | success                                                      |
//! | `fail`            | `<failure type="fail">`                                      |
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
//! trace and rerun command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Map, Value};

use crate::verdict::{CaseResult, SuiteReport, Verdict};

/// The file name of the JSON report written by [`write_reports`].
pub const JSON_FILE: &str = "report.json";
/// The file name of the Markdown report written by [`write_reports`].
pub const MARKDOWN_FILE: &str = "report.md";
/// The file name of the JUnit report written by [`write_reports`].
pub const JUNIT_FILE: &str = "junit.xml";

/// A report could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The JUnit XML could not be serialized.
    #[error(
        "could not build the JUnit report{}: {source}: {}",
        path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default(),
        source_chain(source)
    )]
    Junit {
        /// The file it was meant for, when writing one.
        path: Option<PathBuf>,
        /// Why.
        #[source]
        source: quick_junit::SerializeError,
    },
    /// The report directory could not be created.
    #[error("could not create the report directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A report file could not be written.
    #[error("could not write the report {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = e.source();
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    if causes.is_empty() {
        "no further detail".to_owned()
    } else {
        causes.join(": ")
    }
}

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

/// The report in canonical order: transports by name, their capabilities
/// sorted, cases by transport then spec id, each clause's spec ids sorted and
/// deduplicated. Traces and failure messages keep their order.
fn canonical(report: &SuiteReport) -> SuiteReport {
    let mut r = report.clone();
    r.transports.sort_by(|a, b| a.name.cmp(&b.name));
    for t in &mut r.transports {
        t.capabilities.sort();
        t.capabilities.dedup();
    }
    r.cases
        .sort_by(|a, b| (&a.transport, &a.spec).cmp(&(&b.transport, &b.spec)));
    for specs in r.coverage.values_mut() {
        specs.sort();
        specs.dedup();
    }
    r
}

/// Rebuilds every object with its keys inserted in sorted order, so the
/// output is sorted even when serde_json's `preserve_order` feature is
/// enabled somewhere in the dependency graph.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect::<Map<String, Value>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// The canonical JSON report: the [`SuiteReport`] in canonical order (see the
/// module docs), keys sorted at every level, pretty-printed with two-space
/// indentation and a trailing newline. Byte-identical across runs and
/// machines; this is what to snapshot.
pub fn to_json(report: &SuiteReport) -> String {
    // Serializing a SuiteReport cannot fail: it is plain derived data with
    // string map keys.
    let value =
        serde_json::to_value(canonical(report)).expect("a SuiteReport always serializes to JSON");
    format!("{:#}\n", sort_keys(value))
}

/// The short symbol-and-word form of a verdict used in the Markdown matrix,
/// e.g. `✅ pass`.
pub fn verdict_badge(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "✅ pass",
        Verdict::Fail => "❌ fail",
        Verdict::Unsupported => "➖ unsupported",
        Verdict::ExpectedFail => "⚠️ expected-fail",
        Verdict::UnexpectedPass => "❗ unexpected-pass",
        Verdict::Error => "💥 error",
        Verdict::Timeout => "⏱️ timeout",
    }
}

/// Escapes text for Markdown prose: neutralises raw HTML.
fn md_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Escapes text for a Markdown table cell.
fn md_cell(s: &str) -> String {
    md_text(s).replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks inside `s`.
fn md_code(s: &str) -> String {
    let longest = longest_backtick_run(s);
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("`{s}`")
    } else {
        format!("{fence} {s} {fence}")
    }
}

fn longest_backtick_run(s: &str) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in s.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A fenced code block that survives fences inside `body`.
fn md_fence(out: &mut String, info: &str, body: &str) {
    let fence = "`".repeat((longest_backtick_run(body) + 1).max(3));
    let _ = writeln!(out, "{fence}{info}");
    out.push_str(body);
    if !body.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}");
}

/// The transports of a report: those listed plus any only seen in cases.
fn transport_names(report: &SuiteReport) -> Vec<String> {
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
fn headline(case: &CaseResult) -> String {
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

/// A Markdown report for a CI summary: a header with the kit and suite
/// versions, the verdict counts, a matrix (one row per spec, one column per
/// transport), the unexpected results with failures, trace and rerun command
/// (section left out when there are none), and clause coverage.
pub fn to_markdown(report: &SuiteReport) -> String {
    let report = canonical(report);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## {} {} · suite {}\n",
        md_text(&report.kit),
        md_text(&report.kit_version),
        md_text(&report.suite_version)
    );

    // Summary line.
    let status = if report.summary.ok {
        "✅ **conformant**"
    } else {
        "❌ **not conformant**"
    };
    if report.summary.total == 0 {
        let _ = writeln!(out, "{status}: no cases ran\n");
    } else {
        let counts: Vec<String> = Verdict::ALL
            .iter()
            .filter_map(|v| {
                let n = report.summary.verdicts.get(v).copied().unwrap_or(0);
                (n > 0).then(|| format!("{n} {}", verdict_badge(*v)))
            })
            .collect();
        let _ = writeln!(
            out,
            "{status}: {} {} — {}\n",
            report.summary.total,
            if report.summary.total == 1 {
                "case"
            } else {
                "cases"
            },
            counts.join(", ")
        );
    }

    // Matrix.
    let transports = transport_names(&report);
    let mut rows: BTreeMap<&str, (&CaseResult, BTreeMap<&str, Verdict>)> = BTreeMap::new();
    for case in &report.cases {
        rows.entry(case.spec.as_str())
            .or_insert_with(|| (case, BTreeMap::new()))
            .1
            .insert(case.transport.as_str(), case.verdict);
    }
    let _ = writeln!(out, "### Matrix\n");
    if rows.is_empty() {
        let _ = writeln!(out, "No cases.\n");
    } else {
        out.push_str("| Spec | Level |");
        for t in &transports {
            let _ = write!(out, " {} |", md_cell(t));
        }
        out.push_str("\n| --- | --- |");
        for _ in &transports {
            out.push_str(" --- |");
        }
        out.push('\n');
        for (spec, (first, cells)) in &rows {
            let _ = write!(
                out,
                "| {} | {} |",
                md_cell(&md_code(spec)),
                first.level.as_str().to_uppercase()
            );
            for t in &transports {
                let cell = cells.get(t.as_str()).map_or("—", |v| verdict_badge(*v));
                let _ = write!(out, " {cell} |");
            }
            out.push('\n');
        }
        out.push('\n');
    }
    let with_caps: Vec<String> = report
        .transports
        .iter()
        .map(|t| {
            let caps = if t.capabilities.is_empty() {
                "no capabilities".to_owned()
            } else {
                t.capabilities.join(", ")
            };
            format!("{}: {}", md_code(&t.name), md_text(&caps))
        })
        .collect();
    if !with_caps.is_empty() {
        let _ = writeln!(out, "Capabilities — {}\n", with_caps.join("; "));
    }

    // Failures.
    let unexpected: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.verdict.is_unexpected())
        .collect();
    if !unexpected.is_empty() {
        let _ = writeln!(out, "### Failures, grouped\n");
        for group in crate::summary::failure_groups(&report) {
            let names: Vec<String> = group.cases.iter().map(|c| md_code(c)).collect();
            let _ = writeln!(
                out,
                "- **{}** × {}: {}",
                group.cases.len(),
                md_text(&group.what),
                names.join(", ")
            );
        }
        out.push('\n');
        let _ = writeln!(out, "### Failures\n");
        for case in unexpected {
            write_failure(&mut out, case);
        }
    }

    // Clause coverage.
    let _ = writeln!(out, "### Clause coverage\n");
    if report.coverage.is_empty() {
        let _ = writeln!(out, "No clauses listed.");
    } else {
        let covered = report.coverage.values().filter(|s| !s.is_empty()).count();
        let _ = writeln!(
            out,
            "{covered} of {} clauses have at least one spec.\n",
            report.coverage.len()
        );
        out.push_str("| Clause | Specs |\n| --- | --- |\n");
        for (clause, specs) in &report.coverage {
            let cell = if specs.is_empty() {
                "⚠️ no spec".to_owned()
            } else {
                specs
                    .iter()
                    .map(|s| md_cell(&md_code(s)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(out, "| {} | {cell} |", md_cell(&md_code(clause)));
        }
    }
    out
}

fn write_failure(out: &mut String, case: &CaseResult) {
    let _ = writeln!(
        out,
        "#### {} {}\n",
        verdict_badge(case.verdict),
        md_code(&case.name())
    );
    let clauses = if case.clauses.is_empty() {
        String::new()
    } else {
        format!("; clauses {}", case.clauses.join(", "))
    };
    let _ = writeln!(
        out,
        "{} ({}{}; seed {}; {} virtual ms)\n",
        md_text(&case.title),
        case.level.as_str().to_uppercase(),
        md_text(&clauses),
        case.seed,
        case.virtual_ms
    );
    if case.verdict == Verdict::UnexpectedPass {
        let _ = writeln!(
            out,
            "Passed, but the known-failures file lists it{}: remove the entry.\n",
            case.known_failure
                .as_deref()
                .map(|k| format!(" ({})", md_text(k)))
                .unwrap_or_default()
        );
    }
    if !case.failures.is_empty() {
        for f in &case.failures {
            let _ = writeln!(out, "- {}", md_text(f).replace('\n', "\n  "));
        }
        out.push('\n');
    }
    if !case.trace.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Trace ({} {})</summary>\n",
            case.trace.len(),
            if case.trace.len() == 1 {
                "event"
            } else {
                "events"
            }
        );
        let body: String = case.trace.iter().map(|t| format!("{t}\n")).collect();
        md_fence(out, "text", &body);
        let _ = writeln!(out, "\n</details>\n");
    }
    if let Some(rerun) = &case.rerun {
        out.push_str("Rerun:\n\n");
        md_fence(out, "sh", rerun);
        out.push('\n');
    }
}

/// The JUnit XML report, built with `quick-junit`: one test suite per
/// transport, one test case per spec. See the module docs for how verdicts
/// map to JUnit. No times or timestamps, so it is deterministic.
pub fn to_junit(report: &SuiteReport) -> Result<String, ReportError> {
    let report = canonical(report);
    let mut junit = Report::new(report.kit.as_str());
    for transport in transport_names(&report) {
        let mut suite = TestSuite::new(transport.as_str());
        let caps = report
            .transports
            .iter()
            .find(|t| t.name == transport)
            .map(|t| t.capabilities.join(","))
            .unwrap_or_default();
        suite.add_properties([
            Property::new("kit", report.kit.as_str()),
            Property::new("kit-version", report.kit_version.as_str()),
            Property::new("suite-version", report.suite_version.as_str()),
            Property::new("capabilities", caps),
        ]);
        for case in report.cases.iter().filter(|c| c.transport == transport) {
            suite.add_test_case(junit_case(case));
        }
        junit.add_test_suite(suite);
    }
    junit
        .to_string()
        .map_err(|source| ReportError::Junit { path: None, source })
}

fn junit_case(case: &CaseResult) -> TestCase {
    let mut status = match case.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        Verdict::Fail | Verdict::UnexpectedPass | Verdict::Timeout => {
            TestCaseStatus::non_success(NonSuccessKind::Failure)
        }
        Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        Verdict::Unsupported | Verdict::ExpectedFail => TestCaseStatus::skipped(),
    };
    if case.verdict != Verdict::Pass {
        status
            .set_type(case.verdict.as_str())
            .set_message(headline(case))
            .set_description(case.explain());
    }
    let mut test_case = TestCase::new(case.spec.as_str(), status);
    test_case.set_classname(case.transport.as_str());
    test_case
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
mod tests {
    use super::*;
    use crate::spec::Level;
    use crate::verdict::{TraceEntry, TransportInfo};

    fn case(transport: &str, spec: &str, verdict: Verdict) -> CaseResult {
        let mut c = CaseResult {
            transport: transport.to_owned(),
            spec: spec.to_owned(),
            title: format!("{spec} works"),
            level: Level::Must,
            clauses: vec!["LIFE-1".to_owned()],
            verdict,
            seed: 7,
            virtual_ms: 120,
            failures: Vec::new(),
            known_failure: None,
            missing: Vec::new(),
            trace: Vec::new(),
            rerun: None,
        };
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

    fn transports() -> Vec<TransportInfo> {
        vec![
            TransportInfo {
                name: "memory".to_owned(),
                capabilities: vec!["exact-json".to_owned(), "subscription-count".to_owned()],
            },
            TransportInfo {
                name: "channel".to_owned(),
                capabilities: vec![],
            },
        ]
    }

    fn coverage() -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([
            (
                "LIFE-1".to_owned(),
                vec!["late-join".to_owned(), "coalescing".to_owned()],
            ),
            ("STOP-9".to_owned(), vec![]),
        ])
    }

    fn cases() -> Vec<CaseResult> {
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

    fn sample() -> SuiteReport {
        SuiteReport::new("1.2.0", transports(), cases(), coverage())
    }

    fn all_pass() -> SuiteReport {
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

    #[test]
    fn reports_are_deterministic_whatever_the_input_order() {
        let a = sample();
        let mut reversed = cases();
        reversed.reverse();
        let mut ts = transports();
        ts.reverse();
        let b = SuiteReport::new("1.2.0", ts, reversed, coverage());
        assert_eq!(to_json(&a), to_json(&b));
        assert_eq!(to_markdown(&a), to_markdown(&b));
        assert_eq!(to_junit(&a).expect("junit"), to_junit(&b).expect("junit"));
        // Built by hand, out of order: still canonical.
        let mut c = sample();
        c.cases.reverse();
        c.transports.reverse();
        c.coverage.insert(
            "LIFE-1".to_owned(),
            vec![
                "late-join".to_owned(),
                "coalescing".to_owned(),
                "coalescing".to_owned(),
            ],
        );
        assert_eq!(to_json(&a), to_json(&c));
        assert_eq!(to_markdown(&a), to_markdown(&c));
        assert_eq!(to_junit(&a).expect("junit"), to_junit(&c).expect("junit"));
    }

    fn assert_sorted(value: &Value, at: &str) {
        match value {
            Value::Object(map) => {
                let keys: Vec<&String> = map.keys().collect();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted, "keys at {at}");
                for (k, v) in map {
                    assert_sorted(v, &format!("{at}.{k}"));
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    assert_sorted(v, &format!("{at}[{i}]"));
                }
            }
            _ => {}
        }
    }

    #[test]
    fn json_is_sorted_pretty_and_round_trips() {
        let json = to_json(&sample());
        assert!(json.ends_with("}\n") && !json.ends_with("\n\n"));
        assert!(json.starts_with("{\n  \"cases\": [\n    {\n"), "{json}");
        let value: Value = serde_json::from_str(&json).expect("valid JSON");
        assert_sorted(&value, "");
        // The text order follows the sorted keys too.
        let pos = |k: &str| json.find(&format!("\n  \"{k}\"")).expect(k);
        assert!(pos("cases") < pos("coverage"));
        assert!(pos("coverage") < pos("kit"));
        assert!(pos("kit") < pos("kit_version"));
        assert!(pos("summary") < pos("transports"));
        // It is the report itself, in canonical order.
        let back: SuiteReport = serde_json::from_value(value).expect("a SuiteReport");
        assert_eq!(back, canonical(&sample()));
        assert_eq!(back.cases[0].transport, "channel");
        assert_eq!(back.coverage["LIFE-1"], ["coalescing", "late-join"]);
        assert!(!json.contains("time\""), "no wall-clock fields");
    }

    #[test]
    fn sort_keys_sorts_nested_objects() {
        let v = serde_json::json!({"b": 1, "a": [{"d": 1, "c": 2}]});
        assert_eq!(
            format!("{:#}", sort_keys(v)),
            "{\n  \"a\": [\n    {\n      \"c\": 2,\n      \"d\": 1\n    }\n  ],\n  \"b\": 1\n}"
        );
    }

    #[test]
    fn markdown_has_header_summary_and_matrix() {
        let md = to_markdown(&sample());
        let first = md.lines().next().expect("header");
        assert_eq!(
            first,
            format!(
                "## state-sync-conformance {} · suite 1.2.0",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(
            md.contains(
                "❌ **not conformant**: 7 cases — 1 ✅ pass, 1 ❌ fail, 1 ➖ unsupported, \
             1 ⚠️ expected-fail, 1 ❗ unexpected-pass, 1 💥 error, 1 ⏱️ timeout"
            ),
            "{md}"
        );
        assert!(md.contains("| Spec | Level | channel | memory |\n| --- | --- | --- | --- |\n"));
        for row in [
            "| `big-ints` | MUST | — | ❗ unexpected-pass |",
            "| `coalescing` | MUST | 💥 error | ❌ fail |",
            "| `late-join` | MUST | ⏱️ timeout | ✅ pass |",
            "| `leaks` | MUST | ➖ unsupported | ⚠️ expected-fail |",
        ] {
            assert!(md.contains(row), "missing {row} in\n{md}");
        }
        assert!(md.contains(
            "Capabilities — `channel`: no capabilities; `memory`: exact-json, subscription-count"
        ));
    }

    #[test]
    fn markdown_failures_list_only_unexpected_cases() {
        let md = to_markdown(&sample());
        let failures = md
            .split("### Failures\n")
            .nth(1)
            .and_then(|rest| rest.split("### Clause coverage").next())
            .expect("a failures section");
        for name in [
            "#### ❗ unexpected-pass `memory::big-ints`",
            "#### ❌ fail `memory::coalescing`",
            "#### ⏱️ timeout `channel::late-join`",
            "#### 💥 error `channel::coalescing`",
        ] {
            assert!(failures.contains(name), "missing {name} in\n{failures}");
        }
        assert!(
            !failures.contains("`memory::leaks`"),
            "expected-fail is not a failure"
        );
        assert!(
            !failures.contains("`channel::leaks`"),
            "unsupported is not a failure"
        );
        assert!(
            !failures.contains("`memory::late-join`"),
            "pass is not a failure"
        );
        assert!(failures.contains(
            "- coalescing: window b: expected local revision 3, got 2\n- second &lt;problem&gt; | here\n"
        ), "{failures}");
        assert!(
            failures.contains(
                "```text\n       0 ms  b          start\n      15 ms  source     mutate -> 3\n```\n"
            ),
            "{failures}"
        );
        assert!(
            failures.contains(
                "```sh\ncargo test --test conformance -- --exact memory::coalescing\n```"
            )
        );
        assert!(failures.contains("remove the entry"));

        let md = to_markdown(&all_pass());
        assert!(!md.contains("### Failures"), "{md}");
        assert!(md.contains(
            "✅ **conformant**: 4 cases — 2 ✅ pass, 1 ➖ unsupported, 1 ⚠️ expected-fail"
        ));
    }

    #[test]
    fn markdown_lists_clause_coverage() {
        let md = to_markdown(&sample());
        let coverage = md.split("### Clause coverage\n").nth(1).expect("coverage");
        assert!(coverage.contains("1 of 2 clauses have at least one spec."));
        assert!(coverage.contains("| `LIFE-1` | `coalescing`, `late-join` |"));
        assert!(coverage.contains("| `STOP-9` | ⚠️ no spec |"));
    }

    #[test]
    fn markdown_of_an_empty_run() {
        let md = to_markdown(&SuiteReport::new("1", vec![], vec![], BTreeMap::new()));
        assert!(md.contains("❌ **not conformant**: no cases ran"));
        assert!(md.contains("No cases."));
        assert!(md.contains("No clauses listed."));
    }

    #[test]
    fn markdown_code_survives_backticks() {
        assert_eq!(md_code("a"), "`a`");
        assert_eq!(md_code("a`b"), "`` a`b ``");
        let mut out = String::new();
        md_fence(&mut out, "text", "x\n```\ny");
        assert_eq!(out, "````text\nx\n```\ny\n````\n");
    }

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
            xml.contains("<testcase name=\"late-join\" classname=\"memory\"/>"),
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

    #[test]
    fn write_reports_writes_three_files() {
        let dir = std::env::temp_dir().join(format!(
            "state-sync-report-test-{}-{}",
            std::process::id(),
            line!()
        ));
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
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
