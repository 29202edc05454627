//! What the machine publishes for the hot path each time its lock is
//! released (see [`super::gate`]).

use crate::epoch::Position;

/// What the machine lets the hot path decide on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GateView {
    /// Starting or running: events are heard.
    pub(crate) listening: bool,
    /// The local position: an event not newer is ignored (GATE-2).
    pub(crate) local: Position,
    /// A follow-up of the fetch in flight is queued, owed to events up to
    /// this revision, and any event may join it (CO-1): it only raises
    /// this position and counts as coalesced. `None` when an event needs
    /// the machine (no fetch or no follow-up yet, subscribing, stopped,
    /// or throttled: a throttle reads the clock for every event).
    pub(crate) open_follow_up: Option<Position>,
}

impl GateView {
    /// Whether the hot path may call `event` a candidate (the machine has
    /// the last word, under its lock).
    #[inline]
    pub(crate) fn admits(&self, topic_matches: bool, position: Position) -> bool {
        self.listening && topic_matches && position > self.local
    }
}
