//! A bounded queue of frames for one connection that, when full, keeps only
//! the newest invalidation per subscription.
//!
//! The policy of the channel transport, for lines of text: while there is
//! room, every frame is queued in order. An event that finds the queue full
//! starts a *lag*: from then on events are not queued; for each
//! subscription only the newest event addressed to its topic is kept, the
//! rest are dropped. Once the queue has drained, the kept events follow, in
//! emit order, and the lag ends. A control frame (a reply) is never
//! dropped: it first ends the lag, so that it stays behind every event
//! emitted before it.
//!
//! An engine needs only the newest invalidation of its topic, so a reader
//! that falls behind still converges, in bounded memory, and what it
//! receives is a subsequence of what was sent, in order.

use std::collections::{BTreeMap, VecDeque};

/// Frames waiting to be written.
#[derive(Debug)]
pub(crate) struct Backlog {
    queue: VecDeque<Queued>,
    /// Events in `queue` (control frames do not count against capacity).
    events: usize,
    capacity: usize,
    /// Events kept during a lag: subscription → (emit order, frame).
    kept: BTreeMap<u64, (u64, String)>,
    lagging: bool,
    next_seq: u64,
}

#[derive(Debug)]
struct Queued {
    event: bool,
    frame: String,
}

impl Backlog {
    /// A backlog holding at most `capacity` events (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            events: 0,
            capacity: capacity.max(1),
            kept: BTreeMap::new(),
            lagging: false,
            next_seq: 0,
        }
    }

    /// Queues the event `frame` for subscription `sub`; `of_its_topic` says
    /// whether the payload is addressed to that subscription's topic (only
    /// those are kept during a lag). Returns whether it found the queue
    /// full.
    pub(crate) fn push_event(&mut self, sub: u64, of_its_topic: bool, frame: String) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        if !self.lagging && self.events < self.capacity {
            self.events += 1;
            self.queue.push_back(Queued { event: true, frame });
            return false;
        }
        self.lagging = true;
        if of_its_topic {
            self.kept.insert(sub, (seq, frame));
        }
        true
    }

    /// Queues a control frame behind everything queued or kept so far.
    pub(crate) fn push_control(&mut self, frame: String) {
        self.end_lag();
        self.queue.push_back(Queued {
            event: false,
            frame,
        });
    }

    /// The next frame to write.
    pub(crate) fn pop(&mut self) -> Option<String> {
        if self.queue.is_empty() {
            self.end_lag();
        }
        let next = self.queue.pop_front()?;
        if next.event {
            self.events -= 1;
        }
        Some(next.frame)
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.kept.is_empty()
    }

    fn end_lag(&mut self) {
        if !self.lagging {
            return;
        }
        self.lagging = false;
        let mut kept: Vec<_> = std::mem::take(&mut self.kept).into_values().collect();
        kept.sort_by_key(|(seq, _)| *seq);
        for (_, frame) in kept {
            self.events += 1;
            self.queue.push_back(Queued { event: true, frame });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut Backlog) -> Vec<String> {
        std::iter::from_fn(|| b.pop()).collect()
    }

    #[test]
    fn within_capacity_everything_is_queued_in_order() {
        let mut b = Backlog::new(3);
        for i in 0..3 {
            assert!(!b.push_event(1, true, format!("e{i}")));
        }
        assert_eq!(drain(&mut b), ["e0", "e1", "e2"]);
        assert!(b.is_empty());
    }

    #[test]
    fn overflow_keeps_the_newest_event_of_each_subscription_in_emit_order() {
        let mut b = Backlog::new(2);
        b.push_event(1, true, "a1".into());
        b.push_event(2, true, "b1".into());
        assert!(b.push_event(2, true, "b2".into()));
        assert!(b.push_event(1, true, "a2".into()));
        assert!(b.push_event(1, false, "other topic".into()));
        assert!(b.push_event(2, true, "b3".into()));
        assert!(b.push_event(1, true, "a3".into()));
        assert_eq!(drain(&mut b), ["a1", "b1", "b3", "a3"]);
        assert!(b.is_empty());
        // The lag is over: room again.
        assert!(!b.push_event(1, true, "a4".into()));
        assert_eq!(drain(&mut b), ["a4"]);
    }

    #[test]
    fn an_event_arriving_while_lagging_waits_for_the_queue_to_drain() {
        let mut b = Backlog::new(1);
        b.push_event(1, true, "e1".into());
        b.push_event(1, true, "e2".into());
        assert_eq!(b.pop().as_deref(), Some("e1"));
        // Still lagging: the kept event is delivered next, then room again.
        assert!(b.push_event(1, true, "e3".into()));
        assert_eq!(drain(&mut b), ["e3"]);
    }

    #[test]
    fn control_frames_are_never_dropped_and_stay_behind_earlier_events() {
        let mut b = Backlog::new(1);
        b.push_event(1, true, "e1".into());
        b.push_event(1, true, "e2".into());
        b.push_control("pong".into());
        b.push_control("pong2".into());
        assert_eq!(drain(&mut b), ["e1", "e2", "pong", "pong2"]);
    }

    #[test]
    fn a_capacity_of_zero_still_moves_events() {
        let mut b = Backlog::new(0);
        b.push_event(1, true, "e1".into());
        assert_eq!(drain(&mut b), ["e1"]);
    }
}
