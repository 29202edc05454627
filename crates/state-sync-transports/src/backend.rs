//! The one seam every transport implements: [`Backend`], its backend end.
//!
//! A transport has two kinds of ends. Its *backend end* belongs to the
//! source of truth: it emits invalidations and answers snapshot requests.
//! Its *window ends* belong to windows: an
//! [`InvalidationSubscriber`] and a [`SnapshotProvider`] that the engine of
//! each window plugs in ([`WindowEnds`]).
//!
//! [`Backend`] is the backend end, and the way to get window ends from it.
//! The reference transports of this crate implement it, and so does any
//! transport that wants to be run by the conformance kit
//! (`state-sync-conformance`), which drives every scenario through these
//! five methods alone.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::{Value, json};
//! use state_sync::RevisionSync;
//! use state_sync::appliers::{JsonApplier, JsonMode};
//! use state_sync::source::SourceOfTruth;
//! use state_sync_transports::{Backend, memory};
//!
//! /// Works with any transport.
//! async fn one_window(backend: &dyn Backend) -> Result<Value, Box<dyn std::error::Error>> {
//!     let source = Arc::new(SourceOfTruth::new("todos", json!([])));
//!     backend.serve(state_sync_transports::SnapshotHandler::from_source(source.clone()));
//!     let ends = backend.window_ends("main", "todos");
//!     let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//!     let sync = RevisionSync::builder("todos", ends.subscriber, ends.provider, applier.clone())
//!         .build();
//!     sync.start().await?;
//!     backend.emit(&source.set(json!(["milk"]))?.to_json());
//!     sync.refresh().await?;
//!     sync.stop();
//!     backend.settle().await; // unsubscriptions have finished
//!     assert_eq!(backend.active_subscriptions(), Some(0));
//!     Ok(applier.state())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! assert_eq!(one_window(&memory::Bus::new()).await?, json!(["milk"]));
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use state_sync::source::SourceOfTruth;
use state_sync::{BoxFuture, InvalidationSubscriber, SnapshotProvider};

use crate::snapshot::SnapshotHandler;

/// The backend end of a transport.
///
/// # Contract
///
/// * [`emit`](Backend::emit) delivers the payload, untouched, to every
///   subscription live when it is called (TR-1 in `docs/protocol.md`). It
///   does not wait for the deliveries unless the transport is synchronous.
/// * [`serve`](Backend::serve) installs the one function snapshot requests
///   are answered with; a window asking before it is installed gets a
///   [`PortError`](state_sync::PortError), never a panic (TR-3).
/// * [`window_ends`](Backend::window_ends) gives the two ends of a window.
///   Several engines may share one `label` (one window syncing several
///   topics); each gets its own ends and its own subscription.
/// * [`settle`](Backend::settle) resolves once the work the transport has
///   started so far — deliveries of earlier emits, unsubscriptions, the
///   removal of what it held for them — is done. A transport that does
///   everything before returning keeps the default, which resolves at once.
/// * Every method may be called from any thread, inside or outside a
///   tokio runtime; transports that spawn tasks do it from the futures they
///   return or from methods documented to need a runtime.
pub trait Backend: Send + Sync + 'static {
    /// Sends a raw invalidation payload — garbage included — to every
    /// subscribed window end.
    fn emit(&self, payload: &Value);

    /// Installs the snapshot handler, replacing any previous one.
    fn serve(&self, handler: SnapshotHandler);

    /// The ends of a window named `label` that syncs `topic`: its
    /// subscriber and its provider (which asks the handler for `topic`).
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds;

    /// The number of live subscriptions, when the transport can count them
    /// (for leak checks); `None` otherwise. A transport that counts
    /// elsewhere (in another process) may lag behind; after
    /// [`settle`](Backend::settle) the count is exact.
    fn active_subscriptions(&self) -> Option<usize> {
        None
    }

    /// Resolves once every delivery and unsubscription started before the
    /// call has finished.
    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }

    /// Why the transport cannot work any more — its backend process
    /// exited, its connection is gone for good — in words for a report;
    /// `None` while it works (the default).
    ///
    /// The conformance kit asks after every step and when a budget runs
    /// out, and ends the case with an `error` verdict naming the failure.
    fn failure(&self) -> Option<String> {
        None
    }

    /// Restarts what carries this transport's messages — its broker, its
    /// server — as a crash and a restart would: connections break, what was
    /// on its way may be lost, and the transport's ends recover on their own
    /// (TR-8 in `docs/protocol.md`: every live subscription is live again,
    /// and receives the newest invalidation of its topic after a settle).
    /// Resolves once the broker or server is back (not once every end has
    /// reconnected).
    ///
    /// For tests of recovery: the conformance kit's `restart_transport`
    /// step calls it on transports that claim the `restarts` capability.
    /// The default says the transport cannot.
    fn restart(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(Err(
            "this transport cannot restart its broker or server (Backend::restart is not implemented)"
                .to_owned(),
        )))
    }

    /// Serves the snapshots of `source` ([`SnapshotHandler::from_source`]).
    fn serve_source<T>(&self, source: Arc<SourceOfTruth<T>>)
    where
        Self: Sized,
        T: Clone + Serialize + Send + Sync + 'static,
    {
        self.serve(SnapshotHandler::from_source(source));
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn emit(&self, payload: &Value) {
        (**self).emit(payload);
    }
    fn serve(&self, handler: SnapshotHandler) {
        (**self).serve(handler);
    }
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        (**self).window_ends(label, topic)
    }
    fn active_subscriptions(&self) -> Option<usize> {
        (**self).active_subscriptions()
    }
    fn settle(&self) -> BoxFuture<'_, ()> {
        (**self).settle()
    }
    fn failure(&self) -> Option<String> {
        (**self).failure()
    }
    fn restart(&self) -> BoxFuture<'_, Result<(), String>> {
        (**self).restart()
    }
}

/// The two ends a window's engine plugs in.
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

    /// Both ends from one value that is both (as every window end of this
    /// crate is).
    pub fn of<W>(window: W) -> Self
    where
        W: InvalidationSubscriber + SnapshotProvider,
    {
        let window = Arc::new(window);
        Self {
            subscriber: window.clone(),
            provider: window,
        }
    }
}

impl fmt::Debug for WindowEnds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WindowEnds").finish_non_exhaustive()
    }
}
