//! Engines behind the driver protocol: the Rust reference driver gives the
//! verdicts of the in-process engine on the whole corpus; broken drivers
//! (crashing, silent, garbage, another protocol version) give `error` or
//! `timeout` with a clear message while the suite goes on; and the
//! JavaScript fixture engine with one fault switched on is caught by a spec
//! citing the clause the fault breaks.

mod outcomes;

use std::collections::BTreeMap;
use std::time::Duration;

use state_sync_conformance::driver::{Driver, vectors};
use state_sync_conformance::{RunOptions, Suite, Verdict, reference};

fn reference_driver() -> Driver {
    Driver::new(env!("CARGO_BIN_EXE_state-sync-reference-driver"), [])
}

#[test]
fn the_reference_driver_gives_the_in_process_verdicts_on_the_whole_corpus() {
    let in_process = Suite::new()
        .transport(reference::memory())
        .run()
        .expect("the in-process suite runs");
    let driven = Suite::new()
        .driver(reference_driver())
        .run()
        .expect("the driver suite runs");
    let verdicts = |r: &state_sync_conformance::SuiteReport| -> BTreeMap<String, Verdict> {
        r.cases
            .iter()
            .map(|c| (c.spec.clone(), c.verdict))
            .collect()
    };
    let (a, b) = (verdicts(&in_process), verdicts(&driven));
    let differ: Vec<String> = a
        .iter()
        .filter(|(spec, v)| b.get(*spec) != Some(v))
        .map(|(spec, v)| {
            let case = driven.cases.iter().find(|c| &c.spec == spec);
            format!(
                "{spec}: in-process {v:?}, through the driver {:?}\n{}",
                b.get(spec),
                case.map(|c| c.explain_brief(30)).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(a.len(), b.len(), "the same specs ran");
    assert!(
        differ.is_empty(),
        "{} verdict(s) differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    let header = &driven.transports[0];
    assert_eq!(header.name, "state-sync");
    assert!(
        header
            .driver
            .as_deref()
            .is_some_and(|d| d.starts_with("state-sync ")),
        "{header:?}"
    );
}

#[test]
fn the_reference_driver_classifies_every_golden_vector() {
    let results = vectors::run(&reference_driver()).expect("the vectors run");
    assert!(results.len() >= 50, "{} vectors", results.len());
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// A suite of one spec through a driver started by `sh -c script`.
fn run_shell_driver(script: &str) -> state_sync_conformance::SuiteReport {
    let driver = Driver::new("sh", ["-c".to_owned(), script.to_owned()]);
    Suite::new()
        .driver(driver)
        .options(RunOptions::default().with_hang_limit(Duration::from_secs(2)))
        .run_filtered(|_, spec| {
            spec.id == "late-join-after-changes" || spec.id == "topic-isolation"
        })
        .expect("the suite runs")
}

const HELLO: &str =
    r#"{"type":"hello","protocol":1,"name":"broken","version":"0","capabilities":[]}"#;

fn messages(report: &state_sync_conformance::SuiteReport) -> String {
    report
        .cases
        .iter()
        .map(|c| c.explain_brief(5))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_driver_speaking_another_protocol_version_is_an_error_naming_both() {
    let report = run_shell_driver(
        r#"echo '{"type":"hello","protocol":99,"name":"x","version":"0","capabilities":[]}'; sleep 5"#,
    );
    assert_eq!(report.cases.len(), 2, "the suite goes on");
    assert!(report.cases.iter().all(|c| c.verdict == Verdict::Error));
    let text = messages(&report);
    assert!(
        text.contains("protocol version 99") && text.contains("version 1"),
        "{text}"
    );
}

#[test]
fn a_driver_printing_garbage_is_an_error_showing_the_line() {
    let report = run_shell_driver(&format!(
        "echo '{HELLO}'; read line; echo 'this is not json'; sleep 5"
    ));
    assert!(
        report.cases.iter().all(|c| c.verdict == Verdict::Error),
        "{}",
        messages(&report)
    );
    let text = messages(&report);
    assert!(text.contains("this is not json"), "{text}");
}

#[test]
fn a_driver_that_crashes_is_an_error_with_its_stderr() {
    let report = run_shell_driver(&format!(
        "echo '{HELLO}'; read line; echo 'boom: engine crashed' >&2; exit 3"
    ));
    assert!(
        report.cases.iter().all(|c| c.verdict == Verdict::Error),
        "{}",
        messages(&report)
    );
    let text = messages(&report);
    assert!(
        text.contains("output ended") && text.contains("boom"),
        "{text}"
    );
}

#[test]
fn a_driver_that_never_answers_times_out() {
    let report = run_shell_driver(&format!("echo '{HELLO}'; sleep 30"));
    assert!(
        report
            .cases
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Timeout)),
        "{}",
        messages(&report)
    );
}

#[test]
fn a_driver_without_a_hello_is_an_error() {
    let report = run_shell_driver("echo hi; exit 0");
    assert!(report.cases.iter().all(|c| c.verdict == Verdict::Error));
    let text = messages(&report);
    assert!(text.contains("hello"), "{text}");
}

/// A driver that says hello when the suite starts it for its handshake,
/// then starts silent for each case (longer than the 2 s hang limit).
#[test]
fn a_driver_silent_before_its_hello_ends_at_the_hang_limit_naming_the_hello() {
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("said-hello");
    let marker = marker.display();
    let report = run_shell_driver(&format!(
        "if [ -e '{marker}' ]; then sleep 4; else touch '{marker}'; echo '{HELLO}'; cat > /dev/null; fi"
    ));
    assert_eq!(report.cases.len(), 2, "the suite goes on");
    assert!(
        report
            .cases
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Error | Verdict::Timeout)),
        "{}",
        messages(&report)
    );
    let text = messages(&report);
    assert!(text.contains("hello"), "{text}");
    let _ = std::fs::remove_file(marker.to_string());
}

/// The JavaScript driver's folder.
const JS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/drivers/js");

/// Whether `node` is on this machine (the JavaScript tests say they are
/// skipped when it is not).
fn node_is_here() -> bool {
    let here = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok();
    if !here {
        eprintln!("skipped: `node` is not on this machine");
    }
    here
}

/// The JavaScript driver over the fixture engine of its test folder, with
/// `fault` switched on (`STATE_SYNC_FIXTURE_BUGS`) when one is given.
fn js_fixture(fault: Option<&str>) -> Driver {
    let node = [
        "node".to_owned(),
        format!("{JS}/driver.mjs"),
        format!("{JS}/test/fixture-engine.mjs"),
    ];
    match fault {
        None => Driver::new("node", node.into_iter().skip(1)),
        Some(fault) => Driver::new(
            "env",
            std::iter::once(format!("STATE_SYNC_FIXTURE_BUGS={fault}")).chain(node),
        ),
    }
}

/// How many specs citing a fault's clause run at once (the kit runs a
/// suite's cases in parallel).
const CHUNK: usize = 4;

/// The JS fixture exposing only the original TypeScript engine's API (no
/// lifecycle accessor, no counters), with `fault` switched on.
fn js_fixture_original_api(fault: &str) -> Driver {
    Driver::new(
        "env",
        [
            "STATE_SYNC_FIXTURE_API=original".to_owned(),
            format!("STATE_SYNC_FIXTURE_BUGS={fault}"),
            "node".to_owned(),
            format!("{JS}/driver.mjs"),
            format!("{JS}/test/fixture-engine.mjs"),
        ],
    )
}

/// The JavaScript driver (drivers/js) over the fixture engine of its test
/// folder, when `node` is on the machine: the corpus gives the verdicts the
/// fixture's known-failures file lists, nothing else.
#[test]
fn the_js_driver_runs_the_corpus_against_the_fixture_engine() {
    if !node_is_here() {
        return;
    }
    let driver = js_fixture(None);
    let report = Suite::new()
        .driver(driver.clone())
        .known_failures(format!("{JS}/test/known-failures.json"))
        .run()
        .expect("the suite runs");
    let unexpected: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict.is_unexpected())
        .map(|c| c.explain_brief(20))
        .collect();
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    assert!(
        report.summary.verdicts[&Verdict::Pass] > 100,
        "{:?}",
        report.summary
    );
    let vectors = vectors::run(&driver).expect("the vectors run");
    assert!(vectors.iter().all(|v| v.passed()), "{vectors:#?}");
}

/// Engines that break one rule each — the JS fixture with one fault
/// switched on (`STATE_SYNC_FIXTURE_BUGS`; two of them are what the
/// original TypeScript engine did), exposing only the original API (no
/// lifecycle accessor: those expectations go unchecked) — are each caught,
/// by running, by a failed check naming the clause the fault breaks. The
/// fixture without faults passes those specs (the test above), so each
/// failure is the fault's.
///
/// Each fault names the spec that caught it when the list was written: it
/// runs first, alone (a driver process per case, Node.js starting, is most
/// of what the test costs); if it no longer catches the fault, the other
/// specs citing the clause run [`CHUNK`] at a time until one does.
#[test]
fn every_engine_fault_of_the_fixture_is_caught_by_a_spec_citing_its_clause() {
    if !node_is_here() {
        return;
    }
    let faults = [
        // The original engine's two.
        (
            "lost-follow-up",
            "CO-2",
            "failed-fetch-keeps-the-follow-up-queued-behind-it",
        ),
        (
            "leak-on-stop-during-subscribe",
            "LIFE-7",
            "stop-while-subscribe-pending-leaks-nothing",
        ),
        // One rule each.
        (
            "applies-older-snapshots",
            "GATE-1",
            "refresh-before-start-then-start",
        ),
        (
            "refreshes-on-old-events",
            "GATE-2",
            "duplicate-events-fetch-once",
        ),
        (
            "ignores-topic",
            "GATE-3",
            "garbage-naming-another-topic-still-reported",
        ),
        (
            "ignores-should-refresh",
            "GATE-4",
            "event-optional-fields-wrong-types",
        ),
        (
            "fetch-per-event",
            "CO-1",
            "coalesce-many-windows-burst-exact",
        ),
        (
            "no-follow-up",
            "CO-2",
            "backend-serial-serves-windows-in-turn",
        ),
        ("applies-after-stop", "STOP-1", "converge-with-window-churn"),
        (
            "keeps-subscription-on-stop",
            "LIFE-7",
            "converge-with-window-churn",
        ),
        ("no-rollback", "LIFE-4", "backend-error-surfaces"),
        ("start-resolves-early", "LIFE-2", "late-join-after-changes"),
        (
            "fetches-before-subscribing",
            "LIFE-1",
            "hung-subscribe-of-one-window-leaves-the-others-running",
        ),
        (
            "start-after-stop-subscribes",
            "LIFE-6",
            "start-after-stop-rejects",
        ),
        (
            "refresh-after-stop-fetches",
            "LIFE-9",
            "refresh-after-stop-does-nothing",
        ),
        (
            "silent-garbage",
            "ERR-1",
            "converge-mixed-faults-with-refresh-healing",
        ),
        ("reports-twice", "ERR-2", "backend-error-surfaces"),
        ("deaf-after-failure", "ERR-4", "backend-error-surfaces"),
        (
            "refresh-resolves-early",
            "CO-2",
            "coalesce-refresh-during-fetch-sees-later-change",
        ),
        (
            "numeric-revisions",
            "REV-5",
            "revision-order-is-exact-above-2-to-the-53",
        ),
        (
            "accepts-leading-zeros",
            "REV-2",
            "event-revision-non-canonical-vectors",
        ),
        ("accepts-overflow", "REV-3", "event-revision-overflow"),
        (
            "accepts-numeric-revisions",
            "REV-4",
            "event-revision-wrong-types",
        ),
        ("accepts-blank-topic", "EVT-2", "event-topic-blank"),
        (
            "rejects-non-string-source-id",
            "EVT-4",
            "event-optional-fields-wrong-types",
        ),
        (
            "rejects-unknown-fields",
            "EVT-5",
            "claims-exact-json-keeps-every-number",
        ),
        (
            "accepts-snapshot-without-data",
            "SNAP-1",
            "snapshot-garbage-fails-start",
        ),
        // What the engine reports is judged as the engine's, not the
        // driver's: a failed check, never an `error`.
        (
            "raw-revision-in-context",
            "ERR-2",
            "error-context-protocol-event",
        ),
        // Behaviours the corpus covers that the list above did not.
        (
            "redundant-follow-up",
            "CO-2",
            "backend-serial-serves-windows-in-turn",
        ),
        (
            "refresh-joins-running-fetch",
            "CO-2",
            "coalesce-refresh-during-fetch-sees-later-change",
        ),
        (
            "second-start-after-failure-resolves",
            "LIFE-4",
            "backend-error-surfaces",
        ),
        (
            "filter-throw-escapes",
            "ERR-3",
            "panicking-hook-and-filter-together",
        ),
        (
            "start-hangs-on-stop",
            "LIFE-4",
            "hung-subscribe-of-one-window-leaves-the-others-running",
        ),
        (
            "stop-keeps-retry-waiting",
            "STOP-2",
            "stop-during-retry-backoff",
        ),
        // A source restarted without its history (the original engine's
        // behaviour too: it has no epochs).
        ("ignores-epoch", "GATE-6", "restart-lost-history-late-join"),
    ];
    let corpus = state_sync_conformance::Corpus::embedded().expect("the corpus loads");
    let mut missed = Vec::new();
    for (fault, clause, first) in faults {
        let citing: Vec<&str> = corpus
            .specs()
            .iter()
            .filter(|s| s.spec.clauses.iter().any(|c| c == clause))
            .map(|s| s.spec.id.as_str())
            .collect();
        if !citing.contains(&first) {
            missed.push(format!("{fault}: {first} does not cite {clause}"));
            continue;
        }
        // The spec that caught it when this list was written first, then
        // the others.
        let order: Vec<&str> = std::iter::once(first)
            .chain(citing.iter().copied().filter(|id| *id != first))
            .collect();
        let chunks = std::iter::once(&order[..1]).chain(order[1..].chunks(CHUNK));
        // The specs citing the clause, a few at a time, until one catches
        // the fault: what the test proves is that one does, and a driver
        // process per case (Node.js starting) is most of what it costs.
        let suite = Suite::new()
            .driver(js_fixture_original_api(fault))
            .known_failures(format!("{JS}/test/known-failures.json"));
        let mut ran = 0;
        let mut caught = None;
        for chunk in chunks {
            let report = suite
                .run_filtered(|_, spec| chunk.contains(&spec.id.as_str()))
                .expect("the suite runs");
            ran += report.cases.len();
            // Every line of a failed case names the clause its check defends.
            for line in outcomes::failure_lines_naming_no_clause(&report) {
                missed.push(format!("{fault}: names no clause: {line}"));
            }
            caught = report
                .cases
                .iter()
                .find(|c| match c.verdict {
                    Verdict::Fail => c.broken_clauses.iter().any(|b| b == clause),
                    // A hang names no clause: a spec citing it will do.
                    Verdict::Timeout => c.clauses.iter().any(|c| c == clause),
                    _ => false,
                })
                .map(|c| c.spec.clone());
            if caught.is_some() {
                break;
            }
        }
        eprintln!(
            "{fault:<36} {clause:<7} caught by {} ({ran} of the {} specs citing it run)",
            caught.as_deref().unwrap_or("none"),
            citing.len()
        );
        if caught.is_none() {
            missed.push(format!("{fault} ({clause})"));
        }
    }
    assert!(missed.is_empty(), "not caught: {missed:?}");
}

/// An engine that differs from the protocol only on a SHOULD clause (the
/// fixture's `retry-without-attempts`: RETRY-2) leaves the run conformant:
/// each difference is a `non-strict` case naming RETRY-2, listed in the
/// summary and every report; a strict run fails on them.
#[test]
fn an_engine_breaking_only_a_should_clause_is_listed_not_failed_unless_strict() {
    if !node_is_here() {
        return;
    }
    let run = |strict: bool| {
        Suite::new()
            .driver(js_fixture(Some("retry-without-attempts")))
            .known_failures(format!("{JS}/test/known-failures.json"))
            .strict(strict)
            .run_filtered(|_, spec| spec.clauses.iter().any(|c| c == "RETRY-2"))
            .expect("the suite runs")
    };
    let report = run(false);
    let listed: Vec<_> = report
        .cases
        .iter()
        .filter(|c| c.verdict == Verdict::NonStrict)
        .collect();
    assert!(
        !listed.is_empty(),
        "{}",
        state_sync_conformance::summary::to_text(
            &report,
            state_sync_conformance::summary::Style::Plain
        )
    );
    assert!(
        report.summary.ok,
        "{}",
        state_sync_conformance::summary::to_text(
            &report,
            state_sync_conformance::summary::Style::Plain
        )
    );
    for case in &listed {
        assert_eq!(
            case.broken_clauses,
            ["RETRY-2"],
            "{}",
            case.explain_brief(5)
        );
        assert!(
            case.failures.iter().all(|f| f.starts_with("RETRY-2: ")),
            "{:?}",
            case.failures
        );
    }
    let text = state_sync_conformance::summary::to_text(
        &report,
        state_sync_conformance::summary::Style::Plain,
    );
    let markdown = state_sync_conformance::report::to_markdown(&report);
    let junit = state_sync_conformance::report::to_junit(&report).expect("junit");
    let json = state_sync_conformance::report::to_json(&report);
    for (what, text) in [
        ("summary", &text),
        ("markdown", &markdown),
        ("junit", &junit),
        ("json", &json),
    ] {
        assert!(
            text.contains("RETRY-2"),
            "{what} does not name the clause:\n{text}"
        );
        assert!(
            text.contains(&listed[0].spec),
            "{what} does not list {}:\n{text}",
            listed[0].spec
        );
    }
    let strict = run(true);
    assert!(
        !strict.summary.ok,
        "a strict run fails on a SHOULD difference"
    );
}

/// A spec whose steps need what a driver does not claim is `unsupported`,
/// never failed (expectations reading an accessor the driver lacks are
/// only skipped: see the kit's own tests and the original-API faults).
#[test]
fn specs_needing_what_a_driver_does_not_claim_are_unsupported_never_failed() {
    let report = Suite::new()
        .driver(Driver::new(
            "sh",
            ["-c".to_owned(), format!("echo '{HELLO}'; cat > /dev/null")],
        ))
        .run_filtered(|_, spec| {
            spec.id == "debounce-burst" || spec.id == "metrics-count-what-happened"
        })
        .expect("the suite runs");
    assert_eq!(report.cases.len(), 2);
    for case in &report.cases {
        assert_eq!(
            case.verdict,
            Verdict::Unsupported,
            "{}",
            case.explain_brief(5)
        );
    }
    let debounce = report.cases.iter().find(|c| c.spec == "debounce-burst");
    assert!(debounce.is_some_and(|c| c.missing.contains(&"driver:throttle".to_owned())));
    let metrics = report
        .cases
        .iter()
        .find(|c| c.spec == "metrics-count-what-happened");
    assert!(metrics.is_some_and(|c| c.missing == ["driver:max_stale_refetches"]));
}
