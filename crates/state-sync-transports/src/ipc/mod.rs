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
//! * [`Server`] listens and is the backend end ([`Backend`](crate::Backend)): it emits
//!   invalidations, answers snapshot requests with the installed
//!   [`SnapshotHandler`](crate::SnapshotHandler) and counts the subscriptions of every connection.
//! * Each window end ([`Window`], from [`Server::window`] or, in another
//!   process, from [`Client::window`]) has one connection of its own,
//!   opened on its first subscribe or snapshot request.
//! * `subscribe` resolves once the server has registered the subscription:
//!   every event emitted afterwards reaches it. `unsubscribe` stops local
//!   delivery at once and tells the server without waiting;
//!   [`Backend::settle`](crate::Backend::settle) waits until the server has handled it.
//! * [`Backend::emit`](crate::Backend::emit) returns at once: the payload is serialized once and
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
//!   missed events while cut off refreshes — also one emitted before any
//!   window was connected, so that the first change of a backend process
//!   that restarted (on the same address, in a newer epoch: SRC-4)
//!   reaches the windows that reconnect to it. Requests in flight when it
//!   dropped fail with a `PortError`. A Unix socket file a previous run
//!   left at a [`Server::bind`] address must be removed before binding.
//! * [`Backend::settle`](crate::Backend::settle) waits, for every window end of this server, until
//!   the server has handled what the window sent and the window has
//!   received every event emitted before; then until every connection's
//!   backlog is written.
//!
//! The backend can also run in a child process: see [`ChildBackend`]. The
//! child only relays for a source in the parent, so it can be restarted
//! ([`Backend::restart`](crate::Backend::restart)): the windows reconnect
//! to the new child at the same address and are sent each topic's newest
//! invalidation again.
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
mod config;
mod control;
mod hub;
mod io;
mod link;
mod newest;
mod server;
mod stdio;
mod wire;

pub use self::child::ChildBackend;
pub use self::client::{Client, Window};
pub use self::config::{DEFAULT_BUFFER_CAPACITY, IpcConfig};
pub use self::io::{Address, AddressError};
pub use self::server::Server;
pub use self::stdio::{LISTEN_ENV, serve_stdio};
pub use self::wire::{DEFAULT_MAX_FRAME_BYTES, MAX_NESTING};
