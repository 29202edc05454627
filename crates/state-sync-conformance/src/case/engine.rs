//! The engine a window drives: the one seam between the interpreter and
//! what it checks. A window's engine is either `state-sync`'s own
//! [`RevisionSync`], in the case's process, or an engine in a driver
//! process ([`crate::driver`]); the steps, the fault and observation
//! layers and the checks are the same code for both.

use serde_json::Value;
use state_sync::{Lifecycle, Metrics, Position, RevisionSync};

use super::call_error::CallError;
use crate::driver::RemoteWindow;

/// A window's engine. Cheap to clone.
#[derive(Clone)]
pub(crate) enum Engine {
    /// `state-sync`'s engine, in this process.
    InProcess(RevisionSync<Value>),
    /// An engine hosted by a driver.
    Driver(RemoteWindow),
}

impl Engine {
    /// `start`.
    pub(crate) async fn start(self) -> Result<(), CallError> {
        match self {
            Engine::InProcess(s) => s.start().await.map_err(CallError::from),
            Engine::Driver(w) => w.start().await,
        }
    }

    /// `refresh`.
    pub(crate) async fn refresh(self) -> Result<(), CallError> {
        match self {
            Engine::InProcess(s) => s.refresh().await.map_err(CallError::from),
            Engine::Driver(w) => w.refresh().await,
        }
    }

    /// `stop`.
    pub(crate) fn stop(&self) {
        match self {
            Engine::InProcess(s) => s.stop(),
            Engine::Driver(w) => w.stop(),
        }
    }

    /// Resolves once the engine has stopped and nothing of it runs.
    pub(crate) async fn stopped(self) {
        match self {
            Engine::InProcess(s) => s.stopped().await,
            Engine::Driver(w) => w.stopped().await,
        }
    }

    /// The epoch and revision of the last apply.
    pub(crate) fn local_position(&self) -> Position {
        match self {
            Engine::InProcess(s) => s.local_position(),
            Engine::Driver(w) => w.local_position(),
        }
    }

    /// The lifecycle state.
    pub(crate) fn lifecycle(&self) -> Lifecycle {
        match self {
            Engine::InProcess(s) => s.lifecycle(),
            Engine::Driver(w) => w.lifecycle(),
        }
    }

    /// The engine's counters.
    pub(crate) fn metrics(&self) -> Metrics {
        match self {
            Engine::InProcess(s) => s.metrics(),
            Engine::Driver(w) => w.metrics(),
        }
    }

    /// When the engine's debounce or throttle timer fires, if one is armed
    /// and the engine says (a driver's engine does not).
    pub(crate) fn timer_deadline(&self) -> Option<tokio::time::Instant> {
        match self {
            Engine::InProcess(s) => s.timer_deadline(),
            Engine::Driver(_) => None,
        }
    }

    /// Whether nothing is under way.
    pub(crate) fn is_idle(&self) -> bool {
        match self {
            Engine::InProcess(s) => s.is_idle(),
            Engine::Driver(w) => w.is_idle(),
        }
    }
}
