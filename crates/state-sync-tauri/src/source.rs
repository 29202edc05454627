//! Where snapshots come from: the [`SnapshotSource`] trait, and [`Topics`],
//! the store this crate keeps when the app has none of its own.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::Value;
use state_sync::source::SourceOfTruth;
use state_sync::{Epoch, InvalidationEvent, Position, Revision};

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
///
/// A backend whose windows can outlive it — it restarts, or reloads its
/// state, while webviews stay open — must not count from revision 0 again
/// unnoticed (SRC-4 in `docs/protocol.md`): register each topic where it
/// was ([`Topics::register_at`], from a position kept durably), or give
/// the run a newer epoch ([`Topics::in_epoch`]).
#[derive(Default)]
pub struct Topics {
    epoch: Epoch,
    topics: RwLock<BTreeMap<String, Arc<SourceOfTruth<Value>>>>,
}

impl Topics {
    /// A store whose topics start at revision 0 of `epoch`: this run of a
    /// backend that kept no revision history, with an epoch greater than
    /// every run before ([`Epoch::from_clock`], or a run counter it keeps).
    ///
    /// ```
    /// use serde_json::json;
    /// use state_sync::Epoch;
    /// use state_sync_tauri::Topics;
    ///
    /// let topics = Topics::in_epoch(Epoch::new(7));
    /// topics.register("settings", json!({}));
    /// let event = topics.update("settings", |data| data["theme"] = json!("dark"))?;
    /// assert_eq!(event.to_json()["epoch"], "7");
    /// # Ok::<(), state_sync_tauri::Error>(())
    /// ```
    pub fn in_epoch(epoch: Epoch) -> Self {
        Self {
            epoch,
            topics: RwLock::default(),
        }
    }

    /// Registers `topic` at revision 0 (of the store's epoch) with `data`
    /// (an existing topic keeps its state).
    pub fn register(&self, topic: impl Into<String>, data: Value) {
        self.register_at(topic, Position::new(self.epoch, Revision::ZERO), data);
    }

    /// Registers `topic` at `position` with `data`: where this backend left
    /// it before it restarted, kept durably (an existing topic keeps its
    /// state). Its next change is the revision after.
    pub fn register_at(&self, topic: impl Into<String>, position: Position, data: Value) {
        let topic = topic.into();
        self.topics
            .write()
            .entry(topic.clone())
            .or_insert_with(|| Arc::new(SourceOfTruth::resume(topic, position, data)));
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

    /// The current epoch and revision of `topic`: what to keep durably to
    /// [`register_at`](Topics::register_at) after a restart.
    pub fn position(&self, topic: &str) -> Result<Position, Error> {
        Ok(self.get(topic)?.position())
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

    #[test]
    fn a_restarted_store_resumes_or_starts_a_newer_run() {
        let resumed = Topics::default();
        resumed.register_at("a", Position::from(Revision::new(41)), json!(1));
        let event = resumed.update("a", |d| *d = json!(2)).expect("update");
        assert_eq!(event.to_json(), json!({"topic": "a", "revision": "42"}));
        let newer = Topics::in_epoch(Epoch::new(3));
        newer.register("a", json!(0));
        let snapshot = futures::executor::block_on(newer.snapshot("a"));
        assert_eq!(
            snapshot,
            Ok(json!({"revision": "0", "epoch": "3", "data": 0}))
        );
        assert!(newer.position("a").expect("a") > resumed.position("a").expect("a"));
    }
}
