//! A Redis transport for state-sync: windows and backends in any process,
//! on any host that reaches one Redis server, keep one state in sync.
//!
//! The protocol's split — an event is only an invalidation, the snapshot is
//! the truth — is how such systems are commonly built on Redis:
//!
//! * **Invalidations** go out on a pub/sub channel of the bus. Each topic's
//!   newest one is also kept in a hash, so that a window whose connection
//!   broke catches up when it is back.
//! * **Snapshots** are fetched from the backend through the broker: a
//!   window pushes a request on the bus's list, the backend takes it off
//!   (`BLPOP`), asks its [`SnapshotHandler`](state_sync_transports::SnapshotHandler)
//!   and answers on the window client's own reply channel.
//! * **Buses** are isolated by key prefix: every key and channel of bus
//!   `b` starts with `state-sync:{b}:` — the braces are a Redis Cluster hash
//!   tag, so a bus lives in one slot.
//!
//! [`RedisBackend`] is the backend end (it implements
//! [`Backend`](state_sync_transports::Backend), so the conformance kit runs
//! it); [`RedisWindows`] is a client for window ends in a process with no
//! backend. Both return at once and connect on an I/O thread of their own;
//! they reconnect with backoff after the broker goes away, and report it
//! through `failure()` once it has been unreachable for
//! [`RedisConfig::give_up_after`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use serde_json::{Value, json};
//! use state_sync::RevisionSync;
//! use state_sync::appliers::{JsonApplier, JsonMode};
//! use state_sync::source::SourceOfTruth;
//! use state_sync_redis::{RedisBackend, RedisConfig, RedisWindows};
//! use state_sync_transports::Backend;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "redis://127.0.0.1/";
//! // The backend process.
//! let backend = RedisBackend::connect(url, RedisConfig::new("settings-app"))?;
//! let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "dark"})));
//! backend.serve_source(source.clone());
//!
//! // A window process (here the same one).
//! let windows = RedisWindows::connect(url, RedisConfig::new("settings-app"))?;
//! let window = windows.window("main", "settings");
//! let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//! let sync = RevisionSync::builder("settings", Arc::new(window.clone()), Arc::new(window), applier.clone())
//!     .build();
//! sync.start().await?;
//! backend.emit(&source.set(json!({"theme": "light"}))?.to_json());
//! # Ok(())
//! # }
//! ```
//!
//! # What it promises
//!
//! Checked by the conformance kit on a real `redis-server`
//! (`tests/conformance.rs`): every clause of `docs/protocol.md`, with the
//! capabilities `immediate-subscribe`, `exact-json` and
//! `subscription-count`. It does not claim `synchronous-delivery` (the
//! broker delivers after `emit` returns), `exactly-once` (pub/sub sheds
//! what is published while a connection is down, and the catch-up after a
//! reconnect delivers each topic's newest invalidation again) nor
//! `ordered-delivery` (that catch-up may come after newer invalidations).
//! None of these break convergence: the engine orders by revision.
//!
//! `settle` has no acknowledgement to wait for on pub/sub: it publishes a
//! barrier on the events channel after everything emitted before, and
//! resolves when the backend's own windows client hears it — Redis
//! delivers a channel's messages to a connection in publication order. It
//! settles the window ends that backend made, which is what the kit uses;
//! [`RedisWindows::settle`] does the same for a client of its own.
//!
//! See `docs/redis.md` in the repository for the design, the failure
//! behaviour and measured figures.
//!
//! # Testing with a real server
//!
//! [`RedisServer`] starts `redis-server` on a Unix socket in a temporary
//! folder and stops it by PID when dropped; `restart` restarts it empty at
//! the same address.

mod backend;
mod config;
mod keys;
mod link;
mod server;
mod windows;
mod wire;

pub use crate::backend::RedisBackend;
pub use crate::config::{DEFAULT_BUS, RedisConfig};
pub use crate::server::{REDIS_SERVER_ENV, RedisServer};
pub use crate::windows::{RedisError, RedisWindows, Window};
