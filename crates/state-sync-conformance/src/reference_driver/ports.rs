//! The ports of an engine in the reference driver: each call is a request
//! to the kit (`subscribe`, `get_snapshot`, `apply`), answered by a later
//! command; a call the engine drops before its answer is `cancel`led.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::ports::{
    InvalidationHandler, InvalidationSubscriber, PayloadHandler, SnapshotApplier, SnapshotProvider,
    Subscription, tree_handler,
};
use state_sync::{PortError, SnapshotEnvelope};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::driver::protocol::{Reply, Report, WireError, epoch_field};

/// The kit's answer to a request.
pub(super) enum Answer {
    /// To `subscribe`.
    Subscribed(Option<WireError>),
    /// To `get_snapshot`.
    Snapshot(Reply),
    /// To `apply`.
    Applied(Option<WireError>),
}

/// What the driver's windows share: the output, the requests awaiting an
/// answer, the handlers of live subscriptions, retry back-off deadlines.
#[derive(Default)]
pub(super) struct Shared {
    next: AtomicU64,
    pub(super) waiting: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    pub(super) handlers: Mutex<HashMap<u64, PayloadHandler>>,
    /// Window → when its retry wrapper's wait ends.
    pub(super) backoffs: Mutex<HashMap<String, Instant>>,
    out: Mutex<()>,
}

impl Shared {
    /// Writes one report line to stdout.
    pub(super) fn write(&self, report: &Report) {
        let _guard = self.out.lock();
        if let Ok(line) = serde_json::to_string(report) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// Sends request `make(id)` and waits for its answer; dropping the
    /// future before then cancels it.
    async fn request(
        self: &Arc<Self>,
        id: u64,
        make: impl FnOnce(u64) -> Report,
    ) -> Option<Answer> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(id, tx);
        let guard = Cancel {
            shared: self.clone(),
            id,
            armed: true,
        };
        self.write(&make(id));
        let answer = rx.await.ok();
        let mut guard = guard;
        guard.armed = false;
        answer
    }

    /// A new request id.
    fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Cancels a request the engine stopped waiting for.
struct Cancel {
    shared: Arc<Shared>,
    id: u64,
    armed: bool,
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.armed {
            self.shared.waiting.lock().remove(&self.id);
            self.shared.handlers.lock().remove(&self.id);
            self.shared.write(&Report::Cancel { request: self.id });
        }
    }
}

fn port_error(e: WireError) -> PortError {
    match e.detail {
        Some(detail) => PortError::from_json(detail),
        None => PortError::new(e.message),
    }
}

fn unanswered() -> PortError {
    PortError::new("the kit never answered")
}

/// A window's ports.
#[derive(Clone)]
pub(super) struct Proxy {
    pub(super) shared: Arc<Shared>,
    pub(super) window: String,
}

impl InvalidationSubscriber for Proxy {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        Box::pin(async move {
            // Deliveries may come before the answer: the handler is in
            // place first.
            let id = self.shared.next_id();
            self.shared.handlers.lock().insert(id, handler);
            let window = self.window.clone();
            let answer = self
                .shared
                .request(id, |request| Report::Subscribe { window, request })
                .await;
            match answer {
                Some(Answer::Subscribed(None)) => {
                    let shared = self.shared.clone();
                    Ok(Subscription::new(move || {
                        shared.handlers.lock().remove(&id);
                        shared.write(&Report::Unsubscribe { subscription: id });
                    }))
                }
                Some(Answer::Subscribed(Some(e))) => {
                    self.shared.handlers.lock().remove(&id);
                    Err(port_error(e))
                }
                _ => {
                    self.shared.handlers.lock().remove(&id);
                    Err(unanswered())
                }
            }
        })
    }
}

impl SnapshotProvider for Proxy {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async move {
            self.shared.backoffs.lock().remove(&self.window);
            let window = self.window.clone();
            match self
                .shared
                .request(self.shared.next_id(), |request| Report::GetSnapshot {
                    window,
                    request,
                })
                .await
            {
                Some(Answer::Snapshot(Reply::Ok(v))) => Ok(v),
                Some(Answer::Snapshot(Reply::Error(e))) => Err(port_error(e)),
                _ => Err(unanswered()),
            }
        })
    }
}

impl SnapshotApplier<Value> for Proxy {
    fn apply(&self, snapshot: SnapshotEnvelope<Value>) -> BoxFuture<'_, Result<(), PortError>> {
        Box::pin(async move {
            let window = self.window.clone();
            let answer = self
                .shared
                .request(self.shared.next_id(), |request| Report::Apply {
                    window,
                    request,
                    revision: snapshot.revision.to_string(),
                    epoch: epoch_field(snapshot.epoch),
                    data: snapshot.data,
                })
                .await;
            match answer {
                Some(Answer::Applied(None)) => Ok(()),
                Some(Answer::Applied(Some(e))) => Err(port_error(e)),
                _ => Err(unanswered()),
            }
        })
    }
}
