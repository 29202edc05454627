//! The kit's own behaviour: verdicts for broken transports, bad spec files,
//! known failures, determinism, and the checked-in schema and clause list.

mod outcomes;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use state_sync::{BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, Subscription};
use state_sync_conformance::corpus::{Corpus, clauses};
use state_sync_conformance::summary;
use state_sync_conformance::{
    Backend, Capabilities, RunOptions, SnapshotHandler, Spec, Suite, SuiteError, Transport,
    Verdict, WindowEnds, reference, run_case,
};
use state_sync_transports::memory;

/// The crate's folder: `contract-specs` and `docs` are linked into it.
fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty temporary folder.
fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("state-sync-kit-{name}-"))
        .tempdir()
        .expect("temp dir")
}

fn spec(text: &str) -> Spec {
    state_sync_conformance::corpus::parse_spec(text, "test").expect("valid spec")
}

const START_SPEC: &str = r#"{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must",
    "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}}, {"expect": {"window": "a", "local_revision": "0"}}]}"#;

/// Which way a [`BrokenBus`] misbehaves.
#[derive(Clone, Copy)]
enum Fault {
    /// `subscribe` panics.
    PanicOnSubscribe,
    /// `subscribe` never resolves.
    HangOnSubscribe,
    /// `emit` blocks the thread for a minute.
    BlockOnEmit,
}

/// The memory transport with one fault.
struct BrokenBus {
    inner: memory::Bus,
    fault: Fault,
}

struct BrokenSubscriber(Fault);

impl InvalidationSubscriber for BrokenSubscriber {
    fn subscribe(&self, _: InvalidationHandler) -> BoxFuture<'_, Result<Subscription, PortError>> {
        match self.0 {
            Fault::PanicOnSubscribe => panic!("transport bug: subscribe panicked"),
            Fault::HangOnSubscribe => Box::pin(futures::future::pending()),
            Fault::BlockOnEmit => Box::pin(async { Ok(Subscription::noop()) }),
        }
    }
}

impl Backend for BrokenBus {
    fn emit(&self, payload: &Value) {
        if let Fault::BlockOnEmit = self.fault {
            std::thread::sleep(Duration::from_secs(60));
        }
        self.inner.emit(payload);
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        let ends = self.inner.window_ends(label, topic);
        match self.fault {
            Fault::BlockOnEmit => ends,
            fault => WindowEnds {
                subscriber: Arc::new(BrokenSubscriber(fault)),
                provider: ends.provider,
            },
        }
    }
}

fn broken(fault: Fault) -> Transport {
    Transport::new("broken", move || BrokenBus {
        inner: memory::Bus::new(),
        fault,
    })
    .with_capabilities(Capabilities::all())
}

fn run(
    spec_text: &str,
    transport: Transport,
    options: &RunOptions,
) -> state_sync_conformance::CaseResult {
    run_case(&spec(spec_text), &transport, options)
}

#[test]
fn a_panicking_transport_gives_error() {
    let r = run(
        START_SPEC,
        broken(Fault::PanicOnSubscribe),
        &RunOptions::default(),
    );
    assert_eq!(r.verdict, Verdict::Error, "{}", r.explain());
    assert!(
        r.failures.iter().any(|f| f.contains("subscribe panicked")),
        "{:?}",
        r.failures
    );
    assert!(
        r.rerun.as_deref().is_some_and(|c| c.contains("--spec t")),
        "{:?}",
        r.rerun
    );
}

#[test]
fn a_hanging_transport_gives_timeout_at_the_hang_limit_with_the_clock_held() {
    let limit = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let r = run(
        START_SPEC,
        broken(Fault::HangOnSubscribe),
        &RunOptions::default().with_hang_limit(limit),
    );
    outcomes::assert_hung(&r, "the subscribe of window \"a\"", limit, started);
}

#[test]
fn a_blocking_transport_gives_timeout_at_the_hang_limit() {
    let spec_text = r#"{"id": "t", "title": "t", "clauses": ["LIFE-1"], "level": "must",
        "steps": [{"mutate": {}}]}"#;
    let options = RunOptions::default().with_hang_limit(Duration::from_millis(300));
    let r = run(spec_text, broken(Fault::BlockOnEmit), &options);
    assert_eq!(r.verdict, Verdict::Timeout, "{}", r.explain());
    assert!(r.failures[0].contains("it is blocked"), "{:?}", r.failures);
}

#[test]
fn a_failed_expectation_gives_fail_with_trace_and_rerun() {
    let spec_text = START_SPEC.replace(r#""local_revision": "0""#, r#""local_revision": "7""#);
    let r = run(&spec_text, reference::memory(), &RunOptions::default());
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.failures[0].contains("expected 7"), "{:?}", r.failures);
    assert!(
        r.trace.iter().any(|t| t.event.contains("apply 0")),
        "{:?}",
        r.trace
    );
    assert!(
        r.explain()
            .contains("rerun: state-sync-conformance run --transport memory --spec t")
    );
}

#[test]
fn missing_capability_gives_unsupported() {
    let bare = Transport::new("bare", memory::Bus::new);
    let spec_text = START_SPEC.replace(
        r#""level": "must","#,
        r#""level": "must", "requires": ["subscription-count"],"#,
    );
    let r = run(&spec_text, bare, &RunOptions::default());
    assert_eq!(r.verdict, Verdict::Unsupported);
    assert_eq!(r.missing, ["subscription-count"]);
}

/// A failed check names the clause it defends — the step's `clause`, or
/// the spec's first — and is graded by that clause's level: only SHOULD
/// clauses broken is `non-strict`, listed but not failing the run unless
/// it is strict.
#[test]
fn a_failed_check_names_its_clause_and_should_only_is_non_strict() {
    let must = START_SPEC.replace(r#""local_revision": "0""#, r#""local_revision": "7""#);
    let r = run(&must, reference::memory(), &RunOptions::default());
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.failures[0].starts_with("LIFE-1: step 2 (expect): "),
        "{:?}",
        r.failures
    );
    assert_eq!(r.broken_clauses, ["LIFE-1"]);

    let should = r#"{"id": "t", "title": "t", "clauses": ["LIFE-1", "MET-1"], "level": "must",
        "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
                  {"expect": {"window": "a", "local_revision": "0"}},
                  {"expect": {"clause": "MET-1", "window": "a", "metrics": {"fetches": 9}}}]}"#;
    let r = run(should, reference::memory(), &RunOptions::default());
    assert_eq!(r.verdict, Verdict::NonStrict, "{}", r.explain());
    assert_eq!(r.broken_clauses, ["MET-1"]);
    assert!(
        r.failures[0].starts_with("MET-1: step 3 (expect): "),
        "{:?}",
        r.failures
    );
    assert!(!r.verdict.is_unexpected() && r.verdict.is_unexpected_in(true));
    assert_eq!(r.checked, 3, "start, local_revision, metrics");

    let dir = temp_dir("should-only");

    let dir = dir.path();
    std::fs::write(dir.join("t.json"), should).expect("write");
    let suite = || {
        Suite::new()
            .transport(reference::memory())
            .without_embedded_specs()
            .specs_dir(dir)
    };
    let report = suite().run().expect("runs");
    assert!(
        report.summary.ok,
        "a SHOULD difference is listed, not failed"
    );
    let text = summary::to_text(&report, summary::Style::Plain);
    assert!(
        text.contains("SHOULD differences") && text.contains("memory::t"),
        "{text}"
    );
    let strict = suite().strict(true).run().expect("runs");
    assert!(!strict.summary.ok && strict.summary.strict);
}

/// An expectation reading what the transport does not offer is not
/// checked, and listed; the rest of the spec still decides the verdict.
#[test]
fn an_expectation_the_transport_cannot_answer_is_not_checked_not_the_spec() {
    let bare = || Transport::new("bare", memory::Bus::new);
    let text = r#"{"id": "t", "title": "t", "clauses": ["LIFE-1", "TR-2"], "level": "must",
        "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
                  {"expect": {"window": "a", "local_revision": "LOCAL"}},
                  {"expect": {"clause": "TR-2", "subscriptions": 1}}]}"#;
    let r = run(&text.replace("LOCAL", "0"), bare(), &RunOptions::default());
    assert_eq!(r.verdict, Verdict::Pass, "{}", r.explain());
    assert_eq!(r.checked, 2);
    let lines: Vec<String> = r.not_checked.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "subscriptions × 1 — the transport does not count its subscriptions (capability `subscription-count`)"
        ]
    );
    let r = run(&text.replace("LOCAL", "5"), bare(), &RunOptions::default());
    assert_eq!(
        r.verdict,
        Verdict::Fail,
        "the rest still counts: {}",
        r.explain()
    );
    let only = r#"{"id": "t", "title": "t", "clauses": ["TR-2"], "level": "must",
        "steps": [{"open": {"window": "a"}}, {"start": {"window": "a"}},
                  {"expect": {"subscriptions": 1}}]}"#;
    let r = run(only, bare(), &RunOptions::default());
    assert_eq!(
        r.verdict,
        Verdict::Unsupported,
        "nothing of substance left: {}",
        r.explain()
    );
    assert!(
        r.missing[0].starts_with("subscriptions × 1"),
        "{:?}",
        r.missing
    );
}

#[test]
fn malformed_spec_file_names_file_and_path() {
    let dir = temp_dir("malformed");
    let dir = dir.path();
    std::fs::write(
        dir.join("bad.json"),
        r#"{"id": "bad", "title": "t", "clauses": ["LIFE-1"], "level": "must", "steps": [{"advance": {"ms": "ten"}}]}"#,
    )
    .expect("write");
    let err = Suite::new()
        .transport(reference::memory())
        .specs_dir(dir)
        .run()
        .expect_err("malformed");
    let text = err.to_string();
    assert!(matches!(err, SuiteError::Specs(_)));
    assert!(
        text.contains("bad.json") && text.contains("steps[0].advance.ms"),
        "{text}"
    );
    assert!(text.contains("expected u64"), "{text}");
}

#[test]
fn duplicate_id_with_the_embedded_corpus_is_an_error() {
    let dir = temp_dir("duplicate");
    let dir = dir.path();
    let existing = Corpus::embedded().expect("corpus").specs()[0]
        .spec
        .id
        .clone();
    let text = START_SPEC.replace(r#""id": "t""#, &format!(r#""id": "{existing}""#));
    std::fs::write(dir.join("dup.json"), text).expect("write");
    let err = Suite::new()
        .transport(reference::memory())
        .specs_dir(dir)
        .run()
        .expect_err("duplicate");
    assert!(err.to_string().contains("duplicate spec id"), "{err}");
}

#[test]
fn known_failures_turn_verdicts_and_reject_unknown_specs() {
    let dir = temp_dir("known");
    let dir = dir.path();
    let specs = dir.join("specs");
    std::fs::create_dir_all(&specs).expect("mkdir");
    std::fs::write(
        specs.join("failing.json"),
        START_SPEC
            .replace(r#""id": "t""#, r#""id": "user-failing""#)
            .replace(r#""local_revision": "0""#, r#""local_revision": "9""#),
    )
    .expect("write");
    let known = dir.join("known.json");
    std::fs::write(&known, r#"{"user-failing": {"reason": "not yet"}}"#).expect("write");
    let report = Suite::new()
        .without_embedded_specs()
        .specs_dir(&specs)
        .transport(reference::memory())
        .known_failures(&known)
        .run();
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(report.cases[0].verdict, Verdict::ExpectedFail);
    assert!(report.summary.ok);

    std::fs::write(&known, r#"{"no-such-spec": {"reason": "x"}}"#).expect("write");
    let err = Suite::new()
        .transport(reference::memory())
        .known_failures(&known)
        .run()
        .expect_err("unknown spec");
    assert!(err.to_string().contains("no-such-spec"), "{err}");
}

/// The committed report snapshots prove determinism run after run; this
/// checks it within one process too, on the specs with the most random
/// faults, over the asynchronous transport (a full second run of the corpus
/// would only repeat the harness).
#[test]
fn two_runs_give_byte_identical_reports() {
    use state_sync_conformance::report;
    let suite = Suite::new().transport(reference::channel());
    let noisy = |_: &str, s: &Spec| s.id.starts_with("converge-");
    let a = suite.run_filtered(noisy).expect("run");
    let b = suite.run_filtered(noisy).expect("run");
    assert!(a.summary.total >= 8, "{} cases", a.summary.total);
    assert_eq!(report::to_json(&a), report::to_json(&b));
}

/// A memory bus that counts how many of its kind are open at once.
struct Counted {
    inner: memory::Bus,
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Backend for Counted {
    fn emit(&self, payload: &Value) {
        self.inner.emit(payload);
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.inner.serve(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        self.inner.window_ends(label, topic)
    }

    fn active_subscriptions(&self) -> Option<usize> {
        self.inner.active_subscriptions()
    }
}

#[test]
fn cases_of_a_transport_that_takes_turns_never_overlap() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (o, m) = (open.clone(), most.clone());
    let transport = Transport::new("turns", move || {
        let now = o.fetch_add(1, Ordering::SeqCst) + 1;
        m.fetch_max(now, Ordering::SeqCst);
        Counted {
            inner: memory::Bus::new(),
            open: o.clone(),
        }
    })
    .with_capabilities(Capabilities::all())
    .on_real_time()
    .one_case_at_a_time();
    assert!(transport.runs_one_case_at_a_time());
    // One bus each: a spec with a second bus opens two backends in one case.
    let report = Suite::new()
        .transport(transport)
        .run_filtered(|_, s| s.buses().len() == 1 && s.id.starts_with("coalesce-"))
        .expect("run");
    assert!(report.summary.total >= 4, "{} cases", report.summary.total);
    assert!(
        report.summary.ok,
        "{}",
        summary::to_text(&report, summary::Style::Plain)
    );
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two cases' backends were open at once"
    );
    assert_eq!(open.load(Ordering::SeqCst), 0, "every backend was dropped");
}

#[cfg(feature = "schema")]
#[test]
fn the_schema_says_what_check_enforces_on_ids_clauses_and_steps() {
    let schema: Value =
        serde_json::from_str(&state_sync_conformance::schema::spec_schema_json()).expect("JSON");
    let props = &schema["properties"];
    assert_eq!(props["id"]["pattern"], "^[a-z0-9-]+$");
    assert_eq!(props["clauses"]["minItems"], 1);
    assert_eq!(props["steps"]["minItems"], 1);
    let ids: Vec<Value> = clauses().into_iter().map(|c| Value::String(c.id)).collect();
    assert!(ids.len() > 20, "the registry: {ids:?}");
    assert_eq!(props["clauses"]["items"]["enum"], Value::Array(ids.clone()));
    // Every step's `clause` field takes only registry ids (or null).
    let mut fields = 0;
    let mut stack = vec![&schema["$defs"]];
    while let Some(v) = stack.pop() {
        if let Some(clause) = v.get("properties").and_then(|p| p.get("clause")) {
            fields += 1;
            let allowed = clause["enum"].as_array().expect("an enum");
            assert!(ids.iter().all(|id| allowed.contains(id)), "{clause}");
            assert!(
                allowed.iter().all(|a| a.is_null() || ids.contains(a)),
                "{clause}"
            );
        }
        match v {
            Value::Object(m) => stack.extend(m.values()),
            Value::Array(a) => stack.extend(a.iter()),
            _ => {}
        }
    }
    assert!(
        fields >= 3,
        "expect, start/refresh and join carry a clause: {fields}"
    );
}

#[cfg(feature = "schema")]
#[test]
fn checked_in_schema_is_current() {
    let path = crate_dir().join("contract-specs/schema/spec.schema.json");
    let fresh = state_sync_conformance::schema::spec_schema_json();
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    if stored != fresh {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &fresh).expect("write schema");
        } else {
            panic!(
                "{} is stale: run `cargo run -p state-sync-conformance -- schema > contract-specs/schema/spec.schema.json`",
                path.display()
            );
        }
    }
}

#[test]
fn every_spec_names_the_schema() {
    for loaded in Corpus::embedded().expect("corpus").specs() {
        assert_eq!(
            loaded.spec.schema.as_deref(),
            Some("schema/spec.schema.json"),
            "{} must name the schema in `$schema`",
            loaded.origin
        );
    }
}

#[test]
fn clause_registry_matches_the_docs() {
    let mut in_docs = BTreeSet::new();
    for doc in ["docs/protocol.md", "docs/lifecycle.md"] {
        let text = std::fs::read_to_string(crate_dir().join(doc)).expect("doc");
        for line in text.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() > 3 && (cells[2] == "MUST" || cells[2] == "SHOULD") {
                in_docs.insert((cells[1].to_owned(), cells[2].to_lowercase(), doc.to_owned()));
            }
        }
    }
    let registry: BTreeSet<_> = clauses()
        .into_iter()
        .map(|c| (c.id, c.level.as_str().to_owned(), c.doc))
        .collect();
    assert!(!registry.is_empty());
    assert_eq!(
        registry, in_docs,
        "contract-specs/clauses.json must list the clause tables of the docs"
    );
}

#[test]
fn a_seed_replays_a_faulty_case_exactly() {
    // Random drops, duplicates, reordering and delays on three windows; the
    // last expectation fails so the trace is kept.
    let text = r#"{"id": "noisy", "title": "t", "clauses": ["CONV-1"], "level": "must", "steps": [
        {"open": {"window": "w[0..3]"}}, {"start": {"window": "w[0..3]"}},
        {"faults": {"window": "w[0..3]", "drop": 0.3, "duplicate": 0.3, "reorder": 0.3,
                    "delay_ms": {"min": 0, "max": 40}, "snapshot": {"fail": 0.2, "delay_ms": {"min": 0, "max": 30}}}},
        {"mutate": {"count": 40, "spacing_ms": 5}}, {"settle": {}},
        {"expect": {"window": "w0", "local_revision": "999"}}]}"#;
    let runs: Vec<_> = [7, 7, 8]
        .into_iter()
        .map(|seed| {
            let options = RunOptions::default().with_seed(seed);
            run(text, reference::memory(), &options)
        })
        .collect();
    assert_eq!(runs[0].verdict, Verdict::Fail);
    assert_eq!(runs[0].seed, 7);
    assert!(
        runs[0].trace.len() > 50,
        "a rich trace: {}",
        runs[0].trace.len()
    );
    assert_eq!(runs[0].trace, runs[1].trace, "same seed, same case");
    assert_ne!(runs[0].trace, runs[2].trace, "another seed, other faults");
    assert!(
        runs[0]
            .rerun
            .as_deref()
            .is_some_and(|c| c.ends_with("--seed 7"))
    );
}

#[test]
fn transport_names_must_be_usable_and_distinct() {
    let err = Suite::new()
        .transport(Transport::new("my transport", memory::Bus::new))
        .run()
        .expect_err("a space");
    assert!(matches!(err, SuiteError::TransportName(_)), "{err}");
    assert!(err.to_string().contains("letters, digits"), "{err}");
    let err = Suite::new()
        .transport(reference::memory())
        .transport(Transport::new("memory", memory::Bus::new))
        .run()
        .expect_err("a clash");
    assert!(
        err.to_string().contains("two transports are named"),
        "{err}"
    );
    let err = Suite::new().run().expect_err("none");
    assert!(matches!(err, SuiteError::NoTransport), "{err}");
}
