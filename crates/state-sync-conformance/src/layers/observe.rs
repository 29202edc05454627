//! The observation layer: decorators that record what passes between a
//! transport and an engine, and check the invariants that hold in every
//! case.
//!
//! It watches at two places, because a window's path has faults in the
//! middle: on the transport's side (what the transport itself does: nothing
//! may be delivered after unsubscribe, TR-2) and on the engine's side (what
//! the engine is given and does: subscriptions, deliveries, fetches,
//! applies, reported errors). It knows nothing of faults.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use serde_json::Value;
use state_sync::ports::{panic_message, tree_handler};
use state_sync::{
    BoxFuture, ErrorContext, EventRef, InvalidationHandler, InvalidationSubscriber, Payload,
    PayloadHandler, Phase, PortError, Revision, SnapshotApplier, SnapshotEnvelope,
    SnapshotProvider, Subscription,
};

use crate::activity::Activity;
use crate::failure::Failure;
use crate::plain_thread;
use crate::trace::Trace;

use super::ledger::Ledger;
use super::payload::tree;
use super::record::Record;

/// A short description of an invalidation payload for the trace.
pub(crate) fn describe(payload: &Value) -> String {
    match EventRef::from_json(payload) {
        Ok(e) => format!("event {}@{}", e.topic, e.revision),
        Err(_) => format!("garbage {}", state_sync::protocol::preview(payload, 60)),
    }
}

/// One window's observer: its name in the trace, its record, the trace,
/// and the case's account of the transport's work in flight.
#[derive(Clone)]
pub(crate) struct Observer {
    pub(crate) name: Arc<str>,
    pub(crate) record: Record,
    pub(crate) trace: Trace,
    pub(crate) activity: Activity,
    /// The case's bus ledger (TR-1, TR-4, TR-6).
    pub(crate) ledger: Arc<Ledger>,
    /// The window's topic.
    pub(crate) topic: Arc<str>,
    /// Called with each revision applied, after it is recorded.
    pub(crate) on_applied: Option<AppliedHook>,
}

/// What runs when a window has applied a revision (an `on_apply`
/// reaction), inside the apply.
pub(crate) type AppliedHook = Arc<dyn Fn(Revision) + Send + Sync>;

impl Observer {
    /// Notes `event` in the trace: a sign of the case's progress too.
    fn log(&self, event: impl Into<String>) {
        self.activity.progress();
        self.trace.log(&self.name, event);
    }

    /// Watches what the transport's subscriber delivers.
    pub(crate) fn transport_side(&self, inner: Arc<dyn InvalidationSubscriber>) -> TransportSide {
        TransportSide {
            inner,
            observer: self.clone(),
        }
    }

    /// The transport's provider, its requests counted as work in flight.
    pub(crate) fn transport_provider(&self, inner: Arc<dyn SnapshotProvider>) -> TransportProvider {
        TransportProvider {
            inner,
            observer: self.clone(),
        }
    }

    /// Watches what reaches the engine's subscriber.
    pub(crate) fn engine_side(&self, inner: Arc<dyn InvalidationSubscriber>) -> EngineSide {
        EngineSide {
            inner,
            observer: self.clone(),
        }
    }

    /// Counts and traces fetches.
    pub(crate) fn provider(&self, inner: Arc<dyn SnapshotProvider>) -> WatchedProvider {
        WatchedProvider {
            inner,
            observer: self.clone(),
        }
    }

    /// Checks every apply the engine asks for: never after stop, revisions
    /// strictly increasing.
    pub(crate) fn applier(&self, inner: Arc<dyn SnapshotApplier<Value>>) -> WatchedApplier {
        WatchedApplier {
            inner,
            observer: self.clone(),
        }
    }

    /// The end of the apply path: records what was applied.
    pub(crate) fn recorder(&self) -> Recorder {
        Recorder(self.clone())
    }

    /// Records a rule the engine broke in what it reported (through a
    /// driver): the case fails on `clause`, the driver is not to blame.
    pub(crate) fn engine_broke(&self, clause: &str, message: String) {
        self.log(format!("the engine broke {clause}: {message}"));
        self.record
            .lock()
            .violations
            .push(Failure::of(clause, message));
    }

    /// Records an error the engine reported.
    pub(crate) fn record_error(&self, ctx: &ErrorContext) {
        let from_event = ctx.phase == Phase::Protocol && ctx.source_event.is_some();
        {
            let mut rec = self.record.lock();
            rec.errors.push(ctx.clone());
            if from_event {
                rec.event_protocol_errors += 1;
            }
        }
        self.log(format!("error [{}] {}", ctx.phase, ctx.message));
    }
}

/// The transport's subscriber, watched: a delivery after its subscription
/// ended and the transport settled is a violation (TR-2). One that races
/// with the unsubscribe — the transport had it under way when the
/// subscription ended — is allowed, and the stopped engine ignores it.
pub(crate) struct TransportSide {
    inner: Arc<dyn InvalidationSubscriber>,
    observer: Observer,
}

impl InvalidationSubscriber for TransportSide {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    /// Asks the transport for payloads as it carries them (text, for a
    /// transport that receives text), and hands them on as they came.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        // The settle mark when the subscription ended, once it has.
        let closed: Arc<OnceLock<u64>> = Arc::default();
        let (observer, ended) = (self.observer.clone(), closed.clone());
        let sub = observer
            .ledger
            .subscribing(&observer.topic, observer.record.clone());
        let ledger = observer.ledger.clone();
        let watched: PayloadHandler = Arc::new(move |payload: Payload<'_>| {
            observer.activity.progress();
            let value = tree(&payload);
            observer.ledger.delivered(sub, &value);
            if let Some(&mark) = ended.get() {
                if observer.activity.settled_since(mark) {
                    let msg = format!(
                        "event delivered after unsubscribe, once the transport had settled: {}",
                        describe(&value)
                    );
                    observer.log(msg.clone());
                    observer
                        .record
                        .lock()
                        .violations
                        .push(Failure::of("TR-2", msg));
                    return;
                }
                observer.log(format!(
                    "event delivered as the subscription ended (it raced with the unsubscribe): {}",
                    describe(&value)
                ));
            }
            handler(payload);
        });
        // The kit keeps no other reference: once the subscription has
        // ended, the transport must let go of it (TR-2).
        ledger.handed(sub, Arc::downgrade(&watched));
        Box::pin(async move {
            let observer = &self.observer;
            let subscribing = self.inner.subscribe_payloads(watched);
            let subscribed = observer
                .activity
                .track(
                    || format!("the subscribe of window {:?}", &*observer.name),
                    subscribing,
                )
                .await;
            let inner = match subscribed {
                Ok(inner) => inner,
                Err(e) => {
                    observer.ledger.ended(sub);
                    return Err(e);
                }
            };
            observer.ledger.live(sub);
            let (activity, ledger) = (observer.activity.clone(), observer.ledger.clone());
            let record = observer.record.clone();
            Ok(Subscription::new(move || {
                ledger.ended(sub);
                let _ = closed.set(activity.settle_mark());
                // Every other subscription is ended from a plain thread
                // outside any runtime (a window closed by a UI thread), the
                // others where the engine ends them. A panicking unsubscribe
                // must not unwind through the engine (or abort the process
                // when it runs during unwinding).
                let unsubscribe = || inner.unsubscribe();
                let (unsubscribed, place) = if sub % 2 == 0 {
                    (
                        plain_thread::run(unsubscribe),
                        " on a plain thread outside any runtime",
                    )
                } else {
                    (catch_unwind(AssertUnwindSafe(unsubscribe)), "")
                };
                if let Err(panic) = unsubscribed {
                    record.lock().violations.push(Failure::of(
                        "TR-3",
                        format!(
                            "the subscription's unsubscribe panicked{place}: {}",
                            panic_message(&*panic)
                        ),
                    ));
                }
                // The transport may finish unsubscribing later.
                activity.unsettled();
            }))
        })
    }
}

/// The transport's provider, watched: a request is work in flight until
/// its answer arrives.
pub(crate) struct TransportProvider {
    inner: Arc<dyn SnapshotProvider>,
    observer: Observer,
}

impl SnapshotProvider for TransportProvider {
    /// The answer is checked against what the backend served (TR-1,
    /// TR-6); a request given up before it is answered is dropped on a
    /// plain thread outside any runtime.
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let observer = &self.observer;
        let fetching = Request {
            inner: Some(self.inner.get_snapshot()),
            record: observer.record.clone(),
        };
        let tracked = observer.activity.track(
            || format!("a snapshot request of window {:?}", &*observer.name),
            fetching,
        );
        Box::pin(async move {
            let answer = tracked.await;
            if let Some(wrong) = observer.ledger.served.answered(&observer.topic, &answer) {
                observer.log(wrong.message.clone());
                observer.record.lock().violations.push(wrong);
            }
            answer
        })
    }
}

/// A transport's snapshot request: dropped on a plain thread if it is given
/// up before it is answered (as a request cancelled by a UI thread would
/// be), a panic there being the transport's (TR-3).
struct Request<'a> {
    inner: Option<BoxFuture<'a, Result<Value, PortError>>>,
    record: Record,
}

impl Future for Request<'_> {
    type Output = Result<Value, PortError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Pending;
        };
        let answer = ready!(inner.as_mut().poll(cx));
        self.inner = None;
        Poll::Ready(answer)
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if let Err(panic) = plain_thread::run(move || drop(inner)) {
            self.record.lock().violations.push(Failure::of(
                "TR-3",
                format!(
                    "dropping a snapshot request before its answer panicked on a plain thread outside any runtime: {}",
                    panic_message(&*panic)
                ),
            ));
        }
    }
}

/// The subscriber as the engine sees it: subscriptions counted, every
/// delivery traced and checked (an invalid one must be reported).
pub(crate) struct EngineSide {
    inner: Arc<dyn InvalidationSubscriber>,
    observer: Observer,
}

impl InvalidationSubscriber for EngineSide {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    /// The engine is handed each payload as the transport carried it.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.observer.record.lock().subscribes += 1;
        let closed = Arc::new(AtomicBool::new(false));
        let (observer, ended) = (self.observer.clone(), closed.clone());
        let watched: PayloadHandler = Arc::new(move |payload: Payload<'_>| {
            observer.activity.progress();
            if ended.load(Ordering::SeqCst) {
                return;
            }
            // The kit's parse on the way in, for the trace and the count of
            // invalid payloads the engine must report.
            let value = tree(&payload);
            let (text, valid) = match EventRef::from_json(&value) {
                Ok(e) => (format!("event {}@{}", e.topic, e.revision), true),
                Err(_) => (describe(&value), false),
            };
            observer.log(format!("deliver {text}"));
            if !valid {
                observer.record.lock().garbage_forwarded += 1;
            }
            handler(payload);
        });
        Box::pin(async move {
            self.observer.log("subscribe");
            let inner = match self.inner.subscribe_payloads(watched).await {
                Ok(s) => s,
                Err(e) => {
                    self.observer.log(format!("subscribe failed: {e}"));
                    return Err(e);
                }
            };
            self.observer.record.lock().open_subscriptions += 1;
            let observer = self.observer.clone();
            Ok(Subscription::new(move || {
                closed.store(true, Ordering::SeqCst);
                observer.record.lock().open_subscriptions -= 1;
                observer.log("unsubscribe");
                inner.unsubscribe();
            }))
        })
    }
}

/// A provider whose fetches are counted and traced.
pub(crate) struct WatchedProvider {
    inner: Arc<dyn SnapshotProvider>,
    observer: Observer,
}

impl SnapshotProvider for WatchedProvider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let started = self.observer.trace.now_ms();
        let n = {
            let mut rec = self.observer.record.lock();
            rec.fetches += 1;
            rec.attempts.push((started, None));
            rec.fetches
        };
        self.observer.log(format!("fetch #{n}"));
        let fetching = self.inner.get_snapshot();
        Box::pin(async move {
            let result = fetching.await;
            let ended = self.observer.trace.now_ms();
            if let Some(attempt) = self.observer.record.lock().attempts.get_mut(n as usize - 1) {
                attempt.1 = Some(ended);
            }
            match &result {
                Ok(v) => self.observer.log(format!(
                    "fetch #{n} -> revision {}",
                    v.get("revision")
                        .map_or_else(|| "?".to_owned(), Value::to_string)
                )),
                Err(e) => self.observer.log(format!("fetch #{n} -> error: {e}")),
            }
            result
        })
    }
}

/// An applier whose calls are checked against STOP-1 and GATE-1.
pub(crate) struct WatchedApplier {
    inner: Arc<dyn SnapshotApplier<Value>>,
    observer: Observer,
}

impl SnapshotApplier<Value> for WatchedApplier {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        let at = snapshot.position();
        {
            let mut rec = self.observer.record.lock();
            if rec.stopped {
                rec.violations.push(Failure::of(
                    "STOP-1",
                    format!("apply of revision {at} called after stop"),
                ));
            }
            if let Some(last) = rec.applied.last().copied()
                && at <= last
            {
                rec.violations.push(Failure::of(
                    "GATE-1",
                    format!("applies not strictly increasing: {at} after {last}"),
                ));
            }
            rec.applying += 1;
        }
        let running = Applying(self.observer.record.clone());
        let apply = self.inner.apply(snapshot);
        Box::pin(async move {
            let _running = running;
            apply.await
        })
    }
}

/// One apply the engine called, counted in [`WindowRecord::applying`]
/// until it returns (or is dropped).
///
/// [`WindowRecord::applying`]: super::record::WindowRecord::applying
struct Applying(Record);

impl Drop for Applying {
    fn drop(&mut self) {
        self.0.lock().applying -= 1;
    }
}

/// Records each snapshot that reached the end of the apply path.
pub(crate) struct Recorder(Observer);

impl SnapshotApplier<Value> for Recorder {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        let at = snapshot.position();
        self.0.log(format!("apply {at}"));
        {
            let mut rec = self.0.record.lock();
            rec.applied.push(at);
            rec.data = Some(snapshot.data);
        }
        if let Some(hook) = &self.0.on_applied {
            // Reactions name a revision: of whichever epoch.
            hook(at.revision);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}
