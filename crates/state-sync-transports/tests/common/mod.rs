//! Helpers shared by the transport tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::appliers::{JsonApplier, JsonMode};
use state_sync::{ErrorContext, InvalidationHandler, Revision, RevisionSync};
use state_sync_transports::WindowEnds;

/// Records every payload a handler receives.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Value>>>);

impl Recorder {
    pub fn handler(&self) -> InvalidationHandler {
        let seen = self.0.clone();
        Arc::new(move |payload: &Value| seen.lock().push(payload.clone()))
    }

    pub fn seen(&self) -> Vec<Value> {
        self.0.lock().clone()
    }
}

/// Payloads that break the protocol in every way a transport might be
/// tempted to "fix".
pub fn garbage() -> Vec<Value> {
    vec![
        Value::Null,
        json!(42),
        json!(-1.5),
        json!("settings"),
        json!(true),
        json!([]),
        json!([1, "two", null, {"three": 3}]),
        json!({}),
        json!({"topic": "settings"}),
        json!({"topic": "settings", "revision": 7}),
        json!({"topic": "settings", "revision": "007"}),
        json!({"topic": "", "revision": "1"}),
        json!({"topic": "settings", "revision": "1", "extra": {"nested": [1, 2, 3]}}),
        json!({"unicode": "ünï\u{0}cødé \u{1F600}", "escapes": "\"\\\n\t"}),
        json!({"revision": "18446744073709551616", "topic": "settings"}),
    ]
}

/// One window's engine with a JSON applier and an error log.
pub struct Engine {
    pub sync: RevisionSync<Value>,
    pub applier: JsonApplier,
    pub errors: Arc<Mutex<Vec<ErrorContext>>>,
}

impl Engine {
    pub fn new(topic: &str, ends: WindowEnds) -> Self {
        let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let log = errors.clone();
        let sync = RevisionSync::builder(topic, ends.subscriber, ends.provider, applier.clone())
            .on_error(move |ctx| log.lock().push(ctx.clone()))
            .build();
        Self {
            sync,
            applier,
            errors,
        }
    }

    pub fn revision(&self) -> Revision {
        self.sync.local_revision()
    }
}

/// Waits until every engine is at `revision`, polling every millisecond of
/// (virtual or real) time, for at most ten seconds.
pub async fn converge(engines: &[Engine], revision: Revision) -> bool {
    for _ in 0..10_000 {
        if engines.iter().all(|e| e.revision() == revision) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    false
}
