//! The fault layer: decorators of the port traits that drop, duplicate,
//! reorder and delay events; fail, hang, delay, stale or replace
//! snapshots; cancel fetches in flight; fail and slow applies; fail
//! subscribes; and, on the backend side, fail the source of truth itself
//! or make it serve raw payloads. Every random choice comes from
//! the window's seed, so a case replays exactly.
//!
//! The layer records nothing: what it does goes out as an [`Injected`]
//! note to whoever composes it (the case's wiring), with the payloads it
//! acted on left unparsed. It spawns its delayed deliveries on the runtime
//! handle it was given, so a transport may call the handler from any thread.

mod backend;
mod holds;
mod pending;
mod plan;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use state_sync::ports::tree_handler;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, Payload, PayloadHandler, PortError,
    Revision, SnapshotApplier, SnapshotEnvelope, SnapshotProvider, Subscription,
};
use tokio::runtime::Handle;

pub(crate) use self::backend::BackendFaults;
pub(crate) use self::plan::FaultState;
use super::payload::{Owned, tree};

/// How long a reordered event is held back when no other event comes.
const HOLD_LIMIT: Duration = Duration::from_millis(10);

/// Something the fault layer did.
#[derive(Debug)]
pub(crate) enum Injected<'a> {
    /// A `subscribe` call failed.
    SubscribeFails,
    /// A `subscribe` call waits for a `release` step.
    SubscribeHeld,
    /// A held `subscribe` call was released.
    SubscribeReleased,
    /// An event was dropped.
    EventDropped(&'a Value),
    /// An event was held back, to be delivered after the next one.
    EventHeld(&'a Value),
    /// An event waits for a `release` step.
    EventHeldForRelease(&'a Value),
    /// A held event was released.
    EventReleased(&'a Value),
    /// A fetch will never answer.
    FetchHangs,
    /// A fetch waits for a `release` step.
    FetchHeld,
    /// A held fetch was released.
    FetchReleased,
    /// A fetch failed.
    FetchFails,
    /// A fetch was answered with this payload instead.
    FetchReplaced,
    /// A fetch was answered with the previous revision's snapshot.
    FetchStale,
    /// A fetch was given up while the backend worked on it.
    FetchCancelled,
    /// An apply was slowed down.
    ApplySlowed(Revision, Duration),
    /// An apply failed.
    ApplyFails(Revision),
}

/// Receives what the layer did.
pub(crate) type Notes = Arc<dyn Fn(Injected<'_>) + Send + Sync>;

/// The snapshot one revision before the current one of the window's topic,
/// for stale answers.
pub(crate) type PastSnapshot = Arc<dyn Fn() -> Option<Value> + Send + Sync>;

/// One window's fault layer: its settings, where its notes go, the runtime
/// its delayed work runs on, and where stale snapshots come from.
#[derive(Clone)]
pub(crate) struct Layer {
    pub(crate) state: Arc<FaultState>,
    pub(crate) notes: Notes,
    pub(crate) runtime: Handle,
    pub(crate) past: PastSnapshot,
    /// The case's backend faults (serving one request at a time).
    pub(crate) backend: Arc<BackendFaults>,
    /// The window's topic (what its requests ask the backend for).
    pub(crate) topic: Arc<str>,
}

impl Layer {
    /// `inner` with event and subscribe faults.
    pub(crate) fn subscriber(&self, inner: Arc<dyn InvalidationSubscriber>) -> FaultySubscriber {
        FaultySubscriber {
            inner,
            layer: self.clone(),
        }
    }

    /// `inner` with snapshot faults.
    pub(crate) fn provider(&self, inner: Arc<dyn SnapshotProvider>) -> FaultyProvider {
        FaultyProvider {
            inner,
            layer: self.clone(),
        }
    }

    /// `inner` with apply faults.
    pub(crate) fn applier(&self, inner: Arc<dyn SnapshotApplier<Value>>) -> FaultyApplier {
        FaultyApplier {
            inner,
            layer: self.clone(),
        }
    }
}

/// A subscriber whose events the layer perturbs.
pub(crate) struct FaultySubscriber {
    inner: Arc<dyn InvalidationSubscriber>,
    layer: Layer,
}

impl InvalidationSubscriber for FaultySubscriber {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    /// Payloads pass through as the transport carried them (text stays
    /// text); the ones the layer keeps for later are copied.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let fails = self.layer.state.subscribe_fails();
        let held = self.layer.state.holds.hold_subscribe();
        Box::pin(async move {
            if fails {
                (self.layer.notes)(Injected::SubscribeFails);
                return Err(PortError::new("injected subscribe failure"));
            }
            if let Some(held) = held {
                (self.layer.notes)(Injected::SubscribeHeld);
                // Released, or never: the call stays pending until dropped.
                if held.await.is_err() {
                    return futures::future::pending().await;
                }
                (self.layer.notes)(Injected::SubscribeReleased);
            }
            let closed = Arc::new(AtomicBool::new(false));
            let events = Events {
                layer: self.layer.clone(),
                engine: handler,
                closed: closed.clone(),
            };
            let perturbed: PayloadHandler =
                Arc::new(move |payload: Payload<'_>| events.receive(payload));
            let inner = self.inner.subscribe_payloads(perturbed).await?;
            Ok(Subscription::new(move || {
                // Delayed and held events die with the subscription.
                closed.store(true, Ordering::SeqCst);
                inner.unsubscribe();
            }))
        })
    }
}

/// One subscription's event path through the layer.
#[derive(Clone)]
struct Events {
    layer: Layer,
    engine: PayloadHandler,
    closed: Arc<AtomicBool>,
}

impl Events {
    fn receive(&self, payload: Payload<'_>) {
        let release = || -> holds::HeldEvent {
            let (events, kept) = (self.clone(), Owned::of(payload));
            Box::new(move || {
                (events.layer.notes)(Injected::EventReleased(&tree(&kept.as_payload())));
                events.forward(kept.as_payload());
            })
        };
        if self.layer.state.holds.hold_event(release) {
            (self.layer.notes)(Injected::EventHeldForRelease(&tree(&payload)));
            return;
        }
        let plan = self.layer.state.event_plan();
        if plan.drop {
            (self.layer.notes)(Injected::EventDropped(&tree(&payload)));
            return;
        }
        if plan.hold {
            (self.layer.notes)(Injected::EventHeld(&tree(&payload)));
            self.layer.state.hold(Owned::of(payload));
            // Released after the next event, or after a while if none comes.
            let (events, scheduled) = (self.clone(), self.layer.state.pending.schedule());
            self.layer.runtime.spawn(async move {
                let _scheduled = scheduled;
                tokio::time::sleep(HOLD_LIMIT).await;
                if let Some(held) = events.layer.state.release_held() {
                    events.forward(held.as_payload());
                }
            });
            return;
        }
        let copies = if plan.duplicate { 2 } else { 1 };
        let held = self.layer.state.release_held();
        match plan.delay {
            Some(delay) => {
                let (events, kept) = (self.clone(), Owned::of(payload));
                let scheduled = self.layer.state.pending.schedule();
                self.layer.runtime.spawn(async move {
                    let _scheduled = scheduled;
                    tokio::time::sleep(delay).await;
                    events.deliver(kept.as_payload(), copies, held.as_ref());
                });
            }
            None => self.deliver(payload, copies, held.as_ref()),
        }
    }

    fn deliver(&self, payload: Payload<'_>, copies: usize, held: Option<&Owned>) {
        for _ in 0..copies {
            self.forward(payload);
        }
        if let Some(held) = held {
            self.forward(held.as_payload());
        }
    }

    fn forward(&self, payload: Payload<'_>) {
        if !self.closed.load(Ordering::SeqCst) {
            (self.engine)(payload);
        }
    }
}

/// A provider whose fetches the layer perturbs.
pub(crate) struct FaultyProvider {
    inner: Arc<dyn SnapshotProvider>,
    layer: Layer,
}

impl SnapshotProvider for FaultyProvider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let plan = self.layer.state.fetch_plan();
        let notes = &self.layer.notes;
        Box::pin(async move {
            if plan.hang {
                notes(Injected::FetchHangs);
                let _kept = self.layer.state.pending.keep();
                return futures::future::pending().await;
            }
            if let Some(held) = plan.hold {
                notes(Injected::FetchHeld);
                // Released, or never: the fetch stays pending until cancelled.
                if held.await.is_err() {
                    return futures::future::pending().await;
                }
                notes(Injected::FetchReleased);
            }
            let _turn = self.layer.backend.turn().await;
            if plan.read_late
                && let Some(delay) = plan.delay
            {
                tokio::time::sleep(delay).await;
            }
            let result = if plan.cancel {
                match self.cancelled_in_flight().await {
                    Some(answer) => answer,
                    None => {
                        notes(Injected::FetchCancelled);
                        return Err(PortError::new(
                            "injected cancel: the window stopped waiting for its snapshot while the backend worked on it",
                        ));
                    }
                }
            } else {
                self.inner.get_snapshot().await
            };
            if !plan.read_late
                && let Some(delay) = plan.delay
            {
                tokio::time::sleep(delay).await;
            }
            if plan.fail {
                notes(Injected::FetchFails);
                return Err(PortError::new("injected snapshot failure"));
            }
            if let Some(payload) = plan.replace {
                notes(Injected::FetchReplaced);
                return Ok(payload);
            }
            if plan.stale
                && result.is_ok()
                && let Some(previous) = (self.layer.past)()
            {
                notes(Injected::FetchStale);
                return Ok(previous);
            }
            result
        })
    }
}

impl FaultyProvider {
    /// Asks the transport, and gives the request up (drops it) once it has
    /// reached the backend, before the backend answers it: `None`. `Some`
    /// with the answer if the transport answered without asking the
    /// backend.
    async fn cancelled_in_flight(&self) -> Option<Result<Value, PortError>> {
        let mut interception = self.layer.backend.intercept(&self.layer.topic);
        let mut request = self.inner.get_snapshot();
        let go = tokio::select! {
            biased;
            answer = &mut request => return Some(answer),
            Ok(go) = &mut interception.arrived => go,
        };
        drop(request);
        // Only now may the backend answer.
        let _ = go.send(());
        None
    }
}

/// An applier whose applies the layer fails or slows down.
pub(crate) struct FaultyApplier {
    inner: Arc<dyn SnapshotApplier<Value>>,
    layer: Layer,
}

impl SnapshotApplier<Value> for FaultyApplier {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        let plan = self.layer.state.apply_plan();
        let notes = &self.layer.notes;
        Box::pin(async move {
            let revision = snapshot.revision;
            if let Some(delay) = plan.delay {
                notes(Injected::ApplySlowed(revision, delay));
                tokio::time::sleep(delay).await;
            }
            if plan.fail {
                notes(Injected::ApplyFails(revision));
                return Err(PortError::new("injected apply failure"));
            }
            self.inner.apply(snapshot).await
        })
    }
}
