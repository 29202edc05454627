//! One subscriber of a channel bus: its bounded buffer and lag slot, the
//! task that delivers from them, and the count of work in flight that
//! [`Backend::settle`](crate::Backend::settle) waits for.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use state_sync::ports::panic_message;
use state_sync::{Payload, PayloadHandler};
use tokio::sync::{Notify, mpsc};

/// What [`Backend::settle`](crate::Backend::settle) waits for.
#[derive(Default)]
pub(super) struct Work {
    /// Subscriber tasks still running.
    pub(super) tasks: AtomicUsize,
    /// Payloads queued (or kept while lagging) and neither delivered nor
    /// dropped yet.
    pub(super) payloads: AtomicUsize,
    pub(super) changed: Notify,
}

impl Work {
    pub(super) fn add_payload(&self) {
        self.payloads.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn payload_done(&self) {
        if self.payloads.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.changed.notify_waiters();
        }
    }
}

/// One subscriber, shared by the bus, its task and its subscription.
pub(super) struct Shared {
    pub(super) id: u64,
    topic: String,
    /// The handler reads text (`subscribe_payloads`), not trees.
    text: bool,
    closed: AtomicBool,
    queue: Mutex<Queue>,
}

/// A payload as queued, shared by every subscriber: its JSON text,
/// serialized once per emit, for engines that read text, and the value
/// itself for handlers that take a tree (so that nothing is parsed back,
/// whatever its depth).
pub(super) type Text = Arc<Emitted>;

/// One emitted payload.
pub(super) struct Emitted {
    pub(super) text: Arc<str>,
    pub(super) value: serde_json::Value,
}

struct Queue {
    /// `None` once unsubscribed.
    tx: Option<mpsc::Sender<Text>>,
    /// The buffer overflowed and its task has not caught up yet.
    lagging: bool,
    /// The newest payload for this subscriber's topic seen while lagging.
    newest: Option<Text>,
}

impl Shared {
    /// What this subscription's handler is given of `emitted`.
    fn payload<'a>(&self, emitted: &'a Emitted) -> Payload<'a> {
        if self.text {
            Payload::from(&*emitted.text)
        } else {
            Payload::Value(&emitted.value)
        }
    }

    pub(super) fn new(id: u64, topic: &str, tx: mpsc::Sender<Text>, text: bool) -> Self {
        Self {
            id,
            topic: topic.to_owned(),
            text,
            closed: AtomicBool::new(false),
            queue: Mutex::new(Queue {
                tx: Some(tx),
                lagging: false,
                newest: None,
            }),
        }
    }

    /// Queues `payload`; returns whether it found the buffer full.
    pub(super) fn offer(&self, payload: &Text, work: &Work) -> bool {
        let mut queue = self.queue.lock();
        let Some(tx) = &queue.tx else {
            return false;
        };
        if !queue.lagging {
            match tx.try_send(payload.clone()) {
                Ok(()) => {
                    work.add_payload();
                    return false;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(_)) => queue.lagging = true,
            }
        }
        if Payload::from(&*payload.text).topic_is(&self.topic)
            && queue.newest.replace(payload.clone()).is_none()
        {
            work.add_payload();
        }
        true
    }

    pub(super) fn close(&self, work: &Work) {
        self.closed.store(true, Ordering::Release);
        let mut queue = self.queue.lock();
        queue.tx = None;
        if queue.newest.take().is_some() {
            work.payload_done();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Called by the task when its receiver is empty: ends a lag and hands
    /// back the payload kept during it. `Some(None)` means the lag ended with
    /// nothing to deliver; `None` means there was no lag (or the queue has
    /// filled again meanwhile).
    fn end_lag(&self, rx: &mpsc::Receiver<Text>) -> Option<Option<Text>> {
        let mut queue = self.queue.lock();
        // Sends happen under this lock, so `is_empty` cannot change here.
        if queue.lagging && rx.is_empty() {
            queue.lagging = false;
            Some(queue.newest.take())
        } else {
            None
        }
    }
}

/// Ends a subscriber task's share of the [`Work`], however the task ends:
/// payloads still in its buffer are dropped, then the task stops counting.
pub(super) struct TaskGuard(pub(super) Arc<Work>);

impl TaskGuard {
    /// Drops what is left in `rx` (the subscription ended).
    fn discard(&self, rx: &mut mpsc::Receiver<Text>) {
        while rx.try_recv().is_ok() {
            self.0.payload_done();
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

/// A subscriber's task: delivers queued payloads in order, then the payload
/// kept during a lag.
pub(super) async fn deliver(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Text>,
    handler: PayloadHandler,
    guard: TaskGuard,
) {
    // Each payload taken from the buffer (or the lag slot) is counted done
    // once its handler has returned, or when it is dropped unsent.
    let call = |payload: Text| {
        let open = !shared.is_closed();
        if open
            && let Err(panic) =
                std::panic::catch_unwind(AssertUnwindSafe(|| handler(shared.payload(&payload))))
        {
            tracing::error!(
                "state-sync-transports: invalidation handler panicked: {}",
                panic_message(panic.as_ref())
            );
        }
        guard.0.payload_done();
        open
    };
    loop {
        if shared.is_closed() {
            break;
        }
        if let Some(kept) = shared.end_lag(&rx) {
            if let Some(payload) = kept
                && !call(payload)
            {
                break;
            }
            continue;
        }
        match rx.recv().await {
            Some(payload) => {
                if !call(payload) {
                    break;
                }
            }
            None => break,
        }
    }
    guard.discard(&mut rx);
}
