//! The backend end of the IPC transport in this process: [`Server`].

use std::io as std_io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::oneshot;

use super::client::{Client, Window};
use super::config::IpcConfig;
use super::hub::Hub;
use super::io::{Address, IoThread, Listener};
use crate::backend::{Backend, WindowEnds};
use crate::snapshot::SnapshotHandler;

/// The backend end: listens, serves snapshots, emits invalidations.
///
/// Dropping it stops its I/O thread, closing every connection (and removes
/// the socket file it created).
pub struct Server {
    pub(super) hub: Arc<Hub>,
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
