//! What is recorded about one window as a case runs: what its engine
//! applied and reported, and the invariants broken on its path.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use state_sync::{ErrorContext, Position};

use crate::failure::Failure;

/// Everything recorded about one window.
#[derive(Debug, Default)]
pub(crate) struct WindowRecord {
    pub(crate) applied: Vec<Position>,
    pub(crate) data: Option<Value>,
    pub(crate) errors: Vec<ErrorContext>,
    pub(crate) stopped: bool,
    /// Invariants broken on the window's path, each with its clause.
    pub(crate) violations: Vec<Failure>,
    pub(crate) fetches: u64,
    /// Each fetch attempt's start and end (virtual ms; end `None` while it
    /// runs).
    pub(crate) attempts: Vec<(u64, Option<u64>)>,
    /// Calls to the window's `subscribe`.
    pub(crate) subscribes: u64,
    /// Invalid payloads handed to the engine while subscribed.
    pub(crate) garbage_forwarded: u64,
    /// Protocol errors the engine reported for an event payload.
    pub(crate) event_protocol_errors: u64,
    /// Successful subscribes minus unsubscribes.
    pub(crate) open_subscriptions: i64,
    /// Applies the engine has called and that have not returned yet.
    pub(crate) applying: u32,
}

/// A window's shared record.
pub(crate) type Record = Arc<Mutex<WindowRecord>>;
