//! The two intakes — a payload handed over as a `serde_json::Value`, and
//! the same payload handed over as the JSON text it was parsed from — give
//! identical outcomes: the same reports (phase, message, typed error,
//! `source_event`, every field of the context), the same events reaching
//! the `should_refresh` filter, the same counters.
//!
//! The inputs are every vector of `contract-specs/vectors/revisions.json`
//! (as an event's revision) and every payload an `emit` step of the
//! corpus in `contract-specs/` sends (padding and nesting applied as the
//! kit applies them), linked into this crate as `tests/vectors` and
//! `tests/specs`, plus a few texts only text can spell (escapes, repeated
//! keys, whitespace).

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::appliers::FnApplier;
use state_sync::{
    ErrorContext, InvalidationHandler, InvalidationSubscriber, Metrics, Payload, PayloadHandler,
    Phase, PortError, RevisionSync, SnapshotEnvelope, SnapshotProvider, Subscription,
    protocol::ProblemKind,
};

const TOPIC: &str = "topic";

/// Keeps the payload handler the engine subscribes with.
#[derive(Default)]
struct Capture(Mutex<Option<PayloadHandler>>);

impl InvalidationSubscriber for Capture {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        *self.0.lock() = Some(state_sync::ports::tree_handler(handler));
        Box::pin(async { Ok(Subscription::noop()) })
    }

    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        *self.0.lock() = Some(handler);
        Box::pin(async { Ok(Subscription::noop()) })
    }
}

/// Always at revision 1: every valid event newer than that fetches.
struct AtOne;

impl SnapshotProvider for AtOne {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async { Ok(json!({"revision": "1", "data": null})) })
    }
}

/// What an engine made of the payloads it was handed.
#[derive(Debug, Default, Clone, PartialEq)]
struct Seen {
    reports: Vec<ErrorContext>,
    filtered: Vec<(String, u64, Option<String>)>,
}

struct Engine {
    sync: RevisionSync<Value>,
    handler: PayloadHandler,
    seen: Arc<Mutex<Seen>>,
}

impl Engine {
    async fn new() -> Self {
        let capture = Arc::new(Capture::default());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (reports, filtered) = (seen.clone(), seen.clone());
        let sync = RevisionSync::builder(
            TOPIC,
            capture.clone(),
            AtOne,
            FnApplier::new(|_: SnapshotEnvelope<Value>| Ok(())),
        )
        .max_stale_refetches(0)
        .on_error(move |ctx| reports.lock().reports.push(ctx.clone()))
        .should_refresh(move |e| {
            let owned = (
                e.topic.to_owned(),
                e.revision.get(),
                e.source_id.map(str::to_owned),
            );
            filtered.lock().filtered.push(owned);
            true
        })
        .build();
        sync.start().await.expect("start");
        let handler = capture.0.lock().clone().expect("subscribed");
        Self {
            sync,
            handler,
            seen,
        }
    }

    /// Hands over `payload`, lets what it started finish, and takes what
    /// came of it.
    async fn take(&self, payload: Payload<'_>) -> (Seen, Metrics) {
        (self.handler)(payload);
        while !self.sync.is_idle() {
            tokio::task::yield_now().await;
        }
        (std::mem::take(&mut *self.seen.lock()), self.sync.metrics())
    }
}

/// Hands every text to one engine as a tree parsed from it (what a
/// transport holding trees does) and to another as the text itself.
async fn compare(texts: &[String]) {
    let (trees, text) = (Engine::new().await, Engine::new().await);
    for (i, raw) in texts.iter().enumerate() {
        let value: Value = parse_unbounded(raw);
        let by_tree = trees.take(Payload::Value(&value)).await;
        let by_text = text.take(Payload::from(raw.as_str())).await;
        let shown: String = raw.chars().take(200).collect();
        assert_eq!(by_tree, by_text, "input #{i}: {shown}");
    }
    let (a, b) = (trees.sync.metrics(), text.sync.metrics());
    assert_eq!(a, b);
    assert!(a.protocol_errors > 0 && a.fetches > 1, "{a:?}");
}

fn parse_unbounded(text: &str) -> Value {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut de).expect("JSON");
    de.end().expect("one document");
    value
}

fn read(path: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The vectors as the revision of an otherwise valid event.
fn vector_events() -> Vec<Value> {
    let file = read("tests/vectors/revisions.json");
    let vectors = file["vectors"].as_array().expect("vectors");
    assert!(vectors.len() >= 25, "truncated");
    vectors
        .iter()
        .map(|v| json!({"topic": TOPIC, "revision": v["input"].clone(), "sourceId": "w"}))
        .collect()
}

/// Every payload an `emit` step of the corpus sends, built as the kit
/// builds it (`docs/spec-format.md`).
fn spec_payloads() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/specs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut payloads = Vec::new();
    for file in files {
        let spec: Value = read(&format!(
            "tests/specs/{}",
            file.file_name().expect("name").to_string_lossy()
        ));
        for step in spec["steps"].as_array().into_iter().flatten() {
            let Some(emit) = step.get("emit").filter(|e| e.is_object()) else {
                continue;
            };
            let mut payload = emit.get("payload").cloned().unwrap_or(Value::Null);
            if let (Some(pad), Some(object)) = (emit["pad_bytes"].as_u64(), payload.as_object_mut())
            {
                let pad = pad.min(16 << 20) as usize;
                object.insert("pad".into(), Value::String("x".repeat(pad)));
            }
            let text = serde_json::to_string(&payload).expect("JSON");
            let nest = emit["nest"].as_u64().unwrap_or(0).min(10_000) as usize;
            payloads.push(format!("{}{text}{}", "[".repeat(nest), "]".repeat(nest)));
        }
    }
    assert!(
        payloads.len() >= 100,
        "only {} emit payloads",
        payloads.len()
    );
    payloads
}

/// Texts a tree cannot tell apart from others: spelling, not content.
fn spellings() -> Vec<String> {
    [
        r#"{"topic":"topic","revision":"2"}"#,
        r#"  {"revision" : "3" , "topic" : "topic" }  "#,
        r#"{"topic":"t\u006fpic","revision":"4","sourceId":"w\"1\""}"#,
        r#"{"top\u0069c":"topic","revision":"5"}"#,
        r#"{"topic":"topic","revision":"6","revision":"0x7"}"#,
        r#"{"topic":"topic","revision":"x","revision":"7"}"#,
        r#"{"topic":"other","revision":"8","topic":"topic"}"#,
        r#"{"topic":"topic","revision":"9","topic":" "}"#,
        r#"{"topic":"topic","revision":"\u0031\u0030"}"#,
        r#"{"topic":"topic","revision":"11","sourceId":null,"sourceId":"s"}"#,
        r#"{"topic":"topic","revision":"12","timestampMs":1e308,"data":{"a":[[[{}]]]}}"#,
        r#"{"topic":"topic","revision":"13","sourceId":"\ud83d\ude00"}"#,
        "{\"topic\":\"topic\",\"revision\":\"14\",\"note\":\"é😀\"}",
        r#"{"topic":"topic\t","revision":"15"}"#,
        r#"{}"#,
        r#"[]"#,
        r#""{\"topic\":\"topic\",\"revision\":\"16\"}""#,
        "17",
        "-0.0",
        "true",
        "null",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `test` on a thread with room for the corpus's deepest payloads
/// (10,000 levels) and a paused current-thread runtime.
fn on_a_deep_stack(test: impl std::future::Future<Output = ()> + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .expect("runtime")
                .block_on(test);
        })
        .expect("thread")
        .join()
        .expect("the test passed");
}

#[test]
fn both_intakes_report_every_revision_vector_identically() {
    let texts: Vec<String> = vector_events().iter().map(Value::to_string).collect();
    on_a_deep_stack(async move { compare(&texts).await });
}

#[test]
fn both_intakes_report_every_emit_payload_of_the_corpus_identically() {
    let texts = spec_payloads();
    on_a_deep_stack(async move { compare(&texts).await });
}

#[test]
fn both_intakes_agree_on_spellings_only_text_has() {
    on_a_deep_stack(async move { compare(&spellings()).await });
}

#[test]
fn text_that_is_not_json_is_reported_as_protocol_with_the_text() {
    on_a_deep_stack(async move {
        let engine = Engine::new().await;
        for text in ["not json", "{\"topic\":\"topic\",", "", "{} {}"] {
            let (seen, metrics) = engine.take(Payload::from(text)).await;
            let [report] = seen.reports.as_slice() else {
                panic!("{text:?}: one report, got {:?}", seen.reports);
            };
            assert_eq!(report.phase, Phase::Protocol);
            assert_eq!(report.source_event, Some(Value::String(text.to_owned())));
            let Some(state_sync::SyncError::Protocol(error)) = &report.error else {
                panic!("a protocol error: {report:?}");
            };
            assert!(matches!(error.problem, ProblemKind::NotJson(_)), "{error}");
            assert!(metrics.protocol_errors > 0);
        }
        let (seen, _) = engine.take(Payload::from(&b"\xff\xfe"[..])).await;
        assert_eq!(seen.reports.len(), 1, "bytes that are not UTF-8");
    });
}

mod property {
    //! Generated payloads, whole and damaged: wherever the text is a JSON
    //! document, the text intake reads it exactly as the tree intake reads
    //! the tree parsed from it; whatever it is, reading never panics.

    use proptest::prelude::*;
    use serde_json::{Value, json};
    use state_sync::Payload;
    use state_sync::intake::read_event;

    fn field() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!("topic")),
            Just(json!(" ")),
            Just(json!("7")),
            Just(json!("007")),
            Just(json!("18446744073709551616")),
            Just(json!(7)),
            Just(Value::Null),
            "[ -~é\\\\\"]{0,5}".prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop::collection::vec(any::<u8>().prop_map(Value::from), 0..3).prop_map(Value::from),
        ]
    }

    fn payload() -> impl Strategy<Value = Value> {
        prop::collection::vec(
            (
                prop_oneof![
                    Just("topic"),
                    Just("revision"),
                    Just("sourceId"),
                    Just("timestampMs"),
                    Just("data"),
                ],
                field(),
            ),
            0..6,
        )
        .prop_map(|fields| {
            Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        })
    }

    fn agree(data: &[u8]) -> Result<(), TestCaseError> {
        let text = read_event(Payload::Bytes(data));
        if let Ok(value) = serde_json::from_slice::<Value>(data) {
            prop_assert_eq!(text, read_event(Payload::Value(&value)));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn whole_payloads_read_alike(value in payload(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_vec_pretty(&value)
            } else {
                serde_json::to_vec(&value)
            }.expect("text");
            agree(&text)?;
        }

        #[test]
        fn damaged_payloads_read_alike(
            value in payload(),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'"'), Just(b','), Just(b'}'), Just(b'\\'), Just(b'0'), Just(b' '), any::<u8>()],
        ) {
            let mut text = serde_json::to_vec(&value).expect("text");
            let at = at.index(text.len());
            text[at] = byte;
            agree(&text)?;
            text.insert(at, byte);
            agree(&text)?;
            agree(&text[..at])?;
        }
    }
}
