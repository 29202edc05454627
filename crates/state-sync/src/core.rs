//! The sans-IO core: every decision of the engine, with no I/O, no clock and
//! no runtime.
//!
//! Inputs go in as method calls (`start requested`, `subscribed`, an
//! invalidation payload, `snapshot ready`, `applied`, `stop`, ...) and
//! decisions come out as return values (subscribe, fetch, apply, skip,
//! report). The async driver in [`crate::engine`] only carries them out.
//! Because nothing here awaits, the rules are tested exhaustively and fast.
//!
//! The rules it holds (clause ids from `docs/lifecycle.md`):
//!
//! * start subscribes first, then refreshes (LIFE-1);
//! * while a fetch is in flight, further requests queue at most one
//!   follow-up (CO-1);
//! * a snapshot applies only when newer than the local revision, the first
//!   one always (GATE-1);
//! * events for other topics, or not newer than the local revision, are
//!   ignored (GATE-2, GATE-3);
//! * after stop nothing is applied and no request starts a fetch (STOP-1);
//! * a snapshot older than an announced revision triggers a bounded refetch
//!   (GATE-5).

use serde_json::Value;

use crate::error::SyncError;
use crate::protocol::{EventRef, ProtocolError};
use crate::revision::Revision;

/// Where a window is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Created, not started (or reset after a failed start).
    Idle,
    /// `start` is subscribing or running the initial refresh.
    Starting,
    /// Started.
    Running,
    /// Stopped; final.
    Stopped,
}

/// Counters kept by the engine ([`RevisionSync::metrics`](crate::RevisionSync::metrics)).
///
/// More counters may be added in later versions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Snapshot fetches begun.
    pub fetches: u64,
    /// Snapshots applied.
    pub applies: u64,
    /// Refresh requests folded into a fetch already in flight or queued.
    pub coalesced: u64,
    /// Snapshots skipped because they were not newer than the local revision.
    pub stale_skips: u64,
    /// Payloads (events or snapshots) rejected as protocol errors.
    pub protocol_errors: u64,
    /// Highest announced revision minus the local revision (0 when caught up).
    pub lag: u64,
}

/// What `start` should do.
#[derive(Debug, Clone, PartialEq)]
pub enum StartDecision {
    /// Subscribe now, then report [`SyncCore::subscribed`] or
    /// [`SyncCore::subscribe_failed`].
    Subscribe,
    /// Already running: nothing to do.
    AlreadyRunning,
    /// Another `start` is in progress: wait for its outcome.
    AwaitOngoing,
    /// Refuse.
    Reject(SyncError),
}

/// Why an invalidation did not lead to a refresh request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The engine is not listening (idle or stopped).
    NotListening,
    /// The event is for another topic.
    OtherTopic,
    /// The announced revision is not newer than the local one.
    NotNewer,
}

/// How an invalidation payload was classified.
#[derive(Debug, Clone, PartialEq)]
pub enum EventVerdict<'a> {
    /// A valid event for this topic, newer than the local revision. The driver
    /// may filter it (`should_refresh`) and then calls
    /// [`SyncCore::request_refresh`] with [`Origin::Event`].
    Candidate(EventRef<'a>),
    /// Nothing to do.
    Ignored(IgnoreReason),
    /// The payload breaks the protocol: report it and ignore it.
    Invalid(ProtocolError),
}

/// Who asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The initial refresh of `start`.
    Initial,
    /// A call to `refresh`.
    Manual,
    /// An invalidation announcing this revision.
    Event(Revision),
    /// A throttle or debounce timer.
    Timer,
}

/// What to do with a refresh request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDecision {
    /// No fetch is running: start the fetch loop. The request is answered
    /// when the cycle with this ticket completes.
    StartFetch(u64),
    /// A fetch is running; a follow-up is queued. Answered with this ticket.
    Coalesced(u64),
    /// Stopped: nothing happens and the request succeeds at once.
    Stopped,
}

/// What to do with a validated snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyDecision {
    /// Apply it, then report [`SyncCore::applied`] or the failure.
    Apply,
    /// Not newer than the local revision: skip.
    Stale,
    /// Stopped: drop it.
    Discard,
}

/// What happens when a fetch cycle ends.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleEnd {
    /// Requests with a ticket up to this one are answered.
    pub completed: u64,
    /// Fetch again (a follow-up was queued, or the snapshot was older than an
    /// announced revision).
    pub again: bool,
    /// `Some` when this cycle was the initial refresh of `start`: its outcome.
    pub start_outcome: Option<Result<(), SyncError>>,
}

/// The engine's decision state for one window and one topic.
#[derive(Debug, Clone)]
pub struct SyncCore {
    topic: String,
    lifecycle: Lifecycle,
    local: Revision,
    applied_any: bool,
    announced: Option<Revision>,
    fetching: bool,
    follow_up: bool,
    requested: u64,
    covers: u64,
    initial_ticket: Option<u64>,
    stale_refetches: u32,
    max_stale_refetches: u32,
    metrics: Metrics,
}

impl SyncCore {
    /// A core for `topic`. After a snapshot older than an announced revision
    /// it fetches again at most `max_stale_refetches` times in a row.
    pub fn new(topic: impl Into<String>, max_stale_refetches: u32) -> Self {
        Self {
            topic: topic.into(),
            lifecycle: Lifecycle::Idle,
            local: Revision::ZERO,
            applied_any: false,
            announced: None,
            fetching: false,
            follow_up: false,
            requested: 0,
            covers: 0,
            initial_ticket: None,
            stale_refetches: 0,
            max_stale_refetches,
            metrics: Metrics::default(),
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The lifecycle state.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The last applied revision (`0` before the first apply).
    pub fn local_revision(&self) -> Revision {
        self.local
    }

    /// Whether any snapshot has been applied.
    pub fn applied_any(&self) -> bool {
        self.applied_any
    }

    /// The highest revision announced by an accepted event.
    #[cfg(test)]
    pub fn announced(&self) -> Option<Revision> {
        self.announced
    }

    /// Whether a fetch cycle is running.
    pub fn is_fetching(&self) -> bool {
        self.fetching
    }

    /// The counters, with `lag` computed now.
    pub fn metrics(&self) -> Metrics {
        let mut m = self.metrics;
        m.lag = self
            .announced
            .map_or(0, |a| a.get().saturating_sub(self.local.get()));
        m
    }

    /// `start` was called.
    pub fn start_requested(&mut self) -> StartDecision {
        match self.lifecycle {
            Lifecycle::Idle => {
                self.lifecycle = Lifecycle::Starting;
                StartDecision::Subscribe
            }
            Lifecycle::Starting => StartDecision::AwaitOngoing,
            Lifecycle::Running => StartDecision::AlreadyRunning,
            Lifecycle::Stopped => StartDecision::Reject(SyncError::Stopped),
        }
    }

    /// The subscription is active. Returns the initial refresh request, or
    /// `None` when `stop` came first (the driver then drops the subscription
    /// and fails `start`).
    pub fn subscribed(&mut self) -> Option<RequestDecision> {
        if self.lifecycle != Lifecycle::Starting {
            return None;
        }
        let decision = self.request_refresh(Origin::Initial);
        let ticket = match decision {
            RequestDecision::StartFetch(t) | RequestDecision::Coalesced(t) => t,
            RequestDecision::Stopped => return None,
        };
        self.initial_ticket = Some(ticket);
        Some(decision)
    }

    /// Subscribing failed: back to idle so a later `start` can try again.
    pub fn subscribe_failed(&mut self) {
        if self.lifecycle == Lifecycle::Starting {
            self.lifecycle = Lifecycle::Idle;
        }
    }

    /// `stop` was called. Returns `true` the first time (the driver then
    /// unsubscribes and cancels timers and fetches).
    pub fn stop(&mut self) -> bool {
        if self.lifecycle == Lifecycle::Stopped {
            return false;
        }
        self.lifecycle = Lifecycle::Stopped;
        self.follow_up = false;
        true
    }

    /// Classifies a raw invalidation payload.
    pub fn classify<'a>(&mut self, payload: &'a Value) -> EventVerdict<'a> {
        if !matches!(self.lifecycle, Lifecycle::Starting | Lifecycle::Running) {
            return EventVerdict::Ignored(IgnoreReason::NotListening);
        }
        let event = match EventRef::from_json(payload) {
            Ok(event) => event,
            Err(error) => {
                self.metrics.protocol_errors += 1;
                return EventVerdict::Invalid(error);
            }
        };
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

    /// A snapshot payload failed validation (counted in the metrics).
    pub fn snapshot_invalid(&mut self) {
        self.metrics.protocol_errors += 1;
    }

    /// Asks for a refresh.
    pub fn request_refresh(&mut self, origin: Origin) -> RequestDecision {
        if self.lifecycle == Lifecycle::Stopped {
            return RequestDecision::Stopped;
        }
        if let Origin::Event(revision) = origin {
            self.note_announced(revision);
        }
        self.requested += 1;
        if self.fetching {
            self.metrics.coalesced += 1;
            self.follow_up = true;
            RequestDecision::Coalesced(self.requested)
        } else {
            self.fetching = true;
            RequestDecision::StartFetch(self.requested)
        }
    }

    /// Records a revision announced by an accepted event without requesting
    /// a refresh yet (a throttled event does this; the refresh follows).
    pub fn note_announced(&mut self, revision: Revision) {
        if self.announced.is_none_or(|a| revision > a) {
            self.announced = Some(revision);
            self.stale_refetches = 0;
        }
    }

    /// A fetch is about to begin (each turn of the fetch loop).
    pub fn begin_fetch(&mut self) {
        self.covers = self.requested;
        self.follow_up = false;
        self.metrics.fetches += 1;
    }

    /// A valid snapshot at `revision` arrived: apply, skip or discard.
    pub fn snapshot_ready(&mut self, revision: Revision) -> ApplyDecision {
        if self.lifecycle == Lifecycle::Stopped {
            ApplyDecision::Discard
        } else if self.applied_any && revision <= self.local {
            self.metrics.stale_skips += 1;
            ApplyDecision::Stale
        } else {
            ApplyDecision::Apply
        }
    }

    /// The applier accepted the snapshot at `revision`.
    pub fn applied(&mut self, revision: Revision) {
        self.local = revision;
        self.applied_any = true;
        self.stale_refetches = 0;
        self.metrics.applies += 1;
    }

    /// The fetch cycle ended with `outcome` (`Ok` for applied, stale or
    /// discarded; the error otherwise). Decides whether to fetch again.
    pub fn finish_fetch(&mut self, outcome: Result<(), SyncError>) -> CycleEnd {
        let mut completed = self.covers;
        let mut start_outcome = None;
        if self
            .initial_ticket
            .is_some_and(|initial| initial <= completed)
        {
            self.initial_ticket = None;
            let result = match (&outcome, self.lifecycle) {
                (_, Lifecycle::Stopped) => Err(SyncError::StoppedDuringStart),
                (Err(e), _) => Err(e.clone()),
                (Ok(()), _) => Ok(()),
            };
            match result {
                Ok(()) => self.lifecycle = Lifecycle::Running,
                Err(_) if self.lifecycle == Lifecycle::Starting => {
                    // Roll back: the driver unsubscribes; queued work is
                    // dropped and its requests answered with this failure.
                    self.lifecycle = Lifecycle::Idle;
                    self.follow_up = false;
                    completed = self.requested;
                }
                Err(_) => {}
            }
            start_outcome = Some(result);
        }
        let again = if self.lifecycle == Lifecycle::Stopped {
            false
        } else if self.follow_up {
            true
        } else if outcome.is_ok() && self.behind_announced() {
            if self.stale_refetches < self.max_stale_refetches {
                self.stale_refetches += 1;
                true
            } else {
                false
            }
        } else {
            false
        };
        if !again {
            self.fetching = false;
            // A start whose initial refresh was queued behind this fetch (a
            // `refresh` called before `start`) loses its follow-up to `stop`:
            // answer it now, or it would wait forever.
            if self.lifecycle == Lifecycle::Stopped && self.initial_ticket.take().is_some() {
                start_outcome = Some(Err(SyncError::StoppedDuringStart));
            }
        }
        CycleEnd {
            completed,
            again,
            start_outcome,
        }
    }

    fn behind_announced(&self) -> bool {
        self.announced
            .is_some_and(|a| a > self.local || !self.applied_any)
    }
}

#[cfg(test)]
mod tests;
