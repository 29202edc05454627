//! What the machine says about itself: where it is in its life, and its
//! counters.

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
