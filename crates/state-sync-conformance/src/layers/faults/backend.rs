//! Faults of the source of truth itself, behind the transport (the
//! `backend` step), and the backend's half of a fetch cancelled while the
//! transport works on it (`snapshot.cancel_next`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::PortError;
use state_sync_transports::SnapshotHandler;
use tokio::sync::oneshot;

/// What the backend does to the requests that reach it.
#[derive(Debug, Default)]
pub(crate) struct BackendFaults {
    /// Requests still to fail, and the error value.
    fail: Mutex<(u32, Option<Value>)>,
    /// Requests still to answer with a raw payload, and the payload.
    raw: Mutex<(u32, Value)>,
    /// Set while the backend serves one request at a time.
    serial: Mutex<Option<Arc<tokio::sync::Mutex<()>>>>,
    /// Windows waiting for their request of a topic to reach the backend.
    intercepts: Mutex<Vec<Intercept>>,
    next_intercept: AtomicU64,
}

#[derive(Debug)]
struct Intercept {
    id: u64,
    topic: String,
    /// Told when the request arrived, with the sender that lets the
    /// backend answer it.
    arrived: oneshot::Sender<oneshot::Sender<()>>,
}

/// A window's wait for its request to reach the backend; dropped, it stops
/// waiting (a request arriving later is answered at once).
pub(crate) struct Interception {
    id: u64,
    faults: Arc<BackendFaults>,
    /// Resolves, when the request has arrived, to what lets the backend
    /// answer it.
    pub(crate) arrived: oneshot::Receiver<oneshot::Sender<()>>,
}

impl Drop for Interception {
    fn drop(&mut self) {
        self.faults.intercepts.lock().retain(|i| i.id != self.id);
    }
}

impl BackendFaults {
    /// Makes the next `count` snapshot requests fail with `error` (default
    /// the string `"backend unavailable"`).
    pub(crate) fn fail_next(&self, count: u32, error: Option<Value>) {
        *self.fail.lock() = (count, error);
    }

    /// Makes the next `count` snapshot requests (after the failing ones)
    /// answer `payload` instead of the source's snapshot.
    pub(crate) fn replace_next(&self, count: u32, payload: Value) {
        *self.raw.lock() = (count, payload);
    }

    /// Serves one request at a time from now on (or no longer): every
    /// window's fetch waits for the one before it to be answered, its
    /// snapshot faults' delays included.
    pub(crate) fn serial(&self, on: bool) {
        *self.serial.lock() = on.then(|| Arc::new(tokio::sync::Mutex::new(())));
    }

    /// Holds the next request of `topic` that reaches the backend until the
    /// returned interception has seen it arrive and let it go.
    pub(crate) fn intercept(self: &Arc<Self>, topic: &str) -> Interception {
        let (tell, arrived) = oneshot::channel();
        let id = self.next_intercept.fetch_add(1, Ordering::Relaxed);
        self.intercepts.lock().push(Intercept {
            id,
            topic: topic.to_owned(),
            arrived: tell,
        });
        Interception {
            id,
            faults: self.clone(),
            arrived,
        }
    }

    /// `inner`, with the requests this asked for failed, replaced or held.
    pub(crate) fn handler(self: &Arc<Self>, inner: SnapshotHandler) -> SnapshotHandler {
        let faults = self.clone();
        SnapshotHandler::new(move |topic: String| {
            let intercepted = faults.take_intercept(&topic);
            let failure = take_next(&faults.fail).map(|error| {
                error.unwrap_or_else(|| Value::String("backend unavailable".to_owned()))
            });
            let raw = failure.is_none().then(|| take_next(&faults.raw)).flatten();
            let inner = inner.clone();
            async move {
                if let Some(arrived) = intercepted {
                    // The window gives up on the request, then lets it go
                    // on (or drops the sender: it goes on all the same).
                    let (go, wait) = oneshot::channel();
                    if arrived.send(go).is_ok() {
                        let _ = wait.await;
                    }
                }
                match (failure, raw) {
                    (Some(error), _) => Err(PortError::from_json(error)),
                    (None, Some(raw)) => Ok(raw),
                    (None, None) => inner.call(topic).await,
                }
            }
        })
    }

    /// The turn a fetch must hold while [`serial`](Self::serial): `None`
    /// when requests are served concurrently.
    pub(crate) async fn turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let turn = self.serial.lock().clone()?;
        Some(turn.lock_owned().await)
    }

    fn take_intercept(&self, topic: &str) -> Option<oneshot::Sender<oneshot::Sender<()>>> {
        let mut intercepts = self.intercepts.lock();
        let at = intercepts.iter().position(|i| i.topic == topic)?;
        Some(intercepts.remove(at).arrived)
    }
}

/// One of the next N requests `slot` counts down: its value, if any are
/// left.
fn take_next<T: Clone>(slot: &Mutex<(u32, T)>) -> Option<T> {
    let mut slot = slot.lock();
    slot.0 = slot.0.checked_sub(1)?;
    Some(slot.1.clone())
}
