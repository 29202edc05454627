//! # state-sync-transports
//!
//! Reference transports for [`state_sync`]: each carries invalidations from
//! a backend to windows and snapshot requests back, and nothing else — the
//! engine validates every payload, so a transport passes garbage through
//! untouched.
//!
//! | module | delivery | models |
//! |---|---|---|
//! | [`memory`] | synchronous, in subscription order | one process, direct calls; the one to learn with |
//! | [`channel`] | asynchronous, a task and a bounded buffer per subscriber | queues between tasks or services |
//! | [`tauri_mock`] | Tauri v2 events and `invoke`, JSON round trips | a Tauri app's core and its webviews |
//! | `ipc` | asynchronous over a real socket, I/O on a thread of its own | windows in other processes; the backend in-process or in a child process |
//!
//! ## One shape for all of them
//!
//! The in-process modules have a `Bus` (the backend end) and a `Window` (a
//! window end); `ipc` has a `Server` and a `Window`. Every backend end
//! implements [`Backend`], the one trait a transport's backend end
//! implements (and the one the conformance kit drives):
//!
//! * `Bus::new()` — a fresh bus; `bus.window(topic)` — a typed window end
//!   implementing [`InvalidationSubscriber`](state_sync::InvalidationSubscriber)
//!   and [`SnapshotProvider`](state_sync::SnapshotProvider);
//! * [`Backend::emit`] — send a raw invalidation payload (garbage included)
//!   to every subscribed window;
//! * [`Backend::serve`] with a [`SnapshotHandler`] (or
//!   [`Backend::serve_source`] with an `Arc<SourceOfTruth<T>>`) — install
//!   the snapshot handler (without one, a snapshot request fails with a
//!   [`PortError`](state_sync::PortError), never a panic);
//! * [`Backend::window_ends`] — a window's two ends as trait objects;
//! * [`Backend::active_subscriptions`] — subscriptions still registered,
//!   for leak checks; [`Backend::settle`] first lets asynchronous
//!   deliveries and unsubscriptions finish.
//!
//! The in-process transports run on tokio, including on paused virtual
//! time: no thread is spawned and nothing blocks. `ipc` (cargo feature
//! `ipc`, on by default) does real I/O on a thread of its own. A transport
//! that waits on tokio time inside its work waits through [`clock`], which
//! tells a conformance run that the wait is on the runtime's clock.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::{Value, json};
//! use state_sync::RevisionSync;
//! use state_sync::appliers::{JsonApplier, JsonMode};
//! use state_sync::source::SourceOfTruth;
//! use state_sync_transports::{Backend, memory};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(SourceOfTruth::new("todos", Vec::<String>::new()));
//! let bus = memory::Bus::new();
//! bus.serve_source(source.clone());
//!
//! let mut windows = Vec::new();
//! for _ in 0..2 {
//!     let end = bus.window("todos");
//!     let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//!     let sync = RevisionSync::builder("todos", end.clone(), end, applier.clone()).build();
//!     sync.start().await?;
//!     windows.push((sync, applier));
//! }
//!
//! let event = source.update(|todos| todos.push("milk".to_owned()))?;
//! bus.emit(&event.to_json());
//! for (sync, applier) in &windows {
//!     sync.refresh().await?;
//!     assert_eq!(applier.state(), json!(["milk"]));
//!     sync.stop();
//! }
//! assert_eq!(bus.active_subscriptions(), Some(0));
//! # Ok(())
//! # }
//! ```

pub mod backend;
#[cfg(feature = "ipc")]
mod backlog;
pub mod channel;
pub mod clock;
pub mod io_thread;
#[cfg(feature = "ipc")]
pub mod ipc;
mod json;
pub mod memory;
pub mod snapshot;
pub mod tauri_mock;

pub use crate::backend::{Backend, WindowEnds};
pub use crate::snapshot::SnapshotHandler;
