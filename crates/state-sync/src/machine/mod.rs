//! The sans-IO state machine: every decision of the engine, with no I/O,
//! no clock and no runtime.
//!
//! Inputs go in as method calls (start requested, subscribed, an
//! invalidation and the time it arrived, a timer at `now`, a snapshot, a
//! failure, applied, stop) and decisions come out as return values:
//! subscribe, unsubscribe, fetch, apply or skip, arm a timer at `t`, and
//! every error report with its context. The async driver in
//! [`crate::engine`] only carries them out, and asks the machine when a
//! waiting `start` or `refresh` is answered. Because nothing here awaits,
//! the rules are tested exhaustively and fast.
//!
//! The rules it holds (clause ids from `docs/lifecycle.md`):
//!
//! * start subscribes first, then refreshes (LIFE-1), and a failed start
//!   unsubscribes and resets (LIFE-4);
//! * while a fetch is in flight, further requests queue at most one
//!   follow-up (CO-1), answered by a fetch that begins after them (CO-2);
//! * a snapshot applies only when newer than the local position, the
//!   first one always (GATE-1);
//! * events for other topics, or not newer than the local position, are
//!   ignored (GATE-2, GATE-3);
//! * positions order by epoch, then revision: a source's newer run is
//!   newer whatever its revisions (GATE-6);
//! * after stop nothing is applied and no request starts a fetch (STOP-1);
//! * a snapshot older than an announced revision triggers a bounded refetch
//!   (GATE-5);
//! * event-triggered refreshes are debounced or throttled (THR-1, THR-2).

mod cycle;
mod decisions;
mod gate;
mod reports;
mod status;
mod view;

#[cfg(test)]
use serde_json::Value;
use tokio::time::Instant;

use crate::epoch::Position;
use crate::error::{Phase, PortError, SyncError};
#[cfg(test)]
use crate::protocol::EventRef;
use crate::revision::Revision;
use crate::throttle::{Throttle, ThrottleState};

pub(crate) use self::decisions::{
    ApplyDecision, CycleEnd, EventVerdict, Failure, Fetched, IgnoreReason, Origin, RequestDecision,
    StartDecision, Subscribed, Wake,
};
pub use self::status::{Lifecycle, Metrics};
pub(crate) use self::view::GateView;

/// The engine's decision state for one window and one topic.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    topic: String,
    lifecycle: Lifecycle,
    /// Where the window is: the epoch and revision of the last apply.
    local: Position,
    applied_any: bool,
    announced: Option<Position>,
    /// A fetch loop is running (the one record of it).
    fetching: bool,
    /// A request arrived during the fetch in flight: a follow-up is due...
    follow_up: bool,
    /// ...whatever the fetch brings (a manual refresh, a timer, a start)...
    follow_up_forced: bool,
    /// ...or unless the fetch brings a revision at least this one (the
    /// newest invalidation that arrived during it): then the change those
    /// invalidations announced is applied, and fetching again would only
    /// repeat the same snapshot.
    follow_up_for: Option<Position>,
    /// Tickets issued to refresh requests.
    requested: u64,
    /// The ticket the fetch in flight covers.
    covers: u64,
    /// Requests with a ticket up to this one are answered...
    completed: u64,
    /// ...with this outcome (that of the latest cycle).
    last: Option<Result<(), SyncError>>,
    /// Numbers the attempts to start, so a waiter never takes the outcome
    /// of an earlier, failed attempt for its own.
    start_attempt: u64,
    /// The ticket of the running start's initial refresh.
    initial_ticket: Option<u64>,
    /// The outcome of the latest start attempt, once known.
    start_outcome: Option<(u64, Result<(), SyncError>)>,
    stale_refetches: u32,
    max_stale_refetches: u32,
    throttle: Option<ThrottleState>,
    /// When the armed timer fires, if one is armed.
    timer_at: Option<Instant>,
    metrics: Metrics,
}

impl Machine {
    /// A machine for `topic`. After a snapshot older than an announced
    /// revision it fetches again at most `max_stale_refetches` times in a
    /// row; event-triggered refreshes follow `throttle`.
    pub(crate) fn new(
        topic: impl Into<String>,
        max_stale_refetches: u32,
        throttle: Option<Throttle>,
    ) -> Self {
        Self {
            topic: topic.into(),
            lifecycle: Lifecycle::Idle,
            local: Position::ZERO,
            applied_any: false,
            announced: None,
            fetching: false,
            follow_up: false,
            follow_up_forced: false,
            follow_up_for: None,
            requested: 0,
            covers: 0,
            completed: 0,
            last: None,
            start_attempt: 0,
            initial_ticket: None,
            start_outcome: None,
            stale_refetches: 0,
            max_stale_refetches,
            throttle: throttle.map(ThrottleState::new),
            timer_at: None,
            metrics: Metrics::default(),
        }
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    /// The lifecycle state.
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The last applied revision (`0` before the first apply).
    pub(crate) fn local_revision(&self) -> Revision {
        self.local.revision
    }

    /// The epoch and revision of the last apply.
    pub(crate) fn local_position(&self) -> Position {
        self.local
    }

    /// The highest position announced by an accepted event.
    #[cfg(test)]
    pub(crate) fn announced(&self) -> Option<Position> {
        self.announced
    }

    /// Nothing is under way: no fetch, no armed timer, no subscribe.
    pub(crate) fn is_idle(&self) -> bool {
        !self.fetching && self.timer_at.is_none() && self.lifecycle != Lifecycle::Starting
    }

    /// Whether a fetch cycle is running.
    pub(crate) fn is_fetching(&self) -> bool {
        self.fetching
    }

    /// The counters, with `lag` computed now.
    pub(crate) fn metrics(&self) -> Metrics {
        let mut m = self.metrics;
        m.lag = self.announced.map_or(0, |a| {
            if a.epoch > self.local.epoch {
                // A newer run: all of it is missing.
                a.revision.get()
            } else if a.epoch == self.local.epoch {
                a.revision.get().saturating_sub(self.local.revision.get())
            } else {
                0
            }
        });
        m
    }

    // ----------------------------------------------------------- lifecycle

    /// `start` was called.
    pub(crate) fn start_requested(&mut self) -> StartDecision {
        match self.lifecycle {
            Lifecycle::Idle => {
                self.lifecycle = Lifecycle::Starting;
                self.start_attempt += 1;
                StartDecision::Subscribe(self.start_attempt)
            }
            Lifecycle::Starting => StartDecision::AwaitOngoing(self.start_attempt),
            Lifecycle::Running => StartDecision::AlreadyRunning,
            Lifecycle::Stopped => {
                StartDecision::Reject(Box::new(self.failure(Phase::Start, SyncError::Stopped)))
            }
        }
    }

    /// The subscription of start attempt `attempt` is active.
    pub(crate) fn subscribed(&mut self, attempt: u64) -> Subscribed {
        if self.lifecycle != Lifecycle::Starting || attempt != self.start_attempt {
            self.answer_start(attempt, Err(SyncError::StoppedDuringStart));
            return Subscribed::Unsubscribe;
        }
        let decision = self.request_refresh(Origin::Initial);
        match decision {
            RequestDecision::StartFetch(t) | RequestDecision::Coalesced(t) => {
                self.initial_ticket = Some(t);
                Subscribed::Refresh(decision)
            }
            RequestDecision::Stopped => Subscribed::Unsubscribe,
        }
    }

    /// Subscribing failed: back to idle so a later `start` can try again.
    pub(crate) fn subscribe_failed(&mut self, attempt: u64, error: PortError) -> Failure {
        let error = SyncError::Subscribe(error);
        self.reset_start(attempt, Err(error.clone()));
        self.failure(Phase::Subscribe, error)
    }

    /// The `start` call of `attempt` was dropped while it was subscribing:
    /// back to idle, as if subscribing had failed, so that later starts do
    /// not wait for an outcome that never comes.
    pub(crate) fn start_cancelled(&mut self, attempt: u64) {
        self.reset_start(
            attempt,
            Err(SyncError::Abandoned("start cancelled while subscribing")),
        );
    }

    fn reset_start(&mut self, attempt: u64, outcome: Result<(), SyncError>) {
        if self.lifecycle == Lifecycle::Starting && attempt == self.start_attempt {
            self.lifecycle = Lifecycle::Idle;
            // Invalidations heard while subscribing waited for the initial
            // refresh, which will not come: they are dropped.
            if !self.fetching {
                self.completed = self.requested;
            }
        }
        self.answer_start(attempt, outcome);
    }

    fn answer_start(&mut self, attempt: u64, outcome: Result<(), SyncError>) {
        self.start_outcome = Some((attempt, outcome));
    }

    /// The outcome of start attempt `attempt`, once known.
    pub(crate) fn start_result(&self, attempt: u64) -> Option<Result<(), SyncError>> {
        match &self.start_outcome {
            Some((a, outcome)) if *a == attempt => Some(outcome.clone()),
            _ => None,
        }
    }

    /// `stop` was called. Returns `true` the first time (the driver then
    /// unsubscribes and cancels the timer and any fetch in flight).
    pub(crate) fn stop(&mut self) -> bool {
        if self.lifecycle == Lifecycle::Stopped {
            return false;
        }
        self.lifecycle = Lifecycle::Stopped;
        self.clear_follow_up();
        self.timer_at = None;
        true
    }

    // --------------------------------------------------------------- events

    /// Classifies a raw invalidation payload: [`Machine::invalid`] or
    /// [`Machine::gate`], as the driver calls them once it has validated
    /// the payload outside the lock.
    #[cfg(test)]
    pub(crate) fn classify<'a>(&mut self, payload: &'a Value) -> EventVerdict<'a> {
        match EventRef::from_json(payload) {
            Ok(event) => self.gate(event),
            Err(error) => self.invalid(error, payload),
        }
    }

    /// A candidate event passed the filter: request its refresh, now or
    /// when the throttle allows. `now` is read only when throttled.
    pub(crate) fn accept(&mut self, position: Position, now: impl FnOnce() -> Instant) -> Wake {
        let Some(throttle) = self.throttle.as_mut() else {
            let decision = self.request_refresh(Origin::Event(position));
            return Wake {
                fetch: decision.starts_fetch(),
                timer: None,
            };
        };
        let step = throttle.on_event(now());
        // The announcement counts even when the refresh waits.
        let fetch = if step.fire {
            self.request_refresh(Origin::Event(position)).starts_fetch()
        } else {
            self.note_announced(position);
            false
        };
        Wake {
            fetch,
            timer: step.timer.and_then(|at| self.arm(at)),
        }
    }

    /// The armed timer fired at `now`.
    /// When the armed timer fires, if one is armed.
    pub(crate) fn timer_deadline(&self) -> Option<Instant> {
        self.timer_at
    }

    pub(crate) fn timer_fired(&mut self, now: Instant) -> Wake {
        let throttle = match self.throttle.as_mut() {
            Some(t) if self.lifecycle != Lifecycle::Stopped => t,
            _ => {
                self.timer_at = None;
                return Wake::default();
            }
        };
        let step = throttle.on_timer(now);
        self.timer_at = step.timer;
        let fetch = step.fire && self.request_refresh(Origin::Timer).starts_fetch();
        Wake {
            fetch,
            timer: step.timer,
        }
    }

    /// A timer must fire at `at`: arm it unless the one armed fires no
    /// later (it re-arms itself as needed).
    fn arm(&mut self, at: Instant) -> Option<Instant> {
        if self.lifecycle == Lifecycle::Stopped || self.timer_at.is_some_and(|t| t <= at) {
            return None;
        }
        self.timer_at = Some(at);
        Some(at)
    }

    /// `start` is subscribing: its initial refresh has not been asked for
    /// yet.
    fn subscribing(&self) -> bool {
        self.lifecycle == Lifecycle::Starting && self.initial_ticket.is_none()
    }

    /// Asks for a refresh.
    pub(crate) fn request_refresh(&mut self, origin: Origin) -> RequestDecision {
        if self.lifecycle == Lifecycle::Stopped {
            return RequestDecision::Stopped;
        }
        if let Origin::Event(revision) = origin {
            self.note_announced(revision);
        }
        self.requested += 1;
        if matches!(origin, Origin::Event(_)) && self.subscribing() && !self.fetching {
            // The initial refresh begins once subscribed, after this
            // request: it answers it (LIFE-1).
            self.metrics.coalesced += 1;
            return RequestDecision::Coalesced(self.requested);
        }
        if self.fetching {
            self.metrics.coalesced += 1;
            self.follow_up = true;
            match origin {
                Origin::Event(revision) => {
                    self.follow_up_for = self.follow_up_for.max(Some(revision));
                }
                _ => self.follow_up_forced = true,
            }
            RequestDecision::Coalesced(self.requested)
        } else {
            self.fetching = true;
            RequestDecision::StartFetch(self.requested)
        }
    }

    /// The answer to the refresh request with `ticket`, once it is answered
    /// (stopped: at once, `Ok`).
    pub(crate) fn refresh_result(&self, ticket: u64) -> Option<Result<(), SyncError>> {
        if self.completed >= ticket {
            Some(self.last.clone().unwrap_or(Ok(())))
        } else if self.lifecycle == Lifecycle::Stopped && !self.fetching {
            Some(Ok(()))
        } else {
            None
        }
    }

    fn note_announced(&mut self, position: Position) {
        if self.announced.is_none_or(|a| position > a) {
            self.announced = Some(position);
            self.stale_refetches = 0;
        }
    }
}

#[cfg(test)]
mod tests;
