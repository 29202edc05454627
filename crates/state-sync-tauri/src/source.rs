//! Where snapshots come from: the [`SnapshotSource`] trait, and [`Topics`],
//! the store this crate keeps when the app has none of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::Value;
use state_sync::source::SourceOfTruth;
use state_sync::{InvalidationEvent, Revision};

use crate::Error;

/// Answers snapshot requests for topics: what the snapshot command serves
/// and what a Rust [`Provider`](crate::Provider) reads.
///
/// The answer is the wire snapshot `{"revision": "<digits>", "data": …}`,
/// or the JSON value the command rejects with (a string or an object, as
/// Tauri serializes a command's error).
///
/// ```
/// use futures::future::BoxFuture;
/// use serde_json::{Value, json};
/// use state_sync_tauri::SnapshotSource;
///
/// /// Serves one fixed snapshot for every topic.
/// struct Fixed;
///
/// impl SnapshotSource for Fixed {
///     fn snapshot(&self, _topic: &str) -> BoxFuture<'static, Result<Value, Value>> {
///         Box::pin(async { Ok(json!({"revision": "1", "data": {"theme": "dark"}})) })
///     }
/// }
/// ```
pub trait SnapshotSource: Send + Sync + 'static {
    /// The snapshot of `topic`, or the error value to reject with.
    fn snapshot(&self, topic: &str) -> BoxFuture<'static, Result<Value, Value>>;
}

/// One [`SourceOfTruth`] per topic, registered up front. Unknown topics are
/// rejected with `"unknown topic \"<topic>\""`.
///
/// ```
/// use serde_json::json;
/// use state_sync_tauri::Topics;
///
/// let topics = Topics::default();
/// topics.register("settings", json!({"theme": "light"}));
/// let event = topics.update("settings", |data| data["theme"] = json!("dark"))?;
/// assert_eq!(event.revision.get(), 1);
/// # Ok::<(), state_sync_tauri::Error>(())
/// ```
#[derive(Default)]
pub struct Topics {
    topics: RwLock<BTreeMap<String, Arc<SourceOfTruth<Value>>>>,
}

impl Topics {
    /// Registers `topic` at revision 0 with `data` (an existing topic keeps
    /// its state).
    pub fn register(&self, topic: impl Into<String>, data: Value) {
        let topic = topic.into();
        self.topics
            .write()
            .entry(topic.clone())
            .or_insert_with(|| Arc::new(SourceOfTruth::new(topic, data)));
    }

    /// Changes `topic`'s data and bumps its revision; returns the
    /// invalidation to emit (built after the topic's lock is released).
    pub fn update(
        &self,
        topic: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<InvalidationEvent, Error> {
        let truth = self.get(topic)?;
        truth
            .update(change)
            .map_err(|_| Error::RevisionExhausted(topic.to_owned()))
    }

    /// The current revision of `topic`.
    pub fn revision(&self, topic: &str) -> Result<Revision, Error> {
        Ok(self.get(topic)?.revision())
    }

    /// The topics registered, in order.
    pub fn names(&self) -> Vec<String> {
        self.topics.read().keys().cloned().collect()
    }

    fn get(&self, topic: &str) -> Result<Arc<SourceOfTruth<Value>>, Error> {
        self.topics
            .read()
            .get(topic)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))
    }
}

impl SnapshotSource for Topics {
    fn snapshot(&self, topic: &str) -> BoxFuture<'static, Result<Value, Value>> {
        let answer = self
            .get(topic)
            .map_err(|e| Value::String(e.to_string()))
            .and_then(|truth| {
                truth
                    .snapshot_json()
                    .map_err(|e| Value::String(format!("topic {topic:?}: {e}")))
            });
        Box::pin(std::future::ready(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshots_pair_revision_and_data_and_unknown_topics_are_rejected() {
        let topics = Topics::default();
        topics.register("a", json!({"n": 0}));
        topics.update("a", |d| d["n"] = json!(1)).expect("update");
        let snapshot = futures::executor::block_on(topics.snapshot("a"));
        assert_eq!(snapshot, Ok(json!({"revision": "1", "data": {"n": 1}})));
        let unknown = futures::executor::block_on(topics.snapshot("b"));
        assert_eq!(unknown, Err(json!("unknown topic \"b\"")));
        assert!(matches!(topics.update("b", |_| {}), Err(Error::UnknownTopic(t)) if t == "b"));
    }
}
