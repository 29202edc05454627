//! In-process transport with synchronous delivery.
//!
//! # What it models
//!
//! The simplest correct transport: windows and backend live in one process
//! and share a [`Bus`]. [`Backend::emit`] calls every subscribed handler on the
//! calling thread, in subscription order, before it returns. A snapshot
//! request calls the installed [`SnapshotHandler`] directly.
//!
//! It is the transport the documentation teaches with and a good one for
//! unit tests of application code: there is no scheduling to reason about.
//! It models no IPC failure mode; for those use [`crate::channel`]
//! (asynchronous delivery, bounded buffers) or [`crate::tauri_mock`]
//! (Tauri v2 semantics).
//!
//! # Behaviour
//!
//! * Payloads are passed as they are (`&Value`, cloned per subscriber only
//!   where needed): garbage arrives intact, the engine validates.
//! * A payload is seen only by handlers subscribed when `emit` is called:
//!   nothing is buffered, a late subscriber gets no replay.
//! * [`Subscription::unsubscribe`](state_sync::Subscription::unsubscribe) (or
//!   dropping the subscription) removes the handler at once; an `emit`
//!   running on the same thread does not call it afterwards.
//! * An `emit` made from inside a handler is delivered immediately (nested),
//!   before the outer `emit` reaches the remaining subscribers.
//! * Asking for a snapshot before [`Backend::serve`] fails with a
//!   [`PortError`]; a panicking handler becomes one
//!   too.
//!
//! # Switches
//!
//! None: this transport has one behaviour.
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
//! use state_sync_transports::memory::Bus;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The backend: a source of truth served on a bus.
//! let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "light"})));
//! let bus = Bus::new();
//! bus.serve_source(source.clone());
//!
//! // A window: one engine over a window end of the bus.
//! let window = bus.window("settings");
//! let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//! let sync = RevisionSync::builder("settings", window.clone(), window, applier.clone()).build();
//! sync.start().await?;
//! assert_eq!(bus.active_subscriptions(), Some(1));
//!
//! // The backend changes the state, then emits the invalidation.
//! let event = source.set(json!({"theme": "dark"}))?;
//! bus.emit(&event.to_json());
//! sync.refresh().await?; // wait for the refresh the event started
//! assert_eq!(applier.state(), json!({"theme": "dark"}));
//!
//! sync.stop();
//! assert_eq!(bus.active_subscriptions(), Some(0));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, PortError, SnapshotProvider,
    Subscription,
};

use crate::backend::{Backend, WindowEnds};
use crate::snapshot::{HandlerSlot, SnapshotHandler};

/// The shared in-process bus: the backend end.
///
/// Cloning gives another handle to the same bus.
#[derive(Clone, Default)]
pub struct Bus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subscribers: Mutex<Vec<Arc<Entry>>>,
    handler: HandlerSlot,
    next_id: AtomicU64,
}

struct Entry {
    id: u64,
    active: AtomicBool,
    handler: InvalidationHandler,
}

impl Bus {
    /// An empty bus: no subscribers, no snapshot handler.
    pub fn new() -> Self {
        Self::default()
    }

    /// A window end for `topic`: subscribes to this bus and fetches the
    /// snapshot of `topic` from it.
    pub fn window(&self, topic: impl Into<String>) -> Window {
        Window {
            bus: self.clone(),
            topic: topic.into(),
        }
    }

    fn subscriptions(&self) -> usize {
        self.inner.subscribers.lock().len()
    }

    fn subscribe_now(&self, handler: InvalidationHandler) -> Subscription {
        let entry = Arc::new(Entry {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            active: AtomicBool::new(true),
            handler,
        });
        self.inner.subscribers.lock().push(entry.clone());
        let inner = self.inner.clone();
        Subscription::new(move || {
            entry.active.store(false, Ordering::Release);
            inner.subscribers.lock().retain(|e| e.id != entry.id);
        })
    }
}

/// Synchronous: `emit` calls every subscribed handler on the calling thread,
/// in subscription order, before it returns; unsubscribing removes the
/// handler at once, so [`Backend::settle`] has nothing to wait for.
impl Backend for Bus {
    fn emit(&self, payload: &Value) {
        // Call outside the lock: a handler may subscribe, unsubscribe or emit.
        let subscribers = self.inner.subscribers.lock().clone();
        for entry in subscribers {
            if entry.active.load(Ordering::Acquire) {
                (entry.handler)(payload);
            }
        }
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.inner.handler.set(handler);
    }

    fn window_ends(&self, _label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(topic))
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.subscriptions())
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("memory::Bus")
            .field("active_subscriptions", &self.subscriptions())
            .field("serving", &self.inner.handler.get().is_some())
            .finish()
    }
}

/// A window end of a memory [`Bus`] for one topic.
///
/// Implements [`InvalidationSubscriber`] and [`SnapshotProvider`]; clone it to
/// pass it as both.
#[derive(Clone, Debug)]
pub struct Window {
    bus: Bus,
    topic: String,
}

impl Window {
    /// The topic whose snapshot this window fetches.
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
        let subscription = self.bus.subscribe_now(handler);
        Box::pin(async move { Ok(subscription) })
    }
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        self.bus.inner.handler.call(self.topic.clone())
    }
}
