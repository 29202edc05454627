//! The mock app: the core's state shared by all handles.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::command::CommandFn;
use super::config::TauriMockConfig;
use super::events::EventCore;

/// An emulated Tauri v2 app: its core (Rust side) with the event system and
/// the command table, and any number of [`Webview`](super::Webview)s (the
/// JavaScript side).
///
/// Cloning gives another handle to the same app.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use state_sync_transports::tauri_mock::{EventTarget, MockApp, TauriError};
///
/// let app = MockApp::default();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = seen.clone();
/// app.listen("greeting", EventTarget::App, move |e| {
///     sink.lock().unwrap().push(e.payload().to_owned());
/// })?;
/// app.emit("greeting", &serde_json::json!({"hello": 1}))?;
/// assert_eq!(*seen.lock().unwrap(), [r#"{"hello":1}"#]);
///
/// // Tauri's event-name rule.
/// assert!(matches!(app.emit("a.b", &1), Err(TauriError::IllegalEventName(_))));
/// # Ok::<(), TauriError>(())
/// ```
#[derive(Clone, Default)]
pub struct MockApp {
    pub(crate) inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) config: TauriMockConfig,
    pub(crate) events: EventCore,
    pub(crate) commands: Mutex<HashMap<String, CommandFn>>,
    /// Held by a running command in [`CommandExecution::Serial`](super::CommandExecution::Serial) mode.
    pub(crate) serial: Arc<tokio::sync::Mutex<()>>,
    pub(crate) in_flight: Arc<InFlight>,
}

impl Default for AppInner {
    fn default() -> Self {
        Self::new(TauriMockConfig::default())
    }
}

impl AppInner {
    fn new(config: TauriMockConfig) -> Self {
        Self {
            events: EventCore::new(&config),
            config,
            commands: Mutex::new(HashMap::new()),
            serial: Arc::default(),
            in_flight: Arc::default(),
        }
    }
}

impl MockApp {
    /// An app with the given switches.
    pub fn new(config: TauriMockConfig) -> Self {
        Self {
            inner: Arc::new(AppInner::new(config)),
        }
    }

    /// The switches this app runs with.
    pub fn config(&self) -> &TauriMockConfig {
        &self.inner.config
    }

    /// Resolves once every background unlisten (see
    /// [`JsListener::unlisten_in_background`](super::JsListener::unlisten_in_background))
    /// has removed its entry from the core.
    pub async fn settle(&self) {
        let in_flight = &self.inner.in_flight;
        loop {
            let done = in_flight.done.notified();
            if in_flight.count.load(Ordering::Acquire) == 0 {
                return;
            }
            done.await;
        }
    }
}

impl fmt::Debug for MockApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockApp")
            .field("config", &self.inner.config)
            .field("listeners", &self.listener_count())
            .field("commands", &self.inner.commands.lock().len())
            .finish()
    }
}

/// Counts IPC operations still under way that [`MockApp::settle`] waits for.
#[derive(Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    done: Notify,
}

impl InFlight {
    pub(crate) fn start(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }
}

/// Ends one in-flight operation when dropped.
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.done.notify_waiters();
    }
}

/// One IPC hop between a webview and the core.
pub(crate) async fn hop(latency: Option<Duration>) {
    match latency {
        None => tokio::task::yield_now().await,
        Some(delay) => crate::clock::sleep(delay).await,
    }
}
