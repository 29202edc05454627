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

use crate::epoch::Position;
use crate::protocol::{EventRef, ProtocolError};

use super::view::GateView;
use super::{EventVerdict, IgnoreReason, Lifecycle, Machine};

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
    pub(crate) fn absorb(&mut self, events: u64, newest: Option<Position>) {
        self.metrics.coalesced += events;
        if let Some(position) = newest {
            self.note_announced(position);
            if self.follow_up {
                self.follow_up_for = self.follow_up_for.max(Some(position));
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
        // Before the first apply the local position is 0, so an event at 0
        // announces nothing new either. A newer epoch is newer whatever its
        // revision (GATE-6).
        if event.position() <= self.local {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{ApplyDecision, Origin, RequestDecision, StartDecision, Subscribed};
    use super::*;
    use crate::throttle::Throttle;

    fn rev(n: u64) -> Position {
        Position::from(crate::revision::Revision::new(n))
    }

    /// Running at revision 1, no fetch in flight.
    fn running(throttle: Option<Throttle>) -> Machine {
        let mut m = Machine::new("t", 3, throttle);
        assert_eq!(m.start_requested(), StartDecision::Subscribe(1));
        assert!(matches!(m.subscribed(1), Subscribed::Refresh(_)));
        m.begin_fetch();
        assert_eq!(m.snapshot_ready(rev(1)), ApplyDecision::Apply);
        m.applied(rev(1));
        assert!(!m.finish_fetch(Ok(())).again);
        m
    }

    /// A fetch in flight for an event at 2, and a follow-up owed to 3.
    fn follow_up_queued(throttle: Option<Throttle>) -> Machine {
        let mut m = running(throttle);
        assert!(matches!(
            m.request_refresh(Origin::Event(rev(2))),
            RequestDecision::StartFetch(_)
        ));
        m.begin_fetch();
        assert!(matches!(
            m.request_refresh(Origin::Event(rev(3))),
            RequestDecision::Coalesced(_)
        ));
        m
    }

    #[test]
    fn a_queued_follow_up_is_open_to_the_hot_path() {
        let m = follow_up_queued(None);
        assert_eq!(
            m.gate_view(),
            GateView {
                listening: true,
                local: rev(1),
                open_follow_up: Some(rev(3)),
            }
        );
    }

    #[test]
    fn nothing_is_open_without_a_fetch_and_a_follow_up_owed_to_events() {
        let idle = Machine::new("t", 3, None);
        assert_eq!(
            idle.gate_view(),
            GateView {
                listening: false,
                local: rev(0),
                open_follow_up: None,
            }
        );
        let mut m = running(None);
        assert_eq!(m.gate_view().open_follow_up, None, "no fetch");
        m.request_refresh(Origin::Event(rev(2)));
        m.begin_fetch();
        assert_eq!(m.gate_view().open_follow_up, None, "no follow-up yet");
        m.request_refresh(Origin::Manual);
        assert_eq!(m.gate_view().open_follow_up, None, "owed to no event");
    }

    #[test]
    fn a_follow_up_the_fetch_made_unneeded_is_not_open() {
        let mut m = follow_up_queued(None);
        m.applied(rev(3));
        assert!(!m.finish_fetch(Ok(())).again, "the fetch reached 3");
        assert_eq!(m.gate_view().open_follow_up, None);
    }

    #[test]
    fn a_throttled_or_stopped_engine_keeps_every_event() {
        let throttle = Throttle::throttle(Duration::from_millis(10));
        let t0 = tokio::time::Instant::now();
        let mut m = running(Some(throttle));
        // The leading edge fires: a fetch; the next event queues behind it.
        assert!(m.accept(rev(2), || t0).fetch);
        m.begin_fetch();
        m.request_refresh(Origin::Event(rev(3)));
        assert_eq!(m.gate_view().open_follow_up, None, "throttled");
        let mut m = follow_up_queued(None);
        assert!(m.stop());
        let view = m.gate_view();
        assert!(!view.listening);
        assert_eq!(view.open_follow_up, None);
    }

    #[test]
    fn absorbing_raises_the_follow_up_and_the_announcement() {
        let mut m = follow_up_queued(None);
        let before = m.metrics().coalesced;
        m.absorb(5, Some(rev(9)));
        m.absorb(2, None);
        assert_eq!(m.gate_view().open_follow_up, Some(rev(9)));
        assert_eq!(m.metrics().coalesced, before + 7);
        assert_eq!(m.metrics().lag, 8);
    }
}
