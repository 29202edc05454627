//! What an app does with state-sync once registered: change a topic and
//! announce it, and make Rust window ends.

use serde_json::Value;
use state_sync::InvalidationEvent;
use tauri::{Emitter, Manager, Runtime};

use crate::Error;
use crate::ends::{Provider, Subscriber};
use crate::sync::Shared;

/// state-sync on an app, a window or a webview (anything that manages
/// state and emits events).
///
/// ```
/// use serde_json::json;
/// use state_sync_tauri::{BuilderExt, StateSync, StateSyncExt};
///
/// let app = tauri::test::mock_builder()
///     .state_sync(StateSync::new().topic("settings", json!({"theme": "light"})))
///     .build(tauri::test::mock_context(tauri::test::noop_assets()))
///     .expect("the app builds");
/// let event = app.update_topic("settings", |data| data["theme"] = json!("dark"))?;
/// assert_eq!(event.revision.get(), 1);
/// # Ok::<(), state_sync_tauri::Error>(())
/// ```
pub trait StateSyncExt<R: Runtime>: Manager<R> + Emitter<R> {
    /// Changes `topic`'s data and bumps its revision, then — the topic's
    /// lock released — emits the invalidation (SRC-2).
    fn update_topic(
        &self,
        topic: &str,
        change: impl FnOnce(&mut Value),
    ) -> Result<InvalidationEvent, Error> {
        let shared = shared(self)?;
        let topics = shared.topics.as_ref().ok_or(Error::OwnSource)?;
        let event = topics.update(topic, change)?;
        self.announce(&event)?;
        Ok(event)
    }

    /// Replaces `topic`'s data; see [`update_topic`](Self::update_topic).
    fn set_topic(&self, topic: &str, data: Value) -> Result<InvalidationEvent, Error> {
        self.update_topic(topic, |d| *d = data)
    }

    /// Emits `event` on the app's invalidation event (and on its topic's
    /// own event, if it has one: [`StateSync::topic_event`](crate::StateSync::topic_event)):
    /// for an app serving snapshots from its own source, after each change
    /// there.
    fn announce(&self, event: &InvalidationEvent) -> Result<(), Error> {
        let shared = shared(self)?;
        let payload = event.to_json();
        for name in shared.names.events_of(&event.topic) {
            self.emit(name, &payload)?;
        }
        Ok(())
    }

    /// The ends a Rust consumer of `topic` gives its engine.
    fn window_ends(&self, topic: &str) -> Result<(Subscriber<R>, Provider), Error> {
        let shared = shared(self)?;
        Ok((
            Subscriber {
                app: self.app_handle().clone(),
                event: shared.names.event,
                listeners: shared.listeners.clone(),
            },
            Provider {
                topic: topic.to_owned(),
                source: shared.source.clone(),
            },
        ))
    }

    /// Rust subscriptions listening now (those of [`window_ends`](Self::window_ends)).
    fn rust_listeners(&self) -> Result<usize, Error> {
        Ok(shared(self)?
            .listeners
            .load(std::sync::atomic::Ordering::SeqCst))
    }
}

impl<R: Runtime, M: Manager<R> + Emitter<R>> StateSyncExt<R> for M {}

fn shared<R: Runtime, M: Manager<R> + ?Sized>(
    manager: &M,
) -> Result<tauri::State<'_, Shared>, Error> {
    manager.try_state::<Shared>().ok_or(Error::NotRegistered)
}
