//! Driver tests: the [`RevisionSync`](state_sync::RevisionSync) handle on
//! tokio, with in-test doubles for the transport, the provider and the
//! applier (`support`), one module per concern.
//!
//! Every test runs on paused virtual time (current-thread runtime) except the
//! multi-thread smoke tests; nothing sleeps in real time.

mod support;

mod coalescing;
mod errors;
mod gate;
mod hot_path;
mod metrics;
mod multi_thread;
mod refresh;
mod retry;
mod stale_refetch;
mod start;
mod stop;
mod threads;
mod throttle;

/// What every module uses.
mod prelude {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
    pub(crate) use std::time::Duration;

    pub(crate) use serde_json::{Value, json};
    pub(crate) use state_sync::retry::RetryPolicy;
    pub(crate) use state_sync::{
        Lifecycle, Metrics, Phase, Revision, RevisionSync, SyncError, Throttle, with_retry,
    };
    pub(crate) use tokio::time::{Instant, timeout};

    pub(crate) use crate::support::{
        Gate, Harness, LONG, Log, Mode, RealWithin, Recorder, Step, TOPIC, Within, alive_tasks,
        deadlock_guard, event, event_from, ms, settle,
    };

    pub(crate) fn rev(n: u64) -> Revision {
        Revision::new(n)
    }
}
