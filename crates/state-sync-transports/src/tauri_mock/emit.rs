//! The app's side of events: `emit`, `emit_to`, `listen` and `unlisten`
//! on [`MockApp`], as Tauri's `Emitter` and `Listener` traits do them.

use std::sync::Arc;

use serde::Serialize;

use super::app::MockApp;
use super::error::TauriError;
use super::events::{Callback, Event, EventId, EventTarget};
use super::wire::validate_event_name;

fn to_json_text<S: Serialize + ?Sized>(payload: &S) -> Result<String, TauriError> {
    serde_json::to_string(payload).map_err(|e| TauriError::Serialize(e.to_string()))
}

impl MockApp {
    /// Emits `event` to every listener (Tauri's `Emitter::emit`). The
    /// payload is serialized to JSON text once, here; listeners get that
    /// text (Rust) or a parsed copy of it (webviews).
    ///
    /// Fails on an illegal event name or a payload that does not
    /// serialize. Emitting with no listener succeeds.
    pub fn emit<S: Serialize + ?Sized>(&self, event: &str, payload: &S) -> Result<(), TauriError> {
        validate_event_name(event)?;
        let text = to_json_text(payload)?;
        self.inner.events.emit_text(event, None, text);
        Ok(())
    }

    /// Emits `event` to the listeners `target` reaches (Tauri's
    /// `Emitter::emit_to`; see [`EventTarget::reaches`]). `Any` listeners
    /// always receive it. A label nobody uses is not an error.
    pub fn emit_to<S: Serialize + ?Sized>(
        &self,
        target: impl Into<EventTarget>,
        event: &str,
        payload: &S,
    ) -> Result<(), TauriError> {
        validate_event_name(event)?;
        let text = to_json_text(payload)?;
        let to = match target.into() {
            EventTarget::Any => None,
            target => Some(target),
        };
        self.inner.events.emit_text(event, to, text);
        Ok(())
    }

    /// Registers a Rust listener at once (Tauri's `Listener::listen`; a
    /// call made during a dispatch is queued behind it, see
    /// [`TauriMockConfig::defer_reentrant`](super::TauriMockConfig::defer_reentrant)).
    ///
    /// Registering the same handler twice delivers every event twice. An
    /// illegal event name is an error here (Tauri panics).
    pub fn listen<F>(
        &self,
        event: &str,
        target: EventTarget,
        handler: F,
    ) -> Result<EventId, TauriError>
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        validate_event_name(event)?;
        Ok(self.register(event, target, Arc::new(handler)))
    }

    /// [`MockApp::listen`] on [`EventTarget::Any`].
    pub fn listen_any<F>(&self, event: &str, handler: F) -> Result<EventId, TauriError>
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        self.listen(event, EventTarget::Any, handler)
    }

    /// Removes a listener at once (queued behind a dispatch in progress).
    /// An unknown id is ignored.
    pub fn unlisten(&self, id: EventId) {
        self.inner.events.unlisten(id);
    }

    /// How many listeners the core holds, for every event.
    pub fn listener_count(&self) -> usize {
        self.inner.events.count(None)
    }

    /// How many listeners the core holds for `event`.
    pub fn listeners_for(&self, event: &str) -> usize {
        self.inner.events.count(Some(event))
    }

    pub(super) fn register(&self, event: &str, target: EventTarget, callback: Callback) -> EventId {
        self.inner.events.register(event, target, callback)
    }
}
