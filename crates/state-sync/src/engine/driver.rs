//! What the handle shares with its tasks: the machine behind one lock, the
//! ports, and the work that carries the machine's decisions out — the
//! invalidation handler, the fetch loop, the throttle timer and the error
//! reports.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::ReentrantMutex;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::core::{Core, CoreGuard, Driver};
use crate::error::{ErrorContext, PortError, SyncError};
use crate::machine::{ApplyDecision, EventVerdict, Failure, Fetched, Machine, Wake};
use crate::ports::{InvalidationSubscriber, SnapshotApplier, SnapshotProvider, panic_message};
use crate::protocol::{EventRef, ProtocolError, SnapshotEnvelope};
use crate::revision::Revision;

/// Decides whether a valid, newer event for this topic should refresh.
pub type RefreshFilter = Arc<dyn Fn(&EventRef<'_>) -> bool + Send + Sync>;
/// Receives every error the engine reports.
pub type ErrorHook = Arc<dyn Fn(&ErrorContext) + Send + Sync>;

pub(super) struct Inner<T> {
    /// The driver behind its lock, and the hot path's copy of the gate.
    pub(super) driver: Core,
    /// Held while checking "not stopped" and invoking the applier, so that
    /// once `stop` returns no apply can begin. Re-entrant: an applier may call
    /// `stop` itself.
    apply_gate: ReentrantMutex<()>,
    pub(super) subscriber: Arc<dyn InvalidationSubscriber>,
    provider: Arc<dyn SnapshotProvider>,
    applier: Arc<dyn SnapshotApplier<T>>,
    pub(super) should_refresh: Option<RefreshFilter>,
    on_error: Option<ErrorHook>,
    /// Cancels a fetch in flight.
    stopping: watch::Sender<bool>,
    /// Wakes `start`, `refresh` and `stopped` waiters to ask the machine
    /// again.
    pub(super) changed: Notify,
}

impl<T: DeserializeOwned + Send + 'static> Inner<T> {
    pub(super) fn new(
        machine: Machine,
        subscriber: Arc<dyn InvalidationSubscriber>,
        provider: Arc<dyn SnapshotProvider>,
        applier: Arc<dyn SnapshotApplier<T>>,
        should_refresh: Option<RefreshFilter>,
        on_error: Option<ErrorHook>,
    ) -> Self {
        Self {
            driver: Core::new(Driver::new(machine)),
            apply_gate: ReentrantMutex::new(()),
            subscriber,
            provider,
            applier,
            should_refresh,
            on_error,
            stopping: watch::Sender::new(false),
            changed: Notify::new(),
        }
    }

    /// Runs `f` on the machine, first taking note of the caller's runtime
    /// (called from `start`, inside it).
    pub(super) fn with_runtime<R>(&self, f: impl FnOnce(&mut Machine) -> R) -> R {
        let mut d = self.driver.lock();
        d.runtime.get_or_insert_with(Handle::current);
        f(&mut d.machine)
    }

    /// Resolves once `stop` was called.
    pub(super) async fn until_stopped(&self) {
        let mut stopping = self.stopping.subscribe();
        // `self` holds the sender, so the channel outlives the wait.
        let _ = stopping.wait_for(|stopped| *stopped).await;
    }

    /// Waits until `answer` gives an answer from the machine.
    pub(super) async fn wait<R>(&self, answer: impl Fn(&Machine) -> Option<R>) -> R {
        loop {
            // Registered before asking: a change after the question wakes it.
            let changed = self.changed.notified();
            if let Some(r) = answer(&self.driver.lock().machine) {
                return r;
            }
            changed.await;
        }
    }

    /// The outcome of start attempt `attempt`.
    pub(super) async fn start_result(&self, attempt: u64) -> Result<(), SyncError> {
        self.wait(|m| m.start_result(attempt)).await
    }

    /// An invalid payload: the machine counts and reports it, if listening.
    pub(super) fn invalid(&self, error: ProtocolError, payload: &Value) {
        let verdict = self.driver.lock().machine.invalid(error, payload);
        if let EventVerdict::Invalid(report) = verdict {
            self.deliver(*report);
        }
    }

    /// The `should_refresh` filter panicked on `event` (GATE-4).
    pub(super) fn filter_panicked(&self, event: &EventRef<'_>, payload: &Value, panic: &str) {
        let report = self
            .driver
            .lock()
            .machine
            .filter_panicked(event, payload, panic);
        self.deliver(report);
    }

    /// A candidate the gate could not settle: the machine decides, under
    /// its lock, and has the last word (the gate may have moved).
    pub(super) fn request(this: &Arc<Self>, event: EventRef<'_>) {
        let mut d = this.driver.lock();
        if !matches!(d.machine.gate(event), EventVerdict::Candidate(_)) {
            return;
        }
        let Driver {
            machine, runtime, ..
        } = &mut *d;
        let wake = machine.accept(event.position(), || now(runtime.as_ref()));
        if !Self::carry_out(this, &mut d, wake) {
            let report = d.machine.timer_unavailable(event.revision);
            drop(d);
            this.deliver(report);
        }
    }

    /// Starts the fetch loop and arms the timer as `wake` says. Returns
    /// `false` when the timer could not be armed (no runtime).
    fn carry_out(this: &Arc<Self>, d: &mut CoreGuard<'_>, wake: Wake) -> bool {
        if wake.fetch {
            Self::spawn_fetch_loop(this, d);
        }
        match wake.timer {
            Some(at) => Self::arm_timer(this, d, at),
            None => true,
        }
    }

    /// Replaces the timer with one firing at `at`.
    fn arm_timer(this: &Arc<Self>, d: &mut Driver, at: Instant) -> bool {
        if let Some(old) = d.timer.take() {
            old.abort();
        }
        let Some(runtime) = d.runtime.clone() else {
            return false;
        };
        let weak = Arc::downgrade(this);
        d.timer = Some(runtime.spawn(async move {
            let mut at = at;
            loop {
                tokio::time::sleep_until(at).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut d = inner.driver.lock();
                let wake = d.machine.timer_fired(Instant::now());
                if wake.fetch {
                    Self::spawn_fetch_loop(&inner, &mut d);
                }
                match wake.timer {
                    Some(next) => at = next,
                    None => return,
                }
            }
        }));
        true
    }

    /// Starts the fetch loop (the machine decided one must run).
    pub(super) fn spawn_fetch_loop(this: &Arc<Self>, d: &mut Driver) {
        let runtime = d.runtime.get_or_insert_with(Handle::current).clone();
        let inner = this.clone();
        runtime.spawn(async move { inner.fetch_loop().await });
    }

    async fn fetch_loop(self: Arc<Self>) {
        self.driver.lock().machine.begin_fetch();
        loop {
            let fetched = self.fetch_once().await;
            let (end, failure, rollback) = {
                let mut d = self.driver.lock();
                let (end, failure) = d.machine.end_cycle(fetched);
                let rollback = if end.unsubscribe {
                    d.subscription.take()
                } else {
                    None
                };
                (end, failure, rollback)
            };
            if let Some(failure) = failure {
                self.deliver(failure.report);
            }
            if let Some(subscription) = rollback {
                subscription.unsubscribe();
            }
            self.changed.notify_waiters();
            if !end.again {
                return;
            }
        }
    }

    /// One fetch, validation, gate and apply.
    async fn fetch_once(&self) -> Fetched {
        let mut stopping = self.stopping.subscribe();
        let fetched = tokio::select! {
            biased;
            _ = stopping.wait_for(|s| *s) => return Fetched::Cancelled,
            fetched = guarded("the snapshot provider", || self.provider.get_snapshot()) => fetched,
        };
        let raw = match fetched {
            Ok(raw) => raw,
            Err(port) => return Fetched::Failed(port),
        };
        let snapshot_revision = raw
            .get("revision")
            .and_then(|r| Revision::from_json(r).ok());
        let envelope = match SnapshotEnvelope::<T>::from_json(raw) {
            Ok(envelope) => envelope,
            Err(protocol) => return Fetched::Invalid(protocol, snapshot_revision),
        };
        let position = envelope.position();
        let applying = {
            let _gate = self.apply_gate.lock();
            // Decide first: the machine's lock must not be held while the
            // applier runs, or an applier that calls `stop` (or reads the
            // handle) would deadlock.
            let decision = self.driver.lock().machine.snapshot_ready(position);
            match decision {
                ApplyDecision::Apply => {
                    Some(guarded("the applier", || self.applier.apply(envelope)))
                }
                ApplyDecision::Stale | ApplyDecision::Discard => None,
            }
        };
        match applying {
            None => Fetched::Skipped,
            Some(applying) => match applying.await {
                Ok(()) => Fetched::Applied(position),
                Err(port) => Fetched::ApplyFailed(position, port),
            },
        }
    }
}

impl<T> Inner<T> {
    /// `stop`: the machine decides; the driver cancels and unsubscribes.
    pub(super) fn stop(&self) {
        let (subscription, timer) = {
            let mut d = self.driver.lock();
            if !d.machine.stop() {
                return;
            }
            (d.subscription.take(), d.timer.take())
        };
        self.stopping.send_replace(true);
        self.changed.notify_waiters();
        if let Some(timer) = timer {
            timer.abort();
        }
        if let Some(subscription) = subscription {
            subscription.unsubscribe();
        }
        // Wait for an apply invocation that already passed its "not stopped"
        // check on another thread; re-entrant when called from the applier.
        drop(self.apply_gate.lock());
    }

    /// Reports `failure` and hands back the error for the caller.
    pub(super) fn fail(&self, failure: Failure) -> SyncError {
        self.deliver(failure.report);
        failure.error
    }

    /// Logs a report and hands it to the hook, once (ERR-2, ERR-3).
    fn deliver(&self, ctx: ErrorContext) {
        tracing::warn!(
            phase = ctx.phase.as_str(),
            topic = %ctx.topic,
            local_revision = ?ctx.local_revision,
            "state-sync: {}",
            ctx.message
        );
        if let Some(hook) = &self.on_error
            && let Err(panic) = catch_unwind(AssertUnwindSafe(|| hook(&ctx)))
        {
            tracing::error!(
                phase = ctx.phase.as_str(),
                "state-sync: on_error hook panicked: {}",
                panic_message(&*panic)
            );
        }
    }
}

/// The engine's clock: that of its runtime, whichever thread asks.
fn now(runtime: Option<&Handle>) -> Instant {
    let _entered = runtime.map(Handle::enter);
    Instant::now()
}

/// Rolls back a `start` whose future is dropped while subscribing, as a
/// failed subscribe would be; otherwise the machine would stay `Starting`
/// and every later `start` would wait for an outcome that never comes.
pub(super) struct CancelledStart<'a, T> {
    inner: &'a Inner<T>,
    attempt: u64,
    armed: bool,
}

impl<'a, T> CancelledStart<'a, T> {
    pub(super) fn new(inner: &'a Inner<T>, attempt: u64) -> Self {
        Self {
            inner,
            attempt,
            armed: true,
        }
    }

    /// Subscribing finished: nothing to roll back.
    pub(super) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl<T> Drop for CancelledStart<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.inner
                .driver
                .lock()
                .machine
                .start_cancelled(self.attempt);
            self.inner.changed.notify_waiters();
        }
    }
}

/// Runs a port call so that a panic, while building its future or while it
/// runs, becomes a [`PortError`] instead of killing the fetch loop (which
/// would leave the engine wedged "fetching" forever).
pub(super) fn guarded<'a, X: Send + 'a>(
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
