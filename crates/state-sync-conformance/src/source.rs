//! The case's source of truth: one [`SourceOfTruth`] per topic (created on
//! first change), served to the transport's backend, plus a short history
//! of earlier snapshots for stale answers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::source::SourceOfTruth;
use state_sync::{InvalidationEvent, PortError, Revision};
use state_sync_transports::SnapshotHandler;

use crate::layers::faults::PastSnapshot;
use crate::spec::MAX_PAD_BYTES;

/// How many earlier snapshots each topic remembers.
const HISTORY: usize = 8;

/// Every topic's state in one case. Cheap to clone.
#[derive(Default, Clone)]
pub(crate) struct Sources {
    topics: Arc<Mutex<BTreeMap<String, Topic>>>,
}

struct Topic {
    truth: SourceOfTruth<Value>,
    /// Earlier revisions and their data, oldest first.
    history: VecDeque<(Revision, Value)>,
}

/// The data of a topic at `revision` when a spec does not say.
fn initial_data(revision: u64) -> Value {
    json!({ "n": revision })
}

impl Sources {
    /// The snapshot handler the transport's backend serves.
    pub(crate) fn handler(&self) -> SnapshotHandler {
        let sources = self.clone();
        SnapshotHandler::sync(move |topic| Ok(sources.snapshot_json(topic)))
    }

    /// Changes `topic` (its data becomes `data`, or `{"n": <revision>}` with
    /// an optional `pad` string), returning its invalidation, built after
    /// the source's lock is released.
    pub(crate) fn mutate(
        &self,
        topic: &str,
        data: Option<Value>,
        pad_bytes: Option<usize>,
        source_id: Option<&str>,
    ) -> Result<InvalidationEvent, PortError> {
        let mut topics = self.topics.lock();
        let state = topics.entry(topic.to_owned()).or_insert_with(|| Topic {
            truth: SourceOfTruth::new(topic, initial_data(0)),
            history: VecDeque::new(),
        });
        let before = state.truth.revision();
        let next = before.get().saturating_add(1);
        let data = data.unwrap_or_else(|| {
            let mut d = initial_data(next);
            if let Some(n) = pad_bytes {
                d["pad"] = Value::String("x".repeat(n.min(MAX_PAD_BYTES)));
            }
            d
        });
        let mut old = Value::Null;
        let mut event = state
            .truth
            .update(|d| old = std::mem::replace(d, data))
            .map_err(|e| PortError::new(format!("source {topic:?}: {e}")))?;
        state.history.push_back((before, old));
        if state.history.len() > HISTORY {
            state.history.pop_front();
        }
        event.source_id = source_id.map(str::to_owned);
        Ok(event)
    }

    /// The current revision and data of `topic`.
    pub(crate) fn current(&self, topic: &str) -> (u64, Value) {
        match self.topics.lock().get(topic) {
            Some(t) => {
                let s = t.truth.snapshot();
                (s.revision.get(), s.data)
            }
            None => (0, initial_data(0)),
        }
    }

    /// The wire snapshot of `topic`.
    fn snapshot_json(&self, topic: &str) -> Value {
        let (revision, data) = self.current(topic);
        json!({ "revision": revision.to_string(), "data": data })
    }

    /// The snapshot one revision before the current one of `topic`, if
    /// remembered: where the fault layer's stale answers come from.
    pub(crate) fn past(&self, topic: &str) -> PastSnapshot {
        let (sources, topic) = (self.clone(), topic.to_owned());
        Arc::new(move || {
            let topics = sources.topics.lock();
            let (revision, data) = topics.get(&topic)?.history.back()?;
            Some(json!({ "revision": revision.to_string(), "data": data }))
        })
    }
}
