//! The backend end: a listener, a task pair per connection, the
//! subscriptions of every connection and their outgoing backlogs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::PortError;
use tokio::sync::{Notify, watch};
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

use super::config::IpcConfig;
use super::io::{Listener, Reader, Writer};
use super::newest::NewestPerTopic;
use super::wire::{self, Reply, ToServer, ToWindow};
use crate::backlog::Backlog;
use crate::snapshot::SnapshotHandler;

/// Frames a writer takes from its backlog at once.
const WRITE_BATCH: usize = 64;

/// What the connections of one server share.
pub(super) struct Hub {
    config: IpcConfig,
    handler: Mutex<Option<SnapshotHandler>>,
    registry: Mutex<Registry>,
    next_connection: AtomicU64,
    overflows: AtomicU64,
    /// The number of live subscriptions, for watchers.
    count: watch::Sender<usize>,
    /// The number of the last emit taken in from a controller process.
    emitted: watch::Sender<u64>,
    /// Signalled whenever a backlog has been written out.
    drained: Notify,
}

#[derive(Default)]
struct Registry {
    connections: HashMap<u64, Arc<Connection>>,
    /// Live subscriptions over all connections.
    subscriptions: usize,
    /// The newest payload emitted per topic, as JSON text: replayed to a
    /// subscription that comes back after its connection dropped — also
    /// when it was emitted while nobody was connected, as by a backend
    /// that restarted (its new run must reach the windows that reconnect:
    /// SRC-4). Topics nobody subscribed to are remembered only up to
    /// [`MAX_UNHEARD_TOPICS`](super::newest::MAX_UNHEARD_TOPICS).
    newest: NewestPerTopic<Arc<str>>,
}

/// One window connection, as the server sees it.
struct Connection {
    /// Subscription id (chosen by the window) → topic.
    subscriptions: Mutex<HashMap<u64, String>>,
    backlog: Mutex<Backlog>,
    ready: Notify,
    /// A batch taken from the backlog is being written.
    flushing: AtomicBool,
    /// The connection is gone (its backlog no longer matters).
    closed: AtomicBool,
}

impl Connection {
    fn settled(&self) -> bool {
        self.closed.load(Ordering::Acquire)
            || (self.backlog.lock().is_empty() && !self.flushing.load(Ordering::Acquire))
    }

    fn push_control(&self, frame: &ToWindow) {
        self.backlog.lock().push_control(wire::encode(frame));
        self.ready.notify_one();
    }
}

impl Hub {
    pub(super) fn new(config: IpcConfig) -> Self {
        Self {
            config,
            handler: Mutex::new(None),
            registry: Mutex::new(Registry::default()),
            next_connection: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
            count: watch::Sender::new(0),
            emitted: watch::Sender::new(0),
            drained: Notify::new(),
        }
    }

    pub(super) fn serve(&self, handler: SnapshotHandler) {
        *self.handler.lock() = Some(handler);
    }

    pub(super) fn active_subscriptions(&self) -> usize {
        self.registry.lock().subscriptions
    }

    /// The number of live subscriptions, as it changes.
    pub(super) fn watch_subscriptions(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// Payloads that found a connection's backlog full so far.
    pub(super) fn overflows(&self) -> u64 {
        self.overflows.load(Ordering::Relaxed)
    }

    /// Queues `payload` for every live subscription.
    pub(super) fn emit(&self, payload: &Value) {
        let Some(text) = crate::json::to_text(payload) else {
            return;
        };
        // The event frame adds a level around the payload.
        if crate::json::nests_deeper_than(&text, wire::MAX_NESTING - 1) {
            tracing::warn!(
                "state-sync ipc: not sending a payload nested deeper than {} levels",
                wire::MAX_NESTING - 1
            );
            return;
        }
        let topic = payload.get("topic").and_then(Value::as_str);
        let mut overflows = 0;
        let mut registry = self.registry.lock();
        let mut subscribed_topic = false;
        for connection in registry.connections.values() {
            let subscriptions = connection.subscriptions.lock();
            if subscriptions.is_empty() {
                continue;
            }
            let mut backlog = connection.backlog.lock();
            for (&sub, sub_topic) in subscriptions.iter() {
                let of_its_topic = topic == Some(sub_topic.as_str());
                subscribed_topic |= of_its_topic;
                if backlog.push_event(sub, of_its_topic, wire::event_line(sub, &text)) {
                    overflows += 1;
                }
            }
            drop(backlog);
            connection.ready.notify_one();
        }
        if let Some(topic) = topic {
            registry.newest.remember(topic, text, subscribed_topic);
        }
        self.overflows.fetch_add(overflows, Ordering::Relaxed);
    }

    /// Emits `payload`, the controller's emit number `seq` (numbers come
    /// in order).
    pub(super) fn emit_numbered(&self, seq: u64, payload: &Value) {
        self.emit(payload);
        self.emitted.send_replace(seq);
    }

    /// Takes over from an earlier run of the server for its controller:
    /// `newest` (each topic's newest payload, for the windows that
    /// reconnect) is emitted, and the controller's emits are numbered up
    /// to `seq`.
    pub(super) fn resume(&self, seq: u64, newest: &[Value]) {
        for payload in newest {
            self.emit(payload);
        }
        self.emitted.send_replace(seq);
    }

    /// Resolves once every backlog has been written out.
    pub(super) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let empty = self
                .registry
                .lock()
                .connections
                .values()
                .all(|c| c.settled());
            if empty {
                return;
            }
            notified.await;
        }
    }

    /// Accepts connections until the I/O thread stops.
    pub(super) async fn accept(self: Arc<Self>, listener: Listener) {
        loop {
            match listener.accept().await {
                Ok((reader, writer)) => {
                    let hub = self.clone();
                    tokio::spawn(async move { hub.connection(reader, writer).await });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "state-sync ipc: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            }
        }
    }

    async fn connection(self: Arc<Self>, reader: Reader, writer: Writer) {
        let id = self.next_connection.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            subscriptions: Mutex::new(HashMap::new()),
            backlog: Mutex::new(Backlog::new(self.config.buffer_capacity)),
            ready: Notify::new(),
            flushing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        self.registry
            .lock()
            .connections
            .insert(id, connection.clone());
        let writing = tokio::spawn(self.clone().write(connection.clone(), writer));
        let mut lines = FramedRead::new(
            reader,
            LinesCodec::new_with_max_length(self.config.max_frame_bytes),
        );
        while let Some(line) = lines.next().await {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    tracing::warn!(error = %e, "state-sync ipc: closing a connection that failed");
                    break;
                }
            };
            match wire::decode::<ToServer>(&line) {
                Ok(frame) => {
                    if let ToServer::Subscribe {
                        after: Some(after), ..
                    } = &frame
                    {
                        // The window's process emitted before it subscribed:
                        // those emits must not reach this subscription. The
                        // connection waits (keeping its frames in order).
                        let mut emitted = self.emitted.subscribe();
                        let _ = emitted.wait_for(|&seq| seq >= *after).await;
                    }
                    self.handle(&connection, frame);
                }
                Err(e) => {
                    tracing::warn!("state-sync ipc: closing a connection that sent {e}");
                    break;
                }
            }
        }
        self.close(id, &connection);
        writing.abort();
    }

    fn handle(&self, connection: &Arc<Connection>, frame: ToServer) {
        match frame {
            ToServer::Subscribe {
                id,
                topic,
                label,
                resume,
                after: _,
            } => {
                tracing::debug!(%label, %topic, id, resume, "state-sync ipc: subscribe");
                let mut registry = self.registry.lock();
                let replay = resume
                    .then(|| registry.newest.get(&topic).cloned())
                    .flatten();
                if connection.subscriptions.lock().insert(id, topic).is_none() {
                    registry.subscriptions += 1;
                    self.count.send_replace(registry.subscriptions);
                }
                let mut backlog = connection.backlog.lock();
                backlog.push_control(wire::encode(&ToWindow::Subscribed { id }));
                // A connection that came back may have missed events: the
                // newest of its topic makes its window refresh if it is
                // behind.
                if let Some(text) = replay {
                    backlog.push_event(id, true, wire::event_line(id, &text));
                }
                drop(backlog);
                connection.ready.notify_one();
            }
            ToServer::Unsubscribe { id } => {
                let mut registry = self.registry.lock();
                if connection.subscriptions.lock().remove(&id).is_some() {
                    registry.subscriptions -= 1;
                    self.count.send_replace(registry.subscriptions);
                }
            }
            ToServer::Snapshot { id, topic } => {
                let handler = self.handler.lock().clone();
                let connection = connection.clone();
                tokio::spawn(async move {
                    let result = match handler {
                        Some(handler) => handler.call(topic).await,
                        None => Err(PortError::new(
                            "no snapshot handler is installed on the IPC server",
                        )),
                    };
                    connection.push_control(&ToWindow::Snapshot {
                        id,
                        result: Reply::from_result(result),
                    });
                });
            }
            ToServer::Ping { id } => connection.push_control(&ToWindow::Pong { id }),
        }
    }

    fn close(&self, id: u64, connection: &Connection) {
        connection.closed.store(true, Ordering::Release);
        let mut registry = self.registry.lock();
        registry.connections.remove(&id);
        registry.subscriptions -= connection.subscriptions.lock().len();
        self.count.send_replace(registry.subscriptions);
        drop(registry);
        self.drained.notify_waiters();
    }

    async fn write(self: Arc<Self>, connection: Arc<Connection>, writer: Writer) {
        let mut sink = FramedWrite::new(writer, LinesCodec::new());
        loop {
            let batch: Vec<String> = {
                let mut backlog = connection.backlog.lock();
                let batch: Vec<String> = std::iter::from_fn(|| backlog.pop())
                    .take(WRITE_BATCH)
                    .collect();
                connection
                    .flushing
                    .store(!batch.is_empty(), Ordering::Release);
                batch
            };
            if batch.is_empty() {
                self.drained.notify_waiters();
                if connection.closed.load(Ordering::Acquire) {
                    return;
                }
                connection.ready.notified().await;
                continue;
            }
            let mut written = Ok(());
            for frame in batch {
                written = sink.feed(frame).await;
                if written.is_err() {
                    break;
                }
            }
            if let Err(e) = written.and(SinkExt::<String>::flush(&mut sink).await) {
                tracing::debug!(error = %e, "state-sync ipc: a window went away");
                connection.closed.store(true, Ordering::Release);
                self.drained.notify_waiters();
                return;
            }
        }
    }
}
