//! An emulation of Tauri v2 IPC: events and commands between the Rust core
//! and webviews.
//!
//! # What it models
//!
//! A Tauri app whose backend owns the source of truth and whose windows are
//! webviews. The backend emits the invalidation as a Tauri event; each
//! window listens to it and fetches snapshots by invoking a command. The
//! mock reproduces what such an app actually experiences — it is stricter
//! than Tauri's own JavaScript `mockIPC`, which calls handlers
//! synchronously, ignores targets, passes payloads by reference and
//! resolves unknown commands with `undefined`:
//!
//! * **Event names** follow Tauri's rule (alphanumeric, `-`, `/`, `:`,
//!   `_`): `state-sync.invalidated` is illegal, `state-sync:invalidation`
//!   is fine. [`MockApp::emit`] returns
//!   [`TauriError::IllegalEventName`]; [`MockApp::listen`] does too (real
//!   Tauri panics there).
//! * **Payloads** are serialized to JSON text once, at emit, and parsed at
//!   delivery: Rust listeners get the text, webviews a parsed copy. Nothing
//!   is shared by reference. In [`NumberMode::JavaScript`] integers above
//!   2^53 lose precision as in a webview.
//! * **Targets** ([`EventTarget`]): `Any`, `AnyLabel`, `App`, `Window`,
//!   `Webview`, `WebviewWindow`, with Tauri's matching rules
//!   ([`EventTarget::reaches`]): an `Any` listener also receives `emit_to`
//!   meant for other windows; `Window(l)` does not reach `WebviewWindow(l)`;
//!   emitting to a label nobody uses succeeds.
//! * **Delivery** is synchronous, on the emitting thread. An emit, listen or
//!   unlisten made while a dispatch is running (from a handler, or from
//!   another thread) is queued and runs after it: outer-start, outer-end,
//!   inner. Listeners of one event are called in an unspecified (seeded)
//!   order. A registered handler twice is called twice.
//! * **No replay**: an event reaches only listeners registered when it is
//!   emitted.
//! * **Webview `listen` is asynchronous**: the listener reaches the core
//!   after an IPC hop; events emitted before that are lost; the handler may
//!   fire before the `listen` future resolves.
//! * **Webview `unlisten`**: the handler is detached at once; the core's
//!   entry is removed one hop later (it still counts until then).
//! * **Commands** ([`Webview::invoke`]): arguments travel as JSON with
//!   camelCase keys; Tauri's exact rejection texts for a missing key, a
//!   wrong type and an unknown command; a command's error rejects with its
//!   serialized JSON value; async commands run concurrently, so responses
//!   can resolve out of order.
//!
//! Not modelled: the historic `once` and page-reload bugs, JavaScript-side
//! `emit`, webview creation and closing (a label is enough), capabilities.
//!
//! # Switches
//!
//! [`TauriMockConfig`], whose [`Default`] is the realistic setting of each:
//!
//! | field | default | the other setting |
//! |---|---|---|
//! | `ipc_latency` | `None`: one scheduler yield per hop | `Some(d)`: a sleep of `d` per hop |
//! | `async_listen` | `true`: registered after a hop, earlier events lost | `false`: registered at once |
//! | `async_unlisten` | `true`: core entry removed a hop later | `false`: removed at once |
//! | `defer_reentrant` | `true`: re-entrant emit/listen/unlisten queued | `false`: nested, at once |
//! | `listener_order` | `Unspecified { seed: 0 }`: seeded shuffle | `Registration` |
//! | `number_mode` | `Exact`: as `serde_json` parses | `JavaScript`: doubles, > 2^53 rounded |
//! | `arg_case` | `Camel`: `windowLabel` | `Snake`: `window_label` |
//! | `command_execution` | `Concurrent`: out-of-order responses | `Serial`: one at a time, in order |
//!
//! `number_mode` defaults to `Exact` because the window ends here are Rust
//! engines parsing the JSON text themselves — they are handed the text
//! (the engine's text intake, [`state_sync::Payload`]); switch to
//! `JavaScript` to see what an engine running in the webview sees.
//!
//! # The state-sync ends
//!
//! [`Bus`] is the backend end: [`Backend::emit`] emits the invalidation event
//! ([`INVALIDATION_EVENT`]) to every listener and [`Backend::serve`] installs the
//! snapshot command ([`SNAPSHOT_COMMAND`], arguments `{"topic": ...}`).
//! [`Window`] is a window end: its [`InvalidationSubscriber`] is a webview
//! `listen` on the event (target `Any` unless told otherwise) and its
//! [`SnapshotProvider`] an `invoke` of the command. Asking for a snapshot
//! before `serve` rejects with `Command get_snapshot not found`.
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::{Value, json};
//! use state_sync::RevisionSync;
//! use state_sync::appliers::{JsonApplier, JsonMode};
//! use state_sync::source::SourceOfTruth;
//! use state_sync_transports::Backend;
//! use state_sync_transports::tauri_mock::Bus;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = Arc::new(SourceOfTruth::new("settings", json!({"theme": "light"})));
//! let bus = Bus::new();
//! bus.serve_source(source.clone());
//!
//! let window = bus.window("settings").with_label("main");
//! let applier = JsonApplier::new(JsonMode::Replace, Value::Null);
//! let sync = RevisionSync::builder("settings", window.clone(), window, applier.clone()).build();
//! sync.start().await?;
//!
//! let event = source.set(json!({"theme": "dark"}))?;
//! bus.emit(&event.to_json());
//! sync.refresh().await?;
//! assert_eq!(applier.state(), json!({"theme": "dark"}));
//!
//! sync.stop();
//! bus.settle().await; // the core removes the listener one IPC hop later
//! assert_eq!(bus.active_subscriptions(), Some(0));
//! # Ok(())
//! # }
//! ```

mod app;
mod command;
mod config;
mod emit;
mod error;
mod events;
mod invoke;
mod webview;
mod wire;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use state_sync::{
    BoxFuture, InvalidationHandler, InvalidationSubscriber, Payload, PayloadHandler, PortError,
    SnapshotProvider, Subscription,
};

pub use self::app::MockApp;
pub use self::command::{CommandArgs, InvokeError};
pub use self::config::{ArgCase, CommandExecution, ListenerOrder, NumberMode, TauriMockConfig};
pub use self::error::TauriError;
pub use self::events::{Event, EventId, EventTarget, JsEvent};
pub use self::webview::{JsListener, Webview};
pub use self::wire::validate_event_name;

use crate::backend::{Backend, WindowEnds};
use crate::snapshot::SnapshotHandler;

/// The event name the invalidations travel on.
pub const INVALIDATION_EVENT: &str = "state-sync:invalidation";
/// The command windows invoke for a snapshot, with `{"topic": ...}`.
pub const SNAPSHOT_COMMAND: &str = "get_snapshot";

/// The backend end of the state-sync protocol over the Tauri mock.
///
/// Cloning gives another handle to the same bus.
#[derive(Clone)]
pub struct Bus {
    app: MockApp,
    event: Arc<str>,
    command: Arc<str>,
    windows: Arc<AtomicU64>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    /// A bus on a new app with the realistic defaults.
    pub fn new() -> Self {
        Self::with_config(TauriMockConfig::default())
    }

    /// A bus on a new app with the given switches.
    pub fn with_config(config: TauriMockConfig) -> Self {
        Self::build(MockApp::new(config), INVALIDATION_EVENT, SNAPSHOT_COMMAND)
    }

    /// A bus on an existing app, with its own event and command names.
    /// Fails on an illegal event name.
    pub fn on_app(app: MockApp, event: &str, command: &str) -> Result<Self, TauriError> {
        validate_event_name(event)?;
        Ok(Self::build(app, event, command))
    }

    fn build(app: MockApp, event: &str, command: &str) -> Self {
        Self {
            app,
            event: event.into(),
            command: command.into(),
            windows: Arc::default(),
        }
    }

    /// The app underneath, for direct use of events and commands.
    pub fn app(&self) -> &MockApp {
        &self.app
    }

    /// The event name invalidations travel on.
    pub fn event_name(&self) -> &str {
        &self.event
    }

    /// The snapshot command's name.
    pub fn command_name(&self) -> &str {
        &self.command
    }

    /// Emits `payload` to the listeners `target` reaches (`app.emit_to`);
    /// windows listening on `Any` receive it too.
    pub fn emit_to(&self, target: impl Into<EventTarget>, payload: &Value) {
        if let Err(error) = self.app.emit_to(target, &self.event, payload) {
            tracing::error!("tauri mock: emit_to failed: {error}");
        }
    }

    /// A window end for `topic`, labelled `window-1`, `window-2`, ... and
    /// listening on [`EventTarget::Any`].
    pub fn window(&self, topic: impl Into<String>) -> Window {
        let n = self.windows.fetch_add(1, Ordering::Relaxed) + 1;
        Window {
            bus: self.clone(),
            webview: self.app.webview(format!("window-{n}")),
            topic: topic.into(),
            target: EventTarget::Any,
        }
    }
}

/// Events are dispatched synchronously on the emitting thread (a re-entrant
/// emit is queued behind the running dispatch); webview `listen` and
/// `unlisten` take an IPC hop, which [`Backend::settle`] waits for.
impl Backend for Bus {
    /// Emits `payload` on the invalidation event to every listener
    /// (`app.emit`). It is serialized to JSON text here and parsed by each
    /// receiving window; it is not inspected.
    fn emit(&self, payload: &Value) {
        // The name was checked when the bus was made and a `Value` always
        // serializes, so this cannot fail.
        if let Err(error) = self.app.emit(&self.event, payload) {
            tracing::error!("tauri mock: emit failed: {error}");
        }
    }

    /// Installs the snapshot command: it reads the `topic` argument and
    /// answers with `handler`; a [`PortError`] rejects with its JSON detail
    /// or its message.
    fn serve(&self, handler: SnapshotHandler) {
        self.app
            .register_command(self.command.to_string(), move |args: CommandArgs| {
                let handler = handler.clone();
                async move {
                    let topic: String = args.get("topic")?;
                    handler
                        .call(topic)
                        .await
                        .map_err(|e| InvokeError::from_port_error(&e))
                }
            });
    }

    /// Each window is its own webview, labelled `label`.
    fn window_ends(&self, label: &str, topic: &str) -> WindowEnds {
        WindowEnds::of(self.window(topic).with_label(label))
    }

    /// The listeners the core holds for the invalidation event. A window
    /// that unsubscribed still counts until the core removes its entry.
    fn active_subscriptions(&self) -> Option<usize> {
        Some(self.app.listeners_for(&self.event))
    }

    /// Resolves once every pending unlisten has reached the core.
    fn settle(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.app.settle())
    }
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tauri_mock::Bus")
            .field("event", &self.event)
            .field("command", &self.command)
            .field("active_subscriptions", &self.app.listeners_for(&self.event))
            .finish()
    }
}

/// A window end over the Tauri mock: a webview that listens to the
/// invalidation event and invokes the snapshot command for one topic.
///
/// Implements [`InvalidationSubscriber`] and [`SnapshotProvider`]; clone it to
/// pass it as both.
#[derive(Clone, Debug)]
pub struct Window {
    bus: Bus,
    webview: Webview,
    topic: String,
    target: EventTarget,
}

impl Window {
    /// The same window with the webview label `label`.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.webview = self.bus.app.webview(label);
        self
    }

    /// The same window listening on `target` instead of `Any` (for example
    /// `EventTarget::webview_window(label)`, as
    /// `getCurrentWebviewWindow().listen()` does).
    pub fn with_target(mut self, target: EventTarget) -> Self {
        self.target = target;
        self
    }

    /// The webview label.
    pub fn label(&self) -> &str {
        self.webview.label()
    }

    /// The topic whose snapshot this window asks for.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The target this window listens on.
    pub fn target(&self) -> &EventTarget {
        &self.target
    }

    /// The webview underneath.
    pub fn webview(&self) -> &Webview {
        &self.webview
    }
}

impl InvalidationSubscriber for Window {
    fn subscribe(
        &self,
        handler: InvalidationHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        let listening = self.webview.listen(
            &self.bus.event,
            self.target.clone(),
            move |event: JsEvent| handler(&event.payload),
        );
        Box::pin(subscription(listening))
    }

    /// In [`NumberMode::Exact`] the engine is handed the payload's JSON
    /// text, unparsed; in [`NumberMode::JavaScript`] the value a webview
    /// parses, as [`subscribe`](InvalidationSubscriber::subscribe) does.
    fn subscribe_payloads(
        &self,
        handler: PayloadHandler,
    ) -> BoxFuture<'_, Result<Subscription, PortError>> {
        if self.bus.app.config().number_mode != NumberMode::Exact {
            return self.subscribe(Arc::new(move |value: &Value| {
                handler(Payload::Value(value))
            }));
        }
        let listening = self.webview.listen_text(
            &self.bus.event,
            self.target.clone(),
            move |event: &Event| handler(Payload::from(event.payload())),
        );
        Box::pin(subscription(listening))
    }
}

/// The subscription of a webview listener, once registered.
async fn subscription(
    listening: impl Future<Output = Result<JsListener, TauriError>>,
) -> Result<Subscription, PortError> {
    listening
        .await
        .map(JsListener::into_subscription)
        .map_err(|e| PortError::new(e.to_string()))
}

impl SnapshotProvider for Window {
    fn get_snapshot(&self) -> BoxFuture<'_, Result<Value, PortError>> {
        Box::pin(async move {
            self.webview
                .invoke(&self.bus.command, json!({ "topic": self.topic }))
                .await
                .map_err(InvokeError::into_port_error)
        })
    }
}
