//! Window ends for Rust consumers (other plugins, Rust front-ends): an
//! [`InvalidationSubscriber`] over Tauri's Rust event API and a
//! [`SnapshotProvider`] over the source the snapshot command serves.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use serde_json::Value;
use state_sync::ports::tree_handler;
use state_sync::{
    InvalidationHandler, InvalidationSubscriber, Payload, PayloadHandler, PortError,
    SnapshotProvider, Subscription,
};
use tauri::{AppHandle, Listener, Runtime};

use crate::source::SnapshotSource;

/// Listens for the app's invalidation event on the Rust side
/// (`listen_any`): each payload reaches the engine as the JSON text Tauri
/// dispatched, validated without building a tree.
pub struct Subscriber<R: Runtime> {
    pub(crate) app: AppHandle<R>,
    pub(crate) event: &'static str,
    pub(crate) listeners: Arc<AtomicUsize>,
}

impl<R: Runtime> InvalidationSubscriber for Subscriber<R> {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        self.subscribe_payloads(tree_handler(handler))
    }

    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let id = self.app.listen_any(self.event, move |event| {
            handler(Payload::from(event.payload()))
        });
        self.listeners.fetch_add(1, Ordering::SeqCst);
        let (app, listeners) = (self.app.clone(), self.listeners.clone());
        Box::pin(std::future::ready(Ok(Subscription::new(move || {
            app.unlisten(id);
            listeners.fetch_sub(1, Ordering::SeqCst);
        }))))
    }
}

/// Reads snapshots of one topic from the source the snapshot command
/// serves; a rejection becomes a [`PortError`] carrying the same JSON
/// value the command rejects with.
pub struct Provider {
    pub(crate) topic: String,
    pub(crate) source: Arc<dyn SnapshotSource>,
}

impl SnapshotProvider for Provider {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        let answer = self.source.snapshot(&self.topic);
        Box::pin(async move { answer.await.map_err(PortError::from_json) })
    }
}
