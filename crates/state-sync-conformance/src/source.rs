//! The harness-owned source of truth: one revision and data per topic, plus
//! a short history so the fault layer can serve stale snapshots.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::{InvalidationEvent, PortError, Revision};

use state_sync_transports::SnapshotHandler;

use crate::spec::MAX_PAD_BYTES;

/// How many earlier revisions each topic remembers.
const HISTORY: usize = 8;

/// Every topic's state in one case.
#[derive(Debug, Default, Clone)]
pub(crate) struct Sources {
    topics: Arc<Mutex<BTreeMap<String, TopicState>>>,
    failures: Arc<Mutex<(u32, Option<Value>)>>,
}

#[derive(Debug)]
struct TopicState {
    revision: u64,
    data: Value,
    history: VecDeque<(u64, Value)>,
}

impl Default for TopicState {
    fn default() -> Self {
        Self {
            revision: 0,
            data: initial_data(0),
            history: VecDeque::new(),
        }
    }
}

/// The data of a topic at `revision` when a spec does not say.
pub(crate) fn initial_data(revision: u64) -> Value {
    json!({ "n": revision })
}

impl Sources {
    /// The snapshot handler installed on the transport's backend.
    pub(crate) fn handler(&self) -> SnapshotHandler {
        let sources = self.clone();
        SnapshotHandler::sync(move |topic| {
            {
                let mut failures = sources.failures.lock();
                if failures.0 > 0 {
                    failures.0 -= 1;
                    let error = failures
                        .1
                        .clone()
                        .unwrap_or_else(|| Value::String("backend unavailable".to_owned()));
                    return Err(PortError::from_json(error));
                }
            }
            Ok(sources.snapshot_json(topic))
        })
    }

    /// Makes the next `count` snapshot requests fail with `error`.
    pub(crate) fn fail_next(&self, count: u32, error: Option<Value>) {
        *self.failures.lock() = (count, error);
    }

    /// Changes `topic`, returning its invalidation (built after the lock).
    pub(crate) fn mutate(
        &self,
        topic: &str,
        data: Option<Value>,
        pad_bytes: Option<usize>,
        source_id: Option<&str>,
    ) -> Result<InvalidationEvent, PortError> {
        let revision = {
            let mut topics = self.topics.lock();
            let state = topics.entry(topic.to_owned()).or_default();
            let next = state
                .revision
                .checked_add(1)
                .ok_or_else(|| PortError::new("source revision exhausted"))?;
            let data = data.unwrap_or_else(|| {
                let mut d = initial_data(next);
                if let Some(n) = pad_bytes {
                    d["pad"] = Value::String("x".repeat(n.min(MAX_PAD_BYTES)));
                }
                d
            });
            let old = std::mem::replace(&mut state.data, data);
            state.history.push_back((state.revision, old));
            if state.history.len() > HISTORY {
                state.history.pop_front();
            }
            state.revision = next;
            next
        };
        let mut event = InvalidationEvent::new(topic, Revision::new(revision));
        event.source_id = source_id.map(str::to_owned);
        Ok(event)
    }

    /// The current revision and data of `topic`.
    pub(crate) fn current(&self, topic: &str) -> (u64, Value) {
        let topics = self.topics.lock();
        match topics.get(topic) {
            Some(s) => (s.revision, s.data.clone()),
            None => (0, initial_data(0)),
        }
    }

    /// The wire snapshot of `topic`.
    pub(crate) fn snapshot_json(&self, topic: &str) -> Value {
        let (revision, data) = self.current(topic);
        json!({ "revision": revision.to_string(), "data": data })
    }

    /// The snapshot one revision before the current one, if remembered.
    pub(crate) fn previous_json(&self, topic: &str) -> Option<Value> {
        let topics = self.topics.lock();
        let (revision, data) = topics.get(topic)?.history.back()?;
        Some(json!({ "revision": revision.to_string(), "data": data }))
    }
}
