//! The async driver: carries out the decisions of the crate's sans-IO core
//! on tokio.
//!
//! A [`RevisionSync`] handle owns one topic in one window. The invalidation
//! handler it installs is synchronous and cheap: it validates the payload,
//! consults the core under a short lock and at most starts the fetch loop,
//! a task that fetches, validates, gates and applies until no request is
//! left. A burst of events therefore costs O(1) memory and at most one
//! queued refresh.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Weak};

use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::{Mutex, ReentrantMutex};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::core::{
    ApplyDecision, EventVerdict, Lifecycle, Metrics, Origin, RequestDecision, StartDecision,
    SyncCore,
};
use crate::error::{ErrorContext, Phase, PortError, SyncError};
use crate::ports::{
    InvalidationHandler, InvalidationSubscriber, SnapshotApplier, SnapshotProvider, Subscription,
    panic_message,
};
use crate::protocol::{EventRef, SnapshotEnvelope};
use crate::revision::Revision;
use crate::throttle::{Throttle, ThrottleState};

/// Decides whether a valid, newer event for this topic should refresh.
pub type RefreshFilter = Arc<dyn Fn(&EventRef<'_>) -> bool + Send + Sync>;
/// Receives every error the engine reports.
pub type ErrorHook = Arc<dyn Fn(&ErrorContext) + Send + Sync>;

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
        let (stop_tx, _) = watch::channel(false);
        let (progress_tx, _) = watch::channel(Progress::default());
        RevisionSync {
            inner: Arc::new(Inner {
                core: Mutex::new(State {
                    core: SyncCore::new(self.topic, self.max_stale_refetches),
                    subscription: None,
                    runtime: None,
                    throttle: self.throttle.map(ThrottleState::new),
                    timer: None,
                    timer_at: None,
                    loop_running: false,
                    start_attempt: 0,
                }),
                apply_gate: ReentrantMutex::new(()),
                subscriber: self.subscriber,
                provider: self.provider,
                applier: self.applier,
                should_refresh: self.should_refresh,
                on_error: self.on_error,
                stop_tx,
                progress_tx,
            }),
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
        let state = self.inner.core.lock();
        f.debug_struct("RevisionSync")
            .field("topic", &state.core.topic())
            .field("lifecycle", &state.core.lifecycle())
            .field("local_revision", &state.core.local_revision())
            .finish()
    }
}

struct Inner<T> {
    core: Mutex<State>,
    /// Held while checking "not stopped" and invoking the applier, so that
    /// once `stop` returns no apply can begin. Re-entrant: an applier may call
    /// `stop` itself.
    apply_gate: ReentrantMutex<()>,
    subscriber: Arc<dyn InvalidationSubscriber>,
    provider: Arc<dyn SnapshotProvider>,
    applier: Arc<dyn SnapshotApplier<T>>,
    should_refresh: Option<RefreshFilter>,
    on_error: Option<ErrorHook>,
    stop_tx: watch::Sender<bool>,
    progress_tx: watch::Sender<Progress>,
}

struct State {
    core: SyncCore,
    subscription: Option<Subscription>,
    runtime: Option<Handle>,
    throttle: Option<ThrottleState>,
    timer: Option<JoinHandle<()>>,
    timer_at: Option<Instant>,
    loop_running: bool,
    /// Numbers the attempts to start, so a waiter never takes the outcome of
    /// an earlier, failed attempt for its own.
    start_attempt: u64,
}

/// Published after every fetch cycle and whenever the fetch loop stops.
#[derive(Clone, Default)]
struct Progress {
    completed: u64,
    last: Option<Result<(), SyncError>>,
    start_outcome: Option<(u64, Result<(), SyncError>)>,
    loop_running: bool,
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
        let (decision, attempt) = {
            let mut state = inner.core.lock();
            state.runtime.get_or_insert_with(Handle::current);
            let decision = state.core.start_requested();
            if decision == StartDecision::Subscribe {
                state.start_attempt += 1;
            }
            (decision, state.start_attempt)
        };
        match decision {
            StartDecision::AlreadyRunning => return Ok(()),
            StartDecision::AwaitOngoing => return self.await_start(attempt).await,
            StartDecision::Reject(error) => {
                inner.report(Phase::Start, |_| {}, &error);
                return Err(error);
            }
            StartDecision::Subscribe => {}
        }

        let handler = Inner::handler(Arc::downgrade(inner));
        let mut cancelled = CancelledStart {
            inner,
            attempt,
            armed: true,
        };
        let subscribed = inner.subscriber.subscribe(handler).await;
        cancelled.armed = false;
        let subscription = match subscribed {
            Ok(subscription) => subscription,
            Err(port) => {
                inner.core.lock().core.subscribe_failed();
                let error = SyncError::Subscribe(port);
                inner.report(Phase::Subscribe, |_| {}, &error);
                inner.publish_start(attempt, Err(error.clone()));
                return Err(error);
            }
        };
        let decision = {
            let mut state = inner.core.lock();
            let decision = state.core.subscribed();
            if decision.is_some() {
                state.subscription = Some(subscription);
            } else {
                drop(state);
                subscription.unsubscribe();
            }
            decision
        };
        match decision {
            None => {
                let error = SyncError::StoppedDuringStart;
                inner.publish_start(attempt, Err(error.clone()));
                Err(error)
            }
            Some(decision) => {
                if let RequestDecision::StartFetch(_) = decision {
                    Inner::spawn_fetch_loop(inner);
                }
                self.await_start(attempt).await
            }
        }
    }

    async fn await_start(&self, attempt: u64) -> Result<(), SyncError> {
        let mut rx = self.inner.progress_tx.subscribe();
        let outcome = rx
            .wait_for(|p| p.start_outcome.as_ref().is_some_and(|(a, _)| *a == attempt))
            .await;
        match outcome {
            Ok(p) => p
                .start_outcome
                .as_ref()
                .map_or(Ok(()), |(_, outcome)| outcome.clone()),
            Err(_) => Err(SyncError::Abandoned("engine dropped")),
        }
    }

    /// Stops for good: unsubscribes, cancels timers and any fetch in flight.
    /// Once it returns, the applier is never called again; await
    /// [`RevisionSync::stopped`] for a running apply to finish. Idempotent.
    pub fn stop(&self) {
        let inner = &self.inner;
        let (subscription, timer) = {
            let mut state = inner.core.lock();
            if !state.core.stop() {
                return;
            }
            (state.subscription.take(), state.timer.take())
        };
        inner.stop_tx.send_replace(true);
        if let Some(timer) = timer {
            timer.abort();
        }
        if let Some(subscription) = subscription {
            subscription.unsubscribe();
        }
        // Wait for an apply invocation that already passed its "not stopped"
        // check on another thread; re-entrant when called from the applier.
        drop(inner.apply_gate.lock());
    }

    /// Resolves once `stop` was called and no fetch or apply is running any
    /// more.
    pub async fn stopped(&self) {
        let mut stop_rx = self.inner.stop_tx.subscribe();
        if stop_rx.wait_for(|s| *s).await.is_err() {
            return;
        }
        let mut rx = self.inner.progress_tx.subscribe();
        let _ = rx.wait_for(|p| !p.loop_running).await;
    }

    /// Fetches and applies the latest snapshot if it is newer.
    ///
    /// Coalesced: while a fetch is in flight, this queues at most one
    /// follow-up and resolves when that follow-up completes. Works before
    /// `start`; after `stop` it does nothing and returns `Ok`.
    pub async fn refresh(&self) -> Result<(), SyncError> {
        let inner = &self.inner;
        let decision = {
            let mut state = inner.core.lock();
            state.runtime.get_or_insert_with(Handle::current);
            state.core.request_refresh(Origin::Manual)
        };
        let ticket = match decision {
            RequestDecision::Stopped => return Ok(()),
            RequestDecision::StartFetch(ticket) => {
                Inner::spawn_fetch_loop(inner);
                ticket
            }
            RequestDecision::Coalesced(ticket) => ticket,
        };
        let mut rx = inner.progress_tx.subscribe();
        let outcome = rx
            .wait_for(|p| p.completed >= ticket || (!p.loop_running && inner.is_stopped()))
            .await;
        match outcome {
            Ok(p) if p.completed >= ticket => p.last.clone().unwrap_or(Ok(())),
            Ok(_) => Ok(()),
            Err(_) => Err(SyncError::Abandoned("engine dropped")),
        }
    }

    /// The last applied revision (`0` before the first apply).
    pub fn local_revision(&self) -> Revision {
        self.inner.core.lock().core.local_revision()
    }

    /// The lifecycle state.
    pub fn lifecycle(&self) -> Lifecycle {
        self.inner.core.lock().core.lifecycle()
    }

    /// Counters: fetches, applies, coalesced requests, stale skips, protocol
    /// errors, and the lag behind the highest announced revision.
    pub fn metrics(&self) -> Metrics {
        self.inner.core.lock().core.metrics()
    }

    /// The topic.
    pub fn topic(&self) -> String {
        self.inner.core.lock().core.topic().to_owned()
    }
}

impl<T: DeserializeOwned + Send + 'static> Inner<T> {
    fn is_stopped(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// The subscriber's handler. It holds only a weak reference, so a
    /// transport keeping the handler does not keep the engine alive.
    fn handler(weak: Weak<Self>) -> InvalidationHandler {
        Arc::new(move |payload: &Value| {
            if let Some(inner) = weak.upgrade() {
                Inner::on_invalidation(&inner, payload);
            }
        })
    }

    fn on_invalidation(this: &Arc<Self>, payload: &Value) {
        let mut state = this.core.lock();
        let event = match state.core.classify(payload) {
            EventVerdict::Candidate(event) => event,
            EventVerdict::Ignored(_) => return,
            EventVerdict::Invalid(error) => {
                let local = state
                    .core
                    .applied_any()
                    .then(|| state.core.local_revision());
                drop(state);
                let error = SyncError::Protocol(error);
                this.report(
                    Phase::Protocol,
                    |ctx| {
                        ctx.source_event = Some(payload.clone());
                        ctx.local_revision = local;
                    },
                    &error,
                );
                return;
            }
        };
        if let Some(filter) = &this.should_refresh {
            drop(state);
            let accepted = catch_unwind(AssertUnwindSafe(|| filter(&event)));
            match accepted {
                Ok(true) => state = this.core.lock(),
                Ok(false) => return,
                Err(panic) => {
                    this.report_message(
                        Phase::Invalidation,
                        format!("should_refresh panicked: {}", panic_message(&*panic)),
                        |ctx| {
                            ctx.event_revision = Some(event.revision);
                            ctx.source_event = Some(payload.clone());
                            ctx.source_id = event.source_id.map(str::to_owned);
                        },
                    );
                    return;
                }
            }
        }
        if let Some(throttle) = state.throttle.as_mut() {
            let step = throttle.on_event(Instant::now());
            // The announcement still counts even when the refresh waits.
            if step.fire {
                Self::request_from(this, &mut state, Origin::Event(event.revision));
            } else {
                state.core.note_announced(event.revision);
            }
            if let Some(at) = step.timer
                && !Self::arm_timer(this, &mut state, at)
            {
                drop(state);
                this.report_message(
                    Phase::Throttle,
                    "no tokio runtime to schedule the throttled refresh".to_owned(),
                    |ctx| ctx.event_revision = Some(event.revision),
                );
            }
        } else {
            Self::request_from(this, &mut state, Origin::Event(event.revision));
        }
    }

    fn request_from(this: &Arc<Self>, state: &mut State, origin: Origin) {
        if let RequestDecision::StartFetch(_) = state.core.request_refresh(origin) {
            Self::spawn_locked(this, state);
        }
    }

    fn spawn_fetch_loop(this: &Arc<Self>) {
        let mut state = this.core.lock();
        Self::spawn_locked(this, &mut state);
    }

    fn spawn_locked(this: &Arc<Self>, state: &mut State) {
        state.loop_running = true;
        this.progress_tx.send_modify(|p| p.loop_running = true);
        let runtime = state.runtime.get_or_insert_with(Handle::current).clone();
        let inner = this.clone();
        runtime.spawn(async move { inner.fetch_loop().await });
    }

    /// Makes sure a timer task fires at `at` (one task at most). Returns
    /// `false` when there is no runtime to run it on.
    fn arm_timer(this: &Arc<Self>, state: &mut State, at: Instant) -> bool {
        if state.timer.as_ref().is_some_and(|t| !t.is_finished()) && state.timer_at <= Some(at) {
            // The running timer fires earlier and re-arms itself as needed.
            return true;
        }
        if let Some(old) = state.timer.take() {
            old.abort();
        }
        let Some(runtime) = state.runtime.clone() else {
            return false;
        };
        state.timer_at = Some(at);
        let weak = Arc::downgrade(this);
        state.timer = Some(runtime.spawn(async move {
            let mut at = at;
            loop {
                tokio::time::sleep_until(at).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut state = inner.core.lock();
                let Some(throttle) = state.throttle.as_mut() else {
                    return;
                };
                let step = throttle.on_timer(Instant::now());
                if step.fire {
                    Self::request_from(&inner, &mut state, Origin::Timer);
                }
                match step.timer {
                    Some(next) => {
                        state.timer_at = Some(next);
                        at = next;
                    }
                    None => {
                        state.timer_at = None;
                        return;
                    }
                }
            }
        }));
        true
    }

    async fn fetch_loop(self: Arc<Self>) {
        loop {
            self.core.lock().core.begin_fetch();
            let outcome = self.fetch_once().await;
            let (end, attempt, rollback) = {
                let mut state = self.core.lock();
                let end = state.core.finish_fetch(outcome.clone());
                let failed_start = matches!(end.start_outcome, Some(Err(_)));
                // Roll back a failed start: nothing stays subscribed.
                let rollback = if failed_start {
                    state.subscription.take()
                } else {
                    None
                };
                (end, state.start_attempt, rollback)
            };
            if let Some(subscription) = rollback {
                subscription.unsubscribe();
            }
            let again = end.again;
            {
                // Publish under the core lock. Since `finish_fetch` (and
                // during the rollback's unsubscribe, which is user code) a
                // request may have started a new loop: it must not be
                // reported as finished, nor its newer progress overwritten.
                let mut state = self.core.lock();
                let running = again || state.core.is_fetching();
                self.progress_tx.send_modify(|p| {
                    if end.completed >= p.completed {
                        p.completed = end.completed;
                        p.last = Some(outcome);
                    }
                    if let Some(start) = end.start_outcome {
                        p.start_outcome = Some((attempt, start));
                    }
                    p.loop_running = running;
                });
                if !again {
                    state.loop_running = running;
                    return;
                }
            }
        }
    }

    /// One fetch, validation, gate and apply. Errors are reported here.
    async fn fetch_once(&self) -> Result<(), SyncError> {
        let mut stop_rx = self.stop_tx.subscribe();
        let fetched = tokio::select! {
            biased;
            _ = stop_rx.wait_for(|s| *s) => return Ok(()),
            fetched = guarded("the snapshot provider", || self.provider.get_snapshot()) => fetched,
        };
        let raw = match fetched {
            Ok(raw) => raw,
            Err(port) => {
                let (attempt, will_retry) = (port.attempts(), port.attempts().map(|_| false));
                let error = SyncError::GetSnapshot(port);
                self.report(
                    Phase::GetSnapshot,
                    |ctx| {
                        ctx.attempt = attempt;
                        ctx.will_retry = will_retry;
                    },
                    &error,
                );
                return Err(error);
            }
        };
        let snapshot_revision = raw
            .get("revision")
            .and_then(|r| Revision::from_json(r).ok());
        let envelope = match SnapshotEnvelope::<T>::from_json(raw) {
            Ok(envelope) => envelope,
            Err(protocol) => {
                self.core.lock().core.snapshot_invalid();
                let error = SyncError::Protocol(protocol);
                self.report(
                    Phase::Protocol,
                    |ctx| ctx.snapshot_revision = snapshot_revision,
                    &error,
                );
                return Err(error);
            }
        };
        let revision = envelope.revision;
        let applying = {
            let _gate = self.apply_gate.lock();
            // Decide first: the core lock must not be held while the applier
            // runs, or an applier that calls `stop` (or reads the handle)
            // would deadlock.
            let decision = self.core.lock().core.snapshot_ready(revision);
            match decision {
                ApplyDecision::Apply => {
                    Some(guarded("the applier", || self.applier.apply(envelope)))
                }
                ApplyDecision::Stale | ApplyDecision::Discard => None,
            }
        };
        let Some(applying) = applying else {
            return Ok(());
        };
        match applying.await {
            Ok(()) => {
                self.core.lock().core.applied(revision);
                Ok(())
            }
            Err(port) => {
                let error = SyncError::Apply(port);
                self.report(
                    Phase::Apply,
                    |ctx| ctx.snapshot_revision = Some(revision),
                    &error,
                );
                Err(error)
            }
        }
    }

    fn publish_start(&self, attempt: u64, outcome: Result<(), SyncError>) {
        self.progress_tx
            .send_modify(|p| p.start_outcome = Some((attempt, outcome)));
    }
}

/// Rolls back a `start` whose future is dropped while subscribing, as a
/// failed subscribe would be; otherwise the core would stay `Starting` and
/// every later `start` would wait for an outcome that never comes.
struct CancelledStart<'a, T> {
    inner: &'a Inner<T>,
    attempt: u64,
    armed: bool,
}

impl<T> Drop for CancelledStart<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.inner.core.lock().core.subscribe_failed();
            let outcome = Err(SyncError::Abandoned("start cancelled while subscribing"));
            self.inner
                .progress_tx
                .send_modify(|p| p.start_outcome = Some((self.attempt, outcome)));
        }
    }
}

impl<T> Inner<T> {
    fn report(&self, phase: Phase, fill: impl FnOnce(&mut ErrorContext), error: &SyncError) {
        self.report_message(phase, error.to_string(), |ctx| {
            ctx.error = Some(error.clone());
            fill(ctx);
        });
    }

    /// Logs an error and hands it to the hook, once.
    fn report_message(&self, phase: Phase, message: String, fill: impl FnOnce(&mut ErrorContext)) {
        let mut ctx = {
            let state = self.core.lock();
            let mut ctx = ErrorContext::new(phase, state.core.topic(), message);
            if state.core.applied_any() {
                ctx.local_revision = Some(state.core.local_revision());
            }
            ctx
        };
        fill(&mut ctx);
        tracing::warn!(
            phase = phase.as_str(),
            topic = %ctx.topic,
            local_revision = ?ctx.local_revision,
            "state-sync: {}",
            ctx.message
        );
        if let Some(hook) = &self.on_error
            && let Err(panic) = catch_unwind(AssertUnwindSafe(|| hook(&ctx)))
        {
            tracing::error!(
                phase = phase.as_str(),
                "state-sync: on_error hook panicked: {}",
                panic_message(&*panic)
            );
        }
    }
}

/// Runs a port call so that a panic, while building its future or while it
/// runs, becomes a [`PortError`] instead of killing the fetch loop (which
/// would leave the engine wedged "fetching" forever).
fn guarded<'a, X: Send + 'a>(
    what: &'static str,
    call: impl FnOnce() -> BoxFuture<'a, Result<X, PortError>>,
) -> BoxFuture<'a, Result<X, PortError>> {
    let panicked = move |panic: Box<dyn std::any::Any + Send>| {
        let message = format!("{what} panicked: {}", panic_message(&*panic));
        tracing::error!("state-sync: {message}");
        PortError::new(message)
    };
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(future) => Box::pin(
            AssertUnwindSafe(future)
                .catch_unwind()
                .map(move |outcome| outcome.unwrap_or_else(|panic| Err(panicked(panic)))),
        ),
        Err(panic) => Box::pin(futures::future::ready(Err(panicked(panic)))),
    }
}
