//! The bus ledger: every payload emitted in the case, in order, and what
//! each subscription of the transport received — checked directly against
//! the transport contract, whatever the spec asserts:
//!
//! * TR-1: every delivered payload is one that was emitted (JSON-equal;
//!   exactly equal when the transport claims `exact-json`);
//! * TR-4: after each settle, every live subscription has received the
//!   newest payload emitted for its topic while it was live;
//! * TR-6: each capability claimed holds — `synchronous-delivery`
//!   (delivered before `emit` returns), `ordered-delivery` (in emit order),
//!   `immediate-subscribe` (live as soon as `subscribe` resolved),
//!   `exact-json`, and `exactly-once` (no payload delivered more often than
//!   it was emitted; after each settle, every payload emitted while a
//!   subscription was reliable has reached it).
//!
//! It watches below the fault layer, on the transport's side: what the
//! spec's faults drop or hold is not the transport's doing and never shows
//! here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::Payload;

use crate::capabilities::Capabilities;
use crate::failure::Failure;
use crate::spec::Capability;

use super::payload::key;
use super::record::Record;
use super::served::Served;

/// A subscription's number in the ledger.
pub(crate) type SubId = u64;

/// The handler the kit gave the transport for a subscription, not kept
/// alive by the ledger: once the subscription has ended and the transport
/// has settled, nothing may hold it (TR-2).
pub(crate) type HandlerRef = Weak<dyn Fn(Payload<'_>) + Send + Sync>;

/// The ledger of one case. Shared by the case (emits, settles) and the
/// observation layer (subscriptions, deliveries).
pub(crate) struct Ledger {
    exact: bool,
    ordered: bool,
    synchronous: bool,
    immediate: bool,
    exactly_once: bool,
    state: Mutex<State>,
    /// What the backend served: snapshot answers are checked against it.
    pub(crate) served: Arc<Served>,
}

#[derive(Default)]
struct State {
    /// The topic of each payload emitted, by emit number.
    topics: Vec<Option<String>>,
    /// Emit numbers by the payload's key ([`key`]).
    by_key: HashMap<String, Vec<usize>>,
    /// The key of each payload emitted, by emit number: equal payloads
    /// cannot be told apart, so receiving one counts for all.
    keys: Vec<String>,
    /// With `exact-json` claimed: the loose keys too, to tell a payload
    /// whose numbers changed from one that was never emitted.
    loose: HashSet<String>,
    /// Whether each payload emitted is one the engine would reject (by
    /// emit number): a transport that keeps those back filters what it
    /// must pass through (TR-1).
    garbage: Vec<bool>,
    subs: HashMap<SubId, Sub>,
    next_sub: SubId,
}

struct Sub {
    topic: String,
    record: Record,
    /// The emit count when `subscribe` resolved (`None` before).
    live_from: Option<usize>,
    /// The emit count when the first settle that began after it was live
    /// resolved.
    settled_from: Option<usize>,
    received: HashSet<usize>,
    /// With `exactly-once` claimed: every emit before this number is
    /// received or was reported missing (the next check starts here).
    complete_to: usize,
    last: Option<usize>,
    ended: bool,
    /// The handler given to the transport, once it was.
    handler: Option<HandlerRef>,
}

impl Sub {
    /// Emits from this number on must reach it by the next settle: from
    /// `subscribe` resolving with `immediate-subscribe`, else from the
    /// first settle after that.
    fn reliable_from(&self, immediate: bool) -> Option<usize> {
        if immediate {
            self.live_from
        } else {
            self.settled_from
        }
    }

    fn violation(&self, clause: &str, message: String) {
        let line = Failure::of(
            clause,
            format!("subscription to {:?}: {message}", self.topic),
        );
        let mut record = self.record.lock();
        if !record.violations.contains(&line) {
            record.violations.push(line);
        }
    }
}

impl Ledger {
    /// A ledger checking the claims among `capabilities`.
    pub(crate) fn new(capabilities: &Capabilities) -> Self {
        Self {
            exact: capabilities.has(Capability::ExactJson),
            ordered: capabilities.has(Capability::OrderedDelivery),
            synchronous: capabilities.has(Capability::SynchronousDelivery),
            immediate: capabilities.has(Capability::ImmediateSubscribe),
            exactly_once: capabilities.has(Capability::ExactlyOnce),
            state: Mutex::new(State::default()),
            served: Arc::new(Served::new(capabilities.has(Capability::ExactJson))),
        }
    }

    /// `payload` is about to be emitted: its emit number.
    pub(crate) fn emitting(&self, payload: &Value) -> usize {
        let key = key(payload, self.exact);
        let topic = payload
            .get("topic")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let loose = self.exact.then(|| self::key(payload, false));
        let garbage = state_sync::InvalidationEvent::from_json(payload).is_err();
        let mut state = self.state.lock();
        let seq = state.topics.len();
        state.topics.push(topic);
        state.garbage.push(garbage);
        state.by_key.entry(key.clone()).or_default().push(seq);
        state.keys.push(key);
        if let Some(loose) = loose {
            state.loose.insert(loose);
        }
        seq
    }

    /// `emit` of number `seq` returned: with `synchronous-delivery`, every
    /// subscription live by then has it.
    pub(crate) fn emitted(&self, seq: usize) {
        if !self.synchronous {
            return;
        }
        let state = self.state.lock();
        for sub in state.subs.values() {
            let live = sub.live_from.is_some_and(|from| from <= seq);
            if !sub.ended && live && !sub.received.contains(&seq) {
                sub.violation(
                    "TR-6",
                    "`emit` returned before delivering to this subscription, but the transport claims synchronous-delivery (drop the claim if it does not provide it)".to_owned(),
                );
            }
        }
    }

    /// A window syncing `topic` calls `subscribe` (deliveries may come
    /// before it resolves).
    pub(crate) fn subscribing(&self, topic: &str, record: Record) -> SubId {
        let mut state = self.state.lock();
        let id = state.next_sub;
        state.next_sub += 1;
        state.subs.insert(
            id,
            Sub {
                topic: topic.to_owned(),
                record,
                live_from: None,
                settled_from: None,
                received: HashSet::new(),
                complete_to: 0,
                last: None,
                ended: false,
                handler: None,
            },
        );
        id
    }

    /// The transport was given `handler` for subscription `sub`.
    pub(crate) fn handed(&self, sub: SubId, handler: HandlerRef) {
        if let Some(sub) = self.state.lock().subs.get_mut(&sub) {
            sub.handler = Some(handler);
        }
    }

    /// How many subscriptions that ended, failed or were given up before
    /// they resolved still have their handler held (by the transport: the
    /// kit keeps none). Asked once the transport has settled (TR-2).
    pub(crate) fn handlers_kept(&self) -> usize {
        let state = self.state.lock();
        state
            .subs
            .values()
            .filter(|s| s.ended || s.live_from.is_none())
            .filter(|s| s.handler.as_ref().is_some_and(|h| h.strong_count() > 0))
            .count()
    }

    /// The subscription's `subscribe` resolved.
    pub(crate) fn live(&self, sub: SubId) {
        let mut state = self.state.lock();
        let now = state.topics.len();
        if let Some(sub) = state.subs.get_mut(&sub) {
            sub.live_from = Some(now);
        }
    }

    /// The subscription ended.
    pub(crate) fn ended(&self, sub: SubId) {
        if let Some(sub) = self.state.lock().subs.get_mut(&sub) {
            sub.ended = true;
        }
    }

    /// The transport delivered `payload` to subscription `sub`.
    pub(crate) fn delivered(&self, sub: SubId, payload: &Value) {
        let mut state = self.state.lock();
        let candidates = state.by_key.get(&key(payload, self.exact)).cloned();
        let numbers_changed =
            candidates.is_none() && self.exact && state.loose.contains(&key(payload, false));
        let Some(sub_state) = state.subs.get_mut(&sub) else {
            return;
        };
        let Some(candidates) = candidates else {
            if numbers_changed {
                sub_state.violation(
                    "TR-6",
                    format!(
                        "a delivered payload differs from the emitted one in its numbers, but the transport claims exact-json (drop the claim if it does not provide it): {}",
                        state_sync::protocol::preview(payload, 120)
                    ),
                );
            } else {
                sub_state.violation(
                    "TR-1",
                    format!(
                        "a delivered payload was never emitted on this bus (the transport changed it): {}",
                        state_sync::protocol::preview(payload, 120)
                    ),
                );
            }
            return;
        };
        // The earliest emit of this payload not delivered yet, after the
        // last one delivered if there is one; else it is a duplicate.
        let fresh = |s: &usize| !sub_state.received.contains(s);
        let after_last = |s: &usize| sub_state.last.is_none_or(|l| *s > l);
        let in_order = candidates
            .iter()
            .copied()
            .find(|s| fresh(s) && after_last(s));
        // A payload equal to one already received that would skip emits not
        // received yet is taken for a redelivery of it (allowed: TR-7), not
        // for the later emit — which would make the skipped ones arrive out
        // of order.
        let skips = in_order.is_some_and(|c| {
            sub_state
                .last
                .is_some_and(|l| (l + 1..c).any(|s| !sub_state.received.contains(&s)))
        });
        let repeat = candidates.iter().any(|s| sub_state.received.contains(s));
        let mapped = if skips && repeat {
            None
        } else {
            in_order.or_else(|| candidates.iter().copied().find(|s| fresh(s)))
        };
        let seq = match mapped {
            Some(seq) => seq,
            None => {
                if self.exactly_once {
                    sub_state.violation(
                        "TR-6",
                        format!(
                            "a payload arrived more often than it was emitted, but the transport claims exactly-once (drop the claim if it may redeliver): {}",
                            state_sync::protocol::preview(payload, 120)
                        ),
                    );
                }
                return;
            }
        };
        if in_order.is_none() && self.ordered {
            sub_state.violation(
            "TR-6",
            format!(
                "a payload arrived after one emitted later, but the transport claims ordered-delivery (drop the claim if it does not provide it): {}",
                state_sync::protocol::preview(payload, 120)
            ));
        }
        sub_state.received.insert(seq);
        sub_state.last = sub_state.last.max(Some(seq));
    }

    /// The emit count now: a mark for [`settled`](Self::settled).
    pub(crate) fn mark(&self) -> usize {
        self.state.lock().topics.len()
    }

    /// A settle that began at `mark` resolved: every live subscription that
    /// was reliable by then has received the newest payload of its topic
    /// emitted before the mark (TR-4), and subscriptions made before the
    /// mark are reliable from now on.
    pub(crate) fn settled(&self, mark: usize) {
        let mut state = self.state.lock();
        let now = state.topics.len();
        let State {
            topics,
            subs,
            keys,
            by_key,
            garbage,
            ..
        } = &mut *state;
        for sub in subs.values_mut() {
            if sub.ended {
                continue;
            }
            if let Some(from) = sub.reliable_from(self.immediate) {
                let unchecked = from.max(sub.complete_to)..mark;
                let missed = if self.exactly_once {
                    unchecked.clone().find(|s| !sub.received.contains(s))
                } else {
                    None
                };
                sub.complete_to = missed.map_or(unchecked.end.max(sub.complete_to), |m| m + 1);
                if let Some(missed) = missed {
                    sub.violation(
                        "TR-6",
                        format!(
                            "after settle, it has not received emit #{missed}, emitted while it was subscribed, but the transport claims exactly-once (drop the claim if it may shed payloads)"
                        ),
                    );
                    // One report per missed emit is enough.
                    sub.received.insert(missed);
                }
                let newest = (from..mark)
                    .rev()
                    .find(|&s| topics[s].as_deref() == Some(sub.topic.as_str()));
                // An equal payload received since it was reliable will do.
                let got = |newest: usize| {
                    by_key[&keys[newest]]
                        .iter()
                        .any(|s| *s >= from && sub.received.contains(s))
                };
                if let Some(newest) = newest
                    && !got(newest)
                {
                    // Missed before a settle made it reliable without the
                    // claim: the claim is what failed.
                    let claim = sub.settled_from.is_none_or(|s| newest < s);
                    if garbage[newest] {
                        // Kept back because the engine would reject it:
                        // filtering is the engine's job, not the transport's.
                        sub.violation(
                            "TR-1",
                            format!(
                                "after settle, it has not received the newest payload of its topic (emit #{newest}), one the engine would reject as a protocol error: a transport passes every payload through and the engine validates"
                            ),
                        );
                    } else {
                        sub.violation(
                            "TR-4",
                            format!(
                                "after settle, it has not received the newest invalidation of its topic emitted while it was subscribed (emit #{newest}){}",
                                if self.immediate && claim {
                                    "; the transport claims immediate-subscribe (drop the claim if a subscription is not live as soon as `subscribe` resolves)"
                                } else {
                                    ""
                                }
                            ),
                        );
                    }
                    // One report per missed emit is enough.
                    sub.received.insert(newest);
                }
            }
            if sub.settled_from.is_none() && sub.live_from.is_some_and(|l| l <= mark) {
                sub.settled_from = Some(now);
            }
        }
    }
}
