//! Tests of the sans-IO core: one directed test per rule, then an exhaustive
//! enumeration of every input sequence up to length 6 (and random longer
//! ones) checked against a small, independent model of what the rules allow.

use proptest::prelude::*;
use serde_json::{Value, json};

use std::time::Duration;

use super::*;
use crate::epoch::Epoch;
use crate::error::PortError;

const TOPIC: &str = "app-config";

/// Revision `n` of epoch 0.
fn rev(n: u64) -> Position {
    Position::from(Revision::new(n))
}

fn ev(n: u64) -> Value {
    json!({"topic": TOPIC, "revision": n.to_string()})
}

fn fetch_error() -> SyncError {
    SyncError::GetSnapshot(PortError::new("down"))
}

fn core() -> Machine {
    Machine::new(TOPIC, 3, None)
}

/// A core that is running with `local` applied and no fetch in flight.
fn running_at(local: u64) -> Machine {
    let mut c = core();
    assert_eq!(c.start_requested(), StartDecision::Subscribe(1));
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::StartFetch(1))
    );
    c.begin_fetch();
    assert_eq!(c.snapshot_ready(rev(local)), ApplyDecision::Apply);
    c.applied(rev(local));
    let end = c.finish_fetch(Ok(()));
    assert_eq!(end.start_outcome, Some(Ok(())));
    assert!(!end.again);
    assert_eq!(c.lifecycle(), Lifecycle::Running);
    c
}

/// Classifies `payload` and, for a candidate, requests the refresh the way
/// the driver does.
fn deliver(c: &mut Machine, payload: &Value) -> Option<RequestDecision> {
    match c.classify(payload) {
        EventVerdict::Candidate(e) => {
            let position = e.position();
            Some(c.request_refresh(Origin::Event(position)))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// lifecycle

#[test]
fn start_moves_through_the_lifecycle() {
    let mut c = core();
    assert_eq!(c.lifecycle(), Lifecycle::Idle);
    assert_eq!(c.start_requested(), StartDecision::Subscribe(1));
    assert_eq!(c.lifecycle(), Lifecycle::Starting);
    assert_eq!(c.start_requested(), StartDecision::AwaitOngoing(1));
    let mut c = running_at(4);
    assert_eq!(c.start_requested(), StartDecision::AlreadyRunning);
    assert!(c.stop());
    let StartDecision::Reject(failure) = c.start_requested() else {
        panic!("a start after stop is rejected");
    };
    assert_eq!(failure.error, SyncError::Stopped);
    assert_eq!(failure.report.phase, crate::error::Phase::Start);
    assert_eq!(failure.report.local_revision, Some(rev(4).revision));
    assert_eq!(c.lifecycle(), Lifecycle::Stopped);
}

#[test]
fn subscribed_requests_the_initial_refresh() {
    let mut c = core();
    c.start_requested();
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::StartFetch(1))
    );
    assert!(c.is_fetching());
    // Not starting: the subscription is dropped.
    let mut idle = core();
    assert_eq!(idle.subscribed(1), Subscribed::Unsubscribe);
}

#[test]
fn stop_while_subscribing_makes_subscribed_refuse() {
    let mut c = core();
    c.start_requested();
    assert!(c.stop());
    assert_eq!(c.subscribed(1), Subscribed::Unsubscribe);
    assert!(!c.is_fetching(), "no initial fetch after stop");
    assert_eq!(c.start_result(1), Some(Err(SyncError::StoppedDuringStart)));
}

#[test]
fn a_failed_subscribe_goes_back_to_idle() {
    let mut c = core();
    c.start_requested();
    let failure = c.subscribe_failed(1, PortError::new("no listener"));
    assert_eq!(
        failure.error,
        SyncError::Subscribe(PortError::new("no listener"))
    );
    assert_eq!(failure.report.phase, crate::error::Phase::Subscribe);
    assert_eq!(c.start_result(1), Some(Err(failure.error)));
    assert_eq!(c.lifecycle(), Lifecycle::Idle);
    assert_eq!(c.start_requested(), StartDecision::Subscribe(2));
    assert_eq!(c.start_result(2), None, "attempt 2 has no outcome yet");
    // After stop it stays stopped.
    c.stop();
    c.subscribe_failed(2, PortError::new("late"));
    assert_eq!(c.lifecycle(), Lifecycle::Stopped);
}

#[test]
fn stop_is_idempotent() {
    let mut c = running_at(1);
    assert!(c.stop(), "first stop does the work");
    assert!(!c.stop(), "second stop is a no-op");
    let mut idle = core();
    assert!(idle.stop());
    assert_eq!(idle.lifecycle(), Lifecycle::Stopped);
}

#[test]
fn a_failed_initial_refresh_rolls_back_and_answers_queued_requests() {
    let mut c = core();
    c.start_requested();
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::StartFetch(1))
    );
    c.begin_fetch();
    assert_eq!(deliver(&mut c, &ev(5)), Some(RequestDecision::Coalesced(2)));
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::Coalesced(3)
    );
    let end = c.finish_fetch(Err(fetch_error()));
    assert_eq!(end.start_outcome, Some(Err(fetch_error())));
    assert!(
        end.unsubscribe,
        "a failed start rolls back its subscription"
    );
    assert_eq!(end.completed, 3, "queued requests share the failure");
    assert_eq!(c.refresh_result(3), Some(Err(fetch_error())));
    assert!(!end.again, "queued work is dropped");
    assert!(!c.is_fetching());
    assert_eq!(c.lifecycle(), Lifecycle::Idle);
    // Idle: events are not listened to; a new start works.
    assert_eq!(
        c.classify(&ev(6)),
        EventVerdict::Ignored(IgnoreReason::NotListening)
    );
    assert_eq!(c.start_requested(), StartDecision::Subscribe(2));
}

#[test]
fn the_initial_refresh_can_ride_on_a_fetch_in_flight() {
    let mut c = core();
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::StartFetch(1)
    );
    c.begin_fetch();
    c.start_requested();
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::Coalesced(2))
    );
    assert_eq!(c.snapshot_ready(rev(1)), ApplyDecision::Apply);
    c.applied(rev(1));
    let end = c.finish_fetch(Ok(()));
    assert_eq!(end.start_outcome, None, "that fetch began before the start");
    assert_eq!(c.refresh_result(1), Some(Ok(())));
    assert_eq!(
        c.refresh_result(2),
        None,
        "the start's refresh is still due"
    );
    assert!(end.again);
    c.begin_fetch();
    assert_eq!(c.snapshot_ready(rev(1)), ApplyDecision::Stale);
    let end = c.finish_fetch(Ok(()));
    assert_eq!(end.start_outcome, Some(Ok(())));
    assert_eq!(c.lifecycle(), Lifecycle::Running);
}

#[test]
fn stop_during_the_initial_refresh_fails_the_start() {
    let mut c = core();
    c.start_requested();
    c.subscribed(1);
    c.begin_fetch();
    c.stop();
    assert_eq!(c.snapshot_ready(rev(1)), ApplyDecision::Discard);
    let end = c.finish_fetch(Ok(()));
    assert_eq!(end.start_outcome, Some(Err(SyncError::StoppedDuringStart)));
    assert!(!end.unsubscribe, "stop already unsubscribed");
    assert!(!end.again);
    assert_eq!(c.lifecycle(), Lifecycle::Stopped);
}

// ---------------------------------------------------------------------------
// classification and the revision gate

#[test]
fn events_are_ignored_unless_listening() {
    let mut idle = core();
    assert_eq!(
        idle.classify(&ev(1)),
        EventVerdict::Ignored(IgnoreReason::NotListening)
    );
    let mut starting = core();
    starting.start_requested();
    assert!(matches!(
        starting.classify(&ev(1)),
        EventVerdict::Candidate(_)
    ));
    let mut stopped = running_at(0);
    stopped.stop();
    assert_eq!(
        stopped.classify(&ev(1)),
        EventVerdict::Ignored(IgnoreReason::NotListening)
    );
    assert_eq!(
        stopped.classify(&json!(42)),
        EventVerdict::Ignored(IgnoreReason::NotListening),
        "not even validated after stop"
    );
}

#[test]
fn garbage_is_invalid_and_counted() {
    let mut c = running_at(0);
    let garbage = [
        json!(null),
        json!(7),
        json!({"topic": TOPIC, "revision": 7}),
        json!({"topic": " ", "revision": "7"}),
        json!({"topic": TOPIC, "revision": "07"}),
        json!({"topic": TOPIC}),
    ];
    for payload in &garbage {
        let EventVerdict::Invalid(report) = c.classify(payload) else {
            panic!("{payload} is invalid");
        };
        assert_eq!(report.phase, crate::error::Phase::Protocol);
        assert_eq!(
            report.source_event.as_ref(),
            Some(payload),
            "the payload goes with it"
        );
        assert_eq!(report.local_revision, Some(rev(0).revision));
    }
    assert_eq!(c.metrics().protocol_errors, garbage.len() as u64);
    assert!(!c.is_fetching());
    let protocol = crate::protocol::EventRef::from_json(&json!(1)).expect_err("not an object");
    let failure = c.snapshot_invalid(protocol, Some(rev(3).revision));
    assert_eq!(failure.report.snapshot_revision, Some(rev(3).revision));
    assert_eq!(c.metrics().protocol_errors, garbage.len() as u64 + 1);
}

#[test]
fn events_for_other_topics_are_ignored() {
    let mut c = running_at(0);
    let other = json!({"topic": "auth-state", "revision": "9"});
    assert_eq!(
        c.classify(&other),
        EventVerdict::Ignored(IgnoreReason::OtherTopic)
    );
    // The topic is compared as sent, not trimmed.
    let padded = json!({"topic": format!(" {TOPIC}"), "revision": "9"});
    assert_eq!(
        c.classify(&padded),
        EventVerdict::Ignored(IgnoreReason::OtherTopic)
    );
}

#[test]
fn events_not_newer_than_local_are_ignored() {
    let mut c = running_at(5);
    for r in [0, 4, 5] {
        assert_eq!(
            c.classify(&ev(r)),
            EventVerdict::Ignored(IgnoreReason::NotNewer),
            "{r}"
        );
    }
    let payload = json!({"topic": TOPIC, "revision": "6", "sourceId": "w2"});
    assert_eq!(
        c.classify(&payload),
        EventVerdict::Candidate(EventRef {
            topic: TOPIC,
            revision: rev(6).revision,
            epoch: Epoch::ZERO,
            source_id: Some("w2"),
        })
    );
    // Before any apply the local revision is 0: an event at 0 is old news.
    let mut fresh = core();
    fresh.start_requested();
    assert_eq!(
        fresh.classify(&ev(0)),
        EventVerdict::Ignored(IgnoreReason::NotNewer)
    );
}

#[test]
fn the_first_snapshot_applies_even_at_zero_then_only_newer_ones() {
    let mut c = core();
    assert_eq!(c.snapshot_ready(rev(0)), ApplyDecision::Apply);
    c.applied(rev(0));
    assert!(c.applied_any);
    assert_eq!(c.snapshot_ready(rev(0)), ApplyDecision::Stale);
    assert_eq!(c.snapshot_ready(rev(1)), ApplyDecision::Apply);
    c.applied(rev(3));
    assert_eq!(c.snapshot_ready(rev(2)), ApplyDecision::Stale);
    assert_eq!(c.snapshot_ready(rev(3)), ApplyDecision::Stale);
    assert_eq!(c.snapshot_ready(rev(4)), ApplyDecision::Apply);
    assert_eq!(c.metrics().stale_skips, 3);
    assert_eq!(c.local_position(), rev(3));
}

// ---------------------------------------------------------------------------
// coalescing and tickets

#[test]
fn requests_during_a_fetch_queue_one_follow_up() {
    let mut c = running_at(0);
    assert_eq!(
        deliver(&mut c, &ev(1)),
        Some(RequestDecision::StartFetch(2))
    );
    c.begin_fetch();
    for (i, r) in (2..=100).enumerate() {
        let expected = RequestDecision::Coalesced(3 + i as u64);
        assert_eq!(deliver(&mut c, &ev(r)), Some(expected));
    }
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::Coalesced(102)
    );
    c.snapshot_ready(rev(1));
    c.applied(rev(1));
    let end = c.finish_fetch(Ok(()));
    assert_eq!((end.completed, end.again), (2, true), "one follow-up");
    c.begin_fetch();
    c.snapshot_ready(rev(100));
    c.applied(rev(100));
    let end = c.finish_fetch(Ok(()));
    assert_eq!((end.completed, end.again), (102, false));
    assert!(!c.is_fetching());
    let m = c.metrics();
    assert_eq!((m.fetches, m.coalesced, m.applies), (3, 100, 3));
}

#[test]
fn a_request_during_a_fetch_is_answered_by_a_later_fetch() {
    let mut c = running_at(0);
    let RequestDecision::StartFetch(first) = c.request_refresh(Origin::Manual) else {
        panic!("no fetch was running");
    };
    c.begin_fetch();
    let RequestDecision::Coalesced(second) = c.request_refresh(Origin::Manual) else {
        panic!("a fetch is running");
    };
    let end = c.finish_fetch(Ok(()));
    assert!(end.completed >= first);
    assert!(
        end.completed < second,
        "that fetch began before the request"
    );
    assert!(end.again);
    c.begin_fetch();
    let end = c.finish_fetch(Ok(()));
    assert!(end.completed >= second);
}

#[test]
fn requests_before_the_fetch_begins_are_covered_by_it() {
    let mut c = running_at(0);
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::StartFetch(2)
    );
    assert_eq!(
        c.request_refresh(Origin::Timer),
        RequestDecision::Coalesced(3)
    );
    c.begin_fetch();
    let end = c.finish_fetch(Ok(()));
    assert_eq!((end.completed, end.again), (3, false));
}

#[test]
fn after_stop_requests_do_nothing_and_nothing_applies() {
    let mut c = running_at(1);
    c.request_refresh(Origin::Manual);
    c.begin_fetch();
    c.request_refresh(Origin::Manual);
    c.stop();
    assert_eq!(c.request_refresh(Origin::Manual), RequestDecision::Stopped);
    assert_eq!(
        c.request_refresh(Origin::Event(rev(9))),
        RequestDecision::Stopped
    );
    assert_eq!(c.snapshot_ready(rev(9)), ApplyDecision::Discard);
    let end = c.finish_fetch(Ok(()));
    assert!(!end.again, "the queued follow-up is dropped");
    assert!(!c.is_fetching());
    assert_eq!(c.metrics().applies, 1);
}

// ---------------------------------------------------------------------------
// stale refetch

#[test]
fn a_snapshot_older_than_an_announcement_is_refetched_a_bounded_number_of_times() {
    let mut c = running_at(1);
    assert_eq!(
        deliver(&mut c, &ev(5)),
        Some(RequestDecision::StartFetch(2))
    );
    let mut fetches = 0;
    loop {
        c.begin_fetch();
        fetches += 1;
        assert_eq!(c.snapshot_ready(rev(1)), ApplyDecision::Stale);
        if !c.finish_fetch(Ok(())).again {
            break;
        }
        assert!(fetches < 100, "endless refetching");
    }
    assert_eq!(fetches, 1 + 3);
    assert_eq!(c.metrics().lag, 4);
    assert!(!c.is_fetching());
}

#[test]
fn the_refetch_budget_resets_on_a_new_announcement_and_on_apply() {
    let mut c = running_at(1);
    deliver(&mut c, &ev(5));
    for _ in 0..3 {
        c.begin_fetch();
        c.snapshot_ready(rev(1));
        assert!(c.finish_fetch(Ok(())).again);
    }
    // A newer announcement during the last refetch: budget back to 3.
    c.begin_fetch();
    c.note_announced(rev(6));
    c.snapshot_ready(rev(1));
    assert!(c.finish_fetch(Ok(())).again);
    // An apply that is still behind also resets it.
    for _ in 0..2 {
        c.begin_fetch();
        c.snapshot_ready(rev(1));
        assert!(c.finish_fetch(Ok(())).again);
    }
    c.begin_fetch();
    c.snapshot_ready(rev(2));
    c.applied(rev(2));
    assert!(c.finish_fetch(Ok(())).again);
    let mut more = 0;
    loop {
        c.begin_fetch();
        c.snapshot_ready(rev(2));
        more += 1;
        if !c.finish_fetch(Ok(())).again {
            break;
        }
    }
    assert_eq!(more, 3);
}

#[test]
fn failed_fetches_are_not_refetched() {
    let mut c = running_at(1);
    deliver(&mut c, &ev(5));
    c.begin_fetch();
    assert!(!c.finish_fetch(Err(fetch_error())).again);
}

#[test]
fn zero_refetches_turns_it_off() {
    let mut c = Machine::new(TOPIC, 0, None);
    c.start_requested();
    c.subscribed(1);
    c.begin_fetch();
    c.note_announced(rev(9));
    c.snapshot_ready(rev(1));
    c.applied(rev(1));
    assert!(!c.finish_fetch(Ok(())).again);
}

#[test]
fn announcements_only_move_up_and_lag_follows() {
    let mut c = running_at(2);
    assert_eq!(c.metrics().lag, 0);
    c.note_announced(rev(7));
    c.note_announced(rev(4));
    assert_eq!(c.announced(), Some(rev(7)));
    assert_eq!(c.metrics().lag, 5);
    c.applied(rev(9));
    assert_eq!(c.metrics().lag, 0, "never negative");
}

// ---------------------------------------------------------------------------
// exhaustive and random sequences against a model

/// One input of the core, as the driver would feed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    /// `start` called.
    Start,
    /// The subscription became active.
    Subscribed,
    /// Subscribing failed.
    SubscribeFailed,
    /// An invalidation at this revision.
    Event(u64),
    /// A manual `refresh`.
    Manual,
    /// The fetch loop begins a fetch.
    Begin,
    /// The fetch ends: a snapshot at this revision, or a failure.
    Finish(Option<u64>),
    /// `stop` called.
    Stop,
}

/// The revisions the enumeration uses for events and snapshots.
const REVS: [u64; 3] = [0, 1, 2];

fn alphabet() -> Vec<Input> {
    let mut inputs = vec![
        Input::Start,
        Input::Subscribed,
        Input::SubscribeFailed,
        Input::Manual,
        Input::Begin,
        Input::Finish(None),
        Input::Stop,
    ];
    inputs.extend(REVS.iter().map(|&r| Input::Event(r)));
    inputs.extend(REVS.iter().map(|&r| Input::Finish(Some(r))));
    inputs
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    /// No fetch loop.
    Off,
    /// The loop is about to begin a fetch.
    Pending,
    /// A fetch is in flight; it began at `began_at` and covers tickets up
    /// to `covers`.
    InFlight { began_at: u64, covers: u64 },
}

/// What the rules allow, kept independently of the core, plus the core.
#[derive(Clone)]
struct Model {
    core: Machine,
    max_stale: u32,
    now: u64,
    life: Lifecycle,
    /// The latest start attempt.
    attempt: u64,
    subscribing: bool,
    initial: Option<u64>,
    fetch: Fetch,
    requested_in_flight: bool,
    /// A request other than an invalidation arrived during the fetch.
    forced_in_flight: bool,
    /// The newest invalidation that arrived during the fetch.
    events_in_flight: Option<u64>,
    tickets: u64,
    /// Unanswered requests: (ticket, issued at).
    outstanding: Vec<(u64, u64)>,
    local: Option<u64>,
    applies: u64,
    announced: Option<u64>,
    streak: u32,
    begun: u64,
    coalesced: u64,
}

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

impl Model {
    fn new(max_stale: u32) -> Self {
        Self {
            core: Machine::new(TOPIC, max_stale, None),
            max_stale,
            now: 0,
            life: Lifecycle::Idle,
            attempt: 0,
            subscribing: false,
            initial: None,
            fetch: Fetch::Off,
            requested_in_flight: false,
            forced_in_flight: false,
            events_in_flight: None,
            tickets: 0,
            outstanding: Vec::new(),
            local: None,
            applies: 0,
            announced: None,
            streak: 0,
            begun: 0,
            coalesced: 0,
        }
    }

    fn local(&self) -> u64 {
        self.local.unwrap_or(0)
    }

    /// Checks a refresh request decision and records the request (`event`:
    /// the revision of the invalidation that made it, if one did).
    fn request(
        &mut self,
        decision: RequestDecision,
        event: Option<u64>,
    ) -> Result<Option<u64>, String> {
        if self.life == Lifecycle::Stopped {
            ensure!(
                decision == RequestDecision::Stopped,
                "request after stop: {decision:?}"
            );
            return Ok(None);
        }
        self.tickets += 1;
        let ticket = self.tickets;
        let subscribing = self.life == Lifecycle::Starting && self.initial.is_none();
        if event.is_some() && subscribing && self.fetch == Fetch::Off {
            // The initial refresh, made after subscribing, answers it.
            ensure!(
                decision == RequestDecision::Coalesced(ticket),
                "an event while subscribing: expected Coalesced({ticket}), got {decision:?}"
            );
            self.coalesced += 1;
            self.outstanding.push((ticket, self.now));
            return Ok(Some(ticket));
        }
        if self.fetch == Fetch::Off {
            ensure!(
                decision == RequestDecision::StartFetch(ticket),
                "expected StartFetch({ticket}), got {decision:?}"
            );
            self.fetch = Fetch::Pending;
        } else {
            ensure!(
                decision == RequestDecision::Coalesced(ticket),
                "a fetch loop is running: expected Coalesced({ticket}), got {decision:?}"
            );
            self.coalesced += 1;
            if matches!(self.fetch, Fetch::InFlight { .. }) {
                self.requested_in_flight = true;
                match event {
                    Some(r) => self.events_in_flight = self.events_in_flight.max(Some(r)),
                    None => self.forced_in_flight = true,
                }
            }
        }
        self.outstanding.push((ticket, self.now));
        Ok(Some(ticket))
    }

    /// Applies one input. `Ok(false)` when the input makes no sense now (the
    /// driver never produces it), `Err` when the core broke a rule.
    fn step(&mut self, input: Input) -> Result<bool, String> {
        self.now += 1;
        match input {
            Input::Start => {
                let decision = self.core.start_requested();
                let ok = match (self.life, &decision) {
                    (Lifecycle::Idle, StartDecision::Subscribe(a)) => *a == self.attempt + 1,
                    (Lifecycle::Starting, StartDecision::AwaitOngoing(a)) => *a == self.attempt,
                    (Lifecycle::Running, StartDecision::AlreadyRunning) => true,
                    (Lifecycle::Stopped, StartDecision::Reject(f)) => f.error == SyncError::Stopped,
                    _ => false,
                };
                ensure!(ok, "start in {:?}: {decision:?}", self.life);
                if let StartDecision::Subscribe(a) = decision {
                    self.attempt = a;
                    self.life = Lifecycle::Starting;
                    self.subscribing = true;
                }
            }
            Input::Subscribed => {
                if !self.subscribing {
                    return Ok(false);
                }
                self.subscribing = false;
                let decision = self.core.subscribed(self.attempt);
                if self.life == Lifecycle::Stopped {
                    ensure!(
                        decision == Subscribed::Unsubscribe,
                        "subscribed after stop: {decision:?}"
                    );
                } else {
                    let Subscribed::Refresh(decision) = decision else {
                        return Err("subscribed refused while starting".into());
                    };
                    self.initial = self.request(decision, None)?;
                }
            }
            Input::SubscribeFailed => {
                if !self.subscribing {
                    return Ok(false);
                }
                self.subscribing = false;
                self.core
                    .subscribe_failed(self.attempt, PortError::new("down"));
                if self.life == Lifecycle::Starting {
                    self.life = Lifecycle::Idle;
                    // Events heard while subscribing are dropped with it.
                    if self.fetch == Fetch::Off {
                        self.outstanding.clear();
                    }
                }
            }
            Input::Event(r) => {
                let payload = ev(r);
                let verdict = self.core.classify(&payload);
                let listening = matches!(self.life, Lifecycle::Starting | Lifecycle::Running);
                if !listening {
                    ensure!(
                        verdict == EventVerdict::Ignored(IgnoreReason::NotListening),
                        "event while not listening: {verdict:?}"
                    );
                } else if r <= self.local() {
                    ensure!(
                        verdict == EventVerdict::Ignored(IgnoreReason::NotNewer),
                        "event {r} not newer than {}: {verdict:?}",
                        self.local()
                    );
                } else {
                    let EventVerdict::Candidate(event) = verdict else {
                        return Err(format!("newer event {r} not a candidate: {verdict:?}"));
                    };
                    ensure!(event.position() == rev(r), "wrong revision {event:?}");
                    if self.announced.is_none_or(|a| r > a) {
                        self.announced = Some(r);
                        self.streak = 0;
                    }
                    let decision = self.core.request_refresh(Origin::Event(rev(r)));
                    self.request(decision, Some(r))?;
                }
            }
            Input::Manual => {
                let decision = self.core.request_refresh(Origin::Manual);
                self.request(decision, None)?;
            }
            Input::Begin => {
                if self.fetch != Fetch::Pending {
                    return Ok(false);
                }
                self.core.begin_fetch();
                self.begun += 1;
                self.requested_in_flight = false;
                self.forced_in_flight = false;
                self.events_in_flight = None;
                self.fetch = Fetch::InFlight {
                    began_at: self.now,
                    covers: self.tickets,
                };
            }
            Input::Finish(snapshot) => {
                let Fetch::InFlight { began_at, covers } = self.fetch else {
                    return Ok(false);
                };
                self.finish(snapshot, began_at, covers)?;
            }
            Input::Stop => {
                let first = self.core.stop();
                ensure!(
                    first == (self.life != Lifecycle::Stopped),
                    "stop returned {first} in {:?}",
                    self.life
                );
                self.life = Lifecycle::Stopped;
            }
        }
        self.check_state()?;
        Ok(true)
    }

    fn finish(&mut self, snapshot: Option<u64>, began_at: u64, covers: u64) -> Result<(), String> {
        let outcome = match snapshot {
            None => Err(fetch_error()),
            Some(r) => {
                let decision = self.core.snapshot_ready(rev(r));
                let expected = if self.life == Lifecycle::Stopped {
                    ApplyDecision::Discard
                } else if self.local.is_some_and(|l| r <= l) {
                    ApplyDecision::Stale
                } else {
                    ApplyDecision::Apply
                };
                ensure!(
                    decision == expected,
                    "snapshot {r} (local {:?}, {:?}): {decision:?} != {expected:?}",
                    self.local,
                    self.life
                );
                if decision == ApplyDecision::Apply {
                    ensure!(
                        self.local.is_none_or(|l| r > l),
                        "applies must strictly increase: {r} after {:?}",
                        self.local
                    );
                    self.core.applied(rev(r));
                    self.local = Some(r);
                    self.applies += 1;
                    self.streak = 0;
                }
                Ok(())
            }
        };
        let end = self.core.finish_fetch(outcome.clone());

        // The start's outcome comes with the fetch that covers its request.
        let mut rolled_back = false;
        match self.initial {
            Some(initial) if initial <= covers => {
                let expected = if self.life == Lifecycle::Stopped {
                    Err(SyncError::StoppedDuringStart)
                } else {
                    outcome.clone()
                };
                ensure!(
                    end.start_outcome.as_ref() == Some(&expected),
                    "start outcome {:?} != {expected:?}",
                    end.start_outcome
                );
                self.initial = None;
                match (&expected, self.life) {
                    (Ok(()), _) => self.life = Lifecycle::Running,
                    (Err(_), Lifecycle::Starting) => {
                        self.life = Lifecycle::Idle;
                        rolled_back = true;
                    }
                    _ => {}
                }
            }
            // A start queued behind this fetch lost its follow-up to stop:
            // it is answered now, or it would wait forever.
            Some(_) if self.life == Lifecycle::Stopped => {
                ensure!(
                    end.start_outcome == Some(Err(SyncError::StoppedDuringStart)),
                    "a start queued behind a stopped fetch got {:?}",
                    end.start_outcome
                );
                self.initial = None;
            }
            _ => ensure!(
                end.start_outcome.is_none(),
                "unexpected start outcome {:?}",
                end.start_outcome
            ),
        }

        // Only invalidations arrived during the fetch, and it reached the
        // newest of them: they are answered by it, no follow-up.
        let satisfied = !rolled_back
            && self.life != Lifecycle::Stopped
            && self.requested_in_flight
            && !self.forced_in_flight
            && self.events_in_flight.is_some_and(|r| r <= self.local());
        let completed = if rolled_back || satisfied {
            self.tickets
        } else {
            covers
        };
        ensure!(
            end.completed == completed,
            "completed {} != {completed}",
            end.completed
        );
        // Requests are answered only by a fetch that began after them
        // (a rolled-back start answers everything with its failure).
        let mut kept = Vec::new();
        for (ticket, issued_at) in std::mem::take(&mut self.outstanding) {
            if ticket <= end.completed {
                ensure!(
                    rolled_back || satisfied || issued_at < began_at,
                    "ticket {ticket} issued at {issued_at} answered by a fetch begun at {began_at}"
                );
            } else {
                kept.push((ticket, issued_at));
            }
        }
        self.outstanding = kept;

        let again = if self.life == Lifecycle::Stopped || rolled_back {
            false
        } else if self.requested_in_flight && !satisfied {
            true
        } else if outcome.is_ok()
            && self.announced.is_some_and(|a| a > self.local())
            && self.streak < self.max_stale
        {
            self.streak += 1;
            true
        } else {
            false
        };
        ensure!(end.again == again, "again {} != {again}", end.again);
        if again {
            self.fetch = Fetch::Pending;
        } else {
            self.fetch = Fetch::Off;
            if self.life == Lifecycle::Stopped {
                // The driver answers these when it sees the stop.
                self.outstanding.clear();
            }
            ensure!(
                self.outstanding.is_empty(),
                "the loop ended with unanswered requests {:?}",
                self.outstanding
            );
        }
        Ok(())
    }

    fn check_state(&self) -> Result<(), String> {
        let c = &self.core;
        ensure!(
            c.lifecycle() == self.life,
            "lifecycle {:?} != {:?}",
            c.lifecycle(),
            self.life
        );
        ensure!(
            c.is_fetching() == (self.fetch != Fetch::Off),
            "fetching {} but loop {:?}",
            c.is_fetching(),
            self.fetch
        );
        ensure!(c.local_position() == rev(self.local()), "local revision");
        ensure!(c.applied_any == self.local.is_some(), "applied_any");
        let m = c.metrics();
        let lag = self.announced.map_or(0, |a| a.saturating_sub(self.local()));
        let expected = (self.begun, self.applies, self.coalesced, lag);
        let got = (m.fetches, m.applies, m.coalesced, m.lag);
        ensure!(got == expected, "metrics {got:?} != {expected:?}");
        Ok(())
    }

    /// Lets the driver finish what is under way with an up-to-date source,
    /// then checks that every request was answered and the start resolved.
    fn drain(&mut self) -> Result<(), String> {
        let top = [self.announced, self.local, Some(REVS[REVS.len() - 1])]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_default();
        if self.subscribing {
            self.step(Input::Subscribed)?;
        }
        let mut fetches = 0;
        loop {
            match self.fetch {
                Fetch::Off => break,
                Fetch::Pending => {
                    self.step(Input::Begin)?;
                }
                Fetch::InFlight { .. } => {
                    self.step(Input::Finish(Some(top)))?;
                    fetches += 1;
                    ensure!(fetches <= 2, "{fetches} fetches to drain");
                }
            }
        }
        if self.life != Lifecycle::Stopped {
            ensure!(
                self.outstanding.is_empty(),
                "unanswered {:?}",
                self.outstanding
            );
            ensure!(self.initial.is_none(), "start never resolved");
            ensure!(self.life != Lifecycle::Starting, "stuck starting");
            if fetches > 0 {
                ensure!(self.local == Some(top), "did not converge");
            }
        }
        Ok(())
    }
}

/// Runs `inputs` (skipping those that make no sense at that point) and
/// drains; panics with the inputs on the first broken rule.
fn run(max_stale: u32, inputs: &[Input]) {
    let mut model = Model::new(max_stale);
    let mut taken = Vec::new();
    for &input in inputs {
        taken.push(input);
        match model.step(input) {
            Ok(_) => {}
            Err(e) => panic!("{e}\n  max_stale {max_stale}, inputs {taken:?}"),
        }
    }
    if let Err(e) = model.drain() {
        panic!("{e}\n  max_stale {max_stale}, inputs {taken:?}, then drained");
    }
}

fn explore(
    model: &Model,
    path: &mut Vec<Input>,
    depth: usize,
    alphabet: &[Input],
    count: &mut u64,
) {
    *count += 1;
    let mut drained = model.clone();
    if let Err(e) = drained.drain() {
        panic!(
            "{e}\n  max_stale {}, inputs {path:?}, then drained",
            model.max_stale
        );
    }
    if depth == 0 {
        return;
    }
    for &input in alphabet {
        let mut next = model.clone();
        path.push(input);
        match next.step(input) {
            Ok(true) => explore(&next, path, depth - 1, alphabet, count),
            Ok(false) => {}
            Err(e) => panic!("{e}\n  max_stale {}, inputs {path:?}", model.max_stale),
        }
        path.pop();
    }
}

#[test]
fn every_sequence_up_to_length_6_keeps_the_rules() {
    let alphabet = alphabet();
    for max_stale in [0, 1, 3] {
        let mut count = 0;
        explore(
            &Model::new(max_stale),
            &mut Vec::new(),
            6,
            &alphabet,
            &mut count,
        );
        assert!(count > 100_000, "only {count} sequences explored");
    }
}

#[test]
fn the_model_catches_a_start_that_skips_subscribe() {
    // Sanity check of the checker itself: feeding a wrong expectation fails.
    let mut model = Model::new(3);
    model.life = Lifecycle::Running;
    assert!(model.step(Input::Start).is_err());
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        1 => Just(Input::Start),
        1 => Just(Input::Subscribed),
        1 => Just(Input::SubscribeFailed),
        1 => (0u64..8).prop_map(Input::Event),
        1 => Just(Input::Manual),
        3 => Just(Input::Begin),
        3 => proptest::option::weighted(0.8, 0u64..8).prop_map(Input::Finish),
        1 => Just(Input::Stop),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_long_sequences_keep_the_rules(
        max_stale in 0u32..4,
        inputs in proptest::collection::vec(input(), 0..80),
    ) {
        run(max_stale, &inputs);
    }
}

#[test]
fn a_start_queued_behind_a_fetch_is_answered_when_stop_drops_its_follow_up() {
    let mut c = core();
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::StartFetch(1)
    );
    c.begin_fetch();
    c.start_requested();
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::Coalesced(2))
    );
    assert!(c.stop());
    let end = c.finish_fetch(Ok(()));
    assert!(!end.again);
    assert_eq!(end.start_outcome, Some(Err(SyncError::StoppedDuringStart)));
}

#[test]
fn the_core_knows_its_topic() {
    assert_eq!(core().topic(), TOPIC);
}

#[test]
fn a_request_made_before_stop_waits_for_the_fetch_in_flight() {
    let mut c = running_at(1);
    let RequestDecision::StartFetch(ticket) = c.request_refresh(Origin::Manual) else {
        panic!("a refresh with no fetch in flight starts one");
    };
    c.begin_fetch();
    assert!(c.stop());
    assert_eq!(
        c.refresh_result(ticket),
        None,
        "the fetch is still running: the answer is not known yet"
    );
    c.finish_fetch(Ok(()));
    assert_eq!(c.refresh_result(ticket), Some(Ok(())));
}

#[test]
fn announcing_the_same_revision_again_does_not_renew_the_refetch_budget() {
    let mut c = running_at(1);
    deliver(&mut c, &ev(5));
    let mut fetches = 0;
    loop {
        c.begin_fetch();
        fetches += 1;
        // The same announcement again during every refetch.
        c.note_announced(rev(5));
        c.snapshot_ready(rev(1));
        if !c.finish_fetch(Ok(())).again {
            break;
        }
        assert!(fetches < 100, "endless refetching");
    }
    assert_eq!(fetches, 1 + 3);
}

// ---------------------------------------------------------------------------
// throttle timers

fn throttled(policy: Throttle) -> Machine {
    let mut c = Machine::new(TOPIC, 3, Some(policy));
    c.start_requested();
    c.subscribed(1);
    c.begin_fetch();
    c.snapshot_ready(rev(1));
    c.applied(rev(1));
    c.finish_fetch(Ok(()));
    c
}

#[test]
fn a_later_debounce_deadline_keeps_the_timer_already_armed() {
    let t0 = Instant::now();
    let mut c = throttled(Throttle::debounce(Duration::from_millis(100)));
    let first = c.accept(rev(2), || t0);
    assert_eq!(first.timer, Some(t0 + Duration::from_millis(100)));
    assert!(!first.fetch);
    // The armed timer fires earlier than the new deadline and re-arms itself.
    let again = c.accept(rev(3), || t0 + Duration::from_millis(50));
    assert_eq!(again.timer, None);
    let fired = c.timer_fired(t0 + Duration::from_millis(100));
    assert!(!fired.fetch, "the quiet period is not over yet");
    assert_eq!(fired.timer, Some(t0 + Duration::from_millis(150)));
    // A deadline equal to the one armed does not re-arm either.
    let same = c.accept(rev(4), || t0 + Duration::from_millis(50));
    assert_eq!(same.timer, None);
    let fired = c.timer_fired(t0 + Duration::from_millis(150));
    assert!(fired.fetch);
    assert_eq!(fired.timer, None);
}

#[test]
fn after_stop_a_timer_that_fires_does_nothing_and_re_arms_nothing() {
    let t0 = Instant::now();
    let mut c = throttled(Throttle::debounce(Duration::from_millis(100)));
    c.accept(rev(2), || t0);
    c.accept(rev(3), || t0 + Duration::from_millis(50));
    assert!(c.stop());
    assert_eq!(
        c.timer_fired(t0 + Duration::from_millis(100)),
        Wake::default()
    );
    assert_eq!(c.accept(rev(4), || t0).timer, None);
}

#[test]
fn invalidations_during_a_fetch_that_reaches_them_need_no_follow_up() {
    let mut c = running_at(1);
    assert_eq!(
        deliver(&mut c, &ev(3)),
        Some(RequestDecision::StartFetch(2))
    );
    c.begin_fetch();
    // Duplicates and older news arrive while the fetch is in flight...
    assert_eq!(deliver(&mut c, &ev(3)), Some(RequestDecision::Coalesced(3)));
    assert_eq!(deliver(&mut c, &ev(2)), Some(RequestDecision::Coalesced(4)));
    // ...and the fetch brings revision 3: they are answered by it.
    assert_eq!(c.snapshot_ready(rev(3)), ApplyDecision::Apply);
    c.applied(rev(3));
    let end = c.finish_fetch(Ok(()));
    assert_eq!((end.completed, end.again), (4, false));
    assert_eq!(c.metrics().coalesced, 2);
}

#[test]
fn a_newer_invalidation_or_a_manual_refresh_during_a_fetch_still_gets_its_follow_up() {
    let mut c = running_at(1);
    deliver(&mut c, &ev(3));
    c.begin_fetch();
    deliver(&mut c, &ev(4));
    c.snapshot_ready(rev(3));
    c.applied(rev(3));
    let end = c.finish_fetch(Ok(()));
    assert_eq!(
        (end.completed, end.again),
        (2, true),
        "4 is not applied yet"
    );

    let mut c = running_at(1);
    deliver(&mut c, &ev(3));
    c.begin_fetch();
    assert_eq!(
        c.request_refresh(Origin::Manual),
        RequestDecision::Coalesced(3)
    );
    c.snapshot_ready(rev(3));
    c.applied(rev(3));
    let end = c.finish_fetch(Ok(()));
    assert_eq!(
        (end.completed, end.again),
        (2, true),
        "a refresh must see a fetch that begins after it"
    );
}

#[test]
fn an_invalidation_heard_while_subscribing_is_answered_by_the_initial_refresh() {
    let mut c = core();
    assert_eq!(c.start_requested(), StartDecision::Subscribe(1));
    assert_eq!(deliver(&mut c, &ev(4)), Some(RequestDecision::Coalesced(1)));
    assert!(!c.is_fetching(), "no fetch of its own");
    assert_eq!(
        c.subscribed(1),
        Subscribed::Refresh(RequestDecision::StartFetch(2))
    );
    c.begin_fetch();
    c.snapshot_ready(rev(4));
    c.applied(rev(4));
    let end = c.finish_fetch(Ok(()));
    assert_eq!((end.completed, end.again), (2, false));
    assert_eq!(c.metrics().fetches, 1);
}

#[test]
fn a_failed_subscribe_leaves_a_refresh_in_flight_waiting_for_its_fetch() {
    let mut c = core();
    let RequestDecision::StartFetch(ticket) = c.request_refresh(Origin::Manual) else {
        panic!("a refresh with no fetch in flight starts one");
    };
    c.begin_fetch();
    assert_eq!(c.start_requested(), StartDecision::Subscribe(1));
    assert_eq!(deliver(&mut c, &ev(3)), Some(RequestDecision::Coalesced(2)));
    c.subscribe_failed(1, PortError::new("no bus"));
    assert_eq!(c.lifecycle(), Lifecycle::Idle);
    assert_eq!(c.refresh_result(ticket), None, "its fetch is still running");
    c.snapshot_ready(rev(3));
    c.applied(rev(3));
    c.finish_fetch(Ok(()));
    assert_eq!(c.refresh_result(ticket), Some(Ok(())));
}

/// Revision `n` of epoch `e`.
fn at(e: u64, n: u64) -> Position {
    Position::new(Epoch::new(e), Revision::new(n))
}

/// GATE-6: a source restarted without its history, in a newer epoch, is
/// followed from revision 1 by a window at revision 57 of the run before;
/// what is still in flight from that run is older whatever its revision.
#[test]
fn a_newer_epoch_is_newer_whatever_its_revision() {
    let mut c = running_at(57);
    let restarted = json!({"topic": TOPIC, "revision": "1", "epoch": "2"});
    assert_eq!(
        deliver(&mut c, &restarted),
        Some(RequestDecision::StartFetch(2))
    );
    c.begin_fetch();
    // A late event of the old run, during the fetch: nothing to follow up.
    assert_eq!(
        deliver(&mut c, &ev(58)),
        Some(RequestDecision::Coalesced(3))
    );
    assert_eq!(c.snapshot_ready(at(2, 1)), ApplyDecision::Apply);
    c.applied(at(2, 1));
    let end = c.finish_fetch(Ok(()));
    assert!(!end.again, "revision 58 of epoch 0 is behind 1 of epoch 2");
    assert_eq!(c.local_position(), at(2, 1));
    assert_eq!(c.local_revision(), Revision::new(1));
    assert_eq!(deliver(&mut c, &ev(99)), None, "an older run is ignored");
    assert_eq!(
        deliver(
            &mut c,
            &json!({"topic": TOPIC, "revision": "1", "epoch": "2"})
        ),
        None
    );
    assert_eq!(
        deliver(
            &mut c,
            &json!({"topic": TOPIC, "revision": "2", "epoch": "2"})
        ),
        Some(RequestDecision::StartFetch(4))
    );
    c.begin_fetch();
    assert_eq!(c.snapshot_ready(at(0, 60)), ApplyDecision::Stale, "GATE-1");
    assert_eq!(c.metrics().lag, 1);
}

/// EVT-8: an `epoch` that is present must be canonical; a wrong one makes
/// the event a protocol error, like a wrong revision.
#[test]
fn a_non_canonical_epoch_is_a_protocol_error() {
    let mut c = running_at(1);
    for epoch in [json!("02"), json!(2), json!(null), json!("")] {
        let payload = json!({"topic": TOPIC, "revision": "5", "epoch": epoch});
        match c.classify(&payload) {
            EventVerdict::Invalid(report) => {
                assert!(report.message.contains("epoch"), "{}", report.message);
            }
            other => panic!("{payload}: {other:?}"),
        }
    }
}
