//! Serving snapshots: the handler a backend owner installs on a bus.
//!
//! Every transport in this crate answers a window's snapshot request by
//! calling one [`SnapshotHandler`] with the topic the window asked for. The
//! handler returns the raw snapshot JSON (`{"revision": "...", "data": ...}`)
//! or a [`PortError`]; the transport carries either back untouched and the
//! engine validates.
//!
//! Three ways to build one:
//!
//! * [`SnapshotHandler::from_source`] — serve a
//!   [`SourceOfTruth`] (the usual case);
//! * [`SnapshotHandler::sync`] — a plain closure;
//! * [`SnapshotHandler::new`] — an async closure (a database read, a delay).
//!
//! A panic inside a handler is caught and turned into a [`PortError`]: a
//! broken backend shows up as a failed fetch in the window, never as a crash
//! of the transport.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;
use state_sync::PortError;
use state_sync::ports::panic_message;
use state_sync::source::SourceOfTruth;

/// The future a [`SnapshotHandler`] returns.
pub type SnapshotFuture = BoxFuture<'static, Result<Value, PortError>>;

type HandlerFn = dyn Fn(String) -> SnapshotFuture + Send + Sync;

/// Answers snapshot requests: given a topic, the raw snapshot JSON.
///
/// Cheap to clone (an `Arc` inside).
///
/// ```
/// use std::sync::Arc;
/// use serde_json::json;
/// use state_sync::source::SourceOfTruth;
/// use state_sync_transports::SnapshotHandler;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "dark"})));
/// let handler = SnapshotHandler::from_source(source);
/// assert_eq!(
///     handler.call("settings".into()).await.expect("served"),
///     json!({"revision": "0", "data": {"theme": "dark"}})
/// );
/// // Another topic is an error, not a wrong snapshot.
/// assert!(handler.call("other".into()).await.is_err());
/// # }
/// ```
#[derive(Clone)]
pub struct SnapshotHandler {
    f: Arc<HandlerFn>,
}

impl SnapshotHandler {
    /// A handler from an async closure taking the requested topic.
    pub fn new<F, Fut>(f: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, PortError>> + Send + 'static,
    {
        Self {
            f: Arc::new(move |topic| Box::pin(f(topic))),
        }
    }

    /// A handler from a synchronous closure taking the requested topic.
    pub fn sync<F>(f: F) -> Self
    where
        F: Fn(&str) -> Result<Value, PortError> + Send + Sync + 'static,
    {
        Self {
            f: Arc::new(move |topic: String| Box::pin(ready(f(&topic)))),
        }
    }

    /// Serves `source`: its current snapshot in wire form for its own topic,
    /// and a [`PortError`] naming both topics for any other.
    pub fn from_source<T>(source: Arc<SourceOfTruth<T>>) -> Self
    where
        T: Clone + Serialize + Send + Sync + 'static,
    {
        Self::sync(move |topic| {
            if topic != source.topic() {
                return Err(PortError::new(format!(
                    "no snapshot for topic {topic:?}: this backend serves {:?}",
                    source.topic()
                )));
            }
            source
                .snapshot_json()
                .map_err(|e| PortError::new(format!("snapshot does not serialize: {e}")))
        })
    }

    /// Asks for the snapshot of `topic`. A panic in the handler (while
    /// building the future or while it runs) becomes a [`PortError`].
    pub fn call(&self, topic: String) -> SnapshotFuture {
        let f = self.f.clone();
        match std::panic::catch_unwind(AssertUnwindSafe(move || f(topic))) {
            Ok(future) => Box::pin(
                AssertUnwindSafe(future)
                    .catch_unwind()
                    .map(|outcome| outcome.unwrap_or_else(|panic| Err(panicked(panic.as_ref())))),
            ),
            Err(panic) => Box::pin(ready(Err(panicked(panic.as_ref())))),
        }
    }
}

impl fmt::Debug for SnapshotHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotHandler").finish_non_exhaustive()
    }
}

/// The error a window gets when the backend has not installed a handler.
pub(crate) fn no_handler() -> PortError {
    PortError::new("no snapshot handler installed: call `Backend::serve` first")
}

fn panicked(panic: &(dyn Any + Send)) -> PortError {
    PortError::new(format!(
        "snapshot handler panicked: {}",
        panic_message(panic)
    ))
}

/// The slot a bus keeps its handler in; replaced by every `serve`.
#[derive(Clone, Default)]
pub(crate) struct HandlerSlot(Arc<Mutex<Option<SnapshotHandler>>>);

impl HandlerSlot {
    pub(crate) fn set(&self, handler: SnapshotHandler) {
        *self.0.lock() = Some(handler);
    }

    pub(crate) fn get(&self) -> Option<SnapshotHandler> {
        self.0.lock().clone()
    }

    /// Calls the installed handler, or fails with [`no_handler`].
    pub(crate) fn call(&self, topic: String) -> SnapshotFuture {
        match self.get() {
            Some(handler) => handler.call(topic),
            None => Box::pin(ready(Err(no_handler()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn panics_become_port_errors() {
        let eager = SnapshotHandler::sync(|_| panic!("boom"));
        let err = eager.call("t".into()).await.expect_err("panic is an error");
        assert_eq!(err.message(), "snapshot handler panicked: boom");

        let lazy = SnapshotHandler::new(|topic| async move {
            if topic == "t" {
                panic!("late {topic}");
            }
            Ok(json!(null))
        });
        let err = lazy.call("t".into()).await.expect_err("panic is an error");
        assert_eq!(err.message(), "snapshot handler panicked: late t");
    }

    #[tokio::test]
    async fn empty_slot_is_an_error() {
        let slot = HandlerSlot::default();
        let err = slot.call("t".into()).await.expect_err("no handler");
        assert!(err.message().contains("no snapshot handler"), "{err}");
        slot.set(SnapshotHandler::sync(|t| Ok(json!(t))));
        assert_eq!(slot.call("t".into()).await, Ok(json!("t")));
    }

    #[tokio::test]
    async fn source_handler_names_both_topics() {
        let source = Arc::new(SourceOfTruth::new("a", 1u8));
        let err = SnapshotHandler::from_source(source)
            .call("b".into())
            .await
            .expect_err("other topic");
        assert_eq!(
            err.message(),
            "no snapshot for topic \"b\": this backend serves \"a\""
        );
    }
}
