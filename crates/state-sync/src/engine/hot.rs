//! The hot path's copy of the gate: what the machine published when its
//! lock was last released, in atomics, so that an ignored or coalesced
//! event takes no lock, allocates nothing and reads no clock.
//!
//! Why it is safe: the machine publishes under its lock, and takes back
//! what the hot path folded in ([`HotGate::drain`]) before deciding
//! anything, under the same lock. An event that joins the open follow-up
//! does so with a compare-and-swap on the one atomic the drain swaps out,
//! so it either lands before the drain — and the follow-up, which begins
//! after it, covers the event (CO-2) — or finds the follow-up gone and
//! goes to the machine.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use crate::machine::GateView;
use crate::protocol::EventRef;
use crate::revision::Revision;

/// The published gate.
#[derive(Debug)]
pub(super) struct HotGate {
    topic: Box<str>,
    listening: AtomicBool,
    local: AtomicU64,
    /// The revision the open follow-up is owed to; 0 when none is open
    /// (an event at 0 is never newer than the local revision).
    follow_up_for: AtomicU64,
    /// Events coalesced here, never reset (added to the machine's count).
    coalesced: AtomicU64,
}

impl HotGate {
    /// A gate that lets nothing through until the machine publishes.
    pub(super) fn new(topic: &str) -> Self {
        Self {
            topic: topic.into(),
            listening: AtomicBool::new(false),
            local: AtomicU64::new(0),
            follow_up_for: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
        }
    }

    /// Takes the machine's view (its lock is held).
    pub(super) fn publish(&self, view: GateView) {
        self.local.store(view.local.get(), SeqCst);
        self.listening.store(view.listening, SeqCst);
        self.follow_up_for
            .store(view.open_follow_up.map_or(0, Revision::get), SeqCst);
    }

    /// Closes the follow-up to the hot path and hands back the highest
    /// revision events raised it to (the machine's lock is held).
    pub(super) fn drain(&self) -> Option<Revision> {
        match self.follow_up_for.swap(0, SeqCst) {
            0 => None,
            revision => Some(Revision::new(revision)),
        }
    }

    /// Whether events are heard at all.
    pub(super) fn listening(&self) -> bool {
        self.listening.load(SeqCst)
    }

    /// Whether `event` may lead to a refresh: heard, for this topic, newer
    /// than the local revision.
    pub(super) fn candidate(&self, event: &EventRef<'_>) -> bool {
        GateView {
            listening: self.listening(),
            local: Revision::new(self.local.load(SeqCst)),
            open_follow_up: None,
        }
        .admits(event.topic == &*self.topic, event.revision)
    }

    /// Folds a candidate at `revision` into the open follow-up; `false`
    /// when none is open (the machine must decide).
    pub(super) fn coalesce(&self, revision: Revision) -> bool {
        let mut open = self.follow_up_for.load(SeqCst);
        loop {
            if open == 0 {
                return false;
            }
            if open >= revision.get() {
                break;
            }
            match self
                .follow_up_for
                .compare_exchange_weak(open, revision.get(), SeqCst, SeqCst)
            {
                Ok(_) => break,
                Err(now) => open = now,
            }
        }
        self.coalesced.fetch_add(1, SeqCst);
        true
    }

    /// Events coalesced here so far.
    pub(super) fn coalesced(&self) -> u64 {
        self.coalesced.load(SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(listening: bool, local: u64, open: Option<u64>) -> GateView {
        GateView {
            listening,
            local: Revision::new(local),
            open_follow_up: open.map(Revision::new),
        }
    }

    fn event(topic: &str, revision: u64) -> EventRef<'_> {
        EventRef {
            topic,
            revision: Revision::new(revision),
            source_id: None,
        }
    }

    #[test]
    fn candidates_are_heard_for_this_topic_and_newer() {
        let gate = HotGate::new("t");
        assert!(!gate.candidate(&event("t", 1)), "nothing published yet");
        gate.publish(view(true, 5, None));
        assert!(gate.candidate(&event("t", 6)));
        assert!(!gate.candidate(&event("t", 5)));
        assert!(!gate.candidate(&event("u", 6)));
        gate.publish(view(false, 5, None));
        assert!(!gate.candidate(&event("t", 6)));
    }

    #[test]
    fn an_open_follow_up_takes_events_until_drained() {
        let gate = HotGate::new("t");
        gate.publish(view(true, 1, None));
        assert!(!gate.coalesce(Revision::new(3)), "none open");
        gate.publish(view(true, 1, Some(3)));
        assert!(gate.coalesce(Revision::new(2)));
        assert!(gate.coalesce(Revision::new(7)));
        assert_eq!(gate.coalesced(), 2);
        assert_eq!(gate.drain(), Some(Revision::new(7)));
        assert!(
            !gate.coalesce(Revision::new(8)),
            "drained: the machine decides"
        );
        assert_eq!(gate.drain(), None);
    }
}
