//! Errors: what ports return, what the engine reports, and the context given
//! to the `on_error` hook.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::protocol::ProtocolError;
use crate::revision::Revision;

/// An error returned by a port: a subscriber, a snapshot provider or an
/// applier. Transports map their own failures into it.
///
/// It keeps a human-readable message and, when the failure came as JSON (a
/// Tauri command rejects with the serialized value of its error), that value.
///
/// ```
/// use serde_json::json;
/// use state_sync::PortError;
///
/// let e = PortError::new("database locked");
/// assert_eq!(e.to_string(), "database locked");
/// let e = PortError::from_json(json!({"code": 503}));
/// assert_eq!(e.to_string(), r#"{"code":503}"#);
/// assert_eq!(e.detail(), Some(&json!({"code": 503})));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PortError {
    message: String,
    detail: Option<Value>,
    attempts: Option<u32>,
}

impl PortError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            detail: None,
            attempts: None,
        }
    }

    /// An error carried as a JSON value (a string value becomes the message
    /// as is; anything else is shown as compact JSON).
    pub fn from_json(detail: Value) -> Self {
        let message = match &detail {
            Value::String(s) => s.clone(),
            other => crate::protocol::show_value(other),
        };
        Self {
            message,
            detail: Some(detail),
            attempts: None,
        }
    }

    /// Wraps any error, keeping its message.
    pub fn from_error(error: &(dyn std::error::Error + 'static)) -> Self {
        Self::new(error.to_string())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON value the failure came as, if any.
    pub fn detail(&self) -> Option<&Value> {
        self.detail.as_ref()
    }

    /// How many attempts were made before giving up, when a retry wrapper
    /// produced this error.
    pub fn attempts(&self) -> Option<u32> {
        self.attempts
    }

    /// Records how many attempts were made (used by [`crate::retry`]).
    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }
}

/// Where in the engine's work an error happened.
///
/// The names match the wire names of the original design (`getSnapshot`
/// is written in camelCase there) and are what [`Phase::as_str`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// `start` could not run (for example after `stop`).
    Start,
    /// The subscriber failed to subscribe.
    Subscribe,
    /// An invalidation could not be handled (for example a `should_refresh`
    /// filter panicked).
    Invalidation,
    /// The snapshot provider failed.
    GetSnapshot,
    /// A payload broke the protocol (event or snapshot).
    Protocol,
    /// The applier failed.
    Apply,
    /// A refresh failed for another reason (for example it was cancelled).
    Refresh,
    /// A throttled or debounced refresh could not be scheduled.
    Throttle,
}

impl Phase {
    /// Every phase, in declaration order.
    pub const ALL: [Phase; 8] = [
        Phase::Start,
        Phase::Subscribe,
        Phase::Invalidation,
        Phase::GetSnapshot,
        Phase::Protocol,
        Phase::Apply,
        Phase::Refresh,
        Phase::Throttle,
    ];

    /// The wire name: `start`, `subscribe`, `invalidation`, `getSnapshot`,
    /// `protocol`, `apply`, `refresh`, `throttle`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Subscribe => "subscribe",
            Phase::Invalidation => "invalidation",
            Phase::GetSnapshot => "getSnapshot",
            Phase::Protocol => "protocol",
            Phase::Apply => "apply",
            Phase::Refresh => "refresh",
            Phase::Throttle => "throttle",
        }
    }

    /// Parses a wire name.
    pub fn parse(name: &str) -> Option<Phase> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `start` or `refresh` failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SyncError {
    /// `start` was called after `stop`; a stopped handle cannot be restarted
    /// (create a new one).
    #[error("start after stop: a stopped handle cannot be started again; create a new one")]
    Stopped,
    /// `stop` was called while `start` was still running.
    #[error("stopped while starting")]
    StoppedDuringStart,
    /// The subscriber failed.
    #[error("subscribe failed: {0}")]
    Subscribe(PortError),
    /// The snapshot provider failed.
    #[error("getSnapshot failed: {0}")]
    GetSnapshot(PortError),
    /// The snapshot broke the protocol.
    #[error("{0}")]
    Protocol(ProtocolError),
    /// The applier failed.
    #[error("apply failed: {0}")]
    Apply(PortError),
    /// The refresh was abandoned (the engine was dropped or its task
    /// cancelled).
    #[error("refresh abandoned: {0}")]
    Abandoned(&'static str),
}

impl SyncError {
    /// The phase this error belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            SyncError::Stopped | SyncError::StoppedDuringStart => Phase::Start,
            SyncError::Subscribe(_) => Phase::Subscribe,
            SyncError::GetSnapshot(_) => Phase::GetSnapshot,
            SyncError::Protocol(_) => Phase::Protocol,
            SyncError::Apply(_) => Phase::Apply,
            SyncError::Abandoned(_) => Phase::Refresh,
        }
    }
}

/// The error hook's argument: what went wrong, where, and the revisions
/// known at that moment.
///
/// Built by the engine — and by adapters that carry an engine's reports
/// from elsewhere, such as a conformance driver for an engine in another
/// language ([`ErrorContext::new`]); more fields may be added in later
/// versions.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ErrorContext {
    /// Where it happened.
    pub phase: Phase,
    /// The engine's topic.
    pub topic: String,
    /// A readable description of the error.
    pub message: String,
    /// The typed error, when it is one of the engine's.
    pub error: Option<SyncError>,
    /// The window's revision when the error happened (`None` before the first
    /// apply).
    pub local_revision: Option<Revision>,
    /// The revision announced by the event involved, if any.
    pub event_revision: Option<Revision>,
    /// The revision of the snapshot involved, if any.
    pub snapshot_revision: Option<Revision>,
    /// The raw event payload involved, if any.
    pub source_event: Option<Value>,
    /// The `sourceId` of the event involved, if any.
    pub source_id: Option<String>,
    /// The attempt number, when a retry wrapper reported it.
    pub attempt: Option<u32>,
    /// Whether another attempt will follow.
    pub will_retry: Option<bool>,
    /// The delay before the next attempt.
    pub next_delay: Option<Duration>,
}

impl ErrorContext {
    /// A report of `phase` on `topic` with `message` and no other field set
    /// (set them afterwards: they are public).
    pub fn new(phase: Phase, topic: &str, message: String) -> Self {
        Self {
            phase,
            topic: topic.to_owned(),
            message,
            error: None,
            local_revision: None,
            event_revision: None,
            snapshot_revision: None,
            source_event: None,
            source_id: None,
            attempt: None,
            will_retry: None,
            next_delay: None,
        }
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] topic {:?}: {}",
            self.phase, self.topic, self.message
        )
    }
}
