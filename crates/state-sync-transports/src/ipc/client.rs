//! The window end: a [`Window`] per engine, each with a connection of its
//! own that a task on the I/O thread keeps up, reconnecting when it drops.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::{BoxFuture, join_all};
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{
    InvalidationHandler, InvalidationSubscriber, PayloadHandler, PortError, SnapshotProvider,
    Subscription,
};
use tokio::sync::{mpsc, oneshot};

use std::io as std_io;

use super::config::IpcConfig;
use super::io::{Address, IoThread};
use super::link::{Command, Link, LinkTask, Ping, gone};

/// Window ends that connect to one IPC server: use one per process.
///
/// Owns an I/O thread when made with [`Client::connect`]; the
/// [`Server`](super::Server)'s own window ends share the server's.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    io: Arc<IoThread>,
    address: Address,
    config: IpcConfig,
    /// The number of the last emit of the controller of a child backend
    /// (see [`ChildBackend`](super::ChildBackend)), which subscriptions wait
    /// for; `None` when the server emits in this process.
    emits: Option<Arc<AtomicU64>>,
    /// Where to ask each connection task for a settle barrier.
    pingers: Mutex<Vec<mpsc::UnboundedSender<Ping>>>,
}

impl Client {
    /// Window ends for the server at `address`, with their own I/O thread.
    /// Nothing connects until a window subscribes or asks for a snapshot.
    pub fn connect(address: Address) -> std_io::Result<Self> {
        Self::with_config(address, IpcConfig::default())
    }

    /// [`Client::connect`] with custom limits.
    pub fn with_config(address: Address, config: IpcConfig) -> std_io::Result<Self> {
        Ok(Self::on(
            IoThread::start("state-sync-ipc-client")?,
            address,
            config,
            None,
        ))
    }

    pub(super) fn on(
        io: Arc<IoThread>,
        address: Address,
        config: IpcConfig,
        emits: Option<Arc<AtomicU64>>,
    ) -> Self {
        Self {
            inner: Arc::new(ClientInner {
                io,
                address,
                config,
                emits,
                pingers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The server's address.
    pub fn address(&self) -> &Address {
        &self.inner.address
    }

    /// The ends of a window named `label` that syncs `topic`, with a
    /// connection of its own.
    pub fn window(&self, label: &str, topic: &str) -> Window {
        let (commands, received) = mpsc::unbounded_channel();
        let (pinger, pings) = mpsc::unbounded_channel();
        let link = Arc::new(Link {
            commands,
            subscriptions: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(1),
        });
        let task = LinkTask {
            address: self.inner.address.clone(),
            label: label.to_owned(),
            topic: topic.to_owned(),
            max_frame_bytes: self.inner.config.max_frame_bytes,
            subscriptions: link.subscriptions.clone(),
            commands: received,
            pings,
            held: Vec::new(),
        };
        self.inner.io.spawn(task.run());
        let mut pingers = self.inner.pingers.lock();
        pingers.retain(|p| !p.is_closed());
        pingers.push(pinger);
        Window {
            link,
            emits: self.inner.emits.clone(),
            topic: topic.to_owned(),
            label: label.to_owned(),
        }
    }

    /// Resolves once, on every connection of this client's windows, the
    /// server has handled what the window sent before (unsubscriptions
    /// included) and the window has received every event emitted before.
    /// The connection of a window that is gone has closed by then.
    ///
    /// A window cut off from the server counts as settled: nothing it sent
    /// is in flight.
    pub async fn settle(&self) {
        self.barrier(false).await;
    }

    /// [`Client::settle`], but a window cut off from the server that has
    /// subscriptions to resume waits until it is connected again and the
    /// server has resumed them: for a server known to be coming back (a
    /// restart), never one that may stay away.
    pub(super) async fn reconnected(&self) {
        self.barrier(true).await;
    }

    async fn barrier(&self, reconnected: bool) {
        let answers: Vec<oneshot::Receiver<()>> = self
            .inner
            .pingers
            .lock()
            .iter()
            .filter_map(|pinger| {
                let (done, answered) = oneshot::channel();
                pinger
                    .send(Ping { done, reconnected })
                    .ok()
                    .map(|()| answered)
            })
            .collect();
        // A task that ends drops its question unanswered: that is an answer.
        join_all(answers).await;
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

/// One window end: an [`InvalidationSubscriber`] and a [`SnapshotProvider`]
/// for one topic, over a connection of its own. Cheap to clone (clones
/// share the connection).
#[derive(Clone)]
pub struct Window {
    link: Arc<Link>,
    emits: Option<Arc<AtomicU64>>,
    topic: String,
    label: String,
}

impl Window {
    /// The topic this window syncs.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The window's label.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window")
            .field("label", &self.label)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl InvalidationSubscriber for Window {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(state_sync::ports::tree_handler(handler))
    }

    /// Payloads are handed over as the text of the event frame that
    /// carried them.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let link = &self.link;
        let id = link.next_id.fetch_add(1, Ordering::Relaxed);
        link.subscriptions.lock().insert(id, handler);
        let (done, answered) = oneshot::channel();
        let after = self
            .emits
            .as_ref()
            .map(|emits| emits.load(Ordering::Acquire));
        let sent = link.commands.send(Command::Subscribe { id, after, done });
        Box::pin(async move {
            let outcome = match sent {
                Ok(()) => answered.await.unwrap_or_else(|_| Err(gone())),
                Err(_) => Err(gone()),
            };
            if let Err(e) = outcome {
                link.subscriptions.lock().remove(&id);
                return Err(e);
            }
            let (subscriptions, commands) = (link.subscriptions.clone(), link.commands.clone());
            Ok(Subscription::new(move || {
                subscriptions.lock().remove(&id);
                let _ = commands.send(Command::Unsubscribe { id });
            }))
        })
    }
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let (done, answered) = oneshot::channel();
        let sent = self.link.commands.send(Command::Snapshot { done });
        Box::pin(async move {
            sent.map_err(|_| gone())?;
            answered.await.unwrap_or_else(|_| Err(gone()))
        })
    }
}
