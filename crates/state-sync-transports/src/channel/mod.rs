//! Tokio-channel transport with asynchronous delivery and bounded buffers.
//!
//! # What it models
//!
//! Windows that run apart from the backend and receive events through
//! queues: worker tasks, separate services in one process, or any message
//! bus where the sender does not wait for the receiver. Delivery is
//! asynchronous (each subscriber has its own task and its own bounded
//! buffer) and snapshot requests are messages with a reply channel.
//!
//! # Behaviour
//!
//! * [`Backend::emit`] never blocks or waits: it puts the payload into every
//!   subscriber's buffer and returns. Each subscriber's task calls its
//!   handler later, in emit order.
//! * Payloads are not inspected or changed: garbage arrives intact. Each
//!   emit queues the payload's JSON text, serialized once, beside the value
//!   itself: an engine is handed the text (its text intake,
//!   [`state_sync::Payload`]); a handler that takes a `serde_json::Value`
//!   gets the emitted value, nothing parsed back.
//! * A payload reaches only subscribers present when `emit` is called:
//!   nothing is replayed to a late subscriber.
//! * Unsubscribing (or dropping the subscription) removes the subscriber
//!   from the bus at once and no delivery starts afterwards; its task ends
//!   on its own ([`Backend::settle`] waits for that, and for every queued
//!   payload to be delivered). A delivery already running on another worker
//!   thread may still finish.
//! * A snapshot request is sent over a bounded request channel to a server
//!   task, which runs the installed [`SnapshotHandler`] (one task per
//!   request, so requests are served concurrently) and answers on a
//!   `oneshot` reply channel. No handler installed, a panicking handler or a
//!   lost reply each surface as a [`PortError`].
//!
//! # Overflow policy
//!
//! Each subscriber's buffer holds at most [`ChannelConfig::event_capacity`]
//! payloads. When a payload finds the buffer full, the subscriber is
//! *lagging*: from then on payloads are not queued; the subscriber keeps
//! only the **newest payload addressed to its window's topic** (the payload's
//! `topic` field equals [`Window::topic`]) and drops the rest. Once its task
//! has delivered everything queued before the overflow, it delivers that
//! newest payload and leaves the lagging state.
//!
//! The engine needs only the newest invalidation of its topic (it refreshes
//! to the latest snapshot whatever revision the event names), so a
//! subscriber that falls behind still converges, in O(1) memory, and in
//! order: what it receives is always a subsequence of what was emitted, in
//! emit order. What it loses during a lag are older payloads of its topic
//! (superseded by the one it keeps), payloads of other topics (its engine
//! ignores them) and garbage (which would only have been reported).
//! [`Bus::overflows`] counts the payloads that found a full buffer.
//!
//! # Switches
//!
//! [`ChannelConfig`]: the two buffer sizes. The defaults
//! ([`DEFAULT_EVENT_CAPACITY`], [`DEFAULT_REQUEST_CAPACITY`]) suit a desktop
//! app; tests use small buffers to force overflows.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::{Value, json};
//! use state_sync::RevisionSync;
//! use state_sync::appliers::{JsonApplier, JsonMode};
//! use state_sync::source::SourceOfTruth;
//! use state_sync_transports::Backend;
//! use state_sync_transports::channel::{Bus, ChannelConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(SourceOfTruth::new("counter", 0u64));
//! let bus = Bus::with_config(ChannelConfig { event_capacity: 2, ..ChannelConfig::default() });
//! bus.serve_source(source.clone());
//!
//! let window = bus.window("counter");
//! let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//! let sync = RevisionSync::builder("counter", window.clone(), window, applier.clone()).build();
//! sync.start().await?;
//!
//! // A burst far larger than the buffer: the subscriber lags, yet converges.
//! for _ in 0..100 {
//!     let event = source.update(|n| *n += 1)?;
//!     bus.emit(&event.to_json());
//! }
//! assert!(bus.overflows() > 0);
//! let caught_up = async {
//!     while sync.local_revision() != source.revision() {
//!         tokio::task::yield_now().await;
//!     }
//! };
//! tokio::time::timeout(std::time::Duration::from_secs(5), caught_up).await?;
//! assert_eq!(applier.state(), json!(100));
//! sync.stop();
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PayloadHandler, PortError,
    SnapshotProvider, Subscription,
};
use tokio::sync::{mpsc, oneshot};

use crate::backend::{Backend, WindowEnds};
use crate::snapshot::{HandlerSlot, SnapshotHandler};

mod subscriber;

use self::subscriber::{Emitted, Shared, TaskGuard, Work, deliver};

/// The default number of payloads a subscriber's buffer holds.
pub const DEFAULT_EVENT_CAPACITY: usize = 64;
/// The default number of snapshot requests waiting for the server task.
pub const DEFAULT_REQUEST_CAPACITY: usize = 64;

/// Buffer sizes of a channel [`Bus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Payloads a subscriber's buffer holds before it starts lagging (see
    /// the module's overflow policy). At least 1; `0` is treated as 1.
    pub event_capacity: usize,
    /// Snapshot requests that may wait for the server task; a window asking
    /// while it is full waits for room. At least 1; `0` is treated as 1.
    pub request_capacity: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            event_capacity: DEFAULT_EVENT_CAPACITY,
            request_capacity: DEFAULT_REQUEST_CAPACITY,
        }
    }
}

/// The backend end of a channel transport.
///
/// Cloning gives another handle to the same bus.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    config: ChannelConfig,
    subscribers: Mutex<Vec<Arc<Shared>>>,
    next_id: AtomicU64,
    overflows: AtomicU64,
    handler: HandlerSlot,
    requests: mpsc::Sender<Request>,
    /// Taken by the server task when it starts.
    server_rx: Mutex<Option<mpsc::Receiver<Request>>>,
    /// Work still under way, for [`Backend::settle`].
    work: Arc<Work>,
}

struct Request {
    topic: String,
    reply: oneshot::Sender<Result<Value, PortError>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus with the default buffer sizes.
    pub fn new() -> Self {
        Self::with_config(ChannelConfig::default())
    }

    /// A bus with the given buffer sizes.
    pub fn with_config(config: ChannelConfig) -> Self {
        let config = ChannelConfig {
            event_capacity: config.event_capacity.max(1),
            request_capacity: config.request_capacity.max(1),
        };
        let (requests, server_rx) = mpsc::channel(config.request_capacity);
        Self {
            inner: Arc::new(Inner {
                config,
                subscribers: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
                overflows: AtomicU64::new(0),
                handler: HandlerSlot::default(),
                requests,
                server_rx: Mutex::new(Some(server_rx)),
                work: Arc::default(),
            }),
        }
    }

    /// The buffer sizes in use.
    pub fn config(&self) -> ChannelConfig {
        self.inner.config
    }

    /// A window end for `topic`.
    pub fn window(&self, topic: impl Into<String>) -> Window {
        Window {
            bus: self.clone(),
            topic: topic.into(),
        }
    }

    fn subscriptions(&self) -> usize {
        self.inner.subscribers.lock().len()
    }

    /// How many times a payload found a subscriber's buffer full.
    pub fn overflows(&self) -> u64 {
        self.inner.overflows.load(Ordering::Relaxed)
    }

    /// Starts the server task if it is not running (called from async code,
    /// so a runtime is present).
    fn ensure_server(&self) {
        let Some(mut rx) = self.inner.server_rx.lock().take() else {
            return;
        };
        let handler = self.inner.handler.clone();
        tokio::spawn(async move {
            while let Some(Request { topic, reply }) = rx.recv().await {
                let answer = handler.call(topic);
                tokio::spawn(async move {
                    // The window may have given up waiting; that is fine.
                    let _ = reply.send(answer.await);
                });
            }
        });
    }

    async fn request(&self, topic: String) -> Result<Value, PortError> {
        self.ensure_server();
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Request { topic, reply })
            .await
            .map_err(|_| PortError::new("snapshot server is gone (its runtime shut down)"))?;
        answer
            .await
            .map_err(|_| PortError::new("snapshot request was dropped without a reply"))?
    }

    /// Subscribes `handler` to `topic`'s window; it is given text when
    /// `text`, the emitted trees otherwise.
    fn subscribe_now(&self, topic: &str, handler: PayloadHandler, text: bool) -> Subscription {
        let (tx, rx) = mpsc::channel(self.inner.config.event_capacity);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared::new(id, topic, tx, text));
        self.inner.subscribers.lock().push(shared.clone());
        let work = self.inner.work.clone();
        work.tasks.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(deliver(shared.clone(), rx, handler, TaskGuard(work)));
        let inner = self.inner.clone();
        Subscription::new(move || {
            shared.close(&inner.work);
            inner.subscribers.lock().retain(|s| s.id != shared.id);
            inner.work.changed.notify_waiters();
        })
    }
}

/// Asynchronous: `emit` only queues (see the module's overflow policy);
/// [`Backend::settle`] waits until every queued payload has been delivered
/// or dropped and the task of every ended subscription has finished.
impl Backend for Bus {
    /// The payload is serialized once; every subscriber queues the same
    /// text (and value), and its engine reads the text itself.
    fn emit(&self, payload: &Value) {
        let subscribers = self.inner.subscribers.lock().clone();
        if subscribers.is_empty() {
            return;
        }
        let Some(text) = crate::json::to_text(payload) else {
            return;
        };
        let text = Arc::new(Emitted {
            text,
            value: payload.clone(),
        });
        for shared in subscribers {
            if shared.offer(&text, &self.inner.work) {
                self.inner.overflows.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The server task starts with the first request, on the runtime that
    /// sends it.
    fn serve(&self, handler: SnapshotHandler) {
        self.inner.handler.set(handler);
    }

    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(topic))
    }

    /// An unsubscription counts at once, before its task has ended.
    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.subscriptions())
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let work = &self.inner.work;
            loop {
                let changed = work.changed.notified();
                if work.payloads.load(Ordering::Acquire) == 0
                    && work.tasks.load(Ordering::Acquire) <= self.subscriptions()
                {
                    return;
                }
                changed.await;
            }
        })
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("channel::Bus")
            .field("config", &self.inner.config)
            .field("active_subscriptions", &self.subscriptions())
            .field("overflows", &self.overflows())
            .field("serving", &self.inner.handler.get().is_some())
            .finish()
    }
}

/// A window end of a channel [`Bus`] for one topic.
///
/// Implements [`InvalidationSubscriber`] and [`SnapshotProvider`]; clone it to
/// pass it as both.
#[derive(Clone, Debug)]
pub struct Window {
    bus: Bus,
    topic: String,
}

impl Window {
    /// The topic whose snapshot this window fetches, and whose newest
    /// payload it keeps while lagging.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The bus this window is attached to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }
}

impl InvalidationSubscriber for Window {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let handler = state_sync::ports::tree_handler(handler);
        Box::pin(async move { Ok(self.bus.subscribe_now(&self.topic, handler, false)) })
    }

    /// Payloads are handed over as the text they were queued as.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        Box::pin(async move { Ok(self.bus.subscribe_now(&self.topic, handler, true)) })
    }
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(self.bus.request(self.topic.clone()))
    }
}
