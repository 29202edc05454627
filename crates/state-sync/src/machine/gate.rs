//! The gate, and what of it the hot path may decide without the machine:
//! an event that is ignored, or folded into a follow-up already queued,
//! changes nothing a lock is needed for.
//!
//! The machine publishes a [`GateView`] each time its lock is released;
//! the driver keeps it in atomics, decides ignored and coalesced events
//! from it, and hands the machine the highest revision it folded in
//! ([`Machine::absorb`]) each time the lock is taken again. An event the
//! view cannot settle goes to the machine, under the lock, as before.

use serde_json::Value;

use crate::protocol::{EventRef, ProtocolError};
use crate::revision::Revision;

use super::{EventVerdict, IgnoreReason, Lifecycle, Machine};

/// What the machine lets the hot path decide on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateView {
    /// Starting or running: events are heard.
    pub(crate) listening: bool,
    /// The local revision: an event not newer is ignored (GATE-2).
    pub(crate) local: Revision,
    /// A follow-up of the fetch in flight is queued, owed to events up to
    /// this revision, and any event may join it (CO-1): it only raises
    /// this revision and counts as coalesced. `None` when an event needs
    /// the machine (no fetch or no follow-up yet, subscribing, stopped,
    /// or throttled: a throttle reads the clock for every event).
    pub(crate) open_follow_up: Option<Revision>,
}

impl Machine {
    /// The view the hot path decides from until the lock is taken again.
    pub(crate) fn gate_view(&self) -> GateView {
        let open = self.throttle.is_none()
            && self.lifecycle != Lifecycle::Stopped
            && self.fetching
            && self.follow_up;
        GateView {
            listening: matches!(self.lifecycle, Lifecycle::Starting | Lifecycle::Running),
            local: self.local,
            open_follow_up: self.follow_up_for.filter(|_| open),
        }
    }

    /// `events` joined the open follow-up in the hot path, the newest of
    /// them at `newest` when above the revision it was owed to: what
    /// [`Machine::request_refresh`] would have recorded for them. (Their
    /// tickets are not counted: nobody waits for an event's.)
    pub(crate) fn absorb(&mut self, events: u64, newest: Option<Revision>) {
        self.metrics.coalesced += events;
        if let Some(revision) = newest {
            self.note_announced(revision);
            if self.follow_up {
                self.follow_up_for = self.follow_up_for.max(Some(revision));
            }
        }
    }

    /// The gate for a valid event: other topics, older revisions, and
    /// everything while not listening are ignored (GATE-2, GATE-3).
    pub(crate) fn gate<'a>(&self, event: EventRef<'a>) -> EventVerdict<'a> {
        if !matches!(self.lifecycle, Lifecycle::Starting | Lifecycle::Running) {
            return EventVerdict::Ignored(IgnoreReason::NotListening);
        }
        if event.topic != self.topic {
            return EventVerdict::Ignored(IgnoreReason::OtherTopic);
        }
        // Before the first apply the local revision is 0, so an event at 0
        // announces nothing new either.
        if event.revision <= self.local {
            return EventVerdict::Ignored(IgnoreReason::NotNewer);
        }
        EventVerdict::Candidate(event)
    }

    /// An invalid payload: counted and reported while listening (ERR-1),
    /// ignored otherwise.
    pub(crate) fn invalid(
        &mut self,
        error: ProtocolError,
        payload: &Value,
    ) -> EventVerdict<'static> {
        if !matches!(self.lifecycle, Lifecycle::Starting | Lifecycle::Running) {
            return EventVerdict::Ignored(IgnoreReason::NotListening);
        }
        self.metrics.protocol_errors += 1;
        EventVerdict::Invalid(Box::new(self.invalid_event(error, payload)))
    }
}

impl GateView {
    /// Whether the hot path may call `event` a candidate (the machine has
    /// the last word, under its lock).
    #[inline]
    pub(crate) fn admits(&self, topic_matches: bool, revision: Revision) -> bool {
        self.listening && topic_matches && revision > self.local
    }
}
