//! Ready-made appliers: where a validated snapshot goes.
//!
//! * [`FnApplier`] — a closure.
//! * [`WatchApplier`] — publishes into a `tokio::sync::watch` channel that
//!   UI code reads.
//! * [`JsonApplier`] — keeps a `serde_json::Value` and either replaces it or
//!   merges the snapshot into it (RFC 7386 merge patch).

use std::sync::Arc;

use futures::future::{BoxFuture, ready};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::watch;

use crate::error::PortError;
use crate::ports::SnapshotApplier;
use crate::protocol::SnapshotEnvelope;

/// Applies snapshots with a synchronous closure.
///
/// ```
/// use state_sync::appliers::FnApplier;
/// use state_sync::{PortError, SnapshotApplier, SnapshotEnvelope, Revision};
///
/// let applier = FnApplier::new(|s: SnapshotEnvelope<u32>| {
///     if s.data > 100 { return Err(PortError::new("too big")); }
///     Ok(())
/// });
/// # futures::executor::block_on(async {
/// assert!(applier.apply(SnapshotEnvelope::new(Revision::new(1), 5)).await.is_ok());
/// assert!(applier.apply(SnapshotEnvelope::new(Revision::new(2), 500)).await.is_err());
/// # });
/// ```
pub struct FnApplier<F>(F);

impl<F> FnApplier<F> {
    /// Wraps `f`.
    pub fn new<T>(f: F) -> Self
    where
        F: Fn(SnapshotEnvelope<T>) -> Result<(), PortError>,
    {
        Self(f)
    }
}

impl<T, F> SnapshotApplier<T> for FnApplier<F>
where
    F: Fn(SnapshotEnvelope<T>) -> Result<(), PortError> + Send + Sync + 'static,
{
    fn apply(&self, snapshot: SnapshotEnvelope<T>) -> BoxFuture<'_, Result<(), PortError>> {
        Box::pin(ready((self.0)(snapshot)))
    }
}

/// Publishes every applied snapshot into a `watch` channel.
///
/// The receiver holds `None` until the first apply.
pub struct WatchApplier<T> {
    tx: watch::Sender<Option<SnapshotEnvelope<T>>>,
}

impl<T: Send + Sync + 'static> WatchApplier<T> {
    /// An applier and the receiver UI code reads the latest state from.
    pub fn new() -> (Self, watch::Receiver<Option<SnapshotEnvelope<T>>>) {
        let (tx, rx) = watch::channel(None);
        (Self { tx }, rx)
    }

    /// Another receiver.
    pub fn subscribe(&self) -> watch::Receiver<Option<SnapshotEnvelope<T>>> {
        self.tx.subscribe()
    }
}

impl<T: Send + Sync + 'static> SnapshotApplier<T> for WatchApplier<T> {
    fn apply(&self, snapshot: SnapshotEnvelope<T>) -> BoxFuture<'_, Result<(), PortError>> {
        // `send_replace` succeeds even when no receiver is left.
        self.tx.send_replace(Some(snapshot));
        Box::pin(ready(Ok(())))
    }
}

/// How a [`JsonApplier`] combines a snapshot with the state it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JsonMode {
    /// The snapshot's data becomes the state.
    #[default]
    Replace,
    /// The snapshot's data is merged into the state as an RFC 7386 merge
    /// patch: objects merge key by key, `null` deletes a key, anything else
    /// replaces.
    Merge,
}

/// Keeps the state as a `serde_json::Value`.
///
/// ```
/// use serde_json::json;
/// use state_sync::appliers::{JsonApplier, JsonMode};
/// use state_sync::{Revision, SnapshotApplier, SnapshotEnvelope};
///
/// let applier = JsonApplier::new(JsonMode::Merge, json!({"a": 1, "b": 2}));
/// # futures::executor::block_on(async {
/// applier.apply(SnapshotEnvelope::new(Revision::new(1), json!({"b": null, "c": 3}))).await.unwrap();
/// # });
/// assert_eq!(applier.state(), json!({"a": 1, "c": 3}));
/// ```
#[derive(Clone)]
pub struct JsonApplier {
    mode: JsonMode,
    state: Arc<Mutex<Value>>,
}

impl JsonApplier {
    /// An applier in `mode` starting from `initial`.
    pub fn new(mode: JsonMode, initial: Value) -> Self {
        Self {
            mode,
            state: Arc::new(Mutex::new(initial)),
        }
    }

    /// A copy of the current state.
    pub fn state(&self) -> Value {
        self.state.lock().clone()
    }
}

impl SnapshotApplier<Value> for JsonApplier {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        let mut state = self.state.lock();
        match self.mode {
            JsonMode::Replace => *state = snapshot.data,
            JsonMode::Merge => json_patch::merge(&mut state, &snapshot.data),
        }
        Box::pin(ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Revision;
    use serde_json::json;

    fn env(rev: u64, data: Value) -> SnapshotEnvelope<Value> {
        SnapshotEnvelope::new(Revision::new(rev), data)
    }

    #[tokio::test]
    async fn watch_applier_publishes_latest() {
        let (applier, rx) = WatchApplier::new();
        assert!(rx.borrow().is_none());
        applier.apply(env(1, json!(1))).await.expect("apply");
        applier.apply(env(2, json!(2))).await.expect("apply");
        assert_eq!(
            rx.borrow().as_ref().map(|s| s.revision),
            Some(Revision::new(2))
        );
        drop(rx);
        applier
            .apply(env(3, json!(3)))
            .await
            .expect("no receivers is fine");
        assert_eq!(
            applier
                .subscribe()
                .borrow()
                .as_ref()
                .map(|s| s.data.clone()),
            Some(json!(3))
        );
    }

    #[tokio::test]
    async fn json_replace_and_merge() {
        let replace = JsonApplier::new(JsonMode::Replace, json!({"a": 1}));
        replace.apply(env(1, json!({"b": 2}))).await.expect("apply");
        assert_eq!(replace.state(), json!({"b": 2}));

        let merge = JsonApplier::new(JsonMode::Merge, json!({"a": {"x": 1, "y": 2}, "k": [1]}));
        merge
            .apply(env(1, json!({"a": {"y": null, "z": 3}, "k": [2]})))
            .await
            .expect("apply");
        assert_eq!(merge.state(), json!({"a": {"x": 1, "z": 3}, "k": [2]}));
        merge.apply(env(2, json!("scalar"))).await.expect("apply");
        assert_eq!(merge.state(), json!("scalar"));
    }
}
