//! What the state machine answers: the decisions and effects the driver
//! carries out.

use tokio::time::Instant;

use crate::error::{ErrorContext, SyncError};
use crate::protocol::EventRef;

/// An error the driver both reports (to the log and the `on_error` hook)
/// and returns to a caller.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    /// What the caller gets.
    pub(crate) error: SyncError,
    /// What is reported.
    pub(crate) report: ErrorContext,
}

/// What `start` should do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StartDecision {
    /// Subscribe now for start attempt `n`, then report
    /// [`Machine::subscribed`](super::Machine::subscribed) or
    /// [`Machine::subscribe_failed`](super::Machine::subscribe_failed).
    Subscribe(u64),
    /// Already running: nothing to do.
    AlreadyRunning,
    /// Start attempt `n` is in progress: wait for its outcome.
    AwaitOngoing(u64),
    /// Refuse.
    Reject(Box<Failure>),
}

/// What to do once subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subscribed {
    /// Keep the subscription; the initial refresh was requested.
    Refresh(RequestDecision),
    /// `stop` came first: unsubscribe; the start failed.
    Unsubscribe,
}

/// Why an invalidation did not lead to a refresh request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IgnoreReason {
    /// The engine is not listening (idle or stopped).
    NotListening,
    /// The event is for another topic.
    OtherTopic,
    /// The announced position is not newer than the local one.
    NotNewer,
}

/// How an invalidation payload was classified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EventVerdict<'a> {
    /// A valid event for this topic, newer than the local position. The
    /// driver may filter it (`should_refresh`) and then calls
    /// [`Machine::accept`](super::Machine::accept).
    Candidate(EventRef<'a>),
    /// Nothing to do.
    Ignored(IgnoreReason),
    /// The payload breaks the protocol: report this.
    Invalid(Box<ErrorContext>),
}

/// Who asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The initial refresh of `start`.
    Initial,
    /// A call to `refresh`.
    Manual,
    /// An invalidation announcing this position.
    Event(crate::epoch::Position),
    /// A throttle or debounce timer.
    Timer,
}

/// What to do with a refresh request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestDecision {
    /// No fetch is running: start the fetch loop. The request is answered
    /// when the cycle with this ticket completes.
    StartFetch(u64),
    /// A fetch is running; a follow-up is queued. Answered with this ticket.
    Coalesced(u64),
    /// Stopped: nothing happens and the request succeeds at once.
    Stopped,
}

impl RequestDecision {
    /// Whether the fetch loop must be started.
    pub(crate) fn starts_fetch(self) -> bool {
        matches!(self, Self::StartFetch(_))
    }
}

/// What an accepted event or a timer asks of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Wake {
    /// Start the fetch loop.
    pub(crate) fetch: bool,
    /// Arm the timer at this instant, replacing the one armed (if any).
    pub(crate) timer: Option<Instant>,
}

/// What to do with a validated snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplyDecision {
    /// Apply it, then report [`Machine::applied`](super::Machine::applied)
    /// or the failure.
    Apply,
    /// Not newer than the local position: skip.
    Stale,
    /// Stopped: drop it.
    Discard,
}

/// What happens when a fetch cycle ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CycleEnd {
    /// Requests with a ticket up to this one are answered.
    pub(crate) completed: u64,
    /// Fetch again (a follow-up was queued, or the snapshot was older than an
    /// announced revision).
    pub(crate) again: bool,
    /// `Some` when this cycle answered a start: its outcome.
    pub(crate) start_outcome: Option<Result<(), SyncError>>,
    /// The start failed: unsubscribe (roll back, LIFE-4).
    pub(crate) unsubscribe: bool,
}

/// How one fetch cycle went, as the driver saw it.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// `stop` cancelled the fetch in flight.
    Cancelled,
    /// The provider failed.
    Failed(crate::error::PortError),
    /// The snapshot broke the protocol; its revision, when readable.
    Invalid(
        crate::protocol::ProtocolError,
        Option<crate::revision::Revision>,
    ),
    /// Not newer, or stopped: not applied.
    Skipped,
    /// The snapshot at this position was applied.
    Applied(crate::epoch::Position),
    /// The applier failed on the snapshot at this position.
    ApplyFailed(crate::epoch::Position, crate::error::PortError),
}
