//! Why a window's `start` or `refresh` failed, told the same way for every
//! engine.

use std::fmt;

use state_sync::{Phase, SyncError};

/// Why `start` or `refresh` failed: the phase and the message, whichever
/// engine said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The phase of the error.
    pub phase: Phase,
    /// What the engine said.
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<SyncError> for CallError {
    fn from(e: SyncError) -> Self {
        Self {
            phase: e.phase(),
            message: e.to_string(),
        }
    }
}
