//! A correct transport of another design than the references passes every
//! spec: one `tokio::sync::broadcast` channel for the whole bus and a task
//! per subscription. A receiver that lags skips to the oldest payload the
//! channel still holds, so by itself it may lose the newest invalidation of
//! its topic among another topic's flood (TR-4); the bus therefore keeps
//! the newest payload of each topic, and a lagging receiver delivers it
//! first if it was among those skipped — in order, since it is older than
//! everything still held.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};
use state_sync_conformance::{
    Backend, Capabilities, Capability, CaseResult, SnapshotHandler, Suite, Transport, Verdict,
    WindowEnds,
};
use tokio::sync::{Notify, broadcast};

/// Payloads the channel holds for a receiver that falls behind.
const CAPACITY: usize = 16;

struct BroadcastBus {
    shared: Arc<Shared>,
}

/// Whether a lagging receiver recovers the newest payload of its topic.
#[derive(Clone, Copy, PartialEq)]
enum Lag {
    Recovers,
    /// The design's natural bug: it just skips ahead.
    Skips,
}

struct Shared {
    tx: broadcast::Sender<(u64, Value)>,
    handler: Mutex<Option<SnapshotHandler>>,
    /// Emits so far (the number of the last one).
    sent: AtomicU64,
    /// The newest payload emitted for each topic, with its number.
    newest: Mutex<std::collections::HashMap<String, (u64, Value)>>,
    /// Subscriptions alive, and the emit number each has consumed up to.
    live: AtomicUsize,
    consumed: Mutex<Vec<Arc<AtomicU64>>>,
    progress: Notify,
    lag: Lag,
}

impl BroadcastBus {
    fn new(lag: Lag) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self {
            shared: Arc::new(Shared {
                tx,
                handler: Mutex::new(None),
                sent: AtomicU64::new(0),
                newest: Mutex::default(),
                live: AtomicUsize::new(0),
                consumed: Mutex::new(Vec::new()),
                progress: Notify::new(),
                lag,
            }),
        }
    }
}

impl Backend for BroadcastBus {
    fn emit(&self, payload: &Value) {
        let mut newest = self.shared.newest.lock();
        let n = self.shared.sent.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(topic) = payload.get("topic").and_then(Value::as_str) {
            newest.insert(topic.to_owned(), (n, payload.clone()));
        }
        drop(newest);
        // No receiver: nobody to deliver to.
        let _ = self.shared.tx.send((n, payload.clone()));
    }

    fn serve(&self, handler: SnapshotHandler) {
        *self.shared.handler.lock() = Some(handler);
    }

    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(BroadcastWindow {
            shared: self.shared.clone(),
            topic: topic.to_owned(),
        })
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.shared.live.load(Ordering::SeqCst))
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let target = self.shared.sent.load(Ordering::SeqCst);
            loop {
                let notified = self.shared.progress.notified();
                let behind = self
                    .shared
                    .consumed
                    .lock()
                    .iter()
                    .any(|c| c.load(Ordering::SeqCst) < target);
                if !behind {
                    return;
                }
                notified.await;
            }
        })
    }
}

struct BroadcastWindow {
    shared: Arc<Shared>,
    topic: String,
}

impl InvalidationSubscriber for BroadcastWindow {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        // Live at once: the receiver exists before `subscribe` resolves.
        let mut rx = self.shared.tx.subscribe();
        let consumed = Arc::new(AtomicU64::new(self.shared.sent.load(Ordering::SeqCst)));
        self.shared.consumed.lock().push(consumed.clone());
        self.shared.live.fetch_add(1, Ordering::SeqCst);
        let shared = self.shared.clone();
        let topic = self.topic.clone();
        let task = tokio::spawn({
            let (shared, consumed) = (shared.clone(), consumed.clone());
            async move {
                // After a lag: the newest payload of the topic, to deliver if
                // it was skipped.
                let mut recovered: Option<(u64, Value)> = None;
                loop {
                    match rx.recv().await {
                        Ok((n, payload)) => {
                            if let Some((r, earlier)) = recovered.take()
                                && r < n
                                && r > consumed.load(Ordering::SeqCst)
                            {
                                handler(&earlier);
                            }
                            handler(&payload);
                            consumed.store(n, Ordering::SeqCst);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            if shared.lag == Lag::Recovers {
                                recovered = shared.newest.lock().get(&topic).cloned();
                            }
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => break,
                    }
                    shared.progress.notify_waiters();
                }
            }
        });
        Box::pin(async move {
            Ok(Subscription::new(move || {
                task.abort();
                shared
                    .consumed
                    .lock()
                    .retain(|c| !Arc::ptr_eq(c, &consumed));
                shared.live.fetch_sub(1, Ordering::SeqCst);
                shared.progress.notify_waiters();
            }))
        })
    }
}

impl SnapshotProvider for BroadcastWindow {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let handler = self.shared.handler.lock().clone();
        Box::pin(async move {
            match handler {
                Some(handler) => handler.call(self.topic.clone()).await,
                None => Err(PortError::new("no snapshot handler")),
            }
        })
    }
}

fn broadcast(lag: Lag) -> Transport {
    Transport::new("broadcast", move || BroadcastBus::new(lag))
        // A lagging receiver loses payloads: not exactly-once.
        .with_capabilities(
            Capabilities::all()
                .without(Capability::SynchronousDelivery)
                .without(Capability::ExactlyOnce),
        )
}

#[test]
fn a_broadcast_channel_transport_passes_every_spec() {
    let transport = broadcast(Lag::Recovers);
    let report = Suite::new()
        .transport(transport)
        .run()
        .expect("the corpus runs");
    let wrong: Vec<String> = report
        .cases
        .iter()
        .filter(|c| {
            // Restarting needs a broker: a broadcast channel has none.
            let unclaimed =
                |m: &String| m == "synchronous-delivery" || m == "exactly-once" || m == "restarts";
            !(c.verdict == Verdict::Pass
                || c.verdict == Verdict::Unsupported && c.missing.iter().all(unclaimed))
        })
        .map(CaseResult::explain)
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

#[test]
fn without_lag_recovery_it_loses_a_windows_last_invalidation_and_the_kit_says_so() {
    let report = Suite::new()
        .transport(broadcast(Lag::Skips))
        .run()
        .expect("the corpus runs");
    let caught: Vec<&CaseResult> = report
        .cases
        .iter()
        .filter(|c| c.verdict.is_unexpected())
        .collect();
    assert!(
        caught.iter().any(
            |c| c.spec == "delivery-newest-per-topic-under-other-traffic"
                && c.failures.iter().any(|f| f.contains("TR-4"))
        ),
        "{:?}",
        caught.iter().map(|c| &c.spec).collect::<Vec<_>>()
    );
}
