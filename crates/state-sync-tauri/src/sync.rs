//! [`StateSync`]: what an app registers — its wire names and where its
//! snapshots come from — and the managed state it becomes.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use serde_json::Value;

use crate::Error;
use crate::names::{self, Names};
use crate::source::{SnapshotSource, Topics};

/// The backend side of state-sync for one Tauri app, before it is
/// registered with [`BuilderExt::state_sync`](crate::BuilderExt::state_sync).
///
/// ```
/// use serde_json::json;
/// use state_sync_tauri::StateSync;
///
/// let sync = StateSync::new()
///     .topic("settings", json!({"theme": "light"}))
///     .topic("session", json!(null))
///     .event_name("app:invalidated")?
///     .command_name("fetch_snapshot")?;
/// # Ok::<(), state_sync_tauri::Error>(())
/// ```
pub struct StateSync {
    pub(crate) names: Names,
    pub(crate) topics: Option<Arc<Topics>>,
    pub(crate) source: Arc<dyn SnapshotSource>,
}

impl Default for StateSync {
    fn default() -> Self {
        Self::new()
    }
}

impl StateSync {
    /// Topics kept by this crate ([`Topics`]), the default wire names
    /// ([`DEFAULT_EVENT`](crate::DEFAULT_EVENT),
    /// [`DEFAULT_COMMAND`](crate::DEFAULT_COMMAND)).
    pub fn new() -> Self {
        let topics = Arc::new(Topics::default());
        Self {
            names: Names::default(),
            source: topics.clone(),
            topics: Some(topics),
        }
    }

    /// Snapshots served by the app's own `source` (a database, a store it
    /// already has). The app changes its state there and announces each
    /// change with [`StateSyncExt::announce`](crate::StateSyncExt::announce).
    pub fn with_source(source: impl SnapshotSource) -> Self {
        Self {
            names: Names::default(),
            topics: None,
            source: Arc::new(source),
        }
    }

    /// Registers `topic` at revision 0 holding `data` (ignored with
    /// [`with_source`](Self::with_source)).
    pub fn topic(self, topic: impl Into<String>, data: Value) -> Self {
        if let Some(topics) = &self.topics {
            topics.register(topic, data);
        }
        self
    }

    /// The event the invalidations are emitted on (default
    /// `state-sync:invalidation`). Fails for a name Tauri would refuse.
    pub fn event_name(mut self, name: &'static str) -> Result<Self, Error> {
        self.names.event = names::check_event(name)?;
        Ok(self)
    }

    /// The command that answers snapshot requests (default `get_snapshot`).
    /// Fails for a name Tauri would not route to the app, or one a topic
    /// already has ([`topic_command`](Self::topic_command)).
    pub fn command_name(mut self, name: &'static str) -> Result<Self, Error> {
        names::check_command(name)?;
        self.names.check_free(name, None)?;
        self.names.command = name;
        Ok(self)
    }

    /// Also emits `topic`'s invalidations on an event of its own, for
    /// windows wired per topic (the adapter's `eventName:
    /// 'settings:invalidated'`). They still go out on the app's event, so
    /// windows wired either way hear them.
    ///
    /// ```
    /// use serde_json::json;
    /// use state_sync_tauri::StateSync;
    ///
    /// let sync = StateSync::new()
    ///     .topic("settings", json!({"theme": "light"}))
    ///     .topic_event("settings", "settings:invalidated")?
    ///     .topic_command("settings", "get_settings")?;
    /// # Ok::<(), state_sync_tauri::Error>(())
    /// ```
    ///
    /// Fails for a name Tauri would refuse.
    pub fn topic_event(
        mut self,
        topic: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, Error> {
        let name = name.into();
        names::check_event(&name)?;
        self.names.topics.entry(topic.into()).or_default().event = Some(name);
        Ok(self)
    }

    /// A command of `topic`'s own that answers its snapshot without
    /// arguments (the adapter's `commandName: 'get_settings'` with no
    /// `args`); the app's command still serves it with `{topic}`. Fails for
    /// a name Tauri would not route to the app, or one that already answers
    /// for the app or another topic.
    pub fn topic_command(
        mut self,
        topic: impl Into<String>,
        name: impl Into<String>,
    ) -> Result<Self, Error> {
        let (topic, name) = (topic.into(), name.into());
        names::check_command(&name)?;
        self.names.check_free(&name, Some(&topic))?;
        self.names.topics.entry(topic).or_default().command = Some(name);
        Ok(self)
    }

    pub(crate) fn into_shared(self) -> Shared {
        Shared {
            names: self.names,
            topics: self.topics,
            source: self.source,
            listeners: Arc::default(),
        }
    }
}

/// The managed state an app holds once registered.
pub(crate) struct Shared {
    pub(crate) names: Names,
    pub(crate) topics: Option<Arc<Topics>>,
    pub(crate) source: Arc<dyn SnapshotSource>,
    /// Rust subscriptions currently listening.
    pub(crate) listeners: Arc<AtomicUsize>,
}

impl Shared {
    /// The topics this app is known to serve: those registered with
    /// [`StateSync::topic`] and those with names of their own.
    pub(crate) fn known_topics(&self) -> Vec<String> {
        let mut known: Vec<String> = self.names.topics.keys().cloned().collect();
        if let Some(topics) = &self.topics {
            known.extend(topics.names());
        }
        known.sort();
        known.dedup();
        known
    }
}
