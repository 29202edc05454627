//! What you implement to put your transport under test.
//!
//! A [`Transport`] opens a fresh [`Bus`] for every scenario. The bus has a
//! backend end — [`Bus::emit`] sends a raw JSON invalidation to subscribers,
//! and snapshot requests are answered by the [`SnapshotServer`] the kit
//! passes to [`Transport::open`] (the kit owns the source of truth) — and
//! window ends: [`Bus::window`] returns the subscriber and provider one
//! window uses.
//!
//! ```
//! use state_sync_conformance::{Bus, Capabilities, SnapshotServer, Transport, WindowEnds};
//! use state_sync_transports::{SnapshotHandler, memory};
//!
//! struct MyTransport;
//!
//! impl Transport for MyTransport {
//!     fn name(&self) -> &str { "my-memory" }
//!     fn capabilities(&self) -> Capabilities { Capabilities::all() }
//!     fn open(&self, server: SnapshotServer) -> Box<dyn Bus> {
//!         let bus = memory::Bus::new();
//!         bus.serve_handler(SnapshotHandler::sync(move |topic| server.snapshot(topic)));
//!         Box::new(MyBus(bus))
//!     }
//! }
//!
//! struct MyBus(memory::Bus);
//!
//! impl Bus for MyBus {
//!     fn emit(&self, payload: &serde_json::Value) { self.0.emit(payload) }
//!     fn window(&self, _label: &str, topic: &str) -> WindowEnds {
//!         let w = self.0.window(topic);
//!         WindowEnds::new(w.clone(), w)
//!     }
//!     fn active_subscriptions(&self) -> Option<usize> { Some(self.0.active_subscriptions()) }
//! }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use state_sync::{InvalidationSubscriber, PortError, SnapshotProvider};

use crate::spec::Capability;

/// A transport under test.
pub trait Transport: Send + Sync + 'static {
    /// A short name for reports and test names (`memory`, `my-ipc`). Use
    /// letters, digits, `-` and `_`.
    fn name(&self) -> &str;

    /// What the transport offers. Specs that need more are `unsupported`.
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
    }

    /// A fresh bus for one scenario. Snapshot requests from its windows must
    /// be answered with `server.snapshot(topic)`.
    fn open(&self, server: SnapshotServer) -> Box<dyn Bus>;
}

/// One scenario's bus: a backend end and any number of window ends.
pub trait Bus: Send + Sync {
    /// Sends `payload`, exactly as given, to every subscribed window.
    fn emit(&self, payload: &Value);

    /// The ends of a window named `label` that syncs `topic`.
    fn window(&self, label: &str, topic: &str) -> WindowEnds;

    /// The number of active subscriptions, if the transport can tell
    /// (declare [`Capability::SubscriptionCount`] then).
    fn active_subscriptions(&self) -> Option<usize> {
        None
    }
}

/// The two ends a window uses.
#[derive(Clone)]
pub struct WindowEnds {
    /// Delivers invalidations.
    pub subscriber: Arc<dyn InvalidationSubscriber>,
    /// Fetches snapshots.
    pub provider: Arc<dyn SnapshotProvider>,
}

impl WindowEnds {
    /// Pairs a subscriber and a provider.
    pub fn new(subscriber: impl InvalidationSubscriber, provider: impl SnapshotProvider) -> Self {
        Self {
            subscriber: Arc::new(subscriber),
            provider: Arc::new(provider),
        }
    }
}

impl fmt::Debug for WindowEnds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowEnds").finish_non_exhaustive()
    }
}

type ServeFn = dyn Fn(&str) -> Result<Value, PortError> + Send + Sync;

/// The kit's source of truth, as the transport's backend sees it.
#[derive(Clone)]
pub struct SnapshotServer {
    inner: Arc<ServeFn>,
}

impl SnapshotServer {
    /// A server answering with `f(topic)`.
    pub fn new(f: impl Fn(&str) -> Result<Value, PortError> + Send + Sync + 'static) -> Self {
        Self { inner: Arc::new(f) }
    }

    /// The current snapshot of `topic` as raw JSON `{"revision", "data"}`.
    pub fn snapshot(&self, topic: &str) -> Result<Value, PortError> {
        (self.inner)(topic)
    }
}

impl fmt::Debug for SnapshotServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotServer").finish_non_exhaustive()
    }
}

/// A set of [`Capability`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<Capability>);

impl Capabilities {
    /// No capabilities.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every capability.
    pub fn all() -> Self {
        Self(Capability::ALL.into_iter().collect())
    }

    /// These capabilities.
    pub fn of(caps: impl IntoIterator<Item = Capability>) -> Self {
        Self(caps.into_iter().collect())
    }

    /// Adds one.
    pub fn with(mut self, cap: Capability) -> Self {
        self.0.insert(cap);
        self
    }

    /// Removes one.
    pub fn without(mut self, cap: Capability) -> Self {
        self.0.remove(&cap);
        self
    }

    /// Whether `cap` is present.
    pub fn has(&self, cap: Capability) -> bool {
        self.0.contains(&cap)
    }

    /// The capabilities of `required` that are missing, in order.
    pub fn missing(&self, required: &[Capability]) -> Vec<Capability> {
        required.iter().copied().filter(|c| !self.has(*c)).collect()
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|c| c.as_str()).collect()
    }
}
