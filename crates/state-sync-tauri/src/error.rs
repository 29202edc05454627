//! What can go wrong on the backend side.

/// An error of this crate.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A wire name Tauri would refuse.
    #[error("invalid {what} name {name:?}: expected {rule}")]
    InvalidName {
        /// `event` or `command`.
        what: &'static str,
        /// The name given.
        name: String,
        /// What Tauri accepts.
        rule: &'static str,
    },
    /// A command name that already answers for something else.
    #[error("command name {name:?} is taken: it is {by}")]
    NameTaken {
        /// The name given.
        name: String,
        /// What answers to it already.
        by: String,
    },
    /// The topic was never registered.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// The topic's revision reached `u64::MAX`.
    #[error("topic {0:?}: the revision cannot grow any more")]
    RevisionExhausted(String),
    /// The app was built without [`BuilderExt::state_sync`](crate::BuilderExt::state_sync).
    #[error("state-sync is not registered on this app: call `state_sync` on its builder")]
    NotRegistered,
    /// The app serves snapshots from its own [`SnapshotSource`](crate::SnapshotSource):
    /// it changes its state itself and announces it with
    /// [`StateSyncExt::announce`](crate::StateSyncExt::announce).
    #[error(
        "this app serves snapshots from its own source: change it there, then announce the change"
    )]
    OwnSource,
    /// Tauri refused to emit the invalidation.
    #[error("emitting the invalidation failed: {0}")]
    Emit(#[from] tauri::Error),
}
