//! # state-sync
//!
//! Reliable state synchronization between windows and processes, built on
//! three rules:
//!
//! * **event = invalidation** — an event only says "topic X changed, now at
//!   revision R"; it carries no state;
//! * **snapshot = source of truth** — a window pulls the whole state as a
//!   snapshot `{revision, data}` and applies it only if it is newer;
//! * **revision = canonical decimal `u64` string** — `"42"`, never `42`
//!   (JavaScript loses precision above 2^53) and never `"042"`.
//!
//! A window plugs three ports into a [`RevisionSync`] engine: an
//! [`InvalidationSubscriber`], a [`SnapshotProvider`] and a
//! [`SnapshotApplier`]. The engine subscribes first and then fetches (so no
//! change slips between the two), coalesces bursts into at most one queued
//! refresh, ignores anything older than what it has, reports garbage as
//! protocol errors instead of crashing, and never applies after `stop`.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use futures::future::BoxFuture;
//! use serde_json::{Value, json};
//! use state_sync::appliers::FnApplier;
//! use state_sync::source::SourceOfTruth;
//! use state_sync::{
//!     InvalidationHandler, InvalidationSubscriber, PortError, RevisionSync, SnapshotProvider,
//!     Subscription,
//! };
//!
//! /// A toy in-process transport: handlers in a list, snapshots from the source.
//! #[derive(Clone)]
//! struct Bus {
//!     handlers: Arc<Mutex<Vec<InvalidationHandler>>>,
//!     source: Arc<SourceOfTruth<Value>>,
//! }
//!
//! impl InvalidationSubscriber for Bus {
//!     fn subscribe(&self, h: InvalidationHandler) -> BoxFuture<'_, Result<Subscription, PortError>> {
//!         self.handlers.lock().unwrap().push(h);
//!         Box::pin(async { Ok(Subscription::noop()) })
//!     }
//! }
//!
//! impl SnapshotProvider for Bus {
//!     fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
//!         let snapshot = self.source.snapshot_json().map_err(|e| PortError::new(e.to_string()));
//!         Box::pin(async move { snapshot })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "light"})));
//! let bus = Bus { handlers: Default::default(), source: source.clone() };
//!
//! let seen = Arc::new(Mutex::new(Value::Null));
//! let sink = seen.clone();
//! let window = RevisionSync::builder(
//!     "settings",
//!     bus.clone(),
//!     bus.clone(),
//!     FnApplier::new(move |s: state_sync::SnapshotEnvelope<Value>| {
//!         *sink.lock().unwrap() = s.data;
//!         Ok(())
//!     }),
//! )
//! .build();
//! window.start().await?;
//!
//! // The backend changes the state and emits the invalidation after its lock.
//! let event = source.set(json!({"theme": "dark"}))?;
//! let handlers = bus.handlers.lock().unwrap().clone();
//! for h in &handlers { h(&event.to_json()); }
//!
//! window.refresh().await?; // wait for the refresh the event triggered
//! assert_eq!(*seen.lock().unwrap(), json!({"theme": "dark"}));
//! assert_eq!(window.local_revision().to_string(), "1");
//! window.stop();
//! # Ok(())
//! # }
//! ```
//!
//! ## Where things are
//!
//! * [`revision`], [`protocol`] — the wire format and its validation;
//! * [`intake`] — invalidations as a tree or as the text a transport
//!   received, read without building a tree;
//! * [`ports`] — the traits a transport and an applier implement;
//! * [`engine`] — the [`RevisionSync`] handle (the async driver);
//! * the engine's decisions are made by a sans-IO state machine inside the
//!   crate (no I/O, no clock), which the driver only carries out;
//! * [`retry`], [`throttle`] — policies: retry wrapper, debounce/throttle;
//! * [`appliers`] — closure, `watch` channel and JSON appliers;
//! * [`source`] — the source-of-truth side: revision counter and holder.
//!
//! The normative rules, with clause ids, are in
//! [`docs/protocol.md`](https://docs.rs/crate/state-sync-conformance/latest/source/docs/protocol.md) and
//! [`docs/lifecycle.md`](https://docs.rs/crate/state-sync-conformance/latest/source/docs/lifecycle.md) of the repository.

pub mod appliers;
pub mod engine;
pub mod epoch;
pub mod error;
pub mod intake;
mod machine;
pub mod ports;
pub mod protocol;
pub mod retry;
pub mod revision;
pub mod source;
pub mod throttle;

pub use crate::engine::{RevisionSync, RevisionSyncBuilder};
pub use crate::epoch::{Epoch, Position};
pub use crate::error::{ErrorContext, Phase, PortError, SyncError};
pub use crate::intake::Payload;
pub use crate::machine::{Lifecycle, Metrics};
pub use crate::ports::{
    InvalidationHandler, InvalidationSubscriber, PayloadHandler, SnapshotApplier, SnapshotProvider,
    Subscription,
};
pub use crate::protocol::{EventRef, InvalidationEvent, ProtocolError, SnapshotEnvelope};
pub use crate::retry::{RetryPolicy, with_retry};
pub use crate::revision::{Revision, RevisionError};
pub use crate::throttle::Throttle;
/// The boxed, `Send` future the port traits return (re-exported from
/// `futures`, so implementing a port needs no extra dependency).
pub use futures::future::BoxFuture;
