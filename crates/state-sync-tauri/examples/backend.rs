//! A Tauri backend with state-sync, on Tauri's `MockRuntime` so that it
//! runs without building a webview: one topic, a change, and the two
//! things a window does — hear the invalidation, fetch the snapshot
//! through the command.
//!
//! `cargo run -p state-sync-tauri --example backend`
//!
//! In an app, `tauri::Builder::default()` takes the place of
//! `mock_builder()`, and `tauri::generate_context!()` of `mock_context`.

use std::sync::Arc;

use serde_json::json;
use state_sync::{RevisionSync, SnapshotApplier, SnapshotEnvelope};
use state_sync_tauri::{BuilderExt, StateSync, StateSyncExt};
use tauri::test::{mock_builder, mock_context, noop_assets};

/// Prints what the window applies.
struct Print;

impl SnapshotApplier<serde_json::Value> for Print {
    fn apply(
        &self,
        snapshot: SnapshotEnvelope<serde_json::Value>,
    ) -> state_sync::BoxFuture<'_, Result<(), state_sync::PortError>> {
        println!("applied revision {}: {}", snapshot.revision, snapshot.data);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The backend: one line registers the topic, the event and the command.
    let app = mock_builder()
        .state_sync(StateSync::new().topic("settings", json!({"theme": "light"})))
        .build(mock_context(noop_assets()))?;

    // A Rust consumer syncs like a webview would.
    let (subscriber, provider) = app.window_ends("settings")?;
    let window = RevisionSync::builder("settings", subscriber, provider, Arc::new(Print)).build();
    window.start().await?;

    // A change: the revision bumps, the invalidation goes out after the
    // topic's lock is released, and the window fetches the new snapshot.
    app.update_topic("settings", |data| data["theme"] = json!("dark"))?;
    while window.local_revision().get() < 1 {
        tokio::task::yield_now().await;
    }
    println!("the window holds revision {}", window.local_revision());
    window.stop();
    Ok(())
}
