//! The async driver: carries out the decisions of the crate's sans-IO
//! state machine on tokio.
//!
//! A [`RevisionSync`] handle owns one topic in one window. The invalidation
//! handler it installs is synchronous and cheap: it validates the payload
//! without a lock, settles an ignored or coalesced event on the gate the
//! machine last published (`hot`, `handler`), and takes the machine's short
//! lock only for what changes it — at most asking for the fetch loop, a
//! task that fetches, validates, gates and applies until no request is
//! left. A burst of events therefore costs O(1) memory and at most one
//! queued refresh. Every decision — what to fetch, apply, report, when to
//! unsubscribe or arm a timer — is the machine's; the driver performs the
//! I/O and reads the time from the runtime the engine was started on.

mod core;
mod driver;
mod handler;
mod hot;

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::epoch::Position;
use crate::error::{ErrorContext, SyncError};
use crate::machine::{
    Lifecycle, Machine, Metrics, Origin, RequestDecision, StartDecision, Subscribed,
};
use crate::ports::{InvalidationSubscriber, SnapshotApplier, SnapshotProvider};
use crate::protocol::EventRef;
use crate::revision::Revision;
use crate::throttle::Throttle;

use self::driver::{CancelledStart, Inner, guarded};
pub use self::driver::{ErrorHook, RefreshFilter};

/// The default bound on refetches after a snapshot older than an announced
/// revision.
pub const DEFAULT_MAX_STALE_REFETCHES: u32 = 3;

/// Builds a [`RevisionSync`]. Obtain one from [`RevisionSync::builder`].
pub struct RevisionSyncBuilder<T> {
    topic: String,
    subscriber: Arc<dyn InvalidationSubscriber>,
    provider: Arc<dyn SnapshotProvider>,
    applier: Arc<dyn SnapshotApplier<T>>,
    should_refresh: Option<RefreshFilter>,
    on_error: Option<ErrorHook>,
    throttle: Option<Throttle>,
    max_stale_refetches: u32,
}

impl<T: DeserializeOwned + Send + 'static> RevisionSyncBuilder<T> {
    /// Only events for which `filter` returns `true` trigger a refresh (for
    /// example, to ignore changes this window made itself by `sourceId`).
    pub fn should_refresh(
        mut self,
        filter: impl Fn(&EventRef<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.should_refresh = Some(Arc::new(filter));
        self
    }

    /// Calls `hook` for every reported error (besides logging it with
    /// `tracing`). A panic in the hook is caught and logged.
    pub fn on_error(mut self, hook: impl Fn(&ErrorContext) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Spaces out event-triggered refreshes. `stop` cancels pending timers.
    pub fn throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// How many times in a row to refetch when a snapshot is older than a
    /// revision an event announced (default
    /// [`DEFAULT_MAX_STALE_REFETCHES`]; `0` turns it off).
    pub fn max_stale_refetches(mut self, n: u32) -> Self {
        self.max_stale_refetches = n;
        self
    }

    /// Builds the handle. Nothing happens until `start` or `refresh`.
    pub fn build(self) -> RevisionSync<T> {
        let machine = Machine::new(self.topic, self.max_stale_refetches, self.throttle);
        RevisionSync {
            inner: Arc::new(Inner::new(
                machine,
                self.subscriber,
                self.provider,
                self.applier,
                self.should_refresh,
                self.on_error,
            )),
        }
    }
}

/// Keeps one topic of one window in sync with the source of truth.
///
/// `start` subscribes, then fetches and applies the first snapshot;
/// afterwards every valid invalidation newer than the local revision
/// triggers a (coalesced) refresh. `stop` ends it for good.
///
/// ```
/// use std::sync::Arc;
/// use serde_json::json;
/// use state_sync::{RevisionSync, appliers::WatchApplier};
/// # use futures::future::BoxFuture;
/// # use state_sync::{InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider, Subscription};
/// # struct NoEvents;
/// # impl InvalidationSubscriber for NoEvents {
/// #     fn subscribe(&self, _: InvalidationHandler) -> BoxFuture<'_, Result<Subscription, PortError>> {
/// #         Box::pin(async { Ok(Subscription::noop()) })
/// #     }
/// # }
/// # struct Fixed;
/// # impl SnapshotProvider for Fixed {
/// #     fn get_snapshot(&self) -> BoxFuture<'_, Result<serde_json::Value, PortError>> {
/// #         Box::pin(async { Ok(json!({"revision": "7", "data": {"theme": "dark"}})) })
/// #     }
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), state_sync::SyncError> {
/// let (applier, state) = WatchApplier::<serde_json::Value>::new();
/// let sync = RevisionSync::builder("settings", NoEvents, Fixed, applier)
///     .on_error(|ctx| eprintln!("sync error: {ctx}"))
///     .build();
/// sync.start().await?;
/// assert_eq!(sync.local_revision().get(), 7);
/// assert_eq!(state.borrow().as_ref().map(|s| s.data["theme"].clone()), Some(json!("dark")));
/// sync.stop();
/// # Ok(())
/// # }
/// ```
pub struct RevisionSync<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for RevisionSync<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for RevisionSync<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.inner.driver.lock();
        f.debug_struct("RevisionSync")
            .field("topic", &d.machine.topic())
            .field("lifecycle", &d.machine.lifecycle())
            .field("local_revision", &d.machine.local_revision())
            .finish()
    }
}

impl<T: DeserializeOwned + Send + 'static> RevisionSync<T> {
    /// Starts building a handle for `topic` from the three ports.
    pub fn builder(
        topic: impl Into<String>,
        subscriber: impl InvalidationSubscriber,
        provider: impl SnapshotProvider,
        applier: impl SnapshotApplier<T>,
    ) -> RevisionSyncBuilder<T> {
        RevisionSyncBuilder {
            topic: topic.into(),
            subscriber: Arc::new(subscriber),
            provider: Arc::new(provider),
            applier: Arc::new(applier),
            should_refresh: None,
            on_error: None,
            throttle: None,
            max_stale_refetches: DEFAULT_MAX_STALE_REFETCHES,
        }
    }

    /// Subscribes, then fetches and applies the first snapshot (it applies
    /// whatever its revision, `"0"` included). Resolves once it is applied.
    ///
    /// Idempotent: a second call while running returns `Ok` and one during
    /// a start waits for it. Fails after `stop` ([`SyncError::Stopped`]), if
    /// subscribing fails (phase `subscribe`), or if the initial refresh fails
    /// (phases `getSnapshot`, `protocol`, `apply`); after a failure nothing
    /// stays subscribed and a later `start` may try again.
    pub async fn start(&self) -> Result<(), SyncError> {
        let inner = &self.inner;
        let attempt = match inner.with_runtime(|m| m.start_requested()) {
            StartDecision::Subscribe(attempt) => attempt,
            StartDecision::AlreadyRunning => return Ok(()),
            StartDecision::AwaitOngoing(attempt) => return inner.start_result(attempt).await,
            StartDecision::Reject(failure) => return Err(inner.fail(*failure)),
        };
        let mut cancelled = CancelledStart::new(inner, attempt);
        let (subscriber, handler) = (inner.subscriber.clone(), handler::handler(inner));
        // A panicking subscriber fails the start like a failing one (TR-3).
        let mut subscribing = Box::pin(async move {
            guarded("the subscriber", || subscriber.subscribe_payloads(handler)).await
        });
        let subscribed = tokio::select! {
            biased;
            subscribed = &mut subscribing => subscribed,
            () = inner.until_stopped() => {
                // Stopped while the transport is still subscribing: start
                // rejects now (LIFE-4), and whatever the call subscribes
                // when it completes is released at once.
                cancelled.disarm();
                tokio::spawn(async move {
                    if let Ok(subscription) = subscribing.await {
                        subscription.unsubscribe();
                    }
                });
                // The machine is stopped: it answers this start as such.
                let _ = inner.driver.lock().machine.subscribed(attempt);
                inner.changed.notify_waiters();
                return inner.start_result(attempt).await;
            }
        };
        cancelled.disarm();
        let subscription = match subscribed {
            Ok(subscription) => subscription,
            Err(port) => {
                let failure = inner.driver.lock().machine.subscribe_failed(attempt, port);
                inner.changed.notify_waiters();
                return Err(inner.fail(failure));
            }
        };
        let rejected = {
            let mut d = inner.driver.lock();
            match d.machine.subscribed(attempt) {
                Subscribed::Refresh(decision) => {
                    d.subscription = Some(subscription);
                    if decision.starts_fetch() {
                        Inner::spawn_fetch_loop(inner, &mut d);
                    }
                    None
                }
                Subscribed::Unsubscribe => Some(subscription),
            }
        };
        if let Some(subscription) = rejected {
            subscription.unsubscribe();
            inner.changed.notify_waiters();
        }
        inner.start_result(attempt).await
    }

    /// Stops for good: unsubscribes, cancels timers and any fetch in flight.
    /// Once it returns, the applier is never called again; await
    /// [`RevisionSync::stopped`] for a running apply to finish. Idempotent.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Resolves once `stop` was called and no fetch or apply is running any
    /// more.
    pub async fn stopped(&self) {
        self.inner
            .wait(|m| (m.lifecycle() == Lifecycle::Stopped && !m.is_fetching()).then_some(()))
            .await;
    }

    /// Fetches and applies the latest snapshot if it is newer.
    ///
    /// Coalesced: while a fetch is in flight, this queues at most one
    /// follow-up and resolves when that follow-up completes. Works before
    /// `start`; after `stop` it does nothing and returns `Ok`.
    pub async fn refresh(&self) -> Result<(), SyncError> {
        let inner = &self.inner;
        let ticket = {
            let mut d = inner.driver.lock();
            d.runtime
                .get_or_insert_with(tokio::runtime::Handle::current);
            match d.machine.request_refresh(Origin::Manual) {
                RequestDecision::Stopped => return Ok(()),
                RequestDecision::StartFetch(ticket) => {
                    Inner::spawn_fetch_loop(inner, &mut d);
                    ticket
                }
                RequestDecision::Coalesced(ticket) => ticket,
            }
        };
        inner.wait(|m| m.refresh_result(ticket)).await
    }

    /// The last applied revision (`0` before the first apply).
    pub fn local_revision(&self) -> Revision {
        self.inner.driver.lock().machine.local_revision()
    }

    /// The epoch and revision of the last apply ([`Position::ZERO`] before
    /// the first): what the gate compares with (GATE-6).
    pub fn local_position(&self) -> Position {
        self.inner.driver.lock().machine.local_position()
    }

    /// The lifecycle state.
    pub fn lifecycle(&self) -> Lifecycle {
        self.inner.driver.lock().machine.lifecycle()
    }

    /// Counters: fetches, applies, coalesced requests, stale skips, protocol
    /// errors, and the lag behind the highest announced revision.
    pub fn metrics(&self) -> Metrics {
        self.inner.driver.lock().machine.metrics()
    }

    /// Whether nothing is under way: no subscribe, no fetch or apply, no
    /// debounce or throttle timer armed. A test running on real time waits
    /// for this (and for its transport) to know a window has settled.
    pub fn is_idle(&self) -> bool {
        self.inner.driver.lock().machine.is_idle()
    }

    /// When the armed debounce or throttle timer fires, if one is armed.
    ///
    /// For code that runs the engine on a clock of its own and must know
    /// the next moment the engine wants time to reach — a conformance
    /// driver moving paused tokio time only where it is told to.
    pub fn timer_deadline(&self) -> Option<tokio::time::Instant> {
        self.inner.driver.lock().machine.timer_deadline()
    }

    /// The topic.
    pub fn topic(&self) -> String {
        self.inner.driver.lock().machine.topic().to_owned()
    }
}
