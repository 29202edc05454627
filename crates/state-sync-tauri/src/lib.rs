//! # state-sync-tauri
//!
//! The backend side of [state-sync] for Tauri v2 apps: each topic's source
//! of truth as managed state, the invalidation event and the snapshot
//! command with the wire names the JavaScript adapter uses, and window ends
//! for Rust consumers.
//!
//! | on the wire | default name | carries |
//! |---|---|---|
//! | event | `state-sync:invalidation` | `{"topic", "revision", "sourceId"?, "timestampMs"?}` |
//! | command | `get_snapshot` | takes `{"topic"}`, resolves with `{"revision": "<digits>", "data": …}` |
//!
//! Both names are configurable ([`StateSync::event_name`],
//! [`StateSync::command_name`]), and a topic may have its own
//! ([`StateSync::topic_event`], [`StateSync::topic_command`]: a command that
//! takes no arguments) — every way the JavaScript adapter is wired syncs.
//! The app's command called without `topic` serves the app's only topic.
//!
//! ```
//! use serde_json::json;
//! use state_sync_tauri::{BuilderExt, StateSync, StateSyncExt};
//!
//! // One line registers the topics, the event and the command.
//! let app = tauri::test::mock_builder() // `tauri::Builder::default()` in an app
//!     .state_sync(StateSync::new().topic("settings", json!({"theme": "light"})))
//!     .build(tauri::test::mock_context(tauri::test::noop_assets()))
//!     .expect("the app builds");
//!
//! // A change bumps the revision and emits the invalidation; every window
//! // then fetches the snapshot through the command.
//! app.update_topic("settings", |data| data["theme"] = json!("dark"))?;
//! # Ok::<(), state_sync_tauri::Error>(())
//! ```
//!
//! A Rust consumer syncs the same way a webview does, with an engine over
//! [`StateSyncExt::window_ends`]: a [`Subscriber`] on Tauri's Rust event API
//! and a [`Provider`] reading the source the command serves.
//!
//! `docs/tauri.md` in the repository shows the whole wiring and what the
//! conformance kit shows about this crate on Tauri's `MockRuntime`.
//!
//! [state-sync]: https://docs.rs/state-sync

mod builder;
mod command;
mod ends;
mod error;
mod ext;
mod names;
mod source;
mod sync;

pub use crate::builder::BuilderExt;
pub use crate::ends::{Provider, Subscriber};
pub use crate::error::Error;
pub use crate::ext::StateSyncExt;
pub use crate::names::{DEFAULT_COMMAND, DEFAULT_EVENT};
pub use crate::source::{SnapshotSource, Topics};
pub use crate::sync::StateSync;
