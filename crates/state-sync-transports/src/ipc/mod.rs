//! A transport over real sockets: newline-delimited JSON over a Unix domain
//! socket (TCP on loopback where there are none), one server for many
//! windows, windows in any process.
//!
//! # What it models
//!
//! A backend that serves windows living in other processes — helper
//! processes of a desktop app, a daemon and its clients — or in the same
//! process behind a socket. Everything crosses a real socket as text, and
//! all I/O runs on a thread of the transport's own, so a window's
//! invalidation handler is called from that thread and a snapshot reply
//! arrives from it.
//!
//! # Behaviour
//!
//! * [`Server`] listens and is the backend end ([`Backend`]): it emits
//!   invalidations, answers snapshot requests with the installed
//!   [`SnapshotHandler`] and counts the subscriptions of every connection.
//! * Each window end ([`Window`], from [`Server::window`] or, in another
//!   process, from [`Client::window`]) has one connection of its own,
//!   opened on its first subscribe or snapshot request.
//! * `subscribe` resolves once the server has registered the subscription:
//!   every event emitted afterwards reaches it. `unsubscribe` stops local
//!   delivery at once and tells the server without waiting;
//!   [`Backend::settle`] waits until the server has handled it.
//! * [`Backend::emit`] returns at once: the payload is serialized once and
//!   queued for every subscription; a writer task per connection sends it.
//!   Payloads are not inspected or changed — garbage and integers above
//!   2^53 arrive exactly as emitted — and each connection receives them in
//!   emit order.
//! * A snapshot request is a frame with an id; the server runs the handler
//!   (concurrently with other requests) and answers with the snapshot or
//!   the [`PortError`](state_sync::PortError), message and JSON detail
//!   included. No handler installed, or a connection that drops before the
//!   answer, is a `PortError`.
//! * **Bounded buffers.** A connection whose window reads too slowly holds
//!   at most [`IpcConfig::buffer_capacity`] events; beyond that it keeps
//!   only the newest event of each subscription's topic and drops the rest
//!   until it has caught up (the policy of the [channel](crate::channel)
//!   transport).
//! * **Reconnection.** When a connection drops, the window reconnects
//!   (backing off from 5 ms to 500 ms) and re-subscribes; the server then
//!   sends it the newest event emitted for its topic, so a window that
//!   missed events while cut off refreshes. Requests in flight when it
//!   dropped fail with a `PortError`.
//! * [`Backend::settle`] waits, for every window end of this server, until
//!   the server has handled what the window sent and the window has
//!   received every event emitted before; then until every connection's
//!   backlog is written.
//!
//! The backend can also run in a child process: see [`ChildBackend`].
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
//! use state_sync_transports::ipc::Server;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "dark"})));
//! let server = Server::new()?;
//! server.serve_source(source.clone());
//!
//! // This window could as well be in another process:
//! // `Client::connect(address)?.window("main", "settings")`.
//! let window = server.window("main", "settings");
//! let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//! let sync = RevisionSync::builder("settings", window.clone(), window, applier.clone()).build();
//! sync.start().await?;
//!
//! server.emit(&source.set(json!({"theme": "light"}))?.to_json());
//! server.settle().await;
//! # // The refresh the event started runs on this runtime.
//! # sync.refresh().await?;
//! assert_eq!(applier.state(), json!({"theme": "light"}));
//! sync.stop();
//! server.settle().await;
//! assert_eq!(server.active_subscriptions(), Some(0));
//! # Ok(())
//! # }
//! ```

mod child;
mod client;
mod io;
mod server;
mod wire;

use std::io as std_io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

pub use self::child::{ChildBackend, serve_stdio};
pub use self::client::{Client, Window};
pub use self::io::{Address, AddressError};
use self::io::{IoThread, Listener};
use self::server::Hub;
pub use self::wire::{DEFAULT_MAX_FRAME_BYTES, MAX_NESTING};
use crate::backend::{Backend, WindowEnds};
use crate::snapshot::SnapshotHandler;

/// Events a connection holds for a slow window by default.
pub const DEFAULT_BUFFER_CAPACITY: usize = 1024;

/// The limits of an IPC server or client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcConfig {
    /// Events one connection holds for a window that reads slowly, before
    /// it keeps only the newest per subscription.
    pub buffer_capacity: usize,
    /// The longest line (frame) accepted from the peer; a longer one closes
    /// the connection.
    pub max_frame_bytes: usize,
}

impl Default for IpcConfig {
    fn default() -> Self {
        Self {
            buffer_capacity: DEFAULT_BUFFER_CAPACITY,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// The backend end: listens, serves snapshots, emits invalidations.
///
/// Dropping it stops its I/O thread, closing every connection (and removes
/// the socket file it created).
pub struct Server {
    hub: Arc<Hub>,
    io: Arc<IoThread>,
    client: Client,
    address: Address,
    socket_file: Option<PathBuf>,
}

impl Server {
    /// A server on a fresh local address: a Unix domain socket in the
    /// temporary directory, or TCP on `127.0.0.1` where there are no Unix
    /// sockets.
    pub fn new() -> std_io::Result<Self> {
        Self::with_config(IpcConfig::default())
    }

    /// [`Server::new`] with custom limits.
    pub fn with_config(config: IpcConfig) -> std_io::Result<Self> {
        let address = fresh_address();
        let mut server = Self::bind(address.clone(), config)?;
        if let Address::Unix(path) = address {
            server.socket_file = Some(path);
        }
        Ok(server)
    }

    /// A server on `address` (a TCP port of 0 picks a free one: see
    /// [`Server::address`]).
    pub fn bind(address: Address, config: IpcConfig) -> std_io::Result<Self> {
        let io = IoThread::start("state-sync-ipc-server")?;
        let (listener, bound) = {
            let _runtime = io.handle().enter();
            Listener::bind(&address)?
        };
        let hub = Arc::new(Hub::new(config));
        io.spawn(hub.clone().accept(listener));
        Ok(Self {
            client: Client::on(io.clone(), bound.clone(), config, None),
            hub,
            io,
            address: bound,
            socket_file: None,
        })
    }

    /// Where windows connect.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// A window end in this process, with a connection of its own (what
    /// [`Backend::window_ends`] gives).
    pub fn window(&self, label: &str, topic: &str) -> Window {
        self.client.window(label, topic)
    }

    /// The number of payloads that found a connection's backlog full.
    pub fn overflows(&self) -> u64 {
        self.hub.overflows()
    }
}

impl Backend for Server {
    fn emit(&self, payload: &Value) {
        self.hub.emit(payload);
    }

    fn serve(&self, handler: SnapshotHandler) {
        self.hub.serve(handler);
    }

    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(label, topic))
    }

    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.hub.active_subscriptions())
    }

    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.client.settle().await;
            let (done, written) = oneshot::channel();
            let hub = self.hub.clone();
            self.io.spawn(async move {
                hub.drained().await;
                let _ = done.send(());
            });
            let _ = written.await;
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(path) = &self.socket_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// A local address no other server of this process uses.
fn fresh_address() -> Address {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    if cfg!(unix) {
        let path = std::env::temp_dir().join(format!("state-sync-{}-{n}.sock", std::process::id()));
        // A file left by an earlier process with the same id.
        let _ = std::fs::remove_file(&path);
        Address::Unix(path)
    } else {
        Address::Tcp(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    }
}
