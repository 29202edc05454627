//! The transport built in `docs/writing-a-transport.md`: an in-process bus
//! whose subscribers each get their own queue and delivery task, so
//! delivery is asynchronous and in emit order. Snapshot requests call the
//! installed snapshot function.

mod backend;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};
use tokio::sync::{mpsc, watch};

/// Answers a snapshot request for a topic.
type ServeFn = Arc<dyn Fn(String) -> BoxFuture<'static, Result<Value, PortError>> + Send + Sync>;

/// The backend end. Cloning gives another handle to the same bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    subscribers: Mutex<Vec<Subscriber>>,
    next_id: AtomicU64,
    serve: Mutex<Option<ServeFn>>,
    /// Payloads queued and not yet handed to their handler.
    pending: watch::Sender<usize>,
}

struct Subscriber {
    id: u64,
    queue: mpsc::UnboundedSender<Value>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with no subscribers and no snapshot function.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                subscribers: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
                serve: Mutex::new(None),
                pending: watch::Sender::new(0),
            }),
        }
    }

    /// Queues `payload` for every subscriber.
    pub fn publish(&self, payload: &Value) {
        for s in self.inner.subscribers.lock().expect("not poisoned").iter() {
            self.inner.pending.send_modify(|n| *n += 1);
            if s.queue.send(payload.clone()).is_err() {
                self.inner.pending.send_modify(|n| *n -= 1);
            }
        }
    }

    /// Answers snapshot requests with `f(topic)`.
    pub fn serve_with<F, Fut>(&self, f: F)
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, PortError>> + Send + 'static,
    {
        *self.inner.serve.lock().expect("not poisoned") = Some(Arc::new(move |t| Box::pin(f(t))));
    }

    /// A window end for `topic`.
    pub fn window(&self, topic: &str) -> Window {
        Window {
            bus: self.clone(),
            topic: topic.to_owned(),
        }
    }

    /// Live subscriptions.
    pub fn subscribers(&self) -> usize {
        self.inner.subscribers.lock().expect("not poisoned").len()
    }

    /// Resolves once every queued payload has been delivered or dropped.
    pub async fn idle(&self) {
        let mut pending = self.inner.pending.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }
}

/// A window end: subscribes to the bus and fetches the snapshot of its
/// topic.
#[derive(Clone)]
pub struct Window {
    bus: Bus,
    topic: String,
}

impl InvalidationSubscriber for Window {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        Box::pin(async move {
            let inner = self.bus.inner.clone();
            let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
            let (queue, mut rx) = mpsc::unbounded_channel::<Value>();
            let closed = Arc::new(AtomicBool::new(false));
            inner
                .subscribers
                .lock()
                .expect("not poisoned")
                .push(Subscriber { id, queue });
            let (deliveries, open) = (inner.clone(), closed.clone());
            tokio::spawn(async move {
                while let Some(payload) = rx.recv().await {
                    // Nothing is delivered once unsubscribed (TR-2).
                    if !open.load(Ordering::Acquire) {
                        handler(&payload);
                    }
                    deliveries.pending.send_modify(|n| *n -= 1);
                }
            });
            Ok(Subscription::new(move || {
                closed.store(true, Ordering::Release);
                inner
                    .subscribers
                    .lock()
                    .expect("not poisoned")
                    .retain(|s| s.id != id);
            }))
        })
    }
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let serve = self.bus.inner.serve.lock().expect("not poisoned").clone();
        match serve {
            Some(serve) => serve(self.topic.clone()),
            None => Box::pin(async { Err(PortError::new("no snapshot function installed")) }),
        }
    }
}
