//! The three ports a window plugs into the engine.
//!
//! * [`InvalidationSubscriber`] — delivers raw invalidation payloads.
//! * [`SnapshotProvider`] — fetches the raw snapshot.
//! * [`SnapshotApplier`] — puts a validated snapshot into local state.
//!
//! Transports implement the first two and pass payloads through untouched:
//! the engine validates. Futures are boxed and `Send`, so the traits are
//! object-safe and everything runs on a multi-thread runtime too.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::error::PortError;
use crate::intake::Payload;
use crate::protocol::SnapshotEnvelope;

/// The callback a subscriber calls for every payload it receives.
///
/// It is cheap and synchronous: the engine validates the payload and at most
/// schedules a refresh. It may be called from any thread.
pub type InvalidationHandler = Arc<dyn Fn(&Value) + Send + Sync>;

/// The callback of [`InvalidationSubscriber::subscribe_payloads`]: takes a
/// payload as a tree or as the JSON text the transport received
/// ([`Payload`]). Cheap and synchronous, callable from any thread, like an
/// [`InvalidationHandler`].
pub type PayloadHandler = Arc<dyn Fn(Payload<'_>) + Send + Sync>;

/// A [`PayloadHandler`] that hands every payload to `handler` as a tree,
/// parsing text first (up to [`MAX_NESTING`](crate::intake::MAX_NESTING)
/// levels deep).
///
/// For a transport that carries text: it keeps payload handlers, and its
/// [`InvalidationSubscriber::subscribe`] wraps the tree handler it is given
/// with this. Text that does not parse is logged and not delivered (a tree
/// handler cannot be given it).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use serde_json::{Value, json};
/// use state_sync::{InvalidationHandler, Payload, ports::tree_handler};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// let handler: InvalidationHandler = Arc::new(move |v: &Value| sink.lock().unwrap().push(v.clone()));
/// let payloads = tree_handler(handler);
/// payloads(Payload::from(r#"{"topic":"t"}"#));
/// payloads(Payload::from("not json"));
/// assert_eq!(*seen.lock().unwrap(), [json!({"topic": "t"})]);
/// ```
pub fn tree_handler(handler: InvalidationHandler) -> PayloadHandler {
    Arc::new(move |payload: Payload<'_>| match payload.to_value() {
        Ok(value) => handler(&value),
        Err(error) => {
            tracing::error!(
                "state-sync: an invalidation payload is not JSON, not delivered: {error}"
            );
        }
    })
}

/// Delivers invalidation payloads to a handler until unsubscribed.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use futures::future::BoxFuture;
/// use state_sync::{InvalidationHandler, InvalidationSubscriber, PortError, Subscription};
///
/// /// Keeps handlers in a list; `emit` calls them all.
/// #[derive(Default, Clone)]
/// struct Bus(Arc<Mutex<Vec<InvalidationHandler>>>);
///
/// impl InvalidationSubscriber for Bus {
///     fn subscribe(&self, handler: InvalidationHandler) -> BoxFuture<'_, Result<Subscription, PortError>> {
///         let list = self.0.clone();
///         Box::pin(async move {
///             list.lock().unwrap().push(handler.clone());
///             Ok(Subscription::new(move || {
///                 list.lock().unwrap().retain(|h| !Arc::ptr_eq(h, &handler));
///             }))
///         })
///     }
/// }
/// ```
pub trait InvalidationSubscriber: Send + Sync + 'static {
    /// Starts delivering payloads to `handler`. The returned [`Subscription`]
    /// stops delivery when unsubscribed or dropped.
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>>;

    /// Like [`subscribe`](InvalidationSubscriber::subscribe), with a
    /// handler that also takes the JSON text of a payload. The engine
    /// subscribes through this one.
    ///
    /// A transport that receives text overrides it and hands the text
    /// through ([`Payload::Text`]): the engine validates it without
    /// building a tree. The default delivers trees through `subscribe`,
    /// so decorators and transports that hold trees need nothing more.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe(Arc::new(move |value: &Value| {
            handler(Payload::Value(value));
        }))
    }
}

/// Fetches the current snapshot as raw JSON (`{"revision": "...", "data": ...}`).
pub trait SnapshotProvider: Send + Sync + 'static {
    /// Fetches once. Retrying is a policy of its own: see [`crate::retry`].
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>>;
}

/// Puts a validated snapshot into the window's local state.
///
/// Ready-made appliers live in [`crate::appliers`].
pub trait SnapshotApplier<T>: Send + Sync + 'static {
    /// Applies `snapshot`. Called only for snapshots newer than the last
    /// applied one, never concurrently with itself, and never once `stop`
    /// has returned (an apply that began before may still be finishing:
    /// await [`RevisionSync::stopped`](crate::RevisionSync::stopped) for it).
    fn apply(&self, snapshot: SnapshotEnvelope<T>) -> BoxFuture<'_, Result<(), PortError>>;
}

impl<S: InvalidationSubscriber + ?Sized> InvalidationSubscriber for Arc<S> {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        (**self).subscribe(handler)
    }
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        (**self).subscribe_payloads(handler)
    }
}

impl<P: SnapshotProvider + ?Sized> SnapshotProvider for Arc<P> {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        (**self).get_snapshot()
    }
}

impl<T, A: SnapshotApplier<T> + ?Sized> SnapshotApplier<T> for Arc<A> {
    fn apply(&self, snapshot: SnapshotEnvelope<T>) -> BoxFuture<'_, Result<(), PortError>> {
        (**self).apply(snapshot)
    }
}

impl<S: InvalidationSubscriber + ?Sized> InvalidationSubscriber for Box<S> {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        (**self).subscribe(handler)
    }
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        (**self).subscribe_payloads(handler)
    }
}

impl<P: SnapshotProvider + ?Sized> SnapshotProvider for Box<P> {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        (**self).get_snapshot()
    }
}

/// An active subscription. [`Subscription::unsubscribe`] ends it; dropping it
/// ends it too. The unsubscribe action runs exactly once.
///
/// Ending a subscription never unwinds into the code that ends it: a panic
/// in the unsubscribe action is caught and logged (`tracing`, level
/// `error`), so that a transport's bug cannot break the engine's `stop` or
/// abort a process that drops a subscription while unwinding.
///
/// ```
/// let ended = state_sync::Subscription::new(|| panic!("transport bug"));
/// ended.unsubscribe(); // logged, not propagated
/// ```
pub struct Subscription {
    on_unsubscribe: Option<Box<dyn FnOnce() + Send>>,
}

impl Subscription {
    /// A subscription whose end runs `on_unsubscribe`.
    pub fn new(on_unsubscribe: impl FnOnce() + Send + 'static) -> Self {
        Self {
            on_unsubscribe: Some(Box::new(on_unsubscribe)),
        }
    }

    /// A subscription with nothing to undo.
    pub fn noop() -> Self {
        Self {
            on_unsubscribe: None,
        }
    }

    /// Ends the subscription now.
    pub fn unsubscribe(mut self) {
        self.run();
    }

    fn run(&mut self) {
        if let Some(f) = self.on_unsubscribe.take()
            && let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        {
            tracing::error!(
                "state-sync: a subscription's unsubscribe panicked: {}",
                panic_message(&*panic)
            );
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.run();
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.on_unsubscribe.is_some())
            .finish()
    }
}

/// The text of a caught panic's payload: the message of `panic!("...")`, or
/// `"non-string panic payload"` for anything else.
///
/// For ports that call user code and must turn its panics into a
/// [`PortError`] (TR-3), such as a transport's snapshot handler.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("disk {} full", 3)).unwrap_err();
/// assert_eq!(state_sync::ports::panic_message(&*caught), "disk 3 full");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
