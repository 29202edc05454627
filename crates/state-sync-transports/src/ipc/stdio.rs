//! The child's side of a [`ChildBackend`](super::ChildBackend): the `main`
//! of a backend process.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::Value;
use state_sync::PortError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LinesCodec};

use super::config::IpcConfig;
use super::control::{FromChild, ToChild, write_lines};
use super::io::IO_STACK_BYTES;
use super::server::Server;
use super::wire;
use crate::backend::Backend;
use crate::snapshot::SnapshotHandler;

/// Where the answer to a snapshot request forwarded to the parent goes.
type Answer = oneshot::Sender<Result<Value, PortError>>;

/// The environment variable that tells a backend process where to listen
/// (an [`Address`](super::Address) in its text form); without it, it
/// listens at a fresh address. [`ChildBackend`](super::ChildBackend) sets
/// it when it starts the process again after a restart, so that the
/// windows reconnect to the same address.
pub const LISTEN_ENV: &str = "STATE_SYNC_IPC_LISTEN";

/// The `main` of a backend process that [`ChildBackend::spawn`](super::ChildBackend::spawn) starts:
/// runs a [`Server`] (at the address in [`LISTEN_ENV`] if set), tells the
/// parent where it listens, then serves until its standard input closes
/// (the parent is gone).
///
/// ```no_run
/// fn main() -> std::io::Result<()> {
///     state_sync_transports::ipc::serve_stdio()
/// }
/// ```
pub fn serve_stdio() -> io::Result<()> {
    // Frames from the parent are parsed on this thread: give it the stack
    // of an I/O thread.
    let serving = std::thread::Builder::new()
        .name("state-sync-ipc-stdio".to_owned())
        .stack_size(IO_STACK_BYTES)
        .spawn(|| {
            let server = match std::env::var(LISTEN_ENV) {
                Ok(address) => {
                    let address = address.parse().map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidInput, format!("{LISTEN_ENV}: {e}"))
                    })?;
                    Server::bind(address, IpcConfig::default())?
                }
                Err(_) => Server::new()?,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let served = runtime.block_on(serve_parent(
                &server,
                tokio::io::stdin(),
                tokio::io::stdout(),
            ));
            runtime.shutdown_background();
            served
        })?;
    serving
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the IPC backend panicked")))
}

async fn serve_parent(
    server: &Server,
    stdin: impl AsyncRead + Unpin,
    stdout: impl AsyncWrite + Send + Unpin + 'static,
) -> io::Result<()> {
    let (out, outgoing) = mpsc::unbounded_channel();
    tokio::spawn(write_lines(stdout, outgoing));
    let pending: Arc<Mutex<HashMap<u64, Answer>>> = Arc::default();
    let next = Arc::new(AtomicU64::new(0));
    {
        let (pending, out) = (pending.clone(), out.clone());
        server.serve(SnapshotHandler::new(move |topic| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let (done, answered) = oneshot::channel();
            pending.lock().insert(id, done);
            let _ = out.send(wire::encode(&FromChild::Snapshot { id, topic }));
            async move {
                answered
                    .await
                    .unwrap_or_else(|_| Err(PortError::new("the parent process went away")))
            }
        }));
    }
    let send = |frame: &FromChild| {
        let _ = out.send(wire::encode(frame));
    };
    send(&FromChild::Listening {
        address: server.address().to_string(),
    });
    let mut counts = server.hub.watch_subscriptions();
    {
        let out = out.clone();
        tokio::spawn(async move {
            while counts.changed().await.is_ok() {
                let count = *counts.borrow_and_update();
                let _ = out.send(wire::encode(&FromChild::Subscriptions { count }));
            }
        });
    }
    let mut lines = FramedRead::new(
        stdin,
        LinesCodec::new_with_max_length(super::DEFAULT_MAX_FRAME_BYTES),
    );
    while let Some(line) = lines.next().await {
        let line = line.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let frame = wire::decode::<ToChild>(&line).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("the parent sent {e}"))
        })?;
        match frame {
            ToChild::Emit { seq, payload } => server.hub.emit_numbered(seq, &payload),
            ToChild::Resume { seq, newest } => server.hub.resume(seq, &newest),
            ToChild::Reply { id, result } => {
                if let Some(done) = pending.lock().remove(&id) {
                    let _ = done.send(result.into_result());
                }
            }
            ToChild::Settle { id } => {
                let (hub, out) = (server.hub.clone(), out.clone());
                tokio::spawn(async move {
                    hub.drained().await;
                    let subscriptions = hub.active_subscriptions();
                    let _ = out.send(wire::encode(&FromChild::Settled { id, subscriptions }));
                });
            }
        }
    }
    Ok(())
}
