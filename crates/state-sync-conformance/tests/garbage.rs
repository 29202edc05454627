//! Garbage everywhere: arbitrary JSON (deep nesting, huge numbers, long
//! strings, odd Unicode) fed to every validator — revisions, events,
//! snapshots, spec files — and through every reference transport into a
//! running engine.
//!
//! What must hold (ERR-1, ERR-2, TR-1):
//!
//! * no validator panics, and each accepts exactly what an independent
//!   oracle written from `docs/protocol.md` accepts;
//! * every invalid payload a transport delivers to the engine is reported
//!   exactly once, with phase `protocol` and the payload as `source_event`;
//!   nothing else is reported;
//! * every invalid snapshot makes its `refresh` fail with that protocol
//!   error, reported once, and changes nothing;
//! * afterwards the engine still applies the next valid change.
//!
//! `cargo test -p state-sync-conformance --test garbage`; 256 cases per
//! property, more with `PROPTEST_CASES`. Failures are persisted in
//! `proptest-regressions/garbage.txt` and replayed first.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value, json};
use state_sync::appliers::FnApplier;
use state_sync::protocol::preview;
use state_sync::revision::JsonKind;
use state_sync::source::SourceOfTruth;
use state_sync::{
    ErrorContext, EventRef, InvalidationEvent, InvalidationHandler, InvalidationSubscriber,
    Lifecycle, Phase, PortError, Revision, RevisionError, RevisionSync, SnapshotEnvelope,
    Subscription, SyncError,
};
use state_sync_conformance::corpus::{check_spec, clauses, parse_spec};
use state_sync_conformance::{SnapshotHandler, Transport, reference};

const TOPIC: &str = "doc";
/// Where failing cases are persisted (and replayed from first).
const REGRESSIONS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/proptest-regressions/garbage.txt"
);
/// The most bytes a protocol error shows of the offending value, plus `…`.
const SHOWN_MAX: usize = 120 + '…'.len_utf8();
/// Stack for the deep-nesting tests: `serde_json::Value` is cloned,
/// compared, serialized and dropped recursively.
const DEEP_STACK: usize = 512 << 20;

fn config() -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(REGRESSIONS))),
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies

/// Strings that are near misses of something meaningful.
const EDGE_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "00",
    "01",
    "007",
    "+1",
    "-1",
    "-0",
    "1e3",
    "0x1",
    "1.0",
    "1_000",
    " 1",
    "1 ",
    "1\n",
    "\u{0}",
    "1\u{0}",
    "١",
    "１",
    "²",
    "𝟙",
    "18446744073709551615",
    "18446744073709551616",
    "18446744073709551614",
    "99999999999999999999",
    "100000000000000000000",
    "184467440737095516150",
    TOPIC,
    " doc",
    "doc ",
    "DOC",
    "\u{feff}",
    "\u{feff}doc",
    "\u{200b}",
    "\u{3000}",
    "\u{85}",
    "\u{2028}",
    "\u{a0}",
    "1\u{301}",
    "\u{202e}1",
    "🦀",
    "\u{fffd}",
    "\u{10ffff}",
    "topic",
    "revision",
    "data",
];

fn odd_string() -> BoxedStrategy<String> {
    let long = (
        1usize..100_000,
        select(vec![
            "7",
            "0",
            " ",
            "é",
            "\u{10ffff}",
            "\u{0}",
            "\u{feff}",
            "🦀",
        ]),
    )
        .prop_map(|(n, s)| s.repeat(n));
    prop_oneof![
        4 => select(EDGE_STRINGS).prop_map(str::to_owned),
        3 => "\\PC{0,24}",
        2 => any::<String>(),
        2 => "[0-9]{0,24}",
        1 => "0[0-9]{0,4}",
        1 => "[\\x00-\\x1f\\x7f]{0,4}[0-9]{0,3}[\\x00-\\x1f\\x7f]{0,4}",
        1 => "[ \t\n\r\u{a0}\u{2003}\u{3000}\u{feff}\u{200b}]{0,4}[0-9a-z]{0,4}[ \t\n\u{a0}\u{3000}]{0,4}",
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => long,
    ]
    .boxed()
}

fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        select(vec![
            json!(0),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(9_007_199_254_740_993_u64),
            json!(1e308),
            json!(-1e-308),
            json!(5e-324),
            json!(42),
            json!(42.0),
        ]),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        2 => number(),
        3 => odd_string().prop_map(Value::String),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(vec!["topic", "revision", "data", "sourceId", "timestampMs"]).prop_map(str::to_owned),
        1 => select(vec!["Topic", "revision ", "source_id", "timestamp_ms", "", "__proto__"]).prop_map(str::to_owned),
        2 => odd_string(),
    ]
    .boxed()
}

/// Any JSON value, nested up to 6 levels (shallow enough for every
/// transport's medium: `serde_json` parses at most 128 levels).
fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A value for a field of an envelope: mostly plausible, often wrong.
fn field(plausible: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop::option::weighted(
        0.9,
        prop_oneof![
            4 => plausible,
            2 => odd_string().prop_map(Value::String),
            2 => json_value(),
        ],
    )
    .boxed()
}

fn canonical_revision() -> BoxedStrategy<Value> {
    prop_oneof![0u64..20, any::<u64>(), Just(u64::MAX),]
        .prop_map(|n| Value::String(n.to_string()))
        .boxed()
}

fn object(fields: Vec<(&str, Option<Value>)>, extra: Vec<(String, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in extra {
        map.insert(k, v);
    }
    for (k, v) in fields {
        if let Some(v) = v {
            map.insert(k.to_owned(), v);
        }
    }
    Value::Object(map)
}

/// Event-shaped garbage: valid events, near misses and junk.
fn event_like() -> BoxedStrategy<Value> {
    let topic = prop_oneof![
        4 => Just(json!(TOPIC)),
        1 => Just(json!("other")),
    ]
    .boxed();
    (
        field(topic),
        field(canonical_revision()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
        prop::collection::vec((key(), json_value()), 0..3),
    )
        .prop_map(|(topic, revision, source_id, timestamp, extra)| {
            object(
                vec![
                    ("topic", topic),
                    ("revision", revision),
                    ("sourceId", source_id),
                    ("timestampMs", timestamp),
                ],
                extra,
            )
        })
        .boxed()
}

/// Snapshot-shaped garbage for an application type of `u32`.
fn snapshot_like() -> BoxedStrategy<Value> {
    let data = prop_oneof![any::<u32>().prop_map(Value::from), number()].boxed();
    (
        field(canonical_revision()),
        field(data),
        prop::collection::vec((key(), json_value()), 0..3),
    )
        .prop_map(|(revision, data, extra)| {
            object(vec![("revision", revision), ("data", data)], extra)
        })
        .boxed()
}

/// Anything a transport may carry.
fn payload() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => event_like(),
        2 => json_value(),
        1 => snapshot_like(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// Oracles, written from docs/protocol.md

/// REV-1 to REV-3, and the order of the reasons in the golden vectors.
fn oracle_revision(s: &str) -> Result<u64, RevisionError> {
    if s.is_empty() {
        Err(RevisionError::Empty)
    } else if !s.chars().all(|c| c.is_ascii_digit()) {
        Err(RevisionError::NotDigits)
    } else if s.len() > 1 && s.starts_with('0') {
        Err(RevisionError::LeadingZero)
    } else {
        s.parse::<u64>().map_err(|_| RevisionError::Overflow)
    }
}

fn oracle_revision_json(v: &Value) -> Result<u64, RevisionError> {
    match v {
        Value::String(s) => oracle_revision(s),
        other => Err(RevisionError::NotAString(JsonKind::of(other))),
    }
}

/// EVT-1 to EVT-3: the topic and revision of a valid event.
fn oracle_event(v: &Value) -> Option<(&str, u64)> {
    let o = v.as_object()?;
    let topic = o.get("topic")?.as_str()?;
    if topic.trim().is_empty() {
        return None;
    }
    let revision = oracle_revision_json(o.get("revision")?).ok()?;
    Some((topic, revision))
}

/// SNAP-1 to SNAP-3 for an application type `T`.
fn oracle_snapshot<T: DeserializeOwned>(v: &Value) -> Option<u64> {
    let o = v.as_object()?;
    let data = o.get("data")?;
    let revision = oracle_revision_json(o.get("revision")?).ok()?;
    serde_json::from_value::<T>(data.clone()).ok()?;
    Some(revision)
}

// ---------------------------------------------------------------------------
// Validators

/// An application type with a little structure.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Doc {
    theme: String,
    size: Option<u8>,
    tags: Vec<String>,
}

fn check_snapshot_as<T: DeserializeOwned>(v: &Value) -> Result<(), TestCaseError> {
    let expected = oracle_snapshot::<T>(v);
    match SnapshotEnvelope::<T>::from_json(v.clone()) {
        Ok(s) => prop_assert_eq!(Some(s.revision.get()), expected),
        Err(e) => {
            prop_assert_eq!(expected, None);
            prop_assert!(e.shown.len() <= SHOWN_MAX, "shown {} bytes", e.shown.len());
            let _ = e.to_string();
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn revision_strings_parse_iff_canonical(s in odd_string()) {
        let parsed = Revision::parse(&s);
        prop_assert_eq!(parsed.map(Revision::get), oracle_revision(&s));
        prop_assert_eq!(s.parse::<Revision>(), parsed);
        if let Ok(r) = parsed {
            prop_assert_eq!(r.to_string(), s.clone());
            prop_assert_eq!(serde_json::from_value::<Revision>(json!(s)).ok(), Some(r));
        } else {
            prop_assert!(serde_json::from_value::<Revision>(json!(s)).is_err());
        }
    }

    #[test]
    fn revision_json_values(v in prop_oneof![json_value(), leaf()]) {
        prop_assert_eq!(Revision::from_json(&v).map(Revision::get), oracle_revision_json(&v));
    }

    #[test]
    fn events_are_valid_iff_the_oracle_says_so(v in payload()) {
        let expected = oracle_event(&v);
        let borrowed = EventRef::from_json(&v);
        let owned = InvalidationEvent::from_json(&v);
        match (&borrowed, &owned) {
            (Ok(b), Ok(o)) => {
                prop_assert_eq!(Some((b.topic, b.revision.get())), expected);
                prop_assert_eq!(b.topic, o.topic.as_str());
                prop_assert_eq!(b.revision, o.revision);
                prop_assert_eq!(b.source_id, o.source_id.as_deref());
                prop_assert_eq!(b.to_event(&v), o.clone());
                // The wire form reads back as the same event.
                let wire = o.to_json();
                let read_back = InvalidationEvent::from_json(&wire);
                prop_assert_eq!(read_back.as_ref(), Ok(o));
            }
            (Err(b), Err(o)) => {
                prop_assert_eq!(expected, None);
                prop_assert_eq!(b, o);
                prop_assert!(b.shown.len() <= SHOWN_MAX, "shown {} bytes", b.shown.len());
                let _ = b.to_string();
            }
            _ => prop_assert!(false, "EventRef {:?} and InvalidationEvent {:?} disagree", borrowed, owned),
        }
    }

    #[test]
    fn snapshots_are_valid_iff_the_oracle_says_so(v in prop_oneof![snapshot_like(), payload()]) {
        check_snapshot_as::<u32>(&v)?;
        check_snapshot_as::<Value>(&v)?;
        check_snapshot_as::<String>(&v)?;
        check_snapshot_as::<Vec<u8>>(&v)?;
        check_snapshot_as::<Option<bool>>(&v)?;
        check_snapshot_as::<Doc>(&v)?;
    }

    #[test]
    fn previews_are_bounded_prefixes(v in json_value(), max in 0usize..300) {
        let shown = preview(&v, max);
        let full = v.to_string();
        if full.len() <= max {
            prop_assert_eq!(shown, full);
        } else {
            let cut = shown.strip_suffix('…').expect("a cut preview ends with …");
            prop_assert!(cut.len() <= max);
            prop_assert!(full.starts_with(cut));
        }
    }

    #[test]
    fn spec_parsing_survives_any_text(text in prop_oneof![
        any::<String>(),
        odd_string(),
        json_value().prop_map(|v| v.to_string()),
    ]) {
        check_spec_text(&text);
    }

    #[test]
    fn spec_parsing_survives_mutated_spec_files(
        file in any::<Index>(),
        edits in prop::collection::vec((any::<Index>(), 0u8..3, odd_string()), 1..6),
    ) {
        let files = spec_files();
        let text = &files[file.index(files.len())].1;
        let mut chars: Vec<char> = text.chars().collect();
        for (at, op, s) in edits {
            let at = at.index(chars.len() + 1);
            match op {
                0 => { chars.splice(at..at, s.chars()); }
                1 => { chars.drain(at..(at + s.chars().count()).min(chars.len())); }
                _ => {
                    let end = (at + s.chars().count()).min(chars.len());
                    chars.splice(at..end, s.chars());
                }
            }
        }
        check_spec_text(&chars.into_iter().collect::<String>());
    }

    #[test]
    fn spec_checks_survive_garbage_values_in_spec_files(
        file in any::<Index>(),
        paths in prop::collection::vec((prop::collection::vec(any::<Index>(), 0..6), json_value()), 1..4),
    ) {
        let files = spec_files();
        let text = &files[file.index(files.len())].1;
        let mut spec: Value = serde_json::from_str(text).expect("spec files are JSON");
        for (path, garbage) in paths {
            *walk(&mut spec, &path) = garbage;
        }
        check_spec_text(&spec.to_string());
    }
}

/// Parses a spec file and, when it parses, runs the semantic checks.
fn check_spec_text(text: &str) {
    let known: BTreeSet<String> = clauses().into_iter().map(|c| c.id).collect();
    if let Ok(spec) = parse_spec(text, "garbage.json") {
        for known in [&known, &BTreeSet::new()] {
            for error in check_spec(&spec, "garbage.json", known) {
                let _ = error.to_string();
            }
        }
    }
}

/// The spec files of the corpus, read once.
fn spec_files() -> Arc<Vec<(String, String)>> {
    static FILES: std::sync::OnceLock<Arc<Vec<(String, String)>>> = std::sync::OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/contract-specs");
            let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
                .expect("contract-specs/ is readable")
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .map(|p| {
                    let text = std::fs::read_to_string(&p).expect("spec file is UTF-8");
                    (p.display().to_string(), text)
                })
                .filter(|(_, text)| serde_json::from_str::<Value>(text).is_ok())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no spec files in {dir}");
            Arc::new(files)
        })
        .clone()
}

/// The node reached by following `path` (array items and object values,
/// each chosen by an `Index`), stopping at a leaf.
fn walk<'a>(node: &'a mut Value, path: &[Index]) -> &'a mut Value {
    let Some((step, rest)) = path.split_first() else {
        return node;
    };
    let len = match &*node {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        _ => 0,
    };
    if len == 0 {
        return node;
    }
    let at = step.index(len);
    match node {
        Value::Array(items) => walk(&mut items[at], rest),
        Value::Object(map) => walk(map.values_mut().nth(at).expect("index in range"), rest),
        leaf => leaf,
    }
}

// ---------------------------------------------------------------------------
// Deep nesting

fn nest(depth: usize, inner: Value, objects: bool) -> Value {
    let mut v = inner;
    for _ in 0..depth {
        v = if objects {
            // Not `json!`: it would re-serialize `v` at every level.
            Value::Object(Map::from_iter([("topic".to_owned(), v)]))
        } else {
            Value::Array(vec![v])
        };
    }
    v
}

/// Runs `f` on a thread with [`DEEP_STACK`] of stack.
fn on_big_stack(f: impl FnOnce() + Send + 'static) {
    let joined = std::thread::Builder::new()
        .stack_size(DEEP_STACK)
        .spawn(f)
        .expect("a thread")
        .join();
    if let Err(panic) = joined {
        std::panic::resume_unwind(panic);
    }
}

/// Stack for the validators in [`validators_survive_deep_nesting`]: far
/// too small for a recursive walk of 20,000 levels, plenty otherwise.
const SMALL_STACK: usize = 256 << 10;

/// Payloads nested up to 20,000 levels. The validators that borrow the
/// payload run on a [`SMALL_STACK`] thread, so they must not recurse into
/// it (ERR-1: never panics, whatever the input); the rest run on a big
/// stack, because building, cloning and dropping a `serde_json::Value` (and
/// decoding `data` into a `Value`) recurse by nature.
#[test]
fn validators_survive_deep_nesting() {
    on_big_stack(|| {
        let mut runner = TestRunner::new(Config {
            cases: config().cases.min(32),
            ..config()
        });
        let strategy = (0usize..20_000, any::<bool>(), json_value());
        runner
            .run(&strategy, |(depth, objects, inner)| {
                let deep = nest(depth, inner, objects);
                let field = |name: &str, v: Value, other: (&str, Value)| {
                    Value::Object(Map::from_iter([
                        (name.to_owned(), v),
                        (other.0.to_owned(), other.1),
                    ]))
                };
                let payloads = [
                    field("data", deep.clone(), ("revision", json!("1"))),
                    field("revision", deep.clone(), ("data", json!(1))),
                    deep,
                ];
                let borrowed = std::thread::scope(|scope| {
                    std::thread::Builder::new()
                        .stack_size(SMALL_STACK)
                        .spawn_scoped(scope, || {
                            payloads
                                .iter()
                                .map(|v| {
                                    let event = EventRef::from_json(v);
                                    let owned = InvalidationEvent::from_json(v);
                                    let revision = v.get("revision").map(Revision::from_json);
                                    let shown = preview(v, 200).len();
                                    (event.is_ok(), owned.is_ok(), revision, shown)
                                })
                                .collect::<Vec<_>>()
                        })
                        .expect("a thread")
                        .join()
                        .expect("the validators do not recurse into the payload")
                });
                for (v, (event, owned, revision, shown)) in payloads.iter().zip(borrowed) {
                    prop_assert_eq!(event, oracle_event(v).is_some());
                    prop_assert_eq!(owned, event);
                    if let Some(revision) = revision {
                        prop_assert_eq!(
                            revision.map(Revision::get),
                            oracle_revision_json(&v["revision"])
                        );
                    }
                    prop_assert!(shown <= 200 + '…'.len_utf8());
                    check_snapshot_as::<u32>(v)?;
                    check_snapshot_as::<Value>(v)?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
}

// ---------------------------------------------------------------------------
// Through every transport into a running engine

/// Hands every payload the transport delivers to the engine at once, and
/// keeps a copy.
struct Counting {
    inner: Arc<dyn InvalidationSubscriber>,
    delivered: Arc<Mutex<Vec<Value>>>,
}

impl InvalidationSubscriber for Counting {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let delivered = self.delivered.clone();
        self.inner.subscribe(Arc::new(move |payload: &Value| {
            delivered.lock().push(payload.clone());
            handler(payload);
        }))
    }
}

/// The in-process reference transports: the checks below wait on paused
/// time, which real I/O does not follow. The IPC transport's pass-through
/// of garbage is checked by the corpus and by `state-sync-transports`'
/// own tests (it refuses payloads nested deeper than `ipc::MAX_NESTING`).
fn transports() -> Vec<Transport> {
    vec![
        reference::memory(),
        reference::channel(),
        reference::tauri_mock(),
    ]
}

/// What a garbage run saw, for the checks.
struct Outcome {
    delivered: Vec<Value>,
}

/// Starts an engine over `transport`, emits `events`, makes the provider
/// serve `snapshots` one refresh at a time, then checks that every invalid
/// payload was reported once and that the engine still applies the next
/// change.
fn garbage_through(
    transport: &Transport,
    events: &[Value],
    snapshots: &[Value],
) -> Result<Outcome, TestCaseError> {
    let rt = common::paused_runtime();
    rt.block_on(async {
        let name = transport.name().to_owned();
        let source = Arc::new(SourceOfTruth::new(TOPIC, 0u32));
        let served: Arc<Mutex<Option<Value>>> = Arc::default();
        let server = {
            let (source, served) = (source.clone(), served.clone());
            SnapshotHandler::sync(move |_topic| match served.lock().clone() {
                Some(garbage) => Ok(garbage),
                None => source
                    .snapshot_json()
                    .map_err(|e| PortError::new(e.to_string())),
            })
        };
        let bus = transport.open().expect("the backend opens");
        bus.serve(server);
        let ends = bus.window_ends("garbage", TOPIC);
        let delivered: Arc<Mutex<Vec<Value>>> = Arc::default();
        let errors: Arc<Mutex<Vec<ErrorContext>>> = Arc::default();
        let applied: Arc<Mutex<Vec<(u64, u32)>>> = Arc::default();
        let sync = {
            let (errors, applied) = (errors.clone(), applied.clone());
            RevisionSync::builder(
                TOPIC,
                Counting {
                    inner: ends.subscriber,
                    delivered: delivered.clone(),
                },
                ends.provider,
                FnApplier::new(move |s: SnapshotEnvelope<u32>| {
                    applied.lock().push((s.revision.get(), s.data));
                    Ok(())
                }),
            )
            .on_error(move |ctx| errors.lock().push(ctx.clone()))
            .build()
        };
        sync.start().await.expect("start over a healthy source");

        for event in events {
            bus.emit(event);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Every invalid delivered payload is reported once, in order, with
        // phase `protocol` and the payload; nothing else is reported.
        let delivered = delivered.lock().clone();
        let invalid: Vec<&Value> = delivered
            .iter()
            .filter(|p| oracle_event(p).is_none())
            .collect();
        {
            let errors = errors.lock();
            let reported: Vec<Option<&Value>> =
                errors.iter().map(|e| e.source_event.as_ref()).collect();
            let expected: Vec<Option<&Value>> = invalid.iter().map(|p| Some(*p)).collect();
            prop_assert!(
                reported == expected,
                "over {name}: {} invalid payloads delivered, {} reported",
                expected.len(),
                reported.len()
            );
            prop_assert!(errors.iter().all(|e| e.phase == Phase::Protocol));
        }
        prop_assert_eq!(sync.metrics().protocol_errors, invalid.len() as u64);

        // Garbage snapshots: each fails its refresh with a protocol error.
        for snapshot in snapshots {
            if oracle_snapshot::<u32>(snapshot).is_some() {
                continue;
            }
            let before = (errors.lock().len(), sync.local_revision());
            *served.lock() = Some(snapshot.clone());
            let outcome = sync.refresh().await;
            *served.lock() = None;
            prop_assert!(
                matches!(outcome, Err(SyncError::Protocol(_))),
                "over {name}: refresh of {} returned {:?}",
                preview(snapshot, 200),
                outcome
            );
            let errors = errors.lock();
            prop_assert_eq!(errors.len(), before.0 + 1, "over {}: reported once", name);
            prop_assert_eq!(errors[before.0].phase, Phase::Protocol);
            prop_assert_eq!(sync.local_revision(), before.1, "nothing applied");
        }

        // The engine still works: the next valid change is applied.
        let event = source.set(7).expect("a small revision");
        bus.emit(&event.to_json());
        tokio::time::sleep(Duration::from_millis(1)).await;
        prop_assert_eq!(sync.lifecycle(), Lifecycle::Running);
        prop_assert_eq!(sync.local_revision(), event.revision, "over {}", name);
        prop_assert_eq!(
            applied.lock().last().copied(),
            Some((event.revision.get(), 7))
        );
        prop_assert!(
            errors.lock().iter().all(|e| e.phase == Phase::Protocol),
            "over {name}: only protocol errors"
        );
        sync.stop();
        Ok(Outcome { delivered })
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn garbage_through_every_transport(
        events in prop::collection::vec(payload(), 1..10),
        snapshots in prop::collection::vec(prop_oneof![snapshot_like(), payload()], 0..4),
    ) {
        for transport in transports() {
            let outcome = garbage_through(&transport, &events, &snapshots)?;
            // TR-1: everything emitted arrives (the Tauri mock round-trips
            // JSON text, which may move a float by one ulp: count only).
            prop_assert_eq!(outcome.delivered.len(), events.len(), "over {}", transport.name());
            if transport.name() != "tauri-mock" {
                prop_assert_eq!(&outcome.delivered, &events);
            }
        }
    }
}

/// Payloads nested far deeper than `serde_json`'s 128-level parsing limit,
/// through every transport: each is delivered (TR-1; the Tauri mock's
/// medium is JSON text, parsed as a webview's `JSON.parse` would, without
/// that limit), reported once, and the engine keeps working.
#[test]
fn deep_garbage_through_every_transport() {
    on_big_stack(|| {
        let mut runner = TestRunner::new(Config {
            cases: config().cases.min(16),
            ..config()
        });
        let strategy = prop::collection::vec(
            (
                prop_oneof![0usize..200, 0usize..20_000],
                any::<bool>(),
                payload(),
            ),
            1..4,
        );
        runner
            .run(&strategy, |deep| {
                let events: Vec<Value> = deep
                    .into_iter()
                    .map(|(depth, objects, inner)| nest(depth, inner, objects))
                    .collect();
                for transport in transports() {
                    let outcome = garbage_through(&transport, &events, &[])?;
                    prop_assert_eq!(
                        outcome.delivered.len(),
                        events.len(),
                        "over {}",
                        transport.name()
                    );
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    });
}
