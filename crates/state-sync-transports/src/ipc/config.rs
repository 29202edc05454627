//! The limits of an IPC server or client.

use super::wire::DEFAULT_MAX_FRAME_BYTES;

/// Events a connection holds for a slow window by default.
pub const DEFAULT_BUFFER_CAPACITY: usize = 1024;

/// The limits of an IPC server or client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcConfig {
    /// Events one connection holds for a window that reads slowly, before
    /// it keeps only the newest per subscription.
    pub buffer_capacity: usize,
    /// The longest line (frame) accepted from the peer; a longer one closes
    /// the connection.
    pub max_frame_bytes: usize,
}

impl Default for IpcConfig {
    fn default() -> Self {
        Self {
            buffer_capacity: DEFAULT_BUFFER_CAPACITY,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}
