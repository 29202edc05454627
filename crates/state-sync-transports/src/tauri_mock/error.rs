//! The errors of the mock's Rust API.

/// An error of the mock's Rust API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TauriError {
    /// The event name has a character Tauri does not allow.
    #[error("only alphanumeric, '-', '/', ':', '_' permitted for event names: {0:?}")]
    IllegalEventName(String),
    /// The payload could not be serialized to JSON.
    #[error("payload does not serialize to JSON: {0}")]
    Serialize(String),
}
