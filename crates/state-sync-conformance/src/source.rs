//! The case's source of truth: one [`SourceOfTruth`] per topic (created on
//! first change), served to the transport's backend, plus a short history
//! of earlier snapshots for stale answers. A `restart_source` step restarts
//! a topic's source: keeping its history (it resumes where it was) or
//! losing it (revision 0 again, in the next epoch: SRC-4).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Value, json};
use state_sync::source::SourceOfTruth;
use state_sync::{Epoch, InvalidationEvent, PortError, Position, Revision, SnapshotEnvelope};
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
    /// Earlier snapshots, oldest first.
    history: VecDeque<SnapshotEnvelope<Value>>,
}

impl Topic {
    fn new(topic: &str) -> Self {
        Self {
            truth: SourceOfTruth::new(topic, initial_data(0)),
            history: VecDeque::new(),
        }
    }
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
        let state = topics
            .entry(topic.to_owned())
            .or_insert_with(|| Topic::new(topic));
        let next = state.truth.revision().get().saturating_add(1);
        let data = data.unwrap_or_else(|| {
            let mut d = initial_data(next);
            if let Some(n) = pad_bytes {
                d["pad"] = Value::String("x".repeat(n.min(MAX_PAD_BYTES)));
            }
            d
        });
        let before = state.truth.position();
        let mut old = Value::Null;
        let mut event = state
            .truth
            .update(|d| old = std::mem::replace(d, data))
            .map_err(|e| PortError::new(format!("source {topic:?}: {e}")))?;
        let before = SnapshotEnvelope::new(before.revision, old).with_epoch(before.epoch);
        state.history.push_back(before);
        if state.history.len() > HISTORY {
            state.history.pop_front();
        }
        event.source_id = source_id.map(str::to_owned);
        Ok(event)
    }

    /// Restarts the source of `topic`: with its history kept, it carries on
    /// from where it was (`SourceOfTruth::resume`); with it lost, it starts
    /// over at revision 0 of the next epoch, its data kept unless `data`
    /// replaces it. Returns the position it restarted at.
    pub(crate) fn restart(&self, topic: &str, keep_history: bool, data: Option<Value>) -> Position {
        let mut topics = self.topics.lock();
        let state = topics
            .entry(topic.to_owned())
            .or_insert_with(|| Topic::new(topic));
        let now = state.truth.snapshot();
        let was = now.position();
        let data = data.unwrap_or(now.data);
        let position = if keep_history {
            was
        } else {
            let epoch = Epoch::new(was.epoch.get().saturating_add(1));
            state.history.clear();
            Position::new(epoch, Revision::ZERO)
        };
        state.truth = SourceOfTruth::resume(topic, position, data);
        position
    }

    /// The current snapshot of `topic`.
    pub(crate) fn current(&self, topic: &str) -> SnapshotEnvelope<Value> {
        match self.topics.lock().get(topic) {
            Some(t) => t.truth.snapshot(),
            None => SnapshotEnvelope::new(Revision::ZERO, initial_data(0)),
        }
    }

    /// The wire snapshot of `topic`.
    fn snapshot_json(&self, topic: &str) -> Value {
        // A `Value` always serializes.
        self.current(topic).to_json().unwrap_or_default()
    }

    /// The snapshot one revision before the current one of `topic`, if
    /// remembered: where the fault layer's stale answers come from.
    pub(crate) fn past(&self, topic: &str) -> PastSnapshot {
        let (sources, topic) = (self.clone(), topic.to_owned());
        Arc::new(move || {
            let topics = sources.topics.lock();
            topics.get(&topic)?.history.back()?.to_json().ok()
        })
    }
}
