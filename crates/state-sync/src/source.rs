//! The source-of-truth side: a revision counter and a small state holder.
//!
//! The owner of the state (a Tauri backend, a server task) changes it,
//! bumps the revision and emits an invalidation. [`SourceOfTruth::update`]
//! does the first two under its lock and hands back the event, so the emit
//! happens *after* the lock is released: a listener that fetches the
//! snapshot right away never waits on (or deadlocks with) the writer.
//!
//! A source that restarts must not strand the windows that outlive it
//! (SRC-4): either it resumes from the position it last served
//! ([`SourceOfTruth::resume`], when it kept that durably), or it starts a
//! newer run ([`SourceOfTruth::with_epoch`], e.g. [`Epoch::from_clock`])
//! and counts revisions from 0 again.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use crate::epoch::{Epoch, Position};
use crate::protocol::{InvalidationEvent, SnapshotEnvelope};
use crate::revision::Revision;

/// The revision is at `u64::MAX` and cannot be bumped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("revision counter exhausted at 18446744073709551615")]
pub struct RevisionExhausted;

/// An atomic revision counter.
///
/// ```
/// use state_sync::source::RevisionCounter;
///
/// let counter = RevisionCounter::new();
/// assert_eq!(counter.bump()?.to_string(), "1");
/// assert_eq!(counter.current().to_string(), "1");
/// # Ok::<(), state_sync::source::RevisionExhausted>(())
/// ```
#[derive(Debug, Default)]
pub struct RevisionCounter(AtomicU64);

impl RevisionCounter {
    /// A counter at revision 0.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// A counter at `revision`.
    pub const fn starting_at(revision: Revision) -> Self {
        Self(AtomicU64::new(revision.get()))
    }

    /// The current revision.
    pub fn current(&self) -> Revision {
        Revision::new(self.0.load(Ordering::Acquire))
    }

    /// Increments atomically and returns the new revision.
    pub fn bump(&self) -> Result<Revision, RevisionExhausted> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| v.checked_add(1))
            .map(|previous| Revision::new(previous + 1))
            .map_err(|_| RevisionExhausted)
    }
}

/// Holds one topic's state and revision.
///
/// ```
/// use state_sync::source::SourceOfTruth;
///
/// let source = SourceOfTruth::new("settings", vec!["a".to_owned()]);
/// let event = source.update(|items| items.push("b".to_owned()))?;
/// // The lock is released here: emit `event.to_json()` on your transport.
/// assert_eq!(event.revision.get(), 1);
/// assert_eq!(source.snapshot().data, ["a", "b"]);
/// # Ok::<(), state_sync::source::RevisionExhausted>(())
/// ```
#[derive(Debug)]
pub struct SourceOfTruth<T> {
    topic: String,
    source_id: Option<String>,
    state: Mutex<SnapshotEnvelope<T>>,
}

impl<T: Clone> SourceOfTruth<T> {
    /// A source for `topic` at revision 0 of epoch 0: for a source whose
    /// windows do not outlive it, or that gives itself an epoch
    /// ([`SourceOfTruth::with_epoch`]).
    pub fn new(topic: impl Into<String>, data: T) -> Self {
        Self::resume(topic, Position::ZERO, data)
    }

    /// A source for `topic` that carries on from `position`, the last one
    /// it served before it restarted (kept durably with `data`): its next
    /// change is the revision after, in the same epoch, so windows that
    /// outlived the restart follow it (SRC-4).
    ///
    /// ```
    /// use state_sync::source::SourceOfTruth;
    /// use state_sync::{Position, Revision};
    ///
    /// let source = SourceOfTruth::resume("settings", Position::from(Revision::new(41)), "dark");
    /// assert_eq!(source.set("light")?.revision, Revision::new(42));
    /// # Ok::<(), state_sync::source::RevisionExhausted>(())
    /// ```
    pub fn resume(topic: impl Into<String>, position: Position, data: T) -> Self {
        Self {
            topic: topic.into(),
            source_id: None,
            state: Mutex::new(
                SnapshotEnvelope::new(position.revision, data).with_epoch(position.epoch),
            ),
        }
    }

    /// The same source in run `epoch`: its events and snapshots carry it.
    /// A source that restarts without its revision history gives each run
    /// a greater epoch than the one before ([`Epoch::from_clock`], or a
    /// run counter it keeps), so that windows at a higher revision of an
    /// earlier run take its state (SRC-4, GATE-6).
    ///
    /// ```
    /// use state_sync::source::SourceOfTruth;
    /// use state_sync::{Epoch, Revision};
    ///
    /// let source = SourceOfTruth::new("settings", 0).with_epoch(Epoch::new(2));
    /// let event = source.set(1)?;
    /// assert_eq!(event.to_json()["epoch"], "2");
    /// assert_eq!(source.snapshot_json().unwrap()["epoch"], "2");
    /// # Ok::<(), state_sync::source::RevisionExhausted>(())
    /// ```
    pub fn with_epoch(self, epoch: Epoch) -> Self {
        self.state.lock().epoch = epoch;
        self
    }

    /// Stamps emitted events with `sourceId`.
    pub fn with_source_id(mut self, source_id: impl Into<String>) -> Self {
        self.source_id = Some(source_id.into());
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Changes the state, bumps the revision, and returns the invalidation
    /// to emit once this call has returned (the lock is released by then).
    pub fn update(
        &self,
        change: impl FnOnce(&mut T),
    ) -> Result<InvalidationEvent, RevisionExhausted> {
        let position = {
            let mut state = self.state.lock();
            let next = state.revision.checked_next().ok_or(RevisionExhausted)?;
            change(&mut state.data);
            state.revision = next;
            state.position()
        };
        Ok(self.event_at(position))
    }

    /// Replaces the state; see [`SourceOfTruth::update`].
    pub fn set(&self, data: T) -> Result<InvalidationEvent, RevisionExhausted> {
        self.update(|d| *d = data)
    }

    /// The current revision.
    pub fn revision(&self) -> Revision {
        self.state.lock().revision
    }

    /// The current epoch and revision: what to keep durably to
    /// [`resume`](SourceOfTruth::resume) from.
    pub fn position(&self) -> Position {
        self.state.lock().position()
    }

    /// A copy of the current snapshot.
    pub fn snapshot(&self) -> SnapshotEnvelope<T> {
        self.state.lock().clone()
    }

    /// The invalidation for the current revision (to re-announce it).
    pub fn current_event(&self) -> InvalidationEvent {
        self.event_at(self.position())
    }

    fn event_at(&self, position: Position) -> InvalidationEvent {
        InvalidationEvent {
            topic: self.topic.clone(),
            revision: position.revision,
            epoch: position.epoch,
            source_id: self.source_id.clone(),
            timestamp_ms: None,
        }
    }
}

impl<T: Clone + Serialize> SourceOfTruth<T> {
    /// The current snapshot in wire form.
    pub fn snapshot_json(&self) -> Result<Value, serde_json::Error> {
        self.snapshot().to_json()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counter_bumps_atomically_across_threads() {
        let counter = Arc::new(RevisionCounter::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = counter.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| c.bump().expect("room").get())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1..=4000).collect::<Vec<_>>(), "every bump is unique");
        assert_eq!(counter.current(), Revision::new(4000));
    }

    #[test]
    fn counter_refuses_to_wrap() {
        let counter = RevisionCounter::starting_at(Revision::MAX);
        assert_eq!(counter.bump(), Err(RevisionExhausted));
        assert_eq!(counter.current(), Revision::MAX);
    }

    #[test]
    fn update_releases_lock_before_returning_event() {
        let source = SourceOfTruth::new("t", 0u32).with_source_id("backend");
        let event = source.update(|d| *d += 1).expect("room");
        // Reading inside "the emit" must not deadlock.
        assert_eq!(source.snapshot().revision, event.revision);
        assert_eq!(event.source_id.as_deref(), Some("backend"));
        assert_eq!(
            source.snapshot_json().expect("json"),
            serde_json::json!({"revision": "1", "data": 1})
        );
    }

    #[test]
    fn a_resumed_source_carries_on_and_a_new_run_carries_its_epoch() {
        let resumed = SourceOfTruth::resume("t", Position::new(Epoch::new(3), Revision::new(9)), 0);
        let event = resumed.set(1).expect("room");
        assert_eq!(
            event.position(),
            Position::new(Epoch::new(3), Revision::new(10))
        );
        assert_eq!(resumed.snapshot().position(), event.position());
        assert_eq!(resumed.current_event(), event);
        let restarted = SourceOfTruth::new("t", 0).with_epoch(Epoch::new(4));
        assert!(
            restarted.position() > event.position(),
            "a newer run is newer"
        );
        assert_eq!(
            restarted.snapshot_json().expect("json"),
            serde_json::json!({"revision": "0", "epoch": "4", "data": 0})
        );
    }

    #[test]
    fn exhausted_source_leaves_state_untouched() {
        let source = SourceOfTruth::new("t", 0u32);
        source.state.lock().revision = Revision::MAX;
        assert_eq!(source.update(|d| *d = 9), Err(RevisionExhausted));
        assert_eq!(source.snapshot().data, 0);
    }
}
