//! The hot path's copy of the gate: what the machine published when its
//! lock was last released, in atomics, so that an ignored or coalesced
//! event takes no lock, allocates nothing and reads no clock.
//!
//! Why it is safe: the machine publishes under its lock, and takes back
//! what the hot path folded in ([`HotGate::drain`]) before deciding
//! anything, under the same lock. An event joins the open follow-up with
//! one compare-and-swap on the one word the drain swaps out, so it either
//! lands before the drain — and the follow-up, which begins after it,
//! covers the event (CO-2) — or finds the follow-up gone and goes to the
//! machine.
//!
//! The word packs what joining changes, so that it is one atomic
//! operation per event: whether a follow-up is open, a generation (so
//! that a joiner never mixes two publications), how many events joined,
//! and how far above the published revision the newest of them is. An
//! event that would overflow a field, or of another epoch of the source
//! than the follow-up's (GATE-6), goes to the machine, which takes the
//! count in and publishes afresh.
//!
//! The local position is two words, published revision first, then
//! epoch, and read epoch first: a reader that sees a publication's epoch
//! sees its revision or a later one's, so what it reads is never ahead of
//! a position the window reached (positions only grow), and an event it
//! ignores is one the window is past.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};

use crate::epoch::{Epoch, Position};
use crate::machine::GateView;
use crate::protocol::EventRef;
use crate::revision::Revision;

const OPEN: u64 = 1 << 63;
const GENERATION_SHIFT: u32 = 48;
const GENERATION_MASK: u64 = 0x7fff;
const JOINED_SHIFT: u32 = 24;
const FIELD_MASK: u64 = 0xff_ffff;

/// The published gate.
#[derive(Debug)]
pub(super) struct HotGate {
    topic: Box<str>,
    listening: AtomicBool,
    /// The local position's revision...
    local: AtomicU64,
    /// ...and epoch (see the module docs for the order).
    local_epoch: AtomicU64,
    /// The position the open follow-up is owed to, when published.
    base: AtomicU64,
    base_epoch: AtomicU64,
    /// The open follow-up: `OPEN | generation | joined | above base`, 0
    /// when none is open.
    follow_up: AtomicU64,
    /// Bumped by each publication (under the machine's lock).
    generation: AtomicU64,
}

/// What joined the follow-up since it was published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Joined {
    /// Events that joined.
    pub(super) events: u64,
    /// The newest position among them, when above the published one.
    pub(super) newest: Option<Position>,
}

impl HotGate {
    /// A gate that lets nothing through until the machine publishes.
    pub(super) fn new(topic: &str) -> Self {
        Self {
            topic: topic.into(),
            listening: AtomicBool::new(false),
            local: AtomicU64::new(0),
            local_epoch: AtomicU64::new(0),
            base: AtomicU64::new(0),
            base_epoch: AtomicU64::new(0),
            follow_up: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// Takes the machine's view (its lock is held).
    pub(super) fn publish(&self, view: GateView) {
        self.local.store(view.local.revision.get(), SeqCst);
        self.local_epoch.store(view.local.epoch.get(), SeqCst);
        self.listening.store(view.listening, SeqCst);
        let word = match view.open_follow_up {
            Some(position) => {
                let generation =
                    self.generation.fetch_add(1, Relaxed).wrapping_add(1) & GENERATION_MASK;
                self.base.store(position.revision.get(), SeqCst);
                self.base_epoch.store(position.epoch.get(), SeqCst);
                OPEN | generation << GENERATION_SHIFT
            }
            None => 0,
        };
        self.follow_up.store(word, SeqCst);
    }

    /// Lets nothing through any more (the engine is gone).
    pub(super) fn close(&self) {
        self.listening.store(false, SeqCst);
        self.follow_up.store(0, SeqCst);
    }

    /// Closes the follow-up to the hot path and hands back what joined it
    /// (the machine's lock is held).
    pub(super) fn drain(&self) -> Option<Joined> {
        let word = self.follow_up.swap(0, SeqCst);
        if word & OPEN == 0 {
            return None;
        }
        let above = word & FIELD_MASK;
        Some(Joined {
            events: word >> JOINED_SHIFT & FIELD_MASK,
            newest: (above > 0).then(|| {
                Position::new(
                    Epoch::new(self.base_epoch.load(SeqCst)),
                    Revision::new(self.base.load(SeqCst) + above),
                )
            }),
        })
    }

    /// Whether events are heard at all.
    #[inline]
    pub(super) fn listening(&self) -> bool {
        self.listening.load(SeqCst)
    }

    /// Whether `event`, heard (the caller asked [`HotGate::listening`]),
    /// may lead to a refresh: for this topic, newer than the local
    /// position.
    #[inline]
    pub(super) fn candidate(&self, event: &EventRef<'_>) -> bool {
        // Epoch first: see the module docs.
        let epoch = Epoch::new(self.local_epoch.load(SeqCst));
        let local = Position::new(epoch, Revision::new(self.local.load(SeqCst)));
        GateView {
            listening: true,
            local,
            open_follow_up: None,
        }
        .admits(same_topic(event.topic, &self.topic), event.position())
    }

    /// Folds a candidate at `position` into the open follow-up; `false`
    /// when none is open, the event is of another epoch than the
    /// follow-up, or a field would overflow (the machine decides).
    #[inline]
    pub(super) fn coalesce(&self, position: Position) -> bool {
        let mut word = self.follow_up.load(SeqCst);
        loop {
            if word & OPEN == 0 {
                return false;
            }
            // Read after the word: the swap below fails if a publication
            // came in between (the generation changed).
            if position.epoch.get() != self.base_epoch.load(SeqCst) {
                return false;
            }
            let above = position
                .revision
                .get()
                .saturating_sub(self.base.load(SeqCst));
            let joined = word >> JOINED_SHIFT & FIELD_MASK;
            if above > FIELD_MASK || joined == FIELD_MASK {
                return false;
            }
            let kept = word & !(FIELD_MASK << JOINED_SHIFT | FIELD_MASK);
            let next = kept | (joined + 1) << JOINED_SHIFT | (word & FIELD_MASK).max(above);
            match self
                .follow_up
                .compare_exchange_weak(word, next, SeqCst, SeqCst)
            {
                Ok(_) => return true,
                Err(now) => word = now,
            }
        }
    }
}

/// Whether two topics are equal, compared a byte at a time: topics are
/// short, and this is the hot path, where a call to `memcmp` costs more
/// than the comparison itself.
#[inline]
fn same_topic(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Revision `n` of epoch 0.
    fn p(n: u64) -> Position {
        Position::from(Revision::new(n))
    }

    /// Revision `n` of epoch `e`.
    fn pe(e: u64, n: u64) -> Position {
        Position::new(Epoch::new(e), Revision::new(n))
    }

    fn view(listening: bool, local: u64, open: Option<u64>) -> GateView {
        GateView {
            listening,
            local: p(local),
            open_follow_up: open.map(p),
        }
    }

    fn event(topic: &str, revision: u64) -> EventRef<'_> {
        event_of(topic, 0, revision)
    }

    fn event_of(topic: &str, epoch: u64, revision: u64) -> EventRef<'_> {
        EventRef {
            topic,
            revision: Revision::new(revision),
            epoch: Epoch::new(epoch),
            source_id: None,
        }
    }

    #[test]
    fn a_newer_epoch_is_a_candidate_whatever_its_revision_and_joins_no_older_follow_up() {
        let gate = HotGate::new("t");
        gate.publish(view(true, 57, Some(58)));
        assert!(gate.candidate(&event_of("t", 2, 1)), "GATE-6");
        assert!(
            !gate.coalesce(pe(2, 1)),
            "another epoch: the machine decides"
        );
        gate.publish(GateView {
            listening: true,
            local: pe(2, 1),
            open_follow_up: Some(pe(2, 3)),
        });
        assert!(!gate.candidate(&event_of("t", 0, 99)), "an older run");
        assert!(!gate.candidate(&event_of("t", 2, 1)));
        assert!(gate.candidate(&event_of("t", 2, 2)));
        assert!(gate.coalesce(pe(2, 5)));
        assert_eq!(
            gate.drain(),
            Some(Joined {
                events: 1,
                newest: Some(pe(2, 5)),
            })
        );
    }

    #[test]
    fn candidates_are_for_this_topic_and_newer() {
        let gate = HotGate::new("t");
        assert!(!gate.listening(), "nothing published yet");
        gate.publish(view(true, 5, None));
        assert!(gate.listening());
        assert!(gate.candidate(&event("t", 6)));
        assert!(!gate.candidate(&event("t", 5)));
        assert!(!gate.candidate(&event("u", 6)));
        gate.publish(view(false, 5, None));
        assert!(!gate.listening());
        gate.publish(view(true, 5, None));
        gate.close();
        assert!(!gate.listening());
    }

    #[test]
    fn an_open_follow_up_takes_events_until_drained() {
        let gate = HotGate::new("t");
        gate.publish(view(true, 1, None));
        assert!(!gate.coalesce(p(3)), "none open");
        assert_eq!(gate.drain(), None);
        gate.publish(view(true, 1, Some(3)));
        assert!(gate.coalesce(p(2)));
        assert!(gate.coalesce(p(7)));
        assert!(gate.coalesce(p(5)));
        let joined = Joined {
            events: 3,
            newest: Some(p(7)),
        };
        assert_eq!(gate.drain(), Some(joined));
        assert!(!gate.coalesce(p(8)), "drained: the machine decides");
        assert_eq!(gate.drain(), None);
        gate.publish(view(true, 1, Some(9)));
        assert!(gate.coalesce(p(4)));
        let joined = Joined {
            events: 1,
            newest: None,
        };
        assert_eq!(
            gate.drain(),
            Some(joined),
            "nothing above what was published"
        );
    }

    #[test]
    fn each_publication_of_a_follow_up_is_told_apart() {
        let gate = HotGate::new("t");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            gate.publish(view(true, 0, Some(3)));
            let word = gate.follow_up.load(SeqCst);
            assert!(seen.insert(word), "two publications alike: {word:#x}");
            assert!(gate.drain().is_some());
        }
    }

    #[test]
    fn what_a_field_cannot_hold_goes_to_the_machine() {
        let gate = HotGate::new("t");
        gate.publish(view(true, 0, Some(10)));
        assert!(!gate.coalesce(p(10 + FIELD_MASK + 1)));
        assert!(gate.coalesce(p(10 + FIELD_MASK)));
        assert!(!gate.coalesce(Position::from(Revision::MAX)));
        let full = gate.follow_up.load(SeqCst) | FIELD_MASK << JOINED_SHIFT;
        gate.follow_up.store(full, SeqCst);
        assert!(!gate.coalesce(p(11)), "the count is full");
    }

    #[test]
    fn concurrent_joiners_are_all_counted_and_the_newest_kept() {
        let gate = HotGate::new("t");
        gate.publish(view(true, 0, Some(1)));
        std::thread::scope(|s| {
            for t in 0..4_u64 {
                let gate = &gate;
                s.spawn(move || {
                    for i in 0..10_000 {
                        assert!(gate.coalesce(p(2 + t + 4 * i)));
                    }
                });
            }
        });
        let joined = gate.drain().expect("open");
        assert_eq!(joined.events, 40_000);
        assert_eq!(joined.newest, Some(p(2 + 3 + 4 * 9_999)));
    }
}
