//! Engines behind the driver protocol: the Rust reference driver gives the
//! verdicts of the in-process engine on the whole corpus; broken drivers
//! (crashing, silent, garbage, another protocol version) give `error` or
//! `timeout` with a clear message while the suite goes on; and the
//! JavaScript fixture engine with one fault switched on is caught by a spec
//! citing the clause the fault breaks.

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
/// original TypeScript engine did) — are each caught, by running, by a spec
/// citing the clause the fault breaks. The fixture without faults passes
/// those specs (the test above), so each failure is the fault's.
#[test]
fn every_engine_fault_of_the_fixture_is_caught_by_a_spec_citing_its_clause() {
    if !node_is_here() {
        return;
    }
    let faults = [
        // The original engine's two.
        ("lost-follow-up", "CO-2"),
        ("leak-on-stop-during-subscribe", "TR-2"),
        // One rule each.
        ("applies-older-snapshots", "GATE-1"),
        ("refreshes-on-old-events", "GATE-2"),
        ("ignores-topic", "GATE-3"),
        ("ignores-should-refresh", "GATE-4"),
        ("fetch-per-event", "CO-1"),
        ("no-follow-up", "CO-2"),
        ("applies-after-stop", "STOP-1"),
        ("keeps-subscription-on-stop", "LIFE-7"),
        ("no-rollback", "LIFE-4"),
        ("start-resolves-early", "LIFE-2"),
        ("fetches-before-subscribing", "LIFE-1"),
        ("start-after-stop-subscribes", "LIFE-6"),
        ("refresh-after-stop-fetches", "LIFE-9"),
        ("silent-garbage", "ERR-1"),
        ("reports-twice", "ERR-2"),
        ("deaf-after-failure", "ERR-4"),
        ("refresh-resolves-early", "CO-2"),
        ("numeric-revisions", "REV-5"),
        ("accepts-leading-zeros", "REV-2"),
        ("accepts-overflow", "REV-3"),
        ("accepts-numeric-revisions", "REV-4"),
        ("accepts-blank-topic", "EVT-2"),
        ("rejects-non-string-source-id", "EVT-4"),
        ("rejects-unknown-fields", "EVT-5"),
        ("accepts-snapshot-without-data", "SNAP-1"),
    ];
    let mut missed = Vec::new();
    for (fault, clause) in faults {
        let report = Suite::new()
            .driver(js_fixture(Some(fault)))
            .known_failures(format!("{JS}/test/known-failures.json"))
            .run_filtered(|_, spec| spec.clauses.iter().any(|c| c == clause))
            .expect("the suite runs");
        let caught: Vec<&str> = report
            .cases
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error | Verdict::Timeout))
            .map(|c| c.spec.as_str())
            .collect();
        eprintln!(
            "{fault:<30} {clause:<7} caught by {} of {} specs citing it, e.g. {:?}",
            caught.len(),
            report.cases.len(),
            &caught[..caught.len().min(2)]
        );
        if caught.is_empty() {
            missed.push(format!("{fault} ({clause})"));
        }
    }
    assert!(missed.is_empty(), "not caught: {missed:?}");
}

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
        assert!(
            case.missing.iter().all(|m| m.starts_with("driver:")),
            "{:?}",
            case.missing
        );
    }
    let debounce = report.cases.iter().find(|c| c.spec == "debounce-burst");
    assert!(debounce.is_some_and(|c| c.missing.contains(&"driver:throttle".to_owned())));
}
